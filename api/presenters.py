"""One presenter per entity: the documented keys only, money as "19.90", times as UTC ISO.

The same presenter serves a GET (a storage row) and a POST (an agent's reply result),
so a caller sees one shape whichever way the data came.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from api.schemas import OrderSummaryView, OrderView, ProductView, ReservationView


def present_product(raw: Mapping[str, Any]) -> dict[str, Any]:
    """`{"id", "name", "price", "available", "reserved", "sold"}` from a row or a snapshot.

    Raises pydantic.ValidationError if a documented key is missing or malformed.
    """
    return ProductView.model_validate(raw).model_dump(mode="json")


def present_reservation(raw: Mapping[str, Any]) -> dict[str, Any]:
    """`{"id", "product_id", "quantity", "status", "expires_at", "order_id", "customer_id"}`.

    Raises pydantic.ValidationError if a documented key is missing or malformed.
    """
    if not raw.get("lines") and raw.get("product_id") is not None:
        # A one-product reservation is a cart of one line.
        line = {
            "product_id": raw["product_id"],
            "quantity": raw["quantity"],
            "allocations": raw.get("allocations", []),
        }
        raw = {**raw, "lines": [line]}
    return ReservationView.model_validate(raw).model_dump(mode="json")


def present_order_summary(raw: Mapping[str, Any]) -> dict[str, Any]:
    """An order's documented list keys (no history)."""
    return OrderSummaryView.model_validate(raw).model_dump(mode="json")


def present_order(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The order's documented keys, `history` as `[{"status", "at", "reason", "request_id"}]`.

    Raises pydantic.ValidationError if a documented key is missing or malformed.
    """
    return OrderView.model_validate(raw).model_dump(mode="json")
