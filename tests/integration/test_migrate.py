"""The migration runner against real PostgreSQL, and tables.py kept in step with the SQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from inventory.settings import Settings
from storage.engine import create_engine, ping, quote_identifier
from storage.migrate import migrate, migration_files
from storage.tables import metadata

pytestmark = pytest.mark.integration

ALL = [p.name for p in migration_files()]


@pytest.fixture
async def fresh_schema(engine: AsyncEngine, settings: Settings) -> AsyncIterator[str]:
    """A schema name nobody has created yet; dropped afterwards."""
    name = f"{settings.database_schema}_m{uuid.uuid4().hex[:6]}"
    yield name
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP SCHEMA IF EXISTS {quote_identifier(name)} CASCADE"))


def test_there_is_a_first_migration() -> None:
    assert ALL[0] == "001_read_models.sql"


async def test_rerun_applies_nothing(engine: AsyncEngine, settings: Settings) -> None:
    assert await migrate(engine, settings.database_schema) == []


async def test_fresh_schema_gets_every_migration_once(
    engine: AsyncEngine, fresh_schema: str
) -> None:
    assert await migrate(engine, fresh_schema) == ALL
    assert await migrate(engine, fresh_schema) == []

    async with engine.connect() as conn:
        applied = (
            await conn.execute(
                text(f"SELECT name FROM {quote_identifier(fresh_schema)}.schema_migrations")
            )
        ).scalars()
        assert sorted(applied) == ALL


async def test_concurrent_migrations_apply_each_file_once(
    engine: AsyncEngine, fresh_schema: str
) -> None:
    results = await asyncio.gather(*(migrate(engine, fresh_schema) for _ in range(5)))
    assert sorted(results) == [[], [], [], [], ALL]


async def test_an_engine_works_in_its_own_schema(settings: Settings, fresh_schema: str) -> None:
    own = create_engine(settings.model_copy(update={"database_schema": fresh_schema}))
    try:
        await ping(own)
        await migrate(own, fresh_schema)
        async with own.connect() as conn:
            schema = (await conn.execute(text("SELECT current_schema()"))).scalar_one()
        assert schema == fresh_schema
    finally:
        await own.dispose()


async def test_ping_raises_when_the_database_is_unreachable(settings: Settings) -> None:
    dead = create_engine(
        settings.model_copy(
            update={
                "database_url": SecretStr("postgresql+asyncpg://inventory@127.0.0.1:1/inventory")
            }
        )
    )
    try:
        with pytest.raises(OSError):
            await ping(dead)
    finally:
        await dead.dispose()


async def test_tables_py_matches_the_migrated_schema(
    engine: AsyncEngine, settings: Settings
) -> None:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT table_name, column_name, is_nullable = 'YES'"
                    " FROM information_schema.columns WHERE table_schema = :schema"
                    " AND table_name <> 'schema_migrations'"
                ),
                {"schema": settings.database_schema},
            )
        ).all()
        indexes = (
            await conn.execute(
                text(
                    "SELECT indexname FROM pg_indexes WHERE schemaname = :schema"
                    " AND indexname NOT LIKE '%_pkey'"
                ),
                {"schema": settings.database_schema},
            )
        ).scalars()
        in_database_indexes = set(indexes)

    in_database = {(t, c, nullable) for t, c, nullable in rows}
    in_python = {
        (table.name, column.name, bool(column.nullable))
        for table in metadata.tables.values()
        for column in table.c
    }
    assert in_database == in_python
    assert in_database_indexes == {
        index.name for table in metadata.tables.values() for index in table.indexes
    }
