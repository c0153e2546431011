"""Carrying out a decision's effects (agents.outcome.Effect): the table writes beyond the
entity's own row, in one place for both agents.

Each runs while the command that decided it is processed, so its writes land in the
changelog partition of that command, which is the partition of every row involved: a
reservation row beside its product, an order created in its reservation's step on the
partition its id hashes to (agents.inventory_rules), a deadline beside its order.
"""

from __future__ import annotations

from datetime import datetime

from agents.app import Pipeline, cart_key, reservation_key
from agents.changelog_table import OWN_ROW_PREFIX
from agents.deadline_index import DeadlineIndex
from agents.finished_orders import FinishedOrders
from agents.order_rules import FINAL_STATUSES
from agents.outcome import (
    CartSaved,
    DeadlineCleared,
    DeadlineSet,
    Effect,
    OrderFinished,
    OrderPlaced,
    ReservationHeld,
    ReservationSettled,
)
from topics.partitioning import partition_for


class TableEffects:
    """The worker's side tables and the indexes beside them (pending deadlines, finished
    orders), kept in step with each effect."""

    def __init__(self, pipeline: Pipeline, due: DeadlineIndex, finished: FinishedOrders) -> None:
        self.pipeline = pipeline
        self.due = due
        self.finished = finished

    def apply(self, entity: str, effect: Effect) -> None:
        """Carry out `effect` of a command on `entity` (a product id or an order id)."""
        p = self.pipeline
        match effect:
            case ReservationHeld(reservation_id, allocation):
                p.stock[reservation_key(entity, reservation_id)] = dict(allocation)
            case ReservationSettled(reservation_id):
                p.stock.pop(reservation_key(entity, reservation_id), None)
            case OrderPlaced(order_id, state, deadline):
                self._place_order(order_id, state, deadline)
            case DeadlineSet(at):
                p.deadlines[entity] = at
                self.due.add(entity, at)
            case DeadlineCleared():
                p.deadlines.pop(entity, None)
            case OrderFinished(at):
                self._finish(entity, at)
            case CartSaved(row):
                if row is None:
                    p.orders.pop(cart_key(entity), None)
                else:
                    p.orders[cart_key(entity)] = row

    def _place_order(self, order_id: str, state: dict[str, object], deadline: float) -> None:
        """An order the inventory agent created. Also the restore after a failed attempt:
        a newer row is kept, and a deadline is set only while the order is new."""
        p = self.pipeline
        current = p.orders.get(order_id)
        if current is None or current["version"] < state["version"]:  # type: ignore[operator]
            p.orders[order_id] = current = state
        if current["version"] == state["version"] and order_id not in p.deadlines:
            p.deadlines[order_id] = deadline
            self.due.add(order_id, deadline)

    def _finish(self, order_id: str, at: float) -> None:
        """Finished orders of this partition whose grace ended leave the table."""
        if not self.finished.loaded:  # this order's row is in the table already
            self.finished.load(f for f in self._finished_in_table() if f[2] != order_id)
        partition = partition_for(order_id, self.pipeline.settings.partitions)
        for gone in self.finished.finished(partition, order_id, at):
            self.pipeline.orders.pop(gone, None)

    def _finished_in_table(self) -> list[tuple[int, float, str]]:
        partitions = self.pipeline.settings.partitions
        return [
            (
                partition_for(order_id, partitions),
                datetime.fromisoformat(row["updated_at"]).timestamp(),
                order_id,
            )
            for order_id, row in self.pipeline.orders.items()
            if not order_id.startswith(OWN_ROW_PREFIX) and row["status"] in FINAL_STATUSES
        ]
