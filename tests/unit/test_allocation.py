"""Stock per location and the allocation strategies (agents.domain.allocation, and the
product's stock built on it in agents.domain.stock)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from agents.domain import allocation as al
from agents.domain import stock as st
from agents.domain.allocation import MOST_STOCK, PRIORITY, Place
from agents.domain.errors import (
    DomainError,
    InsufficientStock,
    InvalidAllocation,
    NegativeStock,
    SameLocation,
    UnknownLocation,
)


def places(**available: tuple[int, int]) -> dict[str, Place]:
    """Locations by id: (priority, available), nothing reserved or sold."""
    return {lid: Place(prio, available=a, net=a) for lid, (prio, a) in available.items()}


def spread(*at: tuple[str, int, int], strategy: str = PRIORITY) -> st.Stock:
    """A product with `main` empty and units at other locations: (id, priority, units)."""
    stock = st.create_product("SKU-1", "Widget", st.Decimal("2.00"), 0)
    for location_id, priority, units in at:
        stock = st.adjust(stock, units, location_id, priority)
    return st.set_allocation(stock, strategy) if strategy != PRIORITY else stock


# ------------------------------------------------------------------ strategies


def test_priority_takes_the_lowest_priority_number_first() -> None:
    assert al.allocate(places(a=(2, 5), b=(1, 5)), 3, PRIORITY) == {"b": 3}


def test_priority_splits_a_line_one_location_cannot_cover() -> None:
    taken = al.allocate(places(a=(2, 5), b=(1, 2), c=(3, 9)), 6, PRIORITY)

    assert taken == {"b": 2, "a": 4}
    assert list(taken) == ["b", "a"]  # in the order they were taken


def test_priority_skips_empty_locations() -> None:
    assert al.allocate(places(a=(0, 0), b=(1, 4)), 1, PRIORITY) == {"b": 1}


def test_equal_priorities_fall_back_to_the_location_id() -> None:
    assert al.allocate(places(z=(1, 5), a=(1, 5)), 1, PRIORITY) == {"a": 1}


def test_most_stock_takes_the_location_with_most_available_first() -> None:
    assert al.allocate(places(a=(0, 2), b=(9, 7), c=(1, 3)), 4, MOST_STOCK) == {"b": 4}


def test_most_stock_splits_when_the_largest_location_cannot_cover() -> None:
    assert al.allocate(places(a=(0, 2), b=(9, 7), c=(1, 3)), 9, MOST_STOCK) == {"b": 7, "c": 2}


def test_most_stock_breaks_ties_by_priority() -> None:
    assert al.allocate(places(a=(5, 4), b=(1, 4)), 1, MOST_STOCK) == {"b": 1}


def test_a_pinned_line_takes_only_its_location_even_against_the_strategy() -> None:
    assert al.allocate(places(a=(0, 5), b=(1, 5)), 2, PRIORITY, pinned="b") == {"b": 2}


def test_a_pinned_line_is_refused_when_its_location_cannot_cover_it() -> None:
    with pytest.raises(InsufficientStock) as caught:
        al.allocate(places(a=(0, 9), b=(1, 1)), 2, PRIORITY, pinned="b")

    assert caught.value.details == {"available": 1, "requested": 2, "location_id": "b"}


def test_a_line_pinned_to_a_location_without_stock_is_refused() -> None:
    with pytest.raises(InsufficientStock) as caught:
        al.allocate(places(a=(0, 9)), 1, PRIORITY, pinned="nowhere")

    assert caught.value.details["available"] == 0


def test_a_line_above_the_total_available_is_refused_without_a_split() -> None:
    with pytest.raises(InsufficientStock) as caught:
        al.allocate(places(a=(0, 2), b=(1, 3)), 6, PRIORITY)

    assert caught.value.details == {"available": 5, "requested": 6}


def test_an_unknown_strategy_is_refused() -> None:
    with pytest.raises(InvalidAllocation):
        al.allocate(places(a=(0, 2)), 1, "cheapest")


# ------------------------------------------------------------------ the product's stock


def test_a_new_product_keeps_its_stock_at_main() -> None:
    stock = st.create_product("SKU-1", "Widget", st.Decimal("2.00"), 5)

    assert stock.locations == {"main": Place(0, available=5, net=5)}


def test_a_reservation_records_where_its_units_came_from() -> None:
    stock = st.reserve(spread(("east", 1, 2), ("west", 2, 3)), "r1", 4)

    assert stock.active == {"r1": {"east": 2, "west": 2}}
    assert (stock.locations["east"].available, stock.locations["east"].reserved) == (0, 2)
    assert (stock.locations["west"].available, stock.locations["west"].reserved) == (1, 2)
    assert (stock.available, stock.reserved) == (1, 4)


def test_commit_and_release_act_on_exactly_the_reservations_allocation() -> None:
    stock = spread(("east", 1, 2), ("west", 2, 3))
    stock = st.reserve(stock, "r1", 3)  # east 2 + west 1
    stock = st.reserve(stock, "r2", 1)  # west 1

    stock, sold = st.commit(stock, "r1")
    stock, released = st.release(stock, "r2")

    assert (sold, released) == ({"east": 2, "west": 1}, {"west": 1})
    east, west = stock.locations["east"], stock.locations["west"]
    assert (east.available, east.reserved, east.sold) == (0, 0, 2)
    assert (west.available, west.reserved, west.sold) == (2, 0, 1)
    assert st.invariant_violations(stock) == []


def test_a_cancelled_confirmed_order_returns_its_units_where_they_were_sold() -> None:
    stock = st.reserve(spread(("east", 1, 2), ("west", 2, 3)), "r1", 3)
    stock, sold = st.commit(stock, "r1")

    stock = st.release_sold(stock, sold)

    assert stock.locations["east"] == Place(1, available=2, net=2)
    assert stock.locations["west"] == Place(2, available=3, net=3)


def test_the_strategy_of_a_product_decides_its_reservations() -> None:
    stock = spread(("east", 1, 2), ("west", 2, 3), strategy=MOST_STOCK)

    assert st.reserve(stock, "r1", 1).active == {"r1": {"west": 1}}


def test_adjusting_a_location_changes_only_that_location() -> None:
    stock = st.adjust(spread(("east", 1, 2)), 4, "west", 2)

    assert stock.locations["east"].available == 2
    assert stock.locations["west"] == Place(2, available=4, net=4)
    assert (stock.available, stock.adjusted) == (6, 6)


def test_an_adjustment_never_takes_a_location_below_zero_even_with_stock_elsewhere() -> None:
    stock = spread(("east", 1, 2), ("west", 2, 3))

    with pytest.raises(NegativeStock) as caught:
        st.adjust(stock, -3, "east")

    assert caught.value.details == {"available": 2, "delta": -3, "location_id": "east"}


def test_a_new_location_needs_its_priority_but_main_does_not() -> None:
    stock = st.create_product("SKU-1", "Widget", st.Decimal("2.00"), 0)

    with pytest.raises(UnknownLocation):
        st.adjust(stock, 1, "east")
    assert st.adjust(stock, 1).locations["main"].available == 1


def test_a_transfer_moves_available_units_at_both_ends_and_keeps_the_totals() -> None:
    stock = spread(("east", 1, 5))

    moved = st.transfer(stock, "east", "west", 3, 2)

    assert moved.locations["east"] == Place(1, available=2, net=2)
    assert moved.locations["west"] == Place(2, available=3, net=3)
    assert (moved.available, moved.adjusted, moved.version) == (5, 5, stock.version + 1)
    assert st.invariant_violations(moved) == []


def test_a_transfer_cannot_move_reserved_units_or_more_than_there_is() -> None:
    stock = st.reserve(spread(("east", 1, 5)), "r1", 4, "east")

    with pytest.raises(InsufficientStock) as caught:
        st.transfer(stock, "east", "main", 2)

    assert caught.value.details == {"available": 1, "requested": 2, "location_id": "east"}


def test_a_transfer_to_the_same_location_is_refused() -> None:
    with pytest.raises(SameLocation):
        st.transfer(spread(("east", 1, 5)), "east", "east", 1)


def test_a_row_from_before_locations_holds_everything_at_main() -> None:
    old = {
        "product_id": "SKU-1",
        "name": "Widget",
        "price": "2.00",
        "initial": 10,
        "adjusted": -1,
        "available": 4,
        "reserved": 3,
        "sold": 2,
        "version": 7,
        "active": {"r1": 3},
    }

    stock = st.from_dict(old)

    assert stock.locations == {"main": Place(0, available=4, reserved=3, sold=2, net=9)}
    assert stock.active == {"r1": {"main": 3}}
    assert stock.allocation == PRIORITY
    assert st.invariant_violations(stock) == []
    stock, sold = st.commit(stock, "r1")
    assert sold == {"main": 3}


def test_an_order_from_before_locations_gives_sold_units_back_at_main() -> None:
    stock = st.adjust(spread(("east", 1, 2)), 3)
    stock, _ = st.commit(st.reserve(stock, "r1", 2, "main"), "r1")

    stock = st.release_sold(stock, 2)  # an old order: a quantity, no allocation

    assert stock.locations["main"] == Place(0, available=3, net=3)
    assert stock.locations["east"] == Place(1, available=2, net=2)


def test_an_unknown_allocation_strategy_is_refused() -> None:
    with pytest.raises(InvalidAllocation):
        st.set_allocation(spread(("east", 1, 2)), "random")


# ------------------------------------------------------------------ the invariant, explored

LOCATIONS = ("main", "east", "west")
_operation = hs.one_of(
    hs.tuples(hs.just("adjust"), hs.sampled_from(LOCATIONS), hs.integers(-5, 6)),
    hs.tuples(hs.just("reserve"), hs.sampled_from((None, *LOCATIONS)), hs.integers(1, 6)),
    hs.tuples(hs.just("commit"), hs.just(None), hs.integers(0, 9)),
    hs.tuples(hs.just("release"), hs.just(None), hs.integers(0, 9)),
    hs.tuples(hs.just("release_sold"), hs.just(None), hs.integers(0, 9)),
    hs.tuples(hs.just("transfer"), hs.sampled_from(LOCATIONS), hs.integers(1, 4)),
    hs.tuples(hs.just("strategy"), hs.just(None), hs.integers(0, 1)),
)


@settings(max_examples=300, deadline=None)
@given(initial=hs.integers(0, 8), operations=hs.lists(_operation, max_size=40))
def test_every_location_balances_and_stays_non_negative_whatever_happens(
    initial: int, operations: list[tuple[str, str | None, int]]
) -> None:
    stock = st.create_product("SKU-1", "Widget", st.Decimal("2.00"), initial)
    received = dict.fromkeys(LOCATIONS, 0)  # received - removed per location, kept apart
    received["main"] = initial
    sold: list[dict[str, int]] = []
    priorities = {"main": 0, "east": 1, "west": 2}
    next_id = 0
    for op, location, n in operations:
        before = stock
        try:
            if op == "adjust":
                assert location is not None
                stock = st.adjust(stock, n, location, priorities[location])
                received[location] += n
            elif op == "reserve":
                stock = st.reserve(stock, f"r{next_id}", n, location)
                next_id += 1
            elif op in ("commit", "release") and stock.active:
                rid = sorted(stock.active)[n % len(stock.active)]
                taken = stock.active[rid]
                if op == "commit":
                    stock, done = st.commit(stock, rid)
                    sold.append(done)
                else:
                    stock, done = st.release(stock, rid)
                assert done == taken
            elif op == "release_sold" and sold:
                stock = st.release_sold(stock, sold.pop(n % len(sold)))
            elif op == "transfer":
                assert location is not None
                target = LOCATIONS[(LOCATIONS.index(location) + 1) % len(LOCATIONS)]
                stock = st.transfer(stock, location, target, n, priorities[target])
                received[location] -= n
                received[target] += n
            elif op == "strategy":
                stock = st.set_allocation(stock, (PRIORITY, MOST_STOCK)[n])
        except DomainError:
            assert stock is before
        assert st.invariant_violations(stock) == []
        for location_id, place in stock.locations.items():
            assert min(place.available, place.reserved, place.sold) >= 0
            assert place.available + place.reserved + place.sold == received[location_id]
        assert stock.available + stock.reserved + stock.sold == sum(received.values())
        assert st.from_dict(json.loads(json.dumps(st.to_dict(stock)))) == stock
