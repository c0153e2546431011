"""What the list endpoints' query strings share: the 400-worthy errors, time, id and
limit parsing, and the pieces of their signed, opaque cursors.

Pure: no SQL, no HTTP. `storage.order_params` and `storage.audit_queries` build their
own parameters and cursors (each with its own key) from these.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from pydantic import TypeAdapter, ValidationError

from inventory.errors import InventoryError
from topics.fields import ENTITY_ID_RULE

MAC_BYTES: Final = 16

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


class InvalidCursor(InvalidParameter):
    """The cursor is malformed or was altered: it is not one this service made."""

    def __init__(self, message: str = "the cursor is malformed or was altered") -> None:
        super().__init__("cursor", message)


class CursorMismatch(InvalidCursor):
    """A genuine cursor used with another sort or filter set than the one it came from."""

    def __init__(self) -> None:
        super().__init__(
            "the cursor belongs to another sort or filter set; repeat the query that "
            "returned it, or start again without a cursor"
        )


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


MAX_CURSOR_LENGTH: Final = 1024
# The shape of every cursor seal_cursor makes; only one it made is accepted, though.
CURSOR_SCHEMA: Final[dict[str, Any]] = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_CURSOR_LENGTH,
    "pattern": "^[A-Za-z0-9_-]+$",
}


def seal_cursor(key: bytes, body: Mapping[str, Any]) -> str:
    """An opaque cursor: base64url of the canonical JSON of `body` plus its MAC ("h")."""
    return b64encode(canonical_json({**body, "h": mac(key, body)}))


def open_cursor(key: bytes, cursor: str, fields: set[str]) -> dict[str, str]:
    """The body `seal_cursor(key, ...)` sealed, with exactly `fields`, all strings.

    Raises `InvalidCursor` for anything else: too long, not base64url or JSON, other
    fields, or a MAC that does not match (edited, truncated, made with another key).
    """
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise InvalidCursor()
    try:
        body = json.loads(b64decode(cursor))
    except ValueError:  # binascii.Error and JSONDecodeError are ValueErrors
        raise InvalidCursor() from None
    if not (
        isinstance(body, dict)
        and set(body) == fields | {"h"}
        and all(isinstance(v, str) for v in body.values())
    ):
        raise InvalidCursor()
    sealed_mac = body.pop("h")
    if not hmac.compare_digest(sealed_mac, mac(key, body)):
        raise InvalidCursor()
    return body


def mac(key: bytes, body: Mapping[str, Any]) -> str:
    """The cursor's integrity check: a truncated HMAC of its canonical JSON."""
    digest = hmac.new(key, canonical_json(body), hashlib.sha256).digest()
    return b64encode(digest[:MAC_BYTES])


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def time_text(value: datetime | None) -> str | None:
    # Microseconds always written: timestamptz keeps them and the keyset must be exact.
    return None if value is None else value.astimezone(UTC).isoformat(timespec="microseconds")


def b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(text: str) -> bytes:
    """Unpadded base64url; raises ValueError for anything `b64encode` would not write."""
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    # The last character's spare bits are ignored by the decoder: without this check an
    # edited last character could still decode to the same, valid cursor.
    if b64encode(data) != text:
        raise ValueError("not canonical base64url")
    return data
