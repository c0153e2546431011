"""The cart saga's rules (agents.domain.cart_saga): all or nothing, one line at a time in
product id order, and nothing held is ever left without a release."""

from __future__ import annotations

import itertools
from dataclasses import replace
from decimal import Decimal

import pytest

from agents.domain import cart_saga as saga
from agents.domain.cart_saga import DuplicateLine, LineState, Phase
from agents.domain.errors import InvalidQuantity, InvalidValue

LINES = [("mug", 2), ("tea", 1), ("spoon", 3)]
PRICES = {"mug": Decimal("9.50"), "tea": Decimal("4.00"), "spoon": Decimal("1.25")}


def new_cart(lines: list[tuple[str, int]] = LINES) -> saga.Cart:
    cart, step = saga.start("r-1", "o-1", "ann", lines)
    first = min(p for p, _ in lines)
    assert [line.product_id for line in step.hold] == [first]
    return cart


def hold_in_order(cart: saga.Cart, upto: int) -> tuple[saga.Cart, saga.Step]:
    """Answer `upto` holds as held, each the line the previous step asked for."""
    step = saga.Step()
    for _ in range(upto):
        [asked] = [line for line in cart.lines if line.state is LineState.REQUESTED]
        cart, step = saga.held(cart, asked.product_id, PRICES[asked.product_id])
    return cart, step


def test_lines_are_held_one_at_a_time_in_product_order_then_the_order_is_created() -> None:
    cart = new_cart()
    asked = []
    step = saga.Step(hold=tuple(line for line in cart.lines if line.state is LineState.REQUESTED))
    while step.hold:
        [line] = step.hold
        asked.append(line.product_id)
        cart, step = saga.held(cart, line.product_id, PRICES[line.product_id])

    assert asked == ["mug", "spoon", "tea"]
    assert step == saga.Step(create_order=True)
    assert cart.phase is Phase.HELD
    # The order keeps the caller's line order.
    assert [line.product_id for line in cart.lines] == ["mug", "tea", "spoon"]
    assert saga.total(cart) == Decimal("19.00") + Decimal("4.00") + Decimal("3.75")


def test_the_first_refusal_releases_what_was_held_and_asks_for_nothing_more() -> None:
    cart = new_cart()
    cart, _ = hold_in_order(cart, 1)  # mug held, spoon asked for
    cart, step = saga.refused(cart, "spoon", available=2)

    assert cart.phase is Phase.RELEASING
    assert step == saga.Step(release=(cart.lines[0],))
    assert cart.lines[1].state is LineState.WAITING  # tea: never asked for
    cart, step = saga.released(cart, "mug")
    assert step == saga.Step(refuse=True)
    assert cart.phase is Phase.REFUSED
    assert saga.short_lines(cart) == [{"product_id": "spoon", "requested": 3, "available": 2}]


def test_a_refused_first_line_answers_at_once_and_an_unknown_product_is_named() -> None:
    cart = new_cart([("mug", 2), ("ghost", 1)])
    cart, step = saga.refused(cart, "ghost", unknown=True)

    assert step == saga.Step(refuse=True)
    assert saga.unknown_products(cart) == ["ghost"]
    assert saga.short_lines(cart) == []


def asked_all_at_once(lines: list[tuple[str, int]] = LINES) -> saga.Cart:
    """A cart's row as written before lines were held one at a time: every line asked."""
    cart, _ = saga.start("r-1", "o-1", "ann", lines)
    return replace(
        cart, lines=tuple(replace(line, state=LineState.REQUESTED) for line in cart.lines)
    )


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_a_cart_asked_all_at_once_still_waits_for_every_answer(order: tuple[int, ...]) -> None:
    answers = [("held", "mug"), ("refused", "tea"), ("held", "spoon")]
    cart = asked_all_at_once()
    released: list[str] = []
    for i in order:
        kind, product_id = answers[i]
        if kind == "held":
            cart, step = saga.held(cart, product_id, PRICES[product_id])
        else:
            cart, step = saga.refused(cart, product_id, available=0)
        assert not step.hold
        released += [line.product_id for line in step.release]
    assert sorted(released) == ["mug", "spoon"]
    for product_id in released:
        cart, step = saga.released(cart, product_id)
    assert step.refuse and cart.phase is Phase.REFUSED
    assert all(line.state is not LineState.HELD for line in cart.lines)


def test_a_cart_asked_all_at_once_is_created_when_every_answer_is_held() -> None:
    cart = asked_all_at_once()
    for product_id in ("tea", "mug"):
        cart, step = saga.held(cart, product_id, PRICES[product_id])
        assert step == saga.Step()
    cart, step = saga.held(cart, "spoon", PRICES["spoon"])
    assert step == saga.Step(create_order=True)


def test_an_answer_seen_twice_changes_nothing() -> None:
    cart = new_cart([("mug", 1), ("tea", 1)])
    cart, _ = saga.held(cart, "mug", PRICES["mug"])
    again, step = saga.held(cart, "mug", PRICES["mug"])
    assert again == cart and step == saga.Step()
    cart, _ = saga.refused(cart, "tea", available=0)
    cart, _ = saga.released(cart, "mug")
    twice, step = saga.released(cart, "mug")
    assert twice == cart and step == saga.Step()


def test_a_cart_round_trips_through_its_table_row() -> None:
    cart = new_cart()
    cart, _ = saga.held(cart, "mug", PRICES["mug"])
    cart, _ = saga.refused(cart, "spoon", available=0)
    assert [line.state for line in cart.lines] == [
        LineState.HELD,
        LineState.WAITING,
        LineState.REFUSED,
    ]
    assert saga.from_dict(saga.to_dict(cart)) == cart


def test_a_cart_needs_1_to_50_lines_each_product_once_and_sane_quantities() -> None:
    with pytest.raises(InvalidValue):
        saga.start("r", "o", "c", [])
    with pytest.raises(InvalidValue):
        saga.start("r", "o", "c", [(f"p{i}", 1) for i in range(saga.MAX_LINES + 1)])
    with pytest.raises(DuplicateLine) as duplicate:
        saga.start("r", "o", "c", [("mug", 1), ("mug", 2)])
    assert duplicate.value.code == "duplicate_line"
    with pytest.raises(InvalidQuantity):
        saga.start("r", "o", "c", [("mug", 0)])
    saga.start("r", "o", "c", [(f"p{i}", 1) for i in range(saga.MAX_LINES)])
