"""The gateway's API keys in PostgreSQL (migrations/006_api_keys.sql): create, list,
revoke, and the lookup the gateway does for a presented key.

Only a key's SHA-256 is stored (storage.key_material); the key itself exists once, in
what `create_key` returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.key_material import generate_key, hash_key, new_key_id
from storage.tables import api_keys

ROLES = ("admin", "storefront", "viewer")


class UnknownRole(ValueError):
    def __init__(self, role: str) -> None:
        super().__init__(f"unknown role {role!r}; expected one of: {', '.join(ROLES)}")


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What may be shown of a key: never the key, never its hash."""

    id: str
    name: str
    role: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class ValidKey:
    """A presented key that is known and not revoked."""

    id: str
    role: str


async def create_key(engine: AsyncEngine, role: str, name: str) -> tuple[KeyInfo, str]:
    """A new key of `role`: (what is stored of it, the key). The key is not kept
    anywhere: the caller shows it once. Raises UnknownRole."""
    if role not in ROLES:
        raise UnknownRole(role)
    key = generate_key()
    async with engine.begin() as conn:
        row = (
            await conn.execute(
                insert(api_keys)
                .values(id=new_key_id(), name=name, role=role, key_hash=hash_key(key))
                .returning(*_INFO_COLUMNS)
            )
        ).one()
    return KeyInfo(*row), key


async def list_keys(engine: AsyncEngine) -> list[KeyInfo]:
    """Every key, revoked ones too, oldest first."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(*_INFO_COLUMNS).order_by(api_keys.c.created_at, api_keys.c.id)
            )
        ).all()
    return [KeyInfo(*row) for row in rows]


async def revoke_key(engine: AsyncEngine, key_id: str) -> KeyInfo | None:
    """Revoke the key `key_id` (a second revoke keeps the first time); None when there
    is no such key."""
    async with engine.begin() as conn:
        row = (
            await conn.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id)
                .values(revoked_at=func.coalesce(api_keys.c.revoked_at, func.now()))
                .returning(*_INFO_COLUMNS)
            )
        ).one_or_none()
    return KeyInfo(*row) if row is not None else None


async def use_key(engine: AsyncEngine, key_hash: bytes) -> ValidKey | None:
    """The key whose hash is `key_hash`, if it exists and is not revoked, stamped as used
    now; None otherwise. One statement: the gateway calls it once per key per cache
    period, so `last_used_at` is as exact as that period."""
    async with engine.begin() as conn:
        row = (
            await conn.execute(
                update(api_keys)
                .where(api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None))
                .values(last_used_at=func.now())
                .returning(api_keys.c.id, api_keys.c.role)
            )
        ).one_or_none()
    return ValidKey(row.id, row.role) if row is not None else None


_INFO_COLUMNS = (
    api_keys.c.id,
    api_keys.c.name,
    api_keys.c.role,
    api_keys.c.created_at,
    api_keys.c.last_used_at,
    api_keys.c.revoked_at,
)
