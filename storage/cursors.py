"""The signed, opaque cursors of the list endpoints (`GET /api/orders/`, `GET /api/audit/`).

A cursor is itsdangerous's `URLSafeSerializer` output for the JSON object of its fields
(all strings): `<payload>.<signature>`, where the payload is the compact JSON in
unpadded base64url (itsdangerous zlib-compresses it, and marks that with a leading
`.`, when that is shorter) and the signature is HMAC-SHA256 of the payload, unpadded
base64url. The fields are of two kinds: those naming the query the cursor belongs to
(the filter fingerprint `"f"`, the order list's sort `"s"`) and those naming the
position the next page starts after (the last row's sort key and id).
docs/QUERIES.md documents the order list's.

The signature tells a tampered cursor from a genuine one (`InvalidCursor`), the query
fields a genuine cursor used with another query (`CursorMismatch`). Each endpoint signs
with its own salt, so one endpoint's cursor is never taken for another's. Only the
exact text `seal` writes is accepted: base64 has spare bits, so a cursor is re-sealed
from what it holds and must come out identical. The key and the salts are constants:
the signature is an integrity check against accidents and casual editing, not a secret;
a forged cursor can only start a page at an arbitrary position of the caller's own
query, which a filter could do anyway. Changing a salt invalidates that endpoint's
cursors handed out so far (cursors made before itsdangerous signed them, a JSON object
with an `"h"` field, are all refused: a client starts its walk again).

Pure: no SQL, no HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Final, overload

from itsdangerous import BadData, URLSafeSerializer

from storage.query_params import InvalidParameter

# Not a secret (see above); the salt of each KeysetCursor keeps the endpoints apart.
SIGNING_KEY: Final = b"inventory-stream/list-cursors"
MAX_CURSOR_LENGTH: Final = 1024
# The shape of every cursor a KeysetCursor makes; only one it made is accepted, though.
CURSOR_SCHEMA: Final[dict[str, Any]] = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_CURSOR_LENGTH,
    "pattern": "^[.]?[A-Za-z0-9_-]+[.][A-Za-z0-9_-]+$",
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
    """One endpoint's cursor: its signing salt, the fields naming its query and those
    naming a position."""

    salt: str
    query_fields: frozenset[str]
    position_fields: frozenset[str]

    @cached_property
    def serializer(self) -> URLSafeSerializer:
        """The itsdangerous serializer that signs and reads this kind's cursors."""
        return URLSafeSerializer(
            SIGNING_KEY, salt=self.salt, signer_kwargs={"digest_method": hashlib.sha256}
        )

    def seal(self, query: Mapping[str, str], position: Mapping[str, str]) -> str:
        """The cursor that continues `query` after `position`."""
        assert set(query) == self.query_fields and set(position) == self.position_fields
        return self.serializer.dumps(dict(sorted({**query, **position}.items())))

    def open(self, cursor: str, query: Mapping[str, str]) -> dict[str, str]:
        """The position `cursor` continues after, when it was sealed for `query`.

        Raises `InvalidCursor` for a cursor this one did not seal: too long, not
        `<payload>.<signature>`, a payload that is not JSON or has other fields, or a
        signature that does not match (edited, truncated, sealed with another salt);
        `CursorMismatch` for one sealed for another query.
        """
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise InvalidCursor()
        try:
            body = self.serializer.loads(cursor)
        except BadData:
            raise InvalidCursor() from None
        fields = self.query_fields | self.position_fields
        if not (
            isinstance(body, dict)
            and set(body) == fields
            and all(isinstance(v, str) for v in body.values())
            and self.serializer.dumps(body) == cursor
        ):
            raise InvalidCursor()
        if any(body[name] != value for name, value in query.items()):
            raise CursorMismatch()
        return {name: body[name] for name in self.position_fields}


def fingerprint(filters: Mapping[str, Any]) -> str:
    """A short digest (72 bits) of a query's normalised filters: equal filters, equal
    digests. The caller normalises (times with time_text, statuses sorted, ...)."""
    canonical = json.dumps(filters, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    # 9 bytes are 12 base64 characters: no padding to strip.
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()[:9]).decode()


@overload
def time_text(value: datetime) -> str: ...
@overload
def time_text(value: None) -> None: ...
@overload
def time_text(value: datetime | None) -> str | None: ...


def time_text(value: datetime | None) -> str | None:
    # Microseconds always written: timestamptz keeps them and the keyset must be exact.
    return None if value is None else value.astimezone(UTC).isoformat(timespec="microseconds")
