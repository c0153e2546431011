"""What the fault campaign's clients were told, and what must be true of it afterwards.

Plain data and pure checks, no I/O: the campaign (tests.faults.campaign) fills a `Ledger`
with every definite answer its clients got, reads the worker's tables, the read models
and the audit topic once the pipeline is quiet, and hands all of it to `violations`.
Each check is an invariant of ../shared/DESIGN.md as a client can observe it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agents.domain.order_state import TRANSITIONS, OrderStatus

# Orders in these states hold sold units; a pending order holds reserved ones.
SOLD_STATES = frozenset({"confirmed", "processing", "shipped", "delivered"})


@dataclass
class OrderLedger:
    lines: dict[str, int]  # product id -> quantity (a cart has several)
    # Every status a client was told the order reached, in the order it was told.
    acknowledged: list[str] = field(default_factory=lambda: ["pending"])


@dataclass
class Ledger:
    """Every definite answer, by what it acknowledged."""

    initial: dict[str, int] = field(default_factory=dict)  # product id -> stock at creation
    adjusted: Counter[str] = field(default_factory=Counter)  # product id -> sum of deltas
    adjustments: Counter[str] = field(default_factory=Counter)  # product id -> how many
    orders: dict[str, OrderLedger] = field(default_factory=dict)
    answers: Counter[tuple[str, int]] = field(default_factory=Counter)  # (action, status)
    server_errors: list[str] = field(default_factory=list)  # 500s and other unexpected 5xx
    unanswered: list[str] = field(default_factory=list)  # requests never answered for sure

    def reserved(self, product_id: str, order_id: str, quantity: int) -> None:
        self.orders[order_id] = OrderLedger({product_id: quantity})

    def cart_reserved(self, order_id: str, lines: dict[str, int]) -> None:
        self.orders[order_id] = OrderLedger(dict(lines))

    def status_changed(self, order_id: str, status: str) -> None:
        self.orders[order_id].acknowledged.append(status)


@dataclass(frozen=True)
class Snapshot:
    """One view of the pipeline's state: the worker's tables or the read models.

    products: product id -> {"available", "reserved", "sold"};
    orders: order id -> {"status", "lines": {product id: quantity}}."""

    name: str
    products: Mapping[str, Mapping[str, Any]]
    orders: Mapping[str, Mapping[str, Any]]


def reachable(start: str, end: str) -> bool:
    """Whether the order state machine can lead from `start` to `end` (or stay)."""
    seen, todo = {start}, [start]
    while todo:
        for nxt in TRANSITIONS[OrderStatus(todo.pop())]:
            if nxt.value not in seen:
                seen.add(nxt.value)
                todo.append(nxt.value)
    return end in seen


def violations(
    ledger: Ledger,
    snapshots: Iterable[Snapshot],
    audit: list[dict[str, Any]],
    audit_copies: Mapping[str, int],
) -> list[str]:
    """Every broken promise, one line each ([] when the run kept all of them).

    `audit` is the committed audit topic in offset order per partition; `audit_copies`
    counts the distinct contents seen per event id, aborted transactions included."""
    found = [f"HTTP {line}" for line in ledger.server_errors]
    found += [f"never answered: {line}" for line in ledger.unanswered]
    for snapshot in snapshots:
        found += _stock_violations(ledger, snapshot)
        found += _order_violations(ledger, snapshot)
    found += _audit_violations(ledger, audit, audit_copies)
    return found


def _stock_violations(ledger: Ledger, snapshot: Snapshot) -> list[str]:
    found = []
    held: Counter[str] = Counter()
    sold: Counter[str] = Counter()
    orders_of: Counter[str] = Counter()
    for order in snapshot.orders.values():
        for product_id, quantity in order["lines"].items():
            orders_of[product_id] += 1
            if order["status"] == "pending":
                held[product_id] += quantity
            elif order["status"] in SOLD_STATES:
                sold[product_id] += quantity
    acknowledged_orders = Counter(p for o in ledger.orders.values() for p in o.lines)
    for product_id, initial in ledger.initial.items():
        row = snapshot.products.get(product_id)
        where = f"{snapshot.name}: product {product_id}"
        if row is None:
            found.append(f"{where}: missing")
            continue
        total = row["available"] + row["reserved"] + row["sold"]
        expected = initial + ledger.adjusted[product_id]
        if total != expected:
            found.append(
                f"{where}: available {row['available']} + reserved {row['reserved']} + sold "
                f"{row['sold']} = {total}, received - removed = {expected}"
            )
        negative = [k for k in ("available", "reserved", "sold") if row[k] < 0]
        if negative:
            found.append(f"{where}: negative {', '.join(negative)}: {dict(row)}")
        if row["reserved"] != held[product_id]:
            found.append(
                f"{where}: reserved {row['reserved']}, pending orders hold {held[product_id]}"
            )
        if row["sold"] != sold[product_id]:
            found.append(
                f"{where}: sold {row['sold']}, confirmed-or-later orders hold {sold[product_id]}"
            )
        if orders_of[product_id] != acknowledged_orders[product_id]:
            found.append(
                f"{where}: on {orders_of[product_id]} orders, "
                f"on {acknowledged_orders[product_id]} acknowledged reservations"
            )
    return found


def _order_violations(ledger: Ledger, snapshot: Snapshot) -> list[str]:
    found = []
    for order_id, order in ledger.orders.items():
        row = snapshot.orders.get(order_id)
        where = f"{snapshot.name}: order {order_id}"
        if row is None:
            found.append(f"{where}: acknowledged, missing")
            continue
        if row["lines"] != order.lines:
            found.append(f"{where}: acknowledged lines {order.lines}, holds {row['lines']}")
        final, told = row["status"], order.acknowledged
        if not reachable(told[-1], final):
            found.append(f"{where}: acknowledged {told[-1]}, now {final}")
        # Only a client's cancel moves a confirmed order to cancelled; expiry may not.
        if final == "cancelled" and "confirmed" in told and "cancelled" not in told:
            found.append(f"{where}: acknowledged confirmed, cancelled without a cancel")
    return found


def _audit_violations(
    ledger: Ledger, audit: list[dict[str, Any]], audit_copies: Mapping[str, int]
) -> list[str]:
    found = []
    ids = Counter(event["id"] for event in audit)
    found += [f"audit: event {e} committed {n} times" for e, n in ids.items() if n > 1]
    found += [
        f"audit: event {e} has {n} different contents" for e, n in audit_copies.items() if n > 1
    ]
    created = {
        e["data"]["reservation"]["order_id"] for e in audit if e["type"] == "reservation.created"
    }
    found += [
        f"audit: acknowledged order {o} has no reservation.created"
        for o in ledger.orders
        if o not in created
    ]
    moves: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    for event in audit:
        if event["type"] == "order.status_changed":
            data = event["data"]
            moves[data["order"]["id"]].append(
                (data["order"]["version"], data["from_status"], data["to_status"])
            )
    for order_id, steps in moves.items():
        steps.sort()
        for version, before, after in steps:
            if OrderStatus(after) not in TRANSITIONS[OrderStatus(before)]:
                found.append(f"audit: order {order_id} moved {before} -> {after} (v{version})")
        reached = [after for _, _, after in steps]
        if len(reached) != len(set(reached)):
            found.append(f"audit: order {order_id} reached a status twice: {reached}")
    for order_id, order in ledger.orders.items():
        reached_now = {after for _, _, after in moves.get(order_id, [])}
        missing = [s for s in order.acknowledged[1:] if s not in reached_now]
        if missing:
            found.append(f"audit: order {order_id} acknowledged {missing}, no event")
    adjusted = Counter(e["key"] for e in audit if e["type"] == "stock.adjusted")
    for product_id, count in ledger.adjustments.items():
        if adjusted[product_id] != count:
            found.append(
                f"audit: product {product_id}: {adjusted[product_id]} stock.adjusted "
                f"events, {count} adjustments acknowledged"
            )
    return found
