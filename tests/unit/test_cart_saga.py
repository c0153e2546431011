"""The cart saga's rules (agents.domain.cart_saga): all or nothing, whatever order the
partitions answer in, and nothing held is ever left without a release."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from agents.domain import cart_saga as saga
from agents.domain.cart_saga import DuplicateLine, LineState, Phase
from agents.domain.errors import InvalidQuantity, InvalidValue

LINES = [("mug", 2), ("tea", 1), ("spoon", 3)]
PRICES = {"mug": Decimal("9.50"), "tea": Decimal("4.00"), "spoon": Decimal("1.25")}


def new_cart(lines: list[tuple[str, int]] = LINES) -> saga.Cart:
    cart, step = saga.start("r-1", "o-1", "ann", lines)
    assert [line.product_id for line in step.hold] == [p for p, _ in lines]
    return cart


def test_every_line_held_creates_the_order_with_the_sum_of_line_totals() -> None:
    cart = new_cart()
    for product_id, _ in LINES[:-1]:
        cart, step = saga.held(cart, product_id, PRICES[product_id])
        assert step == saga.Step()  # still waiting
    cart, step = saga.held(cart, "spoon", PRICES["spoon"])

    assert step == saga.Step(create_order=True)
    assert cart.phase is Phase.HELD
    assert saga.total(cart) == Decimal("19.00") + Decimal("4.00") + Decimal("3.75")


def test_a_refusal_waits_for_every_answer_then_releases_what_was_held() -> None:
    cart = new_cart()
    cart, step = saga.held(cart, "mug", PRICES["mug"])
    cart, step = saga.refused(cart, "tea", available=0)
    assert step == saga.Step()  # spoon has not answered: it may be held
    cart, step = saga.held(cart, "spoon", PRICES["spoon"])

    assert cart.phase is Phase.RELEASING
    assert [line.product_id for line in step.release] == ["mug", "spoon"]
    cart, step = saga.released(cart, "mug")
    assert step == saga.Step()  # spoon is still held
    cart, step = saga.released(cart, "spoon")
    assert step == saga.Step(refuse=True)
    assert cart.phase is Phase.REFUSED
    assert saga.short_lines(cart) == [{"product_id": "tea", "requested": 1, "available": 0}]


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_whatever_order_the_answers_come_in_nothing_stays_held(order: tuple[int, ...]) -> None:
    answers = [("held", "mug"), ("refused", "tea"), ("held", "spoon")]
    cart = new_cart()
    released: list[str] = []
    for i in order:
        kind, product_id = answers[i]
        if kind == "held":
            cart, step = saga.held(cart, product_id, PRICES[product_id])
        else:
            cart, step = saga.refused(cart, product_id, available=0)
        released += [line.product_id for line in step.release]
    assert sorted(released) == ["mug", "spoon"]
    for product_id in released:
        cart, step = saga.released(cart, product_id)
    assert step.refuse and cart.phase is Phase.REFUSED
    assert all(line.state is not LineState.HELD for line in cart.lines)


def test_every_line_refused_answers_at_once_and_unknown_products_are_named() -> None:
    cart = new_cart([("mug", 2), ("ghost", 1)])
    cart, step = saga.refused(cart, "mug", available=1)
    cart, step = saga.refused(cart, "ghost", unknown=True)

    assert step == saga.Step(refuse=True)
    assert saga.unknown_products(cart) == ["ghost"]
    assert saga.short_lines(cart) == [{"product_id": "mug", "requested": 2, "available": 1}]


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
    cart, _ = saga.refused(cart, "tea", available=0)
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
