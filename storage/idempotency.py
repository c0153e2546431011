"""The gateway's Idempotency-Key store: one row per key, claimed before the command
is sent and completed with the response once the pipeline has answered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.tables import idempotency_keys

_COLUMNS = (
    idempotency_keys.c.key,
    idempotency_keys.c.request_hash,
    idempotency_keys.c.command_id,
    idempotency_keys.c.status_code,
    idempotency_keys.c.response,
    idempotency_keys.c.created_at,
)


@dataclass(frozen=True)
class IdempotencyRecord:
    """A stored key: the request it belongs to, its command and, once done, the answer."""

    key: str
    request_hash: str
    command_id: str
    status_code: int | None
    response: dict[str, Any] | None
    created_at: datetime  # when the key was first claimed: the command's creation time


async def claim(
    engine: AsyncEngine, key: str, request_hash: str, command_id: str
) -> tuple[IdempotencyRecord, bool]:
    """Store `key` for this request unless it is stored already.

    Returns (record, True) when this call created the key, else (the existing
    record, False): the caller compares `request_hash`, replays a stored response,
    or re-sends the stored `command_id`. Raises the database error on failure.
    """
    t = idempotency_keys
    async with engine.begin() as conn:
        inserted = (
            await conn.execute(
                pg_insert(t)
                .values(key=key, request_hash=request_hash, command_id=command_id)
                .on_conflict_do_nothing(index_elements=[t.c.key])
                .returning(*_COLUMNS)
            )
        ).first()
        if inserted is not None:
            return _record(inserted), True
        # A separate statement: under READ COMMITTED it sees a concurrent claim that
        # committed after this transaction's first snapshot.
        existing = (await conn.execute(select(*_COLUMNS).where(t.c.key == key))).one()
        return _record(existing), False


async def complete(
    engine: AsyncEngine, key: str, status_code: int, response: dict[str, Any]
) -> None:
    """Store the final answer for `key` (a JSON-ready dict).

    Raises KeyError when the key was never claimed.
    """
    t = idempotency_keys
    async with engine.begin() as conn:
        result = await conn.execute(
            update(t).where(t.c.key == key).values(status_code=status_code, response=response)
        )
    if result.rowcount == 0:
        raise KeyError(key)


def _record(row: Any) -> IdempotencyRecord:
    return IdempotencyRecord(
        key=row.key,
        request_hash=row.request_hash,
        command_id=row.command_id,
        status_code=row.status_code,
        response=row.response,
        created_at=row.created_at,
    )
