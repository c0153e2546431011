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

MAX_ID_LENGTH: Final = 128
MAC_BYTES: Final = 16

_INTEGER = re.compile(r"^\d{1,6}$")
# "…T10:00:00 02:00": the '+' of an offset that a client forgot to URL-encode arrives
# as a space. Only repaired when a time part precedes it.
_UNENCODED_PLUS = re.compile(r"^(.*\d:\d\d(?::\d\d(?:\.\d+)?)?) (\d\d(?::?\d\d)?)$")


class InvalidParameter(ValueError):
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
    """The query string's parameters, each given at most once, empty values dropped (HTML
    forms send empty fields), and every value of the one `repeatable` parameter, in order.

    `query` may be a plain mapping or a multidict (aiohttp's `request.query`). Raises
    `InvalidParameter` for an unknown parameter or a repeated one.
    """
    values: dict[str, str] = {}
    repeated: list[str] = []
    for name, value in query.items():
        if name not in allowed:
            raise InvalidParameter(
                name, f"unknown parameter; expected some of: {', '.join(allowed)}"
            )
        if name == repeatable:
            repeated.append(value)
            continue
        if name in values:
            raise InvalidParameter(name, "given more than once")
        values[name] = value
    return {k: v for k, v in values.items() if v != ""}, repeated


def parse_time(name: str, value: str | None) -> datetime | None:
    """An ISO 8601 time as aware UTC (no offset: UTC); None when absent."""
    if value is None:
        return None
    text = value.strip()
    repaired = _UNENCODED_PLUS.match(text)
    if repaired:
        text = f"{repaired.group(1)}+{repaired.group(2)}"
    try:
        parsed = datetime.fromisoformat(text)
        # A time without an offset is taken as UTC, the project's only zone on the wire.
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise InvalidParameter(
            name, f"{value!r} is not an ISO 8601 time, e.g. 2025-01-31T12:00:00Z"
        ) from None


def parse_id(name: str, value: str | None) -> str | None:
    """An id filter: at most 128 printable characters; None when absent."""
    if value is None:
        return None
    if len(value) > MAX_ID_LENGTH or not value.isprintable():
        raise InvalidParameter(name, f"must be at most {MAX_ID_LENGTH} printable characters")
    return value


def parse_limit(value: str | None, default: int, maximum: int) -> int:
    """The page size: `default` when absent, else an integer from 1 to `maximum`."""
    if value is None:
        return default
    if not _INTEGER.match(value) or not 1 <= int(value) <= maximum:
        raise InvalidParameter("limit", f"must be an integer from 1 to {maximum}")
    return int(value)


MAX_CURSOR_LENGTH: Final = 1024


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
