"""The location catalogue (migrations/008_locations.sql): create, list, read one.

The gateway owns it, like the API keys: a location's id, name and priority. The
worker never reads it; the gateway copies a location's priority into the commands
that give a product stock there (a priority never changes, so the copy never goes
stale), which keeps a reservation one decision on the product's partition.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.tables import locations


def _view(row: Any) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "priority": row.priority}


async def create_location(
    engine: AsyncEngine, location_id: str, name: str, priority: int
) -> dict[str, Any] | None:
    """The new location as `{"id", "name", "priority"}`, or None when the id exists
    (nothing is changed then)."""
    statement = (
        pg_insert(locations)
        .values(id=location_id, name=name, priority=priority)
        .on_conflict_do_nothing(index_elements=[locations.c.id])
        .returning(locations.c.id, locations.c.name, locations.c.priority)
    )
    async with engine.begin() as conn:
        row = (await conn.execute(statement)).first()
    return _view(row) if row is not None else None


async def list_locations(engine: AsyncEngine) -> list[dict[str, Any]]:
    """Every location, in allocation order (priority, then id)."""
    query = select(locations).order_by(locations.c.priority, locations.c.id)
    async with engine.connect() as conn:
        return [_view(row) for row in await conn.execute(query)]


async def get_location(engine: AsyncEngine, location_id: str) -> dict[str, Any] | None:
    """One location, or None when there is none with that id."""
    query = select(locations).where(locations.c.id == location_id)
    async with engine.connect() as conn:
        row = (await conn.execute(query)).first()
    return _view(row) if row is not None else None
