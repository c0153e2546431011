"""The read models' change signal: the projector notifies a PostgreSQL channel in the
transaction that writes the rows, so a listener hears of it exactly when they commit.

Gateways listen instead of polling the version of every waiting request's rows every
few milliseconds (api/read_waiter.py). The channel is per schema, so test runs and
replays in other schemas do not wake each other.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

_NOTIFY = text("SELECT pg_notify(:channel, '')")


def read_models_channel(schema: str) -> str:
    """The channel for `schema`: a fixed-length name, as channel names stop at 63 bytes."""
    return "read_models_" + hashlib.sha256(schema.encode()).hexdigest()[:24]


async def notify_read_models(conn: AsyncConnection, channel: str) -> None:
    """Signal `channel` when `conn`'s transaction commits (nothing if it rolls back)."""
    await conn.execute(_NOTIFY, {"channel": channel})
