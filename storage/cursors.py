"""The signed, opaque cursors of the list endpoints (`GET /api/orders/`, `GET /api/audit/`).

A cursor is base64url, unpadded, of the compact JSON object of its fields, all strings,
plus `"h"`: an HMAC-SHA256 over the others, truncated to 16 bytes, base64url. Its fields
are of two kinds: those naming the query it belongs to (the filter fingerprint `"f"`,
the order list's sort `"s"`) and those naming the position the next page starts after
(the last row's sort key and id). docs/QUERIES.md documents the order list's.

The MAC tells a tampered cursor from a genuine one (`InvalidCursor`), the query fields a
genuine cursor used with another query (`CursorMismatch`). Each endpoint has its own key,
so one endpoint's cursor is never taken for another's. The keys are constants: the MAC
is an integrity check against accidents and casual editing, not a secret; a forged
cursor can only start a page at an arbitrary position of the caller's own query, which
a filter could do anyway.

Pure: no SQL, no HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, overload

from storage.query_params import InvalidParameter

MAC_BYTES: Final = 16
MAX_CURSOR_LENGTH: Final = 1024
# The shape of every cursor a KeysetCursor makes; only one it made is accepted, though.
CURSOR_SCHEMA: Final[dict[str, Any]] = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_CURSOR_LENGTH,
    "pattern": "^[A-Za-z0-9_-]+$",
}


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


@dataclass(frozen=True)
class KeysetCursor:
    """One endpoint's cursor: its key, the fields naming its query and those naming a
    position."""

    key: bytes
    query_fields: frozenset[str]
    position_fields: frozenset[str]

    def seal(self, query: Mapping[str, str], position: Mapping[str, str]) -> str:
        """The cursor that continues `query` after `position`."""
        assert set(query) == self.query_fields and set(position) == self.position_fields
        body = {**query, **position}
        return b64encode(canonical_json({**body, "h": mac(self.key, body)}))

    def open(self, cursor: str, query: Mapping[str, str]) -> dict[str, str]:
        """The position `cursor` continues after, when it was sealed for `query`.

        Raises `InvalidCursor` for a cursor this one did not seal: too long, not
        base64url or JSON, other fields, or a MAC that does not match (edited,
        truncated, made with another key); `CursorMismatch` for one sealed for
        another query.
        """
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise InvalidCursor()
        try:
            body = json.loads(b64decode(cursor))
        except ValueError:  # binascii.Error and JSONDecodeError are ValueErrors
            raise InvalidCursor() from None
        fields = self.query_fields | self.position_fields
        if not (
            isinstance(body, dict)
            and set(body) == fields | {"h"}
            and all(isinstance(v, str) for v in body.values())
        ):
            raise InvalidCursor()
        sealed_mac = body.pop("h")
        if not hmac.compare_digest(sealed_mac, mac(self.key, body)):
            raise InvalidCursor()
        if any(body[name] != value for name, value in query.items()):
            raise CursorMismatch()
        return {name: body[name] for name in self.position_fields}


def fingerprint(filters: Mapping[str, Any]) -> str:
    """A short digest (72 bits) of a query's normalised filters: equal filters, equal
    digests. The caller normalises (times with time_text, statuses sorted, ...)."""
    return b64encode(hashlib.sha256(canonical_json(filters)).digest()[:9])


@overload
def time_text(value: datetime) -> str: ...
@overload
def time_text(value: None) -> None: ...
@overload
def time_text(value: datetime | None) -> str | None: ...


def time_text(value: datetime | None) -> str | None:
    # Microseconds always written: timestamptz keeps them and the keyset must be exact.
    return None if value is None else value.astimezone(UTC).isoformat(timespec="microseconds")


def mac(key: bytes, body: Mapping[str, Any]) -> str:
    """The cursor's integrity check: a truncated HMAC of its canonical JSON."""
    digest = hmac.new(key, canonical_json(body), hashlib.sha256).digest()
    return b64encode(digest[:MAC_BYTES])


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


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
