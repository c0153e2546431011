"""API keys as strings and as what is stored of them. Pure: no I/O.

A key is `isk_` + 43 characters of base64url, 256 random bits; only its SHA-256 is
stored (migrations/006 says why a fast hash suffices). The key id is separate and
public: it names the key in `inventory keys list`, the audit log and the logs.
"""

from __future__ import annotations

import hashlib
import re
import secrets

KEY_PREFIX = "isk_"
# The prefix makes a leaked key recognisable (secret scanners, a grep of the logs).
_KEY = re.compile(r"^isk_[A-Za-z0-9_-]{43}$")


def generate_key() -> str:
    """A new key: 256 bits from the OS's CSPRNG."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def new_key_id() -> str:
    """A public id for a key (not derived from it: the id must tell nothing of the key)."""
    return "key_" + secrets.token_hex(8)


def hash_key(key: str) -> bytes:
    """What is stored of `key`, and what a presented key is looked up by."""
    return hashlib.sha256(key.encode()).digest()


def well_formed(key: str) -> bool:
    """True when `key` could be one of ours: anything else is refused without a lookup."""
    return _KEY.fullmatch(key) is not None
