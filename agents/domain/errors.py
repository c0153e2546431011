"""Errors raised by the domain rules.

Every error carries a stable machine-readable `code`, a human `message` and
JSON-safe `details`, so the agents can put it in a rejection event and the
gateway can render `{"error": {"code", "message", "details"}}` without knowing
each class.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class DomainError(Exception):
    """Root of all domain errors; `code` is stable, `message` is for humans."""

    code: str = "domain_error"

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def as_dict(self) -> dict[str, Any]:
        """Return `{"code", "message", "details"}`, the project's error shape."""
        return {"code": self.code, "message": self.message, "details": dict(self.details)}

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take domain arguments, not (message, details); rebuild from the
        # attributes so the error survives pickling (process pools, test runners).
        return (_restore, (type(self), self.message, self.details))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, details={self.details!r})"


def _restore(cls: type[DomainError], message: str, details: dict[str, Any]) -> DomainError:
    error = cls.__new__(cls)
    DomainError.__init__(error, message, details)
    return error


def _json_safe(value: object) -> object:
    """Keep JSON scalars as they are; describe anything else by its repr."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)


class InsufficientStock(DomainError):
    """A reservation asks for more units than are available."""

    code = "insufficient_stock"

    def __init__(self, available: int, requested: int, location_id: str | None = None) -> None:
        where = f" at location {location_id!r}" if location_id is not None else ""
        details: dict[str, Any] = {"available": available, "requested": requested}
        if location_id is not None:
            details["location_id"] = location_id
        super().__init__(
            f"insufficient stock{where}: requested {requested}, available {available}",
            details,
        )


class NegativeStock(DomainError):
    """A stock adjustment would leave fewer than zero units available."""

    code = "negative_stock"

    def __init__(self, available: int, delta: int, location_id: str | None = None) -> None:
        where = f" at location {location_id!r}" if location_id is not None else ""
        details: dict[str, Any] = {"available": available, "delta": delta}
        if location_id is not None:
            details["location_id"] = location_id
        super().__init__(
            f"adjustment {delta:+d} would make available stock negative{where} "
            f"(available {available})",
            details,
        )


class UnknownReservation(DomainError):
    """The reservation id is not an active reservation of this product."""

    code = "unknown_reservation"

    def __init__(self, reservation_id: str) -> None:
        super().__init__(
            f"no active reservation {reservation_id!r}",
            {"reservation_id": _json_safe(reservation_id)},
        )


class DuplicateReservation(DomainError):
    """A reservation with this id is already active."""

    code = "duplicate_reservation"

    def __init__(self, reservation_id: str) -> None:
        super().__init__(
            f"reservation {reservation_id!r} is already active",
            {"reservation_id": _json_safe(reservation_id)},
        )


class InvalidTransition(DomainError):
    """An order status change that the state machine does not allow."""

    code = "invalid_transition"

    def __init__(self, from_status: str, to_status: str, allowed: Iterable[str]) -> None:
        allowed_sorted = sorted(allowed)
        if allowed_sorted:
            hint = "allowed: " + ", ".join(allowed_sorted)
        else:
            hint = f"{from_status!r} is final"
        super().__init__(
            f"cannot change order status from {from_status!r} to {to_status!r}; {hint}",
            {"from": from_status, "to": to_status, "allowed": allowed_sorted},
        )


class InvalidQuantity(DomainError):
    """A quantity or stock delta is not a whole number in the permitted range."""

    code = "invalid_quantity"

    def __init__(
        self,
        quantity: object,
        reason: str,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> None:
        details: dict[str, Any] = {"quantity": _json_safe(quantity)}
        if minimum is not None:
            details["min"] = minimum
        if maximum is not None:
            details["max"] = maximum
        super().__init__(f"invalid quantity {quantity!r}: {reason}", details)


class InvalidValue(DomainError, ValueError):
    """A field is malformed: a bad id, price, status, timestamp or stored record.

    Also a `ValueError`, so pydantic validators and plain callers that catch
    `ValueError` treat it as ordinary bad input.
    """

    code = "invalid_value"

    def __init__(self, field: str, message: str, value: object = None) -> None:
        super().__init__(f"{field}: {message}", {"field": field, "value": _json_safe(value)})


class OrderExists(DomainError):
    """A reservation names an order id that another reservation's order already has."""

    code = "order_exists"

    def __init__(self, order_id: str) -> None:
        super().__init__(f"order {order_id!r} already exists", {"order_id": order_id})


class SameLocation(DomainError):
    """A transfer whose two ends are one location."""

    code = "same_location"

    def __init__(self, location_id: str) -> None:
        super().__init__(
            f"a transfer moves units between two locations, not within {location_id!r}",
            {"location_id": _json_safe(location_id)},
        )


class UnknownLocation(DomainError):
    """A command names a location the product has no stock record at, and the command
    does not say the location's priority (the gateway always does; an outside producer
    may not)."""

    code = "location_not_found"

    def __init__(self, location_id: str) -> None:
        super().__init__(
            f"no location {location_id!r} known for this product",
            {"location_id": _json_safe(location_id)},
        )


class InvalidAllocation(DomainError):
    """An allocation strategy name the rules do not know."""

    code = "invalid_allocation"

    def __init__(self, strategy: object, known: Iterable[str]) -> None:
        super().__init__(
            f"unknown allocation strategy {strategy!r}",
            {"allocation": _json_safe(strategy), "allowed": sorted(known)},
        )
