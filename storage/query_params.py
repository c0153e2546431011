"""What the list endpoints' query strings share: the 400-worthy error, and time, id
and limit parsing (their cursors: storage.cursors).

Pure: no SQL, no HTTP. `storage.order_params` and `storage.audit_queries` build their
own parameters from these.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from pydantic import TypeAdapter, ValidationError

from inventory.errors import InventoryError
from topics.fields import ENTITY_ID_RULE

_INTEGER = re.compile(r"^\d{1,6}$")
# "…T10:00:00 02:00": the '+' of an offset that a client forgot to URL-encode arrives
# as a space. Only repaired when a time part precedes it.
_UNENCODED_PLUS = re.compile(r"^(.*\d:\d\d(?::\d\d(?:\.\d+)?)?) (\d\d(?::?\d\d)?)$")


class InvalidParameter(InventoryError, ValueError):
    """A query parameter is invalid; the gateway answers 400.

    `name` is the parameter to blame, `message` says what is wrong in words a
    client can act on.
    """

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


def query_values(
    query: Mapping[str, str], allowed: Sequence[str], repeatable: str | None = None
) -> tuple[dict[str, str], list[str]]:
    """The query string's parameters, each given at most once, and every value of the one
    `repeatable` parameter, in order.

    `query` may be a plain mapping or a multidict (aiohttp's `request.query`). Raises
    `InvalidParameter` for an unknown parameter, a repeated one, or an empty value (the
    OpenAPI document describes no empty value; leave the parameter out instead).
    """
    values: dict[str, str] = {}
    repeated: list[str] = []
    for name, value in query.items():
        if name not in allowed:
            raise InvalidParameter(
                name, f"unknown parameter; expected some of: {', '.join(allowed)}"
            )
        if value == "":
            raise InvalidParameter(name, "empty value; leave the parameter out instead")
        if name == repeatable:
            repeated.append(value)
            continue
        if name in values:
            raise InvalidParameter(name, "given more than once")
        values[name] = value
    return values, repeated


# What the document says of a time parameter. RFC 3339 (`date-time`) is the form to
# send; parse_time also takes the ISO 8601 forms around it that the description names.
TIME_SCHEMA: Final[dict[str, Any]] = {"type": "string", "format": "date-time"}
TIME_LENIENCY: Final = (
    "An offset-less time is taken as UTC, a date alone as its midnight UTC, and an "
    "offset whose '+' arrived unencoded (as a space) is repaired."
)
_UTC_MIN: Final = datetime.min.replace(tzinfo=UTC)
_UTC_MAX: Final = datetime.max.replace(tzinfo=UTC)


def parse_time(name: str, value: str | None) -> datetime | None:
    """An ISO 8601 time as aware UTC (no offset: UTC); None when absent.

    A valid time beyond what Python can hold in UTC (year 1 with a negative offset,
    9999-12-31 with a positive one) is clamped to the first or last instant: as a
    filter bound it means the same. Raises `InvalidParameter` for anything else.
    """
    if value is None:
        return None
    text = value.strip()
    repaired = _UNENCODED_PLUS.match(text)
    if repaired:
        text = f"{repaired.group(1)}+{repaired.group(2)}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidParameter(
            name, f"{value!r} is not an ISO 8601 time, e.g. 2025-01-31T12:00:00Z"
        ) from None
    # A time without an offset is taken as UTC, the project's only zone on the wire.
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        return _UTC_MIN if parsed.year == 1 else _UTC_MAX


def parse_id(name: str, value: str | None, rule: TypeAdapter[str] = ENTITY_ID_RULE) -> str | None:
    """An id filter that passes `rule` (a topics.fields rule: an entity id unless told
    otherwise); None when absent. Raises `InvalidParameter` naming the rule broken."""
    if value is None:
        return None
    try:
        return rule.validate_python(value)
    except ValidationError as exc:
        raise InvalidParameter(name, exc.errors(include_url=False)[0]["msg"]) from None


def limit_schema(default: int, maximum: int) -> dict[str, Any]:
    """What the document says of a `limit` parameter: parse_limit's rule."""
    return {"type": "integer", "minimum": 1, "maximum": maximum, "default": default}


def parse_limit(value: str | None, default: int, maximum: int) -> int:
    """The page size: `default` when absent, else an integer from 1 to `maximum`."""
    if value is None:
        return default
    if not _INTEGER.match(value) or not 1 <= int(value) <= maximum:
        raise InvalidParameter("limit", f"must be an integer from 1 to {maximum}")
    return int(value)
