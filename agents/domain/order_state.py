"""The order state machine and the order record it governs.

    pending -> confirmed -> processing -> shipped -> delivered
    pending | confirmed -> cancelled

No cancel after shipped; delivered and cancelled are final. Every function
returns a new `Order` with `version + 1` and one more history entry; the
argument is never changed.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

from agents.domain.errors import InvalidQuantity, InvalidTransition, InvalidValue
from agents.domain.validation import (
    MAX_QUANTITY,
    is_int,
    money,
    optional_record_field,
    record_field,
    require_id,
    require_product_id,
)

_RECORD = "order"
_CENT: Final = Decimal("0.01")


class OrderStatus(StrEnum):
    """Where an order is in its life; the value is the wire and database name.

    A `StrEnum` (a `str` and an `Enum`): members compare equal to their wire
    values and `str(OrderStatus.PENDING) == "pending"`.
    """

    PENDING = "pending"
    CONFIRMED = "confirmed"
    PROCESSING = "processing"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


TRANSITIONS: Final[dict[OrderStatus, frozenset[OrderStatus]]] = {
    OrderStatus.PENDING: frozenset({OrderStatus.CONFIRMED, OrderStatus.CANCELLED}),
    OrderStatus.CONFIRMED: frozenset({OrderStatus.PROCESSING, OrderStatus.CANCELLED}),
    OrderStatus.PROCESSING: frozenset({OrderStatus.SHIPPED}),
    OrderStatus.SHIPPED: frozenset({OrderStatus.DELIVERED}),
    OrderStatus.DELIVERED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
}


def parse_status(text: str) -> OrderStatus:
    """Return the status named `text` (exact wire value, e.g. "confirmed").

    Raises InvalidValue (a ValueError) listing the known statuses otherwise.
    """
    try:
        return OrderStatus(text)
    except ValueError:
        known = ", ".join(sorted(s.value for s in OrderStatus))
        raise InvalidValue(
            "status", f"unknown order status {text!r}; expected one of: {known}", text
        ) from None


def _status(value: OrderStatus | str) -> OrderStatus:
    """Accept a member or its wire value; anything else is an InvalidValue."""
    return value if isinstance(value, OrderStatus) else parse_status(value)


def allowed_targets(status: OrderStatus) -> list[str]:
    """Return the statuses `status` may move to, as sorted wire values ([] if final)."""
    return sorted(s.value for s in TRANSITIONS[_status(status)])


def check_transition(from_status: OrderStatus, to_status: OrderStatus) -> None:
    """Return None if the state machine allows from_status -> to_status.

    Raises InvalidTransition (with the allowed targets) otherwise, including
    for a "change" to the same status.
    """
    source, target = _status(from_status), _status(to_status)
    if target not in TRANSITIONS[source]:
        raise InvalidTransition(source.value, target.value, allowed_targets(source))


def is_final(status: OrderStatus) -> bool:
    """Return True for a status with no way out (delivered, cancelled)."""
    return not TRANSITIONS[_status(status)]


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One status an order entered: when, why, and the request that caused it."""

    status: OrderStatus
    at: datetime
    reason: str | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class OrderLine:
    """One product of an order, at the price it was held at, and where its units are
    held (location -> units; empty for an order from before locations: all at `main`).
    A cancel after confirm returns the sold units there."""

    product_id: str
    quantity: int
    unit_price: Decimal
    allocations: Mapping[str, int] = field(default_factory=dict)

    @property
    def line_total(self) -> Decimal:
        return (self.unit_price * self.quantity).quantize(_CENT)


@dataclass(frozen=True, slots=True)
class Order:
    """An order for one or more product lines, as the order agent keeps it in its table.
    `product_id`, `quantity` and `unit_price` are its line's for a one-line order and
    None for a cart of several lines; `lines` always holds every line.

    Times are timezone-aware UTC; `history` holds every status entered, oldest
    first, starting with pending.
    """

    order_id: str
    status: OrderStatus
    customer_id: str
    product_id: str | None
    quantity: int | None
    unit_price: Decimal | None
    total: Decimal
    reservation_id: str
    expires_at: datetime
    created_at: datetime
    updated_at: datetime
    version: int
    history: tuple[HistoryEntry, ...]
    cancel_reason: str | None = None
    lines: tuple[OrderLine, ...] = ()

    @property
    def allocations(self) -> Mapping[str, int]:
        """A one-line order's allocations (as `product_id`); a cart's are on its lines."""
        return self.lines[0].allocations if len(self.lines) == 1 else {}


def create_order(
    order_id: str,
    customer_id: str,
    product_id: str,
    quantity: int,
    unit_price: Decimal,
    reservation_id: str,
    expires_at: datetime,
    now: datetime,
    request_id: str | None,
    allocations: Mapping[str, int] | None = None,
) -> Order:
    """Return a new pending `Order` (version 1, total = quantity x unit_price to the cent).

    Raises InvalidValue for blank ids, a malformed product id, a bad price or
    a naive datetime, and InvalidQuantity unless 1 <= quantity <= MAX_QUANTITY.
    """
    # Not through `create_cart_order`: every reservation creates a one-line order, and
    # the list of lines, its loop and its duplicate check cost a tenth of the order.
    line = _new_line(product_id, quantity, unit_price, allocations or {})
    return _pending(order_id, customer_id, (line,), reservation_id, expires_at, now, request_id)


def create_cart_order(
    order_id: str,
    customer_id: str,
    lines: list[tuple[str, int, Decimal, Mapping[str, int]]],
    reservation_id: str,
    expires_at: datetime,
    now: datetime,
    request_id: str | None,
) -> Order:
    """Return a new pending `Order` of (product id, quantity, unit price, allocations)
    lines, version
    1, total = the sum of the line totals. Raises as `create_order` for each line, and
    InvalidValue for no lines or a product on two lines."""
    if not lines:
        raise InvalidValue("lines", "an order has at least one line", lines)
    built: list[OrderLine] = []
    for product_id, quantity, unit_price, allocations in lines:
        line = _new_line(product_id, quantity, unit_price, allocations)
        if any(b.product_id == line.product_id for b in built):
            raise InvalidValue("lines", "a product is on one line only", product_id)
        built.append(line)
    return _pending(
        order_id, customer_id, tuple(built), reservation_id, expires_at, now, request_id
    )


def _new_line(
    product_id: str, quantity: int, unit_price: Decimal, allocations: Mapping[str, int]
) -> OrderLine:
    if not is_int(quantity) or not 1 <= quantity <= MAX_QUANTITY:
        raise InvalidQuantity(
            quantity,
            f"an order line must be an integer from 1 to {MAX_QUANTITY}",
            minimum=1,
            maximum=MAX_QUANTITY,
        )
    return OrderLine(
        require_product_id(product_id),
        quantity,
        money(unit_price, "unit_price"),
        dict(allocations),
    )


def _pending(
    order_id: str,
    customer_id: str,
    lines: tuple[OrderLine, ...],
    reservation_id: str,
    expires_at: datetime,
    now: datetime,
    request_id: str | None,
) -> Order:
    """A new order of `lines` (checked already), version 1."""
    now = _utc(now, "now")
    only = lines[0] if len(lines) == 1 else None
    return Order(
        order_id=require_id(order_id, "order_id"),
        status=OrderStatus.PENDING,
        customer_id=require_id(customer_id, "customer_id"),
        product_id=only.product_id if only else None,
        quantity=only.quantity if only else None,
        unit_price=only.unit_price if only else None,
        total=sum((line.line_total for line in lines), Decimal("0.00")).quantize(_CENT),
        reservation_id=require_id(reservation_id, "reservation_id"),
        expires_at=_utc(expires_at, "expires_at"),
        created_at=now,
        updated_at=now,
        version=1,
        history=(HistoryEntry(OrderStatus.PENDING, now, None, request_id),),
        lines=lines,
    )


def change_status(
    order: Order,
    to_status: OrderStatus,
    now: datetime,
    reason: str | None = None,
    request_id: str | None = None,
) -> Order:
    """Return `order` moved to `to_status`, with a history entry and version + 1.

    Cancelling records `reason` as `cancel_reason`. Raises InvalidTransition
    if the state machine forbids the move, InvalidValue for a naive `now`.
    """
    target = _status(to_status)
    check_transition(order.status, target)
    now = _utc(now, "now")
    return replace(
        order,
        status=target,
        updated_at=now,
        version=order.version + 1,
        history=(*order.history, HistoryEntry(target, now, reason, request_id)),
        cancel_reason=reason if target is OrderStatus.CANCELLED else order.cancel_reason,
    )


def is_expired(order: Order, now: datetime) -> bool:
    """Return True if the order is still pending and `now` is at or past `expires_at`.

    Raises InvalidValue for a naive `now`.
    """
    return order.status is OrderStatus.PENDING and _utc(now, "now") >= order.expires_at


def to_dict(order: Order) -> dict[str, Any]:
    """Return `order` as JSON-safe data (UTC ISO 8601 times, money as strings).

    `from_dict` reverses it exactly.
    """
    return {
        "order_id": order.order_id,
        "status": order.status.value,
        "customer_id": order.customer_id,
        "product_id": order.product_id,
        "quantity": order.quantity,
        "unit_price": None if order.unit_price is None else str(order.unit_price),
        "lines": [
            {
                "product_id": line.product_id,
                "quantity": line.quantity,
                "unit_price": str(line.unit_price),
                "allocations": dict(line.allocations),
            }
            for line in order.lines
        ],
        "total": str(order.total),
        "reservation_id": order.reservation_id,
        "expires_at": utc_text(order.expires_at),
        "created_at": utc_text(order.created_at),
        "updated_at": utc_text(order.updated_at),
        "version": order.version,
        "history": [
            {
                "status": entry.status.value,
                "at": utc_text(entry.at),
                "reason": entry.reason,
                "request_id": entry.request_id,
            }
            for entry in order.history
        ],
        "cancel_reason": order.cancel_reason,
    }


def from_dict(data: Mapping[str, object]) -> Order:
    """Rebuild an `Order` from `to_dict` output (e.g. a table row or an event).

    Checks types, not business rules; unknown keys are ignored so an older
    worker can read a newer row. Raises InvalidValue (a ValueError) for a
    missing key, a wrong type, an unknown status or an unparsable time.
    """
    if not isinstance(data, Mapping):
        raise InvalidValue(_RECORD, f"must be a mapping, not {type(data).__name__}")
    history = tuple(
        _history_entry_from_dict(item) for item in record_field(data, "history", list, _RECORD)
    )
    product_id = optional_record_field(data, "product_id", str, _RECORD)
    quantity = optional_record_field(data, "quantity", int, _RECORD)
    price_text = optional_record_field(data, "unit_price", str, _RECORD)
    unit_price = None if price_text is None else money(price_text, "order.unit_price")
    if "lines" in data:
        lines = tuple(_line_from_dict(item) for item in record_field(data, "lines", list, _RECORD))
    elif product_id is not None and quantity is not None and unit_price is not None:
        # A row written before carts: its one line is on the order.
        allocations = _allocations_from(data.get("allocations"))
        lines = (OrderLine(product_id, quantity, unit_price, allocations),)
    else:
        raise InvalidValue(_RECORD, "has neither lines nor a product line")
    return Order(
        order_id=record_field(data, "order_id", str, _RECORD),
        status=parse_status(record_field(data, "status", str, _RECORD)),
        customer_id=record_field(data, "customer_id", str, _RECORD),
        product_id=product_id,
        quantity=quantity,
        unit_price=unit_price,
        lines=lines,
        total=money(record_field(data, "total", str, _RECORD), "order.total"),
        reservation_id=record_field(data, "reservation_id", str, _RECORD),
        expires_at=_parse_time(data, "expires_at", _RECORD),
        created_at=_parse_time(data, "created_at", _RECORD),
        updated_at=_parse_time(data, "updated_at", _RECORD),
        version=record_field(data, "version", int, _RECORD),
        history=history,
        cancel_reason=optional_record_field(data, "cancel_reason", str, _RECORD),
    )


def _line_from_dict(item: object) -> OrderLine:
    record = "order.lines[]"
    if not isinstance(item, Mapping):
        raise InvalidValue(record, f"must be a mapping, not {type(item).__name__}")
    return OrderLine(
        product_id=record_field(item, "product_id", str, record),
        quantity=record_field(item, "quantity", int, record),
        unit_price=money(record_field(item, "unit_price", str, record), f"{record}.unit_price"),
        allocations=_allocations_from(item.get("allocations")),
    )


def _allocations_from(value: object) -> dict[str, int]:
    """A line's allocations; none in a row written before locations."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and is_int(v) for k, v in value.items()
    ):
        raise InvalidValue(f"{_RECORD}.allocations", "must map location ids to units", None)
    return {str(k): int(v) for k, v in value.items()}  # type: ignore[call-overload]


def _history_entry_from_dict(item: object) -> HistoryEntry:
    record = "order.history[]"
    if not isinstance(item, Mapping):
        raise InvalidValue(record, f"must be a mapping, not {type(item).__name__}")
    return HistoryEntry(
        status=parse_status(record_field(item, "status", str, record)),
        at=_parse_time(item, "at", record),
        reason=optional_record_field(item, "reason", str, record),
        request_id=optional_record_field(item, "request_id", str, record),
    )


def _utc(moment: datetime, field: str) -> datetime:
    """Return `moment` in UTC; a naive datetime is refused rather than guessed."""
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise InvalidValue(field, "must be a timezone-aware datetime", moment)
    return moment.astimezone(UTC)


@functools.lru_cache(maxsize=16)
def utc_text(moment: datetime) -> str:
    """A time as rows and messages write it: ISO 8601 in UTC with Z (pydantic's JSON form
    of an aware datetime). Cached: a new order's row repeats its creation time three
    times, and the messages write it again (agents.outcome.json_time is this)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_time(record: Mapping[str, object], key: str, record_name: str) -> datetime:
    text = record_field(record, key, str, record_name)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidValue(
            f"{record_name}.{key}", f"{text!r} is not an ISO 8601 time", text
        ) from None
    return _utc(moment, f"{record_name}.{key}")
