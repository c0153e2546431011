"""Where a projection is stopped: the event the database refuses, for GET /healthz.

The projector writes a row when it stops at an event and deletes it once it is past
it (inventory/projector.py); the gateway, another process, reads the rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.tables import stuck_projections


@dataclass(frozen=True)
class StuckAt:
    """A projection stopped at one event of one partition."""

    projection: str
    source_topic: str
    source_partition: int
    source_offset: int
    event_id: str
    event_type: str
    error: str
    since: datetime
    attempts: int
    last_attempt_at: datetime


def _upsert_statement() -> Any:
    stmt = pg_insert(stuck_projections)
    return stmt.on_conflict_do_update(
        index_elements=[c for c in stuck_projections.c if c.primary_key],
        set_={c.name: stmt.excluded[c.name] for c in stuck_projections.c if not c.primary_key},
    )


_UPSERT = _upsert_statement()


async def record_stuck(engine: AsyncEngine, stuck: StuckAt) -> None:
    """Write `stuck`, replacing the row of its projection and partition."""
    async with engine.begin() as conn:
        await conn.execute(_UPSERT, asdict(stuck))


async def clear_stuck(
    engine: AsyncEngine, projection: str, partitions: list[tuple[str, int]]
) -> None:
    """Delete the rows of `projection` for these (topic, partition) pairs."""
    if not partitions:
        return
    async with engine.begin() as conn:
        await conn.execute(
            delete(stuck_projections).where(
                stuck_projections.c.projection == projection,
                tuple_(stuck_projections.c.source_topic, stuck_projections.c.source_partition).in_(
                    partitions
                ),
            )
        )


async def list_stuck(engine: AsyncEngine, projection: str | None = None) -> list[StuckAt]:
    """The rows, of one projection or all, oldest first."""
    query = select(stuck_projections).order_by(
        stuck_projections.c.since, stuck_projections.c.projection
    )
    if projection is not None:
        query = query.where(stuck_projections.c.projection == projection)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
    return [StuckAt(**row) for row in rows]
