"""Stock arithmetic for one product: create, adjust, reserve, commit, release.

Every function takes a `Stock` and returns a new one with `version + 1`; the
argument is never changed, so a rejected command leaves the caller's state as
it was. The books always balance (see `invariant_violations`):

    initial + adjusted == available + reserved + sold

and per location (agents.domain.allocation): the product's available, reserved and
sold are the sums over its locations, each of which balances on its own.

Only active (reserved, not yet committed) reservations are part of a Stock; the
inventory agent stores each of them as a row of its own and hands a decision only
the one its command is about, so the product's row stays small however many are
active. Committed reservations are tracked by the order side (with their
allocations); that is why `release_sold` trusts its allocation argument — the caller
dedupes commands by id, so a cancelled order gives its units back once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from agents.domain import allocation as places_rules
from agents.domain.allocation import MAIN, PRIORITY, Allocation, Place
from agents.domain.errors import (
    DuplicateReservation,
    InvalidQuantity,
    InvalidValue,
    UnknownReservation,
)
from agents.domain.validation import (
    MAX_QUANTITY,
    MAX_STOCK,
    is_int,
    money,
    record_field,
    require_id,
    require_name,
    require_product_id,
)

_RECORD = "stock"


@dataclass(frozen=True, slots=True)
class Stock:
    """One product's stock as the inventory agent keeps it in its table.

    `adjusted` is the sum of all adjustments so far; `active` maps the id of
    each reserved-not-committed reservation to its allocation (location -> units).
    `locations` holds the stock per location; available, reserved and sold are
    their sums. `allocation` is the strategy a reservation without a pinned
    location follows. Treat the dicts as read-only: the functions below always
    build new ones.
    """

    product_id: str
    name: str
    price: Decimal
    initial: int
    adjusted: int
    available: int
    reserved: int
    sold: int
    version: int
    active: dict[str, Allocation]
    locations: dict[str, Place] = field(default_factory=dict)
    allocation: str = PRIORITY


def create_product(product_id: str, name: str, price: Decimal, initial_stock: int) -> Stock:
    """Return the first `Stock` of a new product (version 1, nothing reserved or sold).

    Raises InvalidValue for a malformed product id, a blank name or a bad price
    (negative, float, more than 2 decimals), and InvalidQuantity unless
    0 <= initial_stock <= MAX_STOCK.
    """
    product_id = require_product_id(product_id)
    name = require_name(name)
    price = money(price, "price")
    if not is_int(initial_stock) or not 0 <= initial_stock <= MAX_STOCK:
        raise InvalidQuantity(
            initial_stock,
            f"initial stock must be an integer from 0 to {MAX_STOCK}",
            minimum=0,
            maximum=MAX_STOCK,
        )
    return Stock(
        product_id=product_id,
        name=name,
        price=price,
        initial=initial_stock,
        adjusted=0,
        available=initial_stock,
        reserved=0,
        sold=0,
        version=1,
        active={},
        locations={MAIN: Place(0, available=initial_stock, net=initial_stock)},
    )


def adjust(stock: Stock, delta: int, location_id: str = MAIN, priority: int | None = None) -> Stock:
    """Return `stock` with `delta` units added to (or taken from) the available stock
    of one location (`main` by default).

    Reserved and sold units are untouched; `adjusted` records the change. A location
    new to the product takes `priority`. Raises InvalidQuantity if `delta` is zero,
    not an int, or would take the total stock above MAX_STOCK, NegativeStock if the
    location's available + delta < 0, UnknownLocation for a new location other than
    `main` without a priority.
    """
    if not is_int(delta) or delta == 0:
        raise InvalidQuantity(delta, "an adjustment must be a non-zero integer")
    total = stock.initial + stock.adjusted
    if total + delta > MAX_STOCK:
        raise InvalidQuantity(
            delta,
            f"would bring the total stock to {total + delta}, above the limit {MAX_STOCK}",
            maximum=MAX_STOCK - total,
        )
    places = places_rules.receive(stock.locations, location_id, delta, priority)
    return _with_places(stock, places, adjusted=stock.adjusted + delta)


def transfer(
    stock: Stock, source: str, target: str, quantity: int, target_priority: int | None = None
) -> Stock:
    """Return `stock` with `quantity` available units moved from one location to
    another; the totals do not change. Raises what `allocation.transfer` raises."""
    places = places_rules.transfer(stock.locations, source, target, quantity, target_priority)
    return _with_places(stock, places)


def set_allocation(stock: Stock, strategy: str) -> Stock:
    """Return `stock` with the allocation strategy `strategy` (InvalidAllocation for one
    that does not exist)."""
    return replace(
        stock, allocation=places_rules.require_strategy(strategy), version=stock.version + 1
    )


def reserve(
    stock: Stock, reservation_id: str, quantity: int, location_id: str | None = None
) -> Stock:
    """Return `stock` with `quantity` units moved from available to a new active
    reservation, taken from `location_id` alone when it is given, otherwise where the
    product's allocation strategy says (agents.domain.allocation.allocate).

    Raises InvalidValue for a blank reservation id, InvalidQuantity unless
    1 <= quantity <= MAX_QUANTITY, DuplicateReservation if the id is already
    active, and InsufficientStock if the units are not available (at the location).
    """
    reservation_id = require_id(reservation_id, "reservation_id")
    if not is_int(quantity) or not 1 <= quantity <= MAX_QUANTITY:
        raise InvalidQuantity(
            quantity,
            f"a reservation must be an integer from 1 to {MAX_QUANTITY}",
            minimum=1,
            maximum=MAX_QUANTITY,
        )
    # Checked before stock, so a retried reservation is recognised as such even
    # when the product has sold out since.
    if reservation_id in stock.active:
        raise DuplicateReservation(reservation_id)
    if location_id is not None:
        location_id = require_id(location_id, "location_id")
    taken = places_rules.allocate(stock.locations, quantity, stock.allocation, location_id)
    return _with_places(
        stock,
        places_rules.hold(stock.locations, taken),
        active={**stock.active, reservation_id: taken},
    )


def commit(stock: Stock, reservation_id: str) -> tuple[Stock, Allocation]:
    """Turn an active reservation into sold units, at the locations it holds them.

    Returns the new `Stock` (the reservation no longer active) and the reservation's
    allocation. Raises UnknownReservation if the id is not active.
    """
    taken, active = _take(stock, reservation_id)
    places = places_rules.commit(stock.locations, taken)
    return _with_places(stock, places, active=active), taken


def release(stock: Stock, reservation_id: str) -> tuple[Stock, Allocation]:
    """Give an active reservation's units back to available stock where they came from.

    Returns the new `Stock` (the reservation no longer active) and its allocation.
    Raises UnknownReservation if the id is not active.
    """
    taken, active = _take(stock, reservation_id)
    places = places_rules.release(stock.locations, taken)
    return _with_places(stock, places, active=active), taken


def release_sold(stock: Stock, allocation: Allocation | int) -> Stock:
    """Return `stock` with the sold units of `allocation` back in available stock, at
    the locations they were sold from (a bare quantity: at `main`, an order from
    before locations).

    For a confirmed order that is cancelled. The allocation is trusted (the stock row
    does not remember committed reservations; the caller dedupes by command id).
    Raises InvalidQuantity when a location has sold fewer units.
    """
    if not isinstance(allocation, dict):
        quantity = allocation
        if not is_int(quantity) or not 1 <= quantity <= stock.sold:
            raise InvalidQuantity(
                quantity,
                f"can give back from 1 to {stock.sold} sold units",
                minimum=1,
                maximum=stock.sold,
            )
        allocation = {MAIN: quantity}
    return _with_places(stock, places_rules.release_sold(stock.locations, allocation))


def quantity_of(allocation: Allocation) -> int:
    """How many units an allocation holds."""
    return sum(allocation.values())


def _with_places(
    stock: Stock,
    places: dict[str, Place],
    *,
    adjusted: int | None = None,
    active: dict[str, Allocation] | None = None,
) -> Stock:
    """`stock` at its next version with `places`, its totals their sums.

    Built field by field, not with `dataclasses.replace`, which walks the fields at run
    time: twice as slow, and every reservation makes a new Stock."""
    available, reserved, sold, _net = places_rules.totals(places)
    return Stock(
        stock.product_id,
        stock.name,
        stock.price,
        stock.initial,
        stock.adjusted if adjusted is None else adjusted,
        available,
        reserved,
        sold,
        stock.version + 1,
        stock.active if active is None else active,
        places,
        stock.allocation,
    )


def without_active(stock: Stock) -> Stock:
    """`stock` with no active reservations (as the product's row keeps it: each active
    reservation is a row of its own). Field by field, as `_with_places`."""
    return Stock(
        stock.product_id,
        stock.name,
        stock.price,
        stock.initial,
        stock.adjusted,
        stock.available,
        stock.reserved,
        stock.sold,
        stock.version,
        {},
        stock.locations,
        stock.allocation,
    )


def _take(stock: Stock, reservation_id: str) -> tuple[Allocation, dict[str, Allocation]]:
    """Return the active reservation's allocation and the active map without it."""
    taken = stock.active.get(reservation_id) if isinstance(reservation_id, str) else None
    if taken is None:
        raise UnknownReservation(reservation_id)
    active = {rid: a for rid, a in stock.active.items() if rid != reservation_id}
    return taken, active


def invariant_violations(stock: Stock) -> list[str]:
    """Return a sentence for each broken invariant of `stock`; empty when it is sound.

    Checked: no counter is negative, initial + adjusted == available + reserved
    + sold, every active reservation holds at least one unit, the active
    reservations add up to `reserved`; per location the same books
    (agents.domain.allocation.violations), and the totals are the locations' sums.
    """
    problems: list[str] = []
    for name in ("initial", "available", "reserved", "sold"):
        value = getattr(stock, name)
        if value < 0:
            problems.append(f"{name} is negative ({value})")
    booked = stock.initial + stock.adjusted
    held = stock.available + stock.reserved + stock.sold
    if booked != held:
        problems.append(f"initial + adjusted ({booked}) != available + reserved + sold ({held})")
    for reservation_id, taken in sorted(stock.active.items()):
        quantity = quantity_of(taken)
        if quantity < 1 or any(q < 1 for q in taken.values()):
            problems.append(f"active reservation {reservation_id!r} holds {quantity} units")
    active_total = sum(quantity_of(a) for a in stock.active.values())
    if active_total != stock.reserved:
        problems.append(
            f"active reservations add up to {active_total}, but reserved is {stock.reserved}"
        )
    problems.extend(places_rules.violations(stock.locations))
    available, reserved, sold, net = places_rules.totals(stock.locations)
    if (available, reserved, sold, net) != (stock.available, stock.reserved, stock.sold, booked):
        problems.append(
            f"locations add up to available {available}, reserved {reserved}, sold {sold}, "
            f"received - removed {net}; the product says {stock.available}, "
            f"{stock.reserved}, {stock.sold}, {booked}"
        )
    return problems


def to_dict(stock: Stock) -> dict[str, Any]:
    """Return `stock` as JSON-safe data (price as a string); `from_dict` reverses it."""
    return {
        "product_id": stock.product_id,
        "name": stock.name,
        "price": str(stock.price),
        "initial": stock.initial,
        "adjusted": stock.adjusted,
        "available": stock.available,
        "reserved": stock.reserved,
        "sold": stock.sold,
        "version": stock.version,
        "active": {rid: dict(a) for rid, a in stock.active.items()},
        "locations": {
            lid: places_rules.place_to_dict(place) for lid, place in stock.locations.items()
        },
        "allocation": stock.allocation,
    }


def from_dict(data: Mapping[str, object]) -> Stock:
    """Rebuild a `Stock` from `to_dict` output (e.g. a table row or an event).

    Checks types, not business invariants (use `invariant_violations`);
    unknown keys are ignored so an older worker can read a newer row. A row written
    before locations existed (no `locations`) holds all its stock at `main`, and its
    active reservations (bare quantities) too.
    Raises InvalidValue (a ValueError) for a missing key or a wrong type.
    """
    if not isinstance(data, Mapping):
        raise InvalidValue(_RECORD, f"must be a mapping, not {type(data).__name__}")
    price = record_field(data, "price", str, _RECORD)
    active_data = record_field(data, "active", dict, _RECORD)
    active: dict[str, Allocation] = {}
    for reservation_id, taken in active_data.items():
        if not isinstance(reservation_id, str) or not (is_int(taken) or isinstance(taken, dict)):
            raise InvalidValue(
                f"{_RECORD}.active",
                "must map reservation ids (str) to allocations or quantities (int)",
                reservation_id,
            )
        active[reservation_id] = places_rules.allocation_from(taken)
    stock = Stock(
        product_id=record_field(data, "product_id", str, _RECORD),
        name=record_field(data, "name", str, _RECORD),
        price=money(price, f"{_RECORD}.price"),
        initial=record_field(data, "initial", int, _RECORD),
        adjusted=record_field(data, "adjusted", int, _RECORD),
        available=record_field(data, "available", int, _RECORD),
        reserved=record_field(data, "reserved", int, _RECORD),
        sold=record_field(data, "sold", int, _RECORD),
        version=record_field(data, "version", int, _RECORD),
        active=active,
    )
    locations = data.get("locations")
    if locations is None:
        # Written by a worker from before locations: everything is at `main`.
        old = Place(
            0,
            available=stock.available,
            reserved=stock.reserved,
            sold=stock.sold,
            net=stock.initial + stock.adjusted,
        )
        return replace(stock, locations={MAIN: old})
    if not isinstance(locations, Mapping):
        raise InvalidValue(f"{_RECORD}.locations", "must be a mapping", None)
    allocation = data.get("allocation", PRIORITY)
    if not isinstance(allocation, str):
        raise InvalidValue(f"{_RECORD}.allocation", "must be a string", allocation)
    return replace(
        stock,
        locations={
            str(lid): places_rules.place_from_dict(place, f"{_RECORD}.locations.{lid}")
            for lid, place in locations.items()
        },
        allocation=allocation,
    )
