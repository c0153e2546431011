"""A tiny forward-only migration runner over `storage/migrations/NNN_*.sql`."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.engine import quote_identifier

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_NAME = re.compile(r"^\d{3}_[A-Za-z0-9_]+\.sql$")
# Any fixed number works; namespaced by the schema name so two schemas migrate in parallel.
_LOCK_SALT = "inventory-stream:migrate:"


def migration_files() -> list[Path]:
    """The migration files, in the order they are applied (by name)."""
    return sorted(p for p in MIGRATIONS_DIR.iterdir() if _NAME.match(p.name))


async def migrate(engine: AsyncEngine, schema: str) -> list[str]:
    """Create `schema` if needed and apply every migration not applied yet, in one transaction.

    Returns the file names applied by this call (empty when up to date). Concurrent
    callers serialize on an advisory lock, so exactly one of them applies each file.
    Raises the database error of a failing migration; then nothing of this call is kept.
    """
    async with engine.begin() as conn:
        await conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": _LOCK_SALT + schema},
        )
        await conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(schema)}"))
        # The engine's search_path may name another schema; the files must land in this one.
        await conn.execute(
            text("SELECT set_config('search_path', :path, true)"),
            {"path": quote_identifier(schema)},
        )
        await conn.execute(
            text(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " name text PRIMARY KEY,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
        )
        done = set((await conn.execute(text("SELECT name FROM schema_migrations"))).scalars())
        applied: list[str] = []
        for path in migration_files():
            if path.name in done:
                continue
            await _run_script(conn, path.read_text(encoding="utf-8"))
            await conn.execute(
                text("INSERT INTO schema_migrations (name) VALUES (:name)"), {"name": path.name}
            )
            applied.append(path.name)
        return applied


async def _run_script(conn: AsyncConnection, sql: str) -> None:
    # A file holds many statements; asyncpg runs them in one simple-query call
    # (the prepared-statement path SQLAlchemy uses takes only one statement).
    raw = await conn.get_raw_connection()
    await raw.driver_connection.execute(sql)  # type: ignore[union-attr]
