"""Stock arithmetic: every rule of agents.domain.stock, and the books always balance."""

from __future__ import annotations

import json
import pickle
import random
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal

import pytest

from agents.domain import stock as st
from agents.domain.errors import (
    DomainError,
    DuplicateReservation,
    InsufficientStock,
    InvalidQuantity,
    InvalidTransition,
    InvalidValue,
    NegativeStock,
    UnknownReservation,
)
from agents.domain.stock import Stock
from agents.domain.validation import MAX_QUANTITY, MAX_STOCK


def make_stock(available: int = 5, price: str = "9.99", product_id: str = "SKU-1") -> Stock:
    return st.create_product(product_id, "Widget", Decimal(price), available)


def reserved_stock(available: int = 5, **reservations: int) -> Stock:
    stock = make_stock(available)
    for reservation_id, quantity in reservations.items():
        stock = st.reserve(stock, reservation_id, quantity)
    return stock


# ------------------------------------------------------------------ create_product


def test_a_new_product_has_all_its_units_available_at_version_one() -> None:
    stock = make_stock(7)

    assert stock == Stock(
        product_id="SKU-1",
        name="Widget",
        price=Decimal("9.99"),
        initial=7,
        adjusted=0,
        available=7,
        reserved=0,
        sold=0,
        version=1,
        active={},
        locations={"main": st.Place(0, available=7, net=7)},
    )


def test_a_product_may_start_with_no_stock_and_a_zero_price() -> None:
    stock = st.create_product("free", "Sample", Decimal("0"), 0)

    assert (stock.available, stock.price) == (0, Decimal("0.00"))


@pytest.mark.parametrize("initial", [-1, MAX_STOCK + 1, True, 1.0, "5"])
def test_a_product_cannot_start_with_an_impossible_stock(initial: object) -> None:
    with pytest.raises(InvalidQuantity):
        st.create_product("SKU-1", "Widget", Decimal("1"), initial)  # type: ignore[arg-type]


@pytest.mark.parametrize("price", [Decimal("-0.01"), Decimal("NaN"), Decimal("1.001"), 1.5])
def test_a_product_cannot_have_a_negative_unrepresentable_or_float_price(price: object) -> None:
    with pytest.raises(InvalidValue) as caught:
        st.create_product("SKU-1", "Widget", price, 1)  # type: ignore[arg-type]

    assert caught.value.details["field"] == "price"


@pytest.mark.parametrize("product_id", ["", "has space", "a" * 65, "sku/1"])
def test_a_product_id_must_match_the_wire_pattern(product_id: str) -> None:
    with pytest.raises(InvalidValue):
        st.create_product(product_id, "Widget", Decimal("1"), 1)


def test_a_product_needs_a_name() -> None:
    with pytest.raises(InvalidValue):
        st.create_product("SKU-1", "  ", Decimal("1"), 1)


# ------------------------------------------------------------------ adjust


def test_a_positive_adjustment_adds_available_units_and_records_the_delta() -> None:
    stock = st.adjust(make_stock(5), 3)

    assert (stock.available, stock.adjusted, stock.initial) == (8, 3, 5)


def test_a_negative_adjustment_may_take_available_to_exactly_zero() -> None:
    stock = st.adjust(make_stock(5), -5)

    assert (stock.available, stock.adjusted) == (0, -5)


def test_an_adjustment_below_zero_available_raises_negative_stock() -> None:
    stock = reserved_stock(5, r1=4)

    with pytest.raises(NegativeStock) as caught:
        st.adjust(stock, -2)

    assert caught.value.code == "negative_stock"
    assert caught.value.details == {"available": 1, "delta": -2, "location_id": "main"}


def test_an_adjustment_never_touches_reserved_or_sold_units() -> None:
    stock, _ = st.commit(reserved_stock(10, r1=3, r2=2), "r1")

    adjusted = st.adjust(stock, -5)

    assert (adjusted.available, adjusted.reserved, adjusted.sold) == (0, 2, 3)


@pytest.mark.parametrize("delta", [0, True, 1.0])
def test_an_adjustment_must_be_a_non_zero_integer(delta: object) -> None:
    with pytest.raises(InvalidQuantity):
        st.adjust(make_stock(), delta)  # type: ignore[arg-type]


def test_an_adjustment_cannot_take_the_total_stock_above_the_limit() -> None:
    stock = make_stock(MAX_STOCK - 10)

    assert st.adjust(stock, 10).available == MAX_STOCK
    with pytest.raises(InvalidQuantity) as caught:
        st.adjust(stock, 11)
    assert caught.value.details["max"] == 10


# ------------------------------------------------------------------ reserve


def test_reserving_moves_units_from_available_to_an_active_reservation() -> None:
    stock = st.reserve(make_stock(5), "r1", 2)

    assert (stock.available, stock.reserved, stock.active) == (3, 2, {"r1": {"main": 2}})


def test_the_last_units_can_be_reserved() -> None:
    stock = st.reserve(make_stock(5), "r1", 5)

    assert (stock.available, stock.reserved) == (0, 5)


def test_reserving_more_than_available_raises_insufficient_stock() -> None:
    stock = reserved_stock(5, r1=4)

    with pytest.raises(InsufficientStock) as caught:
        st.reserve(stock, "r2", 2)

    assert caught.value.code == "insufficient_stock"
    assert caught.value.details == {"available": 1, "requested": 2}


@pytest.mark.parametrize("quantity", [0, -1, MAX_QUANTITY + 1, True, 1.0, "1", None])
def test_a_reservation_must_be_a_whole_number_of_units_within_the_limit(quantity: object) -> None:
    with pytest.raises(InvalidQuantity) as caught:
        st.reserve(make_stock(MAX_STOCK), "r1", quantity)  # type: ignore[arg-type]

    assert caught.value.code == "invalid_quantity"
    json.dumps(caught.value.as_dict())


def test_reserving_an_id_that_is_already_active_raises_duplicate_even_when_sold_out() -> None:
    stock = reserved_stock(5, r1=5)

    with pytest.raises(DuplicateReservation) as caught:
        st.reserve(stock, "r1", 5)

    assert caught.value.details == {"reservation_id": "r1"}


@pytest.mark.parametrize("reservation_id", ["", "   ", None, "x" * 129])
def test_a_reservation_needs_a_proper_id(reservation_id: object) -> None:
    with pytest.raises(InvalidValue):
        st.reserve(make_stock(), reservation_id, 1)  # type: ignore[arg-type]


def test_fifty_one_unit_reservations_against_stock_five_leave_exactly_five_active() -> None:
    stock = make_stock(5)
    successes, refusals = 0, 0

    for n in range(50):
        try:
            stock = st.reserve(stock, f"r{n}", 1)
            successes += 1
        except InsufficientStock:
            refusals += 1

    assert (successes, refusals) == (5, 45)
    assert stock.active == {f"r{n}": {"main": 1} for n in range(5)}
    assert (stock.available, stock.reserved, stock.sold) == (0, 5, 0)
    assert st.invariant_violations(stock) == []


# ------------------------------------------------------------------ commit / release


def test_committing_moves_reserved_units_to_sold_and_returns_the_allocation() -> None:
    stock, quantity = st.commit(reserved_stock(5, r1=2, r2=1), "r1")

    assert quantity == {"main": 2}
    assert (stock.available, stock.reserved, stock.sold) == (2, 1, 2)
    assert stock.active == {"r2": {"main": 1}}


def test_committing_an_unknown_reservation_raises_unknown_reservation() -> None:
    with pytest.raises(UnknownReservation) as caught:
        st.commit(reserved_stock(5, r1=1), "nope")

    assert caught.value.details == {"reservation_id": "nope"}


def test_a_reservation_cannot_be_committed_twice() -> None:
    stock, _ = st.commit(reserved_stock(5, r1=2), "r1")

    with pytest.raises(UnknownReservation):
        st.commit(stock, "r1")


def test_releasing_gives_reserved_units_back_and_returns_the_allocation() -> None:
    stock, quantity = st.release(reserved_stock(5, r1=3), "r1")

    assert quantity == {"main": 3}
    assert (stock.available, stock.reserved, stock.sold, stock.active) == (5, 0, 0, {})


def test_a_committed_reservation_cannot_be_released() -> None:
    stock, _ = st.commit(reserved_stock(5, r1=2), "r1")

    with pytest.raises(UnknownReservation):
        st.release(stock, "r1")


def test_a_released_reservation_id_may_be_reserved_again() -> None:
    stock, _ = st.release(reserved_stock(5, r1=2), "r1")

    assert st.reserve(stock, "r1", 4).active == {"r1": {"main": 4}}


def test_releasing_sold_units_gives_them_back_to_available() -> None:
    stock, _ = st.commit(reserved_stock(5, r1=3), "r1")

    stock = st.release_sold(stock, 3)

    assert (stock.available, stock.reserved, stock.sold) == (5, 0, 0)


@pytest.mark.parametrize("quantity", [0, -1, 4, True])
def test_cannot_give_back_more_sold_units_than_were_sold(quantity: object) -> None:
    stock, _ = st.commit(reserved_stock(5, r1=3), "r1")

    with pytest.raises(InvalidQuantity) as caught:
        st.release_sold(stock, quantity)  # type: ignore[arg-type]

    assert caught.value.details["max"] == 3


# ------------------------------------------------------------------ purity and versions


def test_every_operation_returns_a_new_stock_one_version_later() -> None:
    stock = make_stock(10)
    assert stock.version == 1

    steps: list[Callable[[Stock], Stock]] = [
        lambda s: st.adjust(s, 2),
        lambda s: st.reserve(s, "r1", 3),
        lambda s: st.reserve(s, "r2", 1),
        lambda s: st.commit(s, "r1")[0],
        lambda s: st.release(s, "r2")[0],
        lambda s: st.release_sold(s, 1),
    ]
    for expected_version, step in enumerate(steps, start=2):
        stock = step(stock)
        assert stock.version == expected_version


def test_operations_never_change_the_stock_they_are_given() -> None:
    before = reserved_stock(10, r1=2, r2=3)
    snapshot = st.to_dict(before)

    st.reserve(before, "r3", 1)
    st.commit(before, "r1")
    st.release(before, "r2")
    st.adjust(before, 4)
    with pytest.raises(InsufficientStock):
        st.reserve(before, "r4", 99)

    assert st.to_dict(before) == snapshot


# ------------------------------------------------------------------ invariants


def test_invariant_violations_is_empty_for_a_sound_stock() -> None:
    stock, _ = st.commit(reserved_stock(10, r1=2, r2=3), "r1")

    assert st.invariant_violations(st.adjust(stock, -1)) == []


def test_invariant_violations_names_each_broken_rule() -> None:
    broken = replace(make_stock(5), available=-1, reserved=2, active={"r1": {"main": 0}})

    problems = st.invariant_violations(broken)

    assert problems == [
        "available is negative (-1)",
        "initial + adjusted (5) != available + reserved + sold (1)",
        "active reservation 'r1' holds 0 units",
        "active reservations add up to 0, but reserved is 2",
        "locations add up to available 5, reserved 0, sold 0, received - removed 5; "
        "the product says -1, 2, 0, 5",
    ]


@pytest.mark.parametrize("seed", range(200))
def test_the_books_balance_after_random_sequences_of_operations(seed: int) -> None:
    rng = random.Random(seed)
    stock = make_stock(rng.randint(0, 20))
    # An independent model of what the stock should hold.
    model_active: dict[str, int] = {}
    model_available, model_sold = stock.available, 0
    next_id = 0

    for _ in range(60):
        before = stock
        op = rng.choice(["reserve", "reserve", "commit", "release", "adjust", "release_sold"])
        known = sorted(model_active) + ["ghost"]
        try:
            if op == "reserve":
                quantity = rng.randint(0, 6)
                reservation_id = rng.choice([f"r{next_id}", *known])
                stock = st.reserve(stock, reservation_id, quantity)
                next_id += 1
                model_active[reservation_id] = quantity
                model_available -= quantity
            elif op == "commit":
                reservation_id = rng.choice(known)
                stock, taken = st.commit(stock, reservation_id)
                quantity = st.quantity_of(taken)
                assert quantity == model_active.pop(reservation_id)
                model_sold += quantity
            elif op == "release":
                reservation_id = rng.choice(known)
                stock, taken = st.release(stock, reservation_id)
                quantity = st.quantity_of(taken)
                assert quantity == model_active.pop(reservation_id)
                model_available += quantity
            elif op == "adjust":
                delta = rng.randint(-8, 8)
                stock = st.adjust(stock, delta)
                model_available += delta
            else:
                quantity = rng.randint(0, 4)
                stock = st.release_sold(stock, quantity)
                model_sold -= quantity
                model_available += quantity
        except DomainError:
            assert stock is before, f"seed {seed}: a refused {op} replaced the stock"
        else:
            assert stock.version == before.version + 1

        assert st.invariant_violations(stock) == [], f"seed {seed} after {op}"
        assert stock.available == model_available, f"seed {seed} after {op}"
        assert stock.sold == model_sold, f"seed {seed} after {op}"
        held = {rid: st.quantity_of(a) for rid, a in stock.active.items()}
        assert held == model_active, f"seed {seed} after {op}"
        assert st.from_dict(json.loads(json.dumps(st.to_dict(stock)))) == stock


# ------------------------------------------------------------------ to_dict / from_dict


def test_to_dict_gives_json_types_with_the_price_as_a_string() -> None:
    stock, _ = st.commit(reserved_stock(5, r1=1, r2=2), "r1")

    data = st.to_dict(stock)

    assert data == {
        "product_id": "SKU-1",
        "name": "Widget",
        "price": "9.99",
        "initial": 5,
        "adjusted": 0,
        "available": 2,
        "reserved": 2,
        "sold": 1,
        "version": 4,
        "active": {"r2": {"main": 2}},
        "locations": {"main": {"priority": 0, "available": 2, "reserved": 2, "sold": 1, "net": 5}},
        "allocation": "priority",
    }
    assert json.loads(json.dumps(data)) == data


def test_from_dict_reverses_to_dict_exactly() -> None:
    stock = st.adjust(reserved_stock(9, a=1, b=2), -3)

    restored = st.from_dict(json.loads(json.dumps(st.to_dict(stock))))

    assert restored == stock
    assert str(restored.price) == "9.99"
    assert restored.active is not stock.active


def test_from_dict_ignores_keys_it_does_not_know() -> None:
    data = st.to_dict(make_stock()) | {"warehouses": {"A": 5}}

    assert st.from_dict(data) == make_stock()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("price", 9.99),
        ("price", "abc"),
        ("available", "5"),
        ("available", True),
        ("version", None),
        ("active", ["r1"]),
        ("active", {"r1": "2"}),
    ],
)
def test_from_dict_refuses_a_mistyped_field(key: str, value: object) -> None:
    data = st.to_dict(make_stock()) | {key: value}

    with pytest.raises(ValueError, match=key):
        st.from_dict(data)


def test_from_dict_refuses_a_missing_field() -> None:
    data = st.to_dict(make_stock())
    del data["sold"]

    with pytest.raises(InvalidValue, match="stock.sold: is missing"):
        st.from_dict(data)


# ------------------------------------------------------------------ error shape


def test_domain_errors_give_the_project_error_shape() -> None:
    error = InsufficientStock(available=1, requested=3)

    assert error.as_dict() == {
        "code": "insufficient_stock",
        "message": "insufficient stock: requested 3, available 1",
        "details": {"available": 1, "requested": 3},
    }
    assert str(error) == error.message


@pytest.mark.parametrize(
    "error",
    [
        InsufficientStock(1, 2),
        NegativeStock(1, -2),
        UnknownReservation("r1"),
        DuplicateReservation("r1"),
        InvalidTransition("shipped", "cancelled", ["delivered"]),
        InvalidQuantity(0, "too small", minimum=1),
        InvalidValue("price", "must not be negative", "-1"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_domain_errors_survive_pickling_with_their_code_and_details(error: DomainError) -> None:
    copy = pickle.loads(pickle.dumps(error))

    assert type(copy) is type(error)
    assert copy.as_dict() == error.as_dict()
