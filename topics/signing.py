"""The pipeline's own commands carry a signature, so an outside producer cannot move
stock or orders with them.

`order.create`, `order.expire`, `reservation.commit` and `reservation.release` travel
on the same command topics as the public commands (the shared design's topic table).
An unsigned `reservation.release` for somebody's active reservation would put its units
back on sale while the order stays pending, and the order's confirmation would then
sell a unit nobody holds. So the worker (and `inventory cleanup`) sign what they send,
HMAC-SHA256 of the record value under `Settings.internal_command_key`, in a record
header, and the agents refuse internal commands without a valid one. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "x-inventory-signature"

INTERNAL_COMMAND_TYPES = frozenset(
    {
        "order.create",
        "order.expire",
        "reservation.commit",
        "reservation.release",
        "cart.hold_line",
        "cart.release_line",
        "cart.line_answered",
    }
)
PUBLIC_COMMAND_TYPES = (
    "product.create",
    "stock.adjust",
    "stock.reserve",
    "order.change_status",
    "cart.reserve",
    "stock.transfer",
    "product.set_allocation",
)


def sign(key: bytes, value: bytes) -> bytes:
    """The header value for a record whose value is `value`."""
    return hmac.new(key, value, hashlib.sha256).hexdigest().encode()


def signature_headers(key: bytes, value: bytes) -> list[tuple[str, bytes]]:
    return [(SIGNATURE_HEADER, sign(key, value))]


def verify(key: bytes, value: bytes, signature: bytes | None) -> bool:
    """True when `signature` is the one `sign(key, value)` gives (constant-time compare)."""
    return signature is not None and hmac.compare_digest(sign(key, value), signature)
