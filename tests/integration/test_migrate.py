"""The migrations (alembic revisions over storage/migrations/*.sql) against real
PostgreSQL, the take-over of schemas the old runner migrated, and tables.py kept in step
with the SQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from alembic.script import ScriptDirectory
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from inventory.settings import Settings
from storage.engine import create_engine, ping, quote_identifier
from storage.migrate import (
    MIGRATIONS_DIR,
    MigrationError,
    alembic_config,
    migrate,
    revisions,
    sql_files,
)
from storage.tables import metadata

pytestmark = pytest.mark.integration

ALL = revisions()


@pytest.fixture
async def fresh_schema(engine: AsyncEngine, settings: Settings) -> AsyncIterator[str]:
    """A schema name nobody has created yet; dropped afterwards."""
    name = f"{settings.database_schema}_m{uuid.uuid4().hex[:6]}"
    yield name
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP SCHEMA IF EXISTS {quote_identifier(name)} CASCADE"))


async def tables_in(engine: AsyncEngine, schema: str) -> set[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT table_name FROM information_schema.tables WHERE table_schema = :s"),
            {"s": schema},
        )
        return set(rows.scalars())


async def version_of(engine: AsyncEngine, schema: str) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(f"SELECT version_num FROM {quote_identifier(schema)}.alembic_version")
        )
        return list(rows.scalars())


async def migrate_like_the_old_runner(engine: AsyncEngine, schema: str, files: list[str]) -> None:
    """What storage/migrate.py did before alembic: the files run as they are, their names
    recorded in `schema_migrations`."""
    async with engine.begin() as conn:
        await conn.execute(text(f"CREATE SCHEMA {quote_identifier(schema)}"))
        await conn.execute(
            text("SELECT set_config('search_path', :path, true)"),
            {"path": quote_identifier(schema)},
        )
        await conn.execute(
            text(
                "CREATE TABLE schema_migrations ("
                " name text PRIMARY KEY,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
        )
        raw = await conn.get_raw_connection()
        for name in files:
            await raw.driver_connection.execute(  # type: ignore[union-attr]
                (MIGRATIONS_DIR / name).read_text(encoding="utf-8")
            )
            await conn.execute(
                text("INSERT INTO schema_migrations (name) VALUES (:name)"), {"name": name}
            )


def test_each_sql_file_has_one_revision_in_order() -> None:
    files = sorted(p.name for p in MIGRATIONS_DIR.glob("*.sql"))
    assert files[0] == "001_read_models.sql"
    assert list(sql_files().values()) == files
    # The revision id is the file's number, and the chain has one head (no branches).
    assert revisions() == [name[:3] for name in files]
    assert ScriptDirectory.from_config(alembic_config()).get_heads() == [ALL[-1]]


async def test_rerun_applies_nothing(engine: AsyncEngine, settings: Settings) -> None:
    assert await migrate(engine, settings.database_schema) == []


async def test_fresh_schema_gets_every_migration_once(
    engine: AsyncEngine, fresh_schema: str
) -> None:
    assert await migrate(engine, fresh_schema) == ALL
    assert await migrate(engine, fresh_schema) == []
    assert await version_of(engine, fresh_schema) == [ALL[-1]]


async def test_concurrent_migrations_apply_each_revision_once(
    engine: AsyncEngine, fresh_schema: str
) -> None:
    results = await asyncio.gather(*(migrate(engine, fresh_schema) for _ in range(5)))
    assert sorted(results) == [[], [], [], [], ALL]


async def test_a_failing_migration_keeps_nothing(engine: AsyncEngine, fresh_schema: str) -> None:
    # 003 creates audit_log; one already there makes it fail after 001 and 002 ran.
    async with engine.begin() as conn:
        await conn.execute(text(f"CREATE SCHEMA {quote_identifier(fresh_schema)}"))
        await conn.execute(text(f"CREATE TABLE {quote_identifier(fresh_schema)}.audit_log (x int)"))

    with pytest.raises(asyncpg.DuplicateTableError, match="audit_log"):
        await migrate(engine, fresh_schema)

    assert await tables_in(engine, fresh_schema) == {"audit_log"}


async def test_a_schema_the_old_runner_migrated_gets_only_the_missing_revisions(
    engine: AsyncEngine, fresh_schema: str
) -> None:
    files = list(sql_files().values())
    await migrate_like_the_old_runner(engine, fresh_schema, files[:3])
    async with engine.begin() as conn:
        await conn.execute(
            text(
                f"INSERT INTO {quote_identifier(fresh_schema)}.audit_log"
                " (id, type, entity_type, entity_id, request_id, occurred_at, payload)"
                " VALUES ('e1', 't', 'order', 'o1', 'r1', now(), '{}')"
            )
        )

    assert await migrate(engine, fresh_schema) == ALL[3:]
    assert await version_of(engine, fresh_schema) == [ALL[-1]]
    async with engine.connect() as conn:
        kept = await conn.execute(
            text(f"SELECT id FROM {quote_identifier(fresh_schema)}.audit_log")
        )
        assert list(kept.scalars()) == ["e1"]
    assert await migrate(engine, fresh_schema) == []


async def test_a_schema_the_old_runner_migrated_fully_is_only_stamped(
    engine: AsyncEngine, fresh_schema: str
) -> None:
    await migrate_like_the_old_runner(engine, fresh_schema, list(sql_files().values()))

    assert await migrate(engine, fresh_schema) == []
    assert await version_of(engine, fresh_schema) == [ALL[-1]]


async def test_an_old_runner_record_with_a_gap_is_refused_and_left_alone(
    engine: AsyncEngine, fresh_schema: str
) -> None:
    files = list(sql_files().values())
    await migrate_like_the_old_runner(engine, fresh_schema, [files[0], files[2]])
    before = await tables_in(engine, fresh_schema)

    with pytest.raises(MigrationError, match="schema_migrations"):
        await migrate(engine, fresh_schema)

    assert await tables_in(engine, fresh_schema) == before
    assert "alembic_version" not in before


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
                    " AND table_name <> 'alembic_version'"
                ),
                {"schema": settings.database_schema},
            )
        ).all()
        indexes = (
            await conn.execute(
                text(
                    "SELECT indexname FROM pg_indexes WHERE schemaname = :schema"
                    " AND indexname NOT LIKE '%_pkey' AND tablename <> 'alembic_version'"
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
