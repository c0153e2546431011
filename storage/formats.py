"""How values leave storage: JSON-ready strings for money and time."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal


def iso_utc(value: datetime) -> str:
    """`value` in UTC as ISO 8601 with a `Z` suffix, as pydantic writes it on the wire.

    Raises ValueError for a naive datetime: its zone would be a guess.
    """
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r} has no time zone")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def iso_utc_or_none(value: datetime | None) -> str | None:
    """`iso_utc(value)`, or None for None."""
    return None if value is None else iso_utc(value)


def money(value: Decimal) -> str:
    """A money amount as a plain decimal string with two places, e.g. "19.90"."""
    return f"{value.quantize(Decimal('0.01')):f}"
