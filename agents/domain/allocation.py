"""Stock per location of one product, and where a reservation's units come from.

Pure: plain data in, new plain data out, no I/O. A product's locations are a mapping
location id -> `Place`; every function returns a new mapping and never changes its
argument. The books balance per location (see `violations`):

    available + reserved + sold == net        (net = received - removed, transfers included)

and so in total, since the product's totals are the sums over its places.

An *allocation* says where the units of one held product line are: location id ->
units, in the order they were taken. It is what a reservation row, an order line and
the events carry, and commit, release and the return of sold units act on exactly it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from agents.domain.errors import (
    InsufficientStock,
    InvalidAllocation,
    InvalidQuantity,
    InvalidValue,
    NegativeStock,
    SameLocation,
    UnknownLocation,
)
from agents.domain.validation import is_int, require_id

MAIN: Final = "main"
MAIN_PRIORITY: Final = 0
PRIORITY: Final = "priority"  # lowest priority number first, splitting a line when needed
MOST_STOCK: Final = "most_stock"  # the location with the most available first
STRATEGIES: Final = (PRIORITY, MOST_STOCK)

Allocation = dict[str, int]


@dataclass(frozen=True, slots=True)
class Place:
    """One product's stock at one location. `priority` is the location's (copied from
    the catalogue when the product first gets stock there: a location's priority never
    changes), `net` what was received there minus what was removed or moved away."""

    priority: int
    available: int = 0
    reserved: int = 0
    sold: int = 0
    net: int = 0


Places = Mapping[str, Place]


def require_strategy(strategy: object) -> str:
    """`strategy` if it is one of STRATEGIES; InvalidAllocation otherwise."""
    if strategy not in STRATEGIES:
        raise InvalidAllocation(strategy, STRATEGIES)
    return str(strategy)


def order_of(places: Places, strategy: str) -> list[str]:
    """The locations in the order `strategy` takes units from them. Ties fall back to
    the priority and then the id, so a decision never depends on a mapping's order."""

    def most_stock(lid: str) -> tuple[int, int, str]:
        return (-places[lid].available, places[lid].priority, lid)

    def by_priority(lid: str) -> tuple[int, str]:
        return (places[lid].priority, lid)

    return sorted(places, key=most_stock if strategy == MOST_STOCK else by_priority)


def allocate(places: Places, quantity: int, strategy: str, pinned: str | None = None) -> Allocation:
    """Where `quantity` units come from: the pinned location alone, or the locations in
    the strategy's order, each giving what it has until the line is covered (a split).

    Raises InsufficientStock (naming the pinned location, if any) when the units are
    not there, InvalidAllocation for an unknown strategy.
    """
    require_strategy(strategy)
    if pinned is not None:
        have = places[pinned].available if pinned in places else 0
        if quantity > have:
            raise InsufficientStock(have, quantity, pinned)
        return {pinned: quantity}
    total = sum(p.available for p in places.values())
    if quantity > total:
        raise InsufficientStock(total, quantity)
    taken: Allocation = {}
    left = quantity
    for location_id in order_of(places, strategy):
        take = min(left, places[location_id].available)
        if take > 0:
            taken[location_id] = take
            left -= take
        if left == 0:
            break
    return taken


def hold(places: Places, allocation: Allocation) -> dict[str, Place]:
    """Units of `allocation` moved from available to reserved, per location."""
    return _move(places, allocation, "available", "reserved")


def commit(places: Places, allocation: Allocation) -> dict[str, Place]:
    """Units of `allocation` moved from reserved to sold, per location."""
    return _move(places, allocation, "reserved", "sold")


def release(places: Places, allocation: Allocation) -> dict[str, Place]:
    """Units of `allocation` moved from reserved back to available, per location."""
    return _move(places, allocation, "reserved", "available")


def release_sold(places: Places, allocation: Allocation) -> dict[str, Place]:
    """Units of `allocation` moved from sold back to available (a confirmed order
    cancelled). Raises InvalidQuantity when a location has sold fewer."""
    return _move(places, allocation, "sold", "available")


def receive(
    places: Places, location_id: str, delta: int, priority: int | None = None
) -> dict[str, Place]:
    """`delta` units added to (or removed from) the available stock of one location.

    A location new to the product takes `priority` (`main` its own without one);
    raises UnknownLocation for another new location without a priority, NegativeStock
    when the location's available stock would go below 0.
    """
    location_id = require_id(location_id, "location_id")
    out = dict(places)
    place = out.get(location_id) or Place(_new_priority(location_id, priority))
    if place.available + delta < 0:
        raise NegativeStock(place.available, delta, location_id)
    out[location_id] = replace(place, available=place.available + delta, net=place.net + delta)
    return out


def transfer(
    places: Places, source: str, target: str, quantity: int, target_priority: int | None = None
) -> dict[str, Place]:
    """`quantity` available units moved from `source` to `target`, both ends at once.

    Raises SameLocation when both are the same location, InvalidQuantity for a
    quantity below 1, InsufficientStock (naming `source`) when it has fewer available,
    UnknownLocation for a target new to the product without a priority.
    """
    source = require_id(source, "from")
    target = require_id(target, "to")
    if source == target:
        raise SameLocation(target)
    if not is_int(quantity) or quantity < 1:
        raise InvalidQuantity(quantity, "a transfer moves at least one unit", minimum=1)
    have = places[source].available if source in places else 0
    if quantity > have:
        raise InsufficientStock(have, quantity, source)
    out = receive(places, source, -quantity)
    return receive(out, target, quantity, target_priority)


def totals(places: Places) -> tuple[int, int, int, int]:
    """(available, reserved, sold, net) summed over the locations."""
    # One pass, not four generator sums: every decision on stock sums its places.
    available = reserved = sold = net = 0
    for p in places.values():
        available += p.available
        reserved += p.reserved
        sold += p.sold
        net += p.net
    return available, reserved, sold, net


def violations(places: Places) -> list[str]:
    """A sentence for each location whose books do not balance or that holds a negative
    counter; empty when every location is sound."""
    problems: list[str] = []
    for location_id in sorted(places):
        p = places[location_id]
        for name in ("available", "reserved", "sold"):
            value = getattr(p, name)
            if value < 0:
                problems.append(f"location {location_id!r}: {name} is negative ({value})")
        held = p.available + p.reserved + p.sold
        if held != p.net:
            problems.append(
                f"location {location_id!r}: available + reserved + sold ({held}) "
                f"!= received - removed ({p.net})"
            )
    return problems


def allocation_list(allocation: Allocation) -> list[dict[str, Any]]:
    """`allocation` as the wire and the read models carry it."""
    return [{"location_id": lid, "quantity": q} for lid, q in allocation.items()]


def allocation_from(items: Iterable[Mapping[str, Any]] | Mapping[str, Any] | int) -> Allocation:
    """An allocation from its list form, its mapping form, or a bare quantity (a
    reservation or order written before locations existed: all of it at `main`).
    Raises InvalidValue for anything else."""
    if is_int(items):
        return {MAIN: int(items)}  # type: ignore[arg-type]
    if isinstance(items, Mapping):
        pairs = list(items.items())
    else:
        try:
            pairs = [(i["location_id"], i["quantity"]) for i in items]  # type: ignore[union-attr]
        except (TypeError, KeyError) as err:
            raise InvalidValue("allocations", "must be a list of {location_id, quantity}") from err
    out: Allocation = {}
    for location_id, quantity in pairs:
        if not isinstance(location_id, str) or not is_int(quantity) or quantity < 1:
            raise InvalidValue("allocations", "must map location ids to quantities >= 1")
        out[location_id] = out.get(location_id, 0) + quantity
    return out


def place_to_dict(place: Place) -> dict[str, int]:
    return {
        "priority": place.priority,
        "available": place.available,
        "reserved": place.reserved,
        "sold": place.sold,
        "net": place.net,
    }


def place_from_dict(data: object, field: str) -> Place:
    """A `Place` from `place_to_dict` output; InvalidValue for a wrong shape."""
    if not isinstance(data, Mapping):
        raise InvalidValue(field, "must be a mapping")
    values: dict[str, int] = {}
    for name in ("priority", "available", "reserved", "sold", "net"):
        value = data.get(name)
        if not is_int(value):
            raise InvalidValue(f"{field}.{name}", "must be an integer", value)
        values[name] = int(value)  # type: ignore[arg-type]
    return Place(**values)


def _new_priority(location_id: str, priority: int | None) -> int:
    if priority is not None:
        return priority
    if location_id == MAIN:
        return MAIN_PRIORITY
    raise UnknownLocation(location_id)


def _move(places: Places, allocation: Allocation, source: str, target: str) -> dict[str, Place]:
    out = dict(places)
    for location_id, quantity in allocation.items():
        place = out.get(location_id)
        have = getattr(place, source) if place is not None else 0
        if place is None or not 1 <= quantity <= have:
            raise InvalidQuantity(
                quantity,
                f"location {location_id!r} has {have} {source} units to move",
                minimum=1,
                maximum=have,
            )
        # Built field by field rather than with `dataclasses.replace` (slow: it walks
        # the fields at run time), as every reservation, commit and release moves units.
        counts = {"available": place.available, "reserved": place.reserved, "sold": place.sold}
        counts[source] = have - quantity
        counts[target] += quantity
        out[location_id] = Place(place.priority, net=place.net, **counts)
    return out
