"""A cart's saga through both sides' pure rules: the coordinator (agents.cart_rules) and
each product (agents.inventory_rules), with an in-memory router standing in for Kafka.

The router applies the commands in the order they were sent, or in any order a test
picks, and keeps the tables as the worker would (rows, reservation rows, cart rows)."""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from agents import cart_rules, inventory_rules, order_rules
from agents.domain import stock as stock_rules
from agents.outcome import CartSaved, DeadlineSet, Outcome, ReservationHeld, ReservationSettled
from topics.messages import (
    CartLine,
    ChangeStatus,
    ChangeStatusData,
    ReplyData,
    ReserveCart,
    ReserveCartData,
    derived_id,
)
from topics.names import AUDIT, INVENTORY_COMMANDS, ORDERS_COMMANDS, decoder

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
TTL = timedelta(minutes=10)
PRICES = {"a": Decimal("2.50"), "b": Decimal("10.00"), "c": Decimal("0.99")}


@dataclass
class Pipeline:
    """Tables and a queue of sent commands; replies and audit records collected."""

    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    # (product, reservation) -> allocation (location -> units)
    held: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    carts: dict[str, dict[str, Any]] = field(default_factory=dict)
    queue: deque[tuple[str, Any]] = field(default_factory=deque)
    replies: list[ReplyData] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)
    deadlines: dict[str, float] = field(default_factory=dict)

    def stock(self, product_id: str) -> stock_rules.Stock:
        return stock_rules.from_dict(self.products[product_id])

    def apply(self, topic: str, command: Any) -> None:
        if topic == INVENTORY_COMMANDS:
            product_id = command.data.product_id
            reservation = inventory_rules.reservation_id_of(command)
            active = self.held.get((product_id, reservation)) if reservation else None
            out = inventory_rules.decide(self.products.get(product_id), command, NOW, TTL, active)
            self._carry_out(out, product_id, command)
        else:
            order_id = command.data.order_id
            row = self.orders.get(order_id)
            if isinstance(command, ChangeStatus):
                out = order_rules.decide(row, command, NOW)
            else:
                out = cart_rules.decide(row, self.carts.get(order_id), command, NOW, TTL)
            self._carry_out(out, order_id, command)

    def _carry_out(self, out: Outcome, entity: str, command: Any) -> None:
        if out.state is not None:
            (self.products if "price" in out.state else self.orders)[entity] = out.state
        for effect in out.effects:
            match effect:
                case ReservationHeld(reservation_id, allocation):
                    self.held[(entity, reservation_id)] = dict(allocation)
                case ReservationSettled(reservation_id):
                    self.held.pop((entity, reservation_id), None)
                case CartSaved(row):
                    if row is None:
                        self.carts.pop(entity, None)
                    else:
                        self.carts[entity] = row
                case DeadlineSet(at):
                    self.deadlines[entity] = at
        for message in out.messages:
            if message.topic in (INVENTORY_COMMANDS, ORDERS_COMMANDS):
                self.queue.append((message.topic, decoder(message.topic)(message.value)))
            elif message.topic == AUDIT:
                self.audit.append(json.loads(message.value))
        if out.reply is not None and command.reply_to:  # as the worker: only to a caller
            self.replies.append(out.reply)

    def run(self, pick: Any = None) -> None:
        """Apply queued commands until none is left; `pick` chooses which one next."""
        while self.queue:
            index = pick(len(self.queue)) if pick else 0
            self.queue.rotate(-index)
            topic, command = self.queue.popleft()
            self.queue.rotate(index)
            self.apply(topic, command)


def pipeline(**stock: int) -> Pipeline:
    p = Pipeline()
    for product_id, units in stock.items():
        p.products[product_id] = stock_rules.to_dict(
            stock_rules.create_product(product_id, product_id.upper(), PRICES[product_id], units)
        )
    return p


def cart(*lines: tuple[str, int], command_id: str = "cmd-1", order_id: str = "o-1") -> ReserveCart:
    return ReserveCart(
        id=command_id,
        request_id=f"req-{command_id}",
        occurred_at=NOW,
        key=order_id,
        reply_to="replies",
        data=ReserveCartData(
            order_id=order_id,
            customer_id="cust",
            lines=[CartLine(product_id=p, quantity=q) for p, q in lines],
        ),
    )


def test_every_line_held_creates_one_order_with_lines_and_a_total() -> None:
    p = pipeline(a=5, b=3)
    p.apply(ORDERS_COMMANDS, cart(("a", 2), ("b", 1)))
    p.run()
    [reply] = p.replies
    assert reply.ok and reply.correlation_id == "cmd-1"
    order = reply.result["order"]
    assert order["status"] == "pending"
    assert [(line["product_id"], line["quantity"]) for line in order["lines"]] == [
        ("a", 2),
        ("b", 1),
    ]
    assert Decimal(order["total"]) == Decimal("15.00")
    assert order["product_id"] is None and order["quantity"] is None
    assert reply.result["reservation"]["lines"] == [
        {"product_id": "a", "quantity": 2, "allocations": [{"location_id": "main", "quantity": 2}]},
        {"product_id": "b", "quantity": 1, "allocations": [{"location_id": "main", "quantity": 1}]},
    ]
    assert (p.stock("a").available, p.stock("a").reserved) == (3, 2)
    assert (p.stock("b").available, p.stock("b").reserved) == (2, 1)
    assert p.carts == {} and list(p.deadlines) == ["o-1"]
    # The caller's reads wait for both products and the order.
    assert {(t.entity, t.id) for t in reply.read_after} == {
        ("product", "a"),
        ("product", "b"),
        ("order", "o-1"),
    }
    # Each line's reservation event carries the cart's reservation id.
    created = [a for a in p.audit if a["type"] == "reservation.created"]
    reservation_id = reply.result["reservation"]["id"]
    assert {a["data"]["reservation"]["id"] for a in created} == {reservation_id}
    assert sorted(a["data"]["reservation"]["product_id"] for a in created) == ["a", "b"]


def test_a_short_line_releases_the_held_ones_before_the_refusal() -> None:
    p = pipeline(a=5, b=0, c=4)
    p.apply(ORDERS_COMMANDS, cart(("a", 1), ("b", 1), ("c", 2)))
    p.run()
    [reply] = p.replies
    assert not reply.ok and reply.code == "insufficient_stock"
    assert reply.details == {"lines": [{"product_id": "b", "requested": 1, "available": 0}]}
    for product_id, units in (("a", 5), ("b", 0), ("c", 4)):
        assert (p.stock(product_id).available, p.stock(product_id).reserved) == (units, 0)
    assert p.held == {} and p.carts == {} and p.orders == {}
    # The refusal waits until the released product is readable as it was; c, after the
    # short line in product order, was never asked for.
    versions = {t.id: t.version for t in reply.read_after}
    assert versions == {"a": p.stock("a").version}
    assert p.stock("c").version == 1


def test_an_unknown_product_is_named_and_nothing_stays_held() -> None:
    p = pipeline(a=5)
    p.apply(ORDERS_COMMANDS, cart(("a", 1), ("zz", 1)))
    p.run()
    [reply] = p.replies
    assert reply.code == "product_not_found" and reply.details == {"product_ids": ["zz"]}
    assert p.stock("a").available == 5 and p.held == {}


def test_a_product_named_twice_is_refused_before_anything_is_held() -> None:
    p = pipeline(a=5)
    p.apply(ORDERS_COMMANDS, cart(("a", 1), ("a", 2)))
    assert p.queue == deque()
    [reply] = p.replies
    assert reply.code == "duplicate_line"


@pytest.mark.parametrize("seed", range(40))
def test_any_order_of_the_answers_ends_all_held_or_nothing_held(seed: int) -> None:
    """Answers and releases applied in a shuffled order (other partitions run at their
    own pace): every cart ends answered, held whole or not at all."""
    import random

    rng = random.Random(seed)
    p = pipeline(a=3, b=2, c=2)
    for n in range(4):
        lines = rng.sample([("a", 1), ("b", 1), ("c", 1)], k=rng.randint(1, 3))
        p.apply(ORDERS_COMMANDS, cart(*lines, command_id=f"cmd-{n}", order_id=f"o-{n}"))
    p.run(pick=lambda n: rng.randrange(n))
    assert len(p.replies) == 4 and p.carts == {}
    for row in p.orders.values():
        for line in row["lines"]:
            held = p.held[(line["product_id"], row["reservation_id"])]
            assert sum(held.values()) == line["quantity"]
    held_orders = {reservation for (_, reservation) in p.held}
    assert held_orders == {row["reservation_id"] for row in p.orders.values()}
    for product_id in ("a", "b", "c"):
        s = p.stock(product_id)
        assert s.available >= 0 and s.reserved == sum(
            sum(taken.values()) for (pid, _), taken in p.held.items() if pid == product_id
        )


@pytest.mark.parametrize("seed", range(40))
def test_carts_racing_in_opposite_line_order_sell_all_the_stock_whatever_the_order(
    seed: int,
) -> None:
    """Twenty carts of a and b, half naming b first, applied in a shuffled order: the
    four that win a are the only ones asking for b, so exactly four are held (asked for
    both at once, different winners on a and b gave every unit back)."""
    import random

    rng = random.Random(seed)
    p = pipeline(a=4, b=4)
    for n in range(20):
        lines = [("a", 1), ("b", 1)] if n % 2 else [("b", 1), ("a", 1)]
        p.apply(ORDERS_COMMANDS, cart(*lines, command_id=f"cmd-{n}", order_id=f"o-{n}"))
    p.run(pick=lambda n: rng.randrange(n))
    assert len(p.replies) == 20 and p.carts == {}
    assert sum(reply.ok for reply in p.replies) == 4
    assert {reply.code for reply in p.replies if not reply.ok} == {"insufficient_stock"}
    for product_id in ("a", "b"):
        assert (p.stock(product_id).available, p.stock(product_id).reserved) == (0, 4)


def test_confirm_and_cancel_move_every_line() -> None:
    p = pipeline(a=5, b=3)
    p.apply(ORDERS_COMMANDS, cart(("a", 2), ("b", 1)))
    p.run()

    def change(status: str, n: int) -> None:
        p.apply(
            ORDERS_COMMANDS,
            ChangeStatus(
                id=f"change-{n}",
                key="o-1",
                reply_to="replies",
                data=ChangeStatusData(order_id="o-1", status=status),  # type: ignore[arg-type]
            ),
        )
        p.run()

    change("confirmed", 1)
    assert p.replies[-1].ok and p.replies[-1].result["order"]["status"] == "confirmed"
    assert (p.stock("a").reserved, p.stock("a").sold) == (0, 2)
    assert (p.stock("b").reserved, p.stock("b").sold) == (0, 1)
    change("cancelled", 2)
    assert (p.stock("a").available, p.stock("a").sold) == (5, 0)
    assert (p.stock("b").available, p.stock("b").sold) == (3, 0)


def test_a_held_answer_without_a_cart_gives_the_line_back() -> None:
    p = pipeline(a=5)
    p.apply(ORDERS_COMMANDS, cart(("a", 2)))
    [(topic, hold)] = list(p.queue)
    p.queue.clear()
    p.apply(topic, hold)  # held on the product
    p.carts.clear()  # as if the cart's row were lost
    p.run()
    assert p.stock("a").available == 5 and p.held == {}


def test_derived_ids_make_a_redelivered_step_decide_the_same() -> None:
    first = cart_rules.decide(None, None, cart(("a", 1), ("b", 2)), NOW, TTL)
    again = cart_rules.decide(None, None, cart(("a", 1), ("b", 2)), NOW, TTL)
    assert [m.value for m in first.messages] == [m.value for m in again.messages]
    ids = [json.loads(m.value)["id"] for m in first.messages]
    assert ids == [derived_id("cmd-1", "command:cart.hold_line:a")]  # b's comes after a's
