"""Schema migrations: alembic revisions over the SQL files of `storage/migrations/`.

Every step is an SQL file, `storage/migrations/NNN_<what>.sql`, and one alembic revision,
`storage/migrations/versions/NNN_<what>.py`, that runs it. Forward only: no revision has
a `downgrade`; a change is undone by a new step.

To add a migration (the next free number, say 006):

1. write `storage/migrations/006_<what>.sql` (schema-unqualified, as the others: the
   connection's search_path picks the schema);
2. copy the newest revision file to `storage/migrations/versions/006_<what>.py` and set
   its docstring, `revision = "006"`, `down_revision = "005"` (the revision before it)
   and `sql_file = "006_<what>.sql"`;
3. add the new tables, columns and indexes to `storage/tables.py`.

tests/integration/test_migrate.py checks that revisions and files pair up one to one
in order, and that tables.py matches the migrated schema.

`migrate(engine, schema)` is the one entry (`inventory db migrate`, `inventory run`,
replay's shadow schema, the tests' schemas, the benches). Each schema has its own
version table, `<schema>.alembic_version`.

A schema migrated before alembic (by the old runner) has a `schema_migrations` table
naming the SQL files applied and no `alembic_version`: `migrate` first stamps it at
the revision of the last file listed there, so those steps are not run again, then
upgrades as usual. `schema_migrations` is left in place and no longer read.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from pathlib import Path
from typing import cast

from alembic import command, op
from alembic.config import Config
from alembic.runtime.migration import MigrationInfo
from alembic.script import Script, ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlalchemy.engine.interfaces import AdaptedConnection
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.engine import quote_identifier

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"
# The old runner's table: the SQL file names it applied.
OLD_RUNNER_TABLE = "schema_migrations"
# Namespaced by the schema name, so two schemas migrate in parallel.
_LOCK_SALT = "inventory-stream:migrate:"
# alembic names each of its autogenerate plugins at INFO on every run; we use none.
logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


class MigrationError(RuntimeError):
    """The schema's recorded migrations do not fit the revisions shipped with this code."""


def alembic_config() -> Config:
    """The alembic configuration of this package (no ini file: everything is set here)."""
    config = Config()
    # ConfigParser interpolates '%': escape it in the path.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    return config


def revisions() -> list[str]:
    """Every revision id shipped, in the order they are applied."""
    return [script.revision for script in _in_order(ScriptDirectory.from_config(alembic_config()))]


def sql_files() -> dict[str, str]:
    """The SQL file each revision runs, by revision id, in order."""
    script = ScriptDirectory.from_config(alembic_config())
    return {s.revision: _sql_file(s.module) for s in _in_order(script)}


async def migrate(engine: AsyncEngine, schema: str) -> list[str]:
    """Create `schema` if needed and apply every revision not applied yet, in one transaction.

    Returns the revision ids applied by this call, in order (empty when up to date).
    Concurrent callers serialize on an advisory lock, so exactly one of them applies each
    revision. Raises the database error of a failing migration, `MigrationError` for a
    schema whose old-runner record does not fit the revisions; then nothing of this call
    is kept.
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
        return await conn.run_sync(_upgrade, schema)


def run_sql_file(name: str) -> None:
    """Run `storage/migrations/<name>` on the migration's connection (for revision files).

    A file holds many statements; asyncpg runs them in one simple-query call (the
    prepared-statement path SQLAlchemy uses takes only one statement).
    """
    sql = (MIGRATIONS_DIR / name).read_text(encoding="utf-8")
    raw = cast(AdaptedConnection, op.get_bind().connection.dbapi_connection)
    raw.run_async(lambda driver: driver.execute(sql))


def _upgrade(conn: Connection, schema: str) -> list[str]:
    config = alembic_config()
    # Read by migrations/env.py: run on this connection, in its transaction.
    config.attributes.update(connection=conn, schema=schema, version_table=VERSION_TABLE)
    tables = inspect(conn).get_table_names(schema=schema)
    if VERSION_TABLE not in tables and OLD_RUNNER_TABLE in tables:
        done = conn.execute(
            text(f"SELECT name FROM {quote_identifier(schema)}.{OLD_RUNNER_TABLE}")
        ).scalars()
        last = _last_applied_by_old_runner(ScriptDirectory.from_config(config), set(done))
        if last is not None:
            command.stamp(config, last)

    applied: list[str] = []

    def record(*, step: MigrationInfo, **_: object) -> None:
        if step.is_upgrade and step.up_revision_id is not None:
            applied.append(step.up_revision_id)

    config.attributes["on_version_apply"] = record
    command.upgrade(config, "head")
    return applied


def _last_applied_by_old_runner(script: ScriptDirectory, done: Collection[str]) -> str | None:
    """The revision of the last file the old runner applied (None: it applied none).

    It applied every missing file at once, in order, so the files it lists must be the
    first ones in order; anything else is not a schema this code knows how to take over.
    """
    in_order = _in_order(script)
    files = [_sql_file(revision.module) for revision in in_order]
    count = 0
    while count < len(files) and files[count] in done:
        count += 1
    if set(done) != set(files[:count]):
        raise MigrationError(
            f"{OLD_RUNNER_TABLE} lists {sorted(done)}: not the first of the files the"
            f" revisions run, in order ({files}); left untouched"
        )
    return in_order[count - 1].revision if count else None


def _in_order(script: ScriptDirectory) -> list[Script]:
    # walk_revisions goes from the head down.
    return list(reversed(list(script.walk_revisions())))


def _sql_file(module: object) -> str:
    """The SQL file a revision module runs (its `sql_file`); "" for one that runs none."""
    return str(getattr(module, "sql_file", ""))
