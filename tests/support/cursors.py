"""Forging list cursors in tests: edit what a cursor holds, keep its signature."""

from __future__ import annotations

import json
import zlib

from itsdangerous.encoding import base64_decode, base64_encode


def payload_of(cursor: str) -> dict[str, str]:
    """The fields a storage.cursors cursor (`[.]<payload>.<signature>`) holds, unchecked."""
    payload = cursor.lstrip(".").split(".")[0]
    data = base64_decode(payload)
    return json.loads(zlib.decompress(data) if cursor.startswith(".") else data)  # type: ignore[no-any-return]


def with_fields(cursor: str, **fields: str) -> str:
    """`cursor` with `fields` changed in its payload and the original signature: what a
    client editing a cursor by hand would send."""
    edited = {**payload_of(cursor), **fields}
    payload = base64_encode(json.dumps(edited, separators=(",", ":"))).decode()
    return f"{payload}.{cursor.rsplit('.', 1)[1]}"
