"""Stock arithmetic for one product: create, adjust, reserve, commit, release.

Every function takes a `Stock` and returns a new one with `version + 1`; the
argument is never changed, so a rejected command leaves the caller's state as
it was. The books always balance (see `invariant_violations`):

    initial + adjusted == available + reserved + sold

Only active (reserved, not yet committed) reservations are part of a Stock; the
inventory agent stores each of them as a row of its own and hands a decision only
the one its command is about, so the product's row stays small however many are
active. Committed reservations are tracked by the order side;
that is why `release_sold` trusts its quantity argument — the caller dedupes
commands by id, so a cancelled order gives its units back once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from agents.domain.errors import (
    DuplicateReservation,
    InsufficientStock,
    InvalidQuantity,
    InvalidValue,
    NegativeStock,
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
    each reserved-not-committed reservation to its quantity. Treat `active`
    as read-only: the functions below always build a new dict.
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
    active: dict[str, int]


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
    )


def adjust(stock: Stock, delta: int) -> Stock:
    """Return `stock` with `delta` units added to (or taken from) available stock.

    Reserved and sold units are untouched; `adjusted` records the change.
    Raises InvalidQuantity if `delta` is zero, not an int, or would take the
    total stock above MAX_STOCK, and NegativeStock if available + delta < 0.
    """
    if not is_int(delta) or delta == 0:
        raise InvalidQuantity(delta, "an adjustment must be a non-zero integer")
    if stock.available + delta < 0:
        raise NegativeStock(stock.available, delta)
    total = stock.initial + stock.adjusted
    if total + delta > MAX_STOCK:
        raise InvalidQuantity(
            delta,
            f"would bring the total stock to {total + delta}, above the limit {MAX_STOCK}",
            maximum=MAX_STOCK - total,
        )
    return replace(
        stock,
        adjusted=stock.adjusted + delta,
        available=stock.available + delta,
        version=stock.version + 1,
    )


def reserve(stock: Stock, reservation_id: str, quantity: int) -> Stock:
    """Return `stock` with `quantity` units moved from available to a new active reservation.

    Raises InvalidValue for a blank reservation id, InvalidQuantity unless
    1 <= quantity <= MAX_QUANTITY, DuplicateReservation if the id is already
    active, and InsufficientStock if quantity > available.
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
    if quantity > stock.available:
        raise InsufficientStock(stock.available, quantity)
    return replace(
        stock,
        available=stock.available - quantity,
        reserved=stock.reserved + quantity,
        active={**stock.active, reservation_id: quantity},
        version=stock.version + 1,
    )


def commit(stock: Stock, reservation_id: str) -> tuple[Stock, int]:
    """Turn an active reservation into sold units.

    Returns the new `Stock` (the reservation no longer active) and the
    quantity that was sold. Raises UnknownReservation if the id is not active.
    """
    quantity, active = _take(stock, reservation_id)
    new = replace(
        stock,
        reserved=stock.reserved - quantity,
        sold=stock.sold + quantity,
        active=active,
        version=stock.version + 1,
    )
    return new, quantity


def release(stock: Stock, reservation_id: str) -> tuple[Stock, int]:
    """Give an active reservation's units back to available stock.

    Returns the new `Stock` (the reservation no longer active) and the
    quantity released. Raises UnknownReservation if the id is not active.
    """
    quantity, active = _take(stock, reservation_id)
    new = replace(
        stock,
        reserved=stock.reserved - quantity,
        available=stock.available + quantity,
        active=active,
        version=stock.version + 1,
    )
    return new, quantity


def release_sold(stock: Stock, quantity: int) -> Stock:
    """Return `stock` with `quantity` sold units back in available stock.

    For a confirmed order that is cancelled. The quantity is trusted (the
    stock row does not remember committed reservations; the caller dedupes by
    command id). Raises InvalidQuantity unless 1 <= quantity <= sold.
    """
    if not is_int(quantity) or not 1 <= quantity <= stock.sold:
        raise InvalidQuantity(
            quantity,
            f"can give back from 1 to {stock.sold} sold units",
            minimum=1,
            maximum=stock.sold,
        )
    return replace(
        stock,
        sold=stock.sold - quantity,
        available=stock.available + quantity,
        version=stock.version + 1,
    )


def _take(stock: Stock, reservation_id: str) -> tuple[int, dict[str, int]]:
    """Return the active reservation's quantity and the active map without it."""
    quantity = stock.active.get(reservation_id) if isinstance(reservation_id, str) else None
    if quantity is None:
        raise UnknownReservation(reservation_id)
    active = {rid: q for rid, q in stock.active.items() if rid != reservation_id}
    return quantity, active


def invariant_violations(stock: Stock) -> list[str]:
    """Return a sentence for each broken invariant of `stock`; empty when it is sound.

    Checked: no counter is negative, initial + adjusted == available + reserved
    + sold, every active reservation holds at least one unit, and the active
    reservations add up to `reserved`.
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
    for reservation_id, quantity in sorted(stock.active.items()):
        if quantity < 1:
            problems.append(f"active reservation {reservation_id!r} holds {quantity} units")
    active_total = sum(stock.active.values())
    if active_total != stock.reserved:
        problems.append(
            f"active reservations add up to {active_total}, but reserved is {stock.reserved}"
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
        "active": dict(stock.active),
    }


def from_dict(data: Mapping[str, object]) -> Stock:
    """Rebuild a `Stock` from `to_dict` output (e.g. a table row or an event).

    Checks types, not business invariants (use `invariant_violations`);
    unknown keys are ignored so an older worker can read a newer row.
    Raises InvalidValue (a ValueError) for a missing key or a wrong type.
    """
    if not isinstance(data, Mapping):
        raise InvalidValue(_RECORD, f"must be a mapping, not {type(data).__name__}")
    price = record_field(data, "price", str, _RECORD)
    active = record_field(data, "active", dict, _RECORD)
    for reservation_id, quantity in active.items():
        if not isinstance(reservation_id, str) or not is_int(quantity):
            raise InvalidValue(
                f"{_RECORD}.active",
                "must map reservation ids (str) to quantities (int)",
                reservation_id,
            )
    return Stock(
        product_id=record_field(data, "product_id", str, _RECORD),
        name=record_field(data, "name", str, _RECORD),
        price=money(price, f"{_RECORD}.price"),
        initial=record_field(data, "initial", int, _RECORD),
        adjusted=record_field(data, "adjusted", int, _RECORD),
        available=record_field(data, "available", int, _RECORD),
        reserved=record_field(data, "reserved", int, _RECORD),
        sold=record_field(data, "sold", int, _RECORD),
        version=record_field(data, "version", int, _RECORD),
        active=dict(active),
    )
