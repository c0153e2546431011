"""The async engine factory, a health check, and what counts as the database being away."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from inventory.settings import Settings


def quote_identifier(name: str) -> str:
    """`name` as a double-quoted SQL identifier (safe for any schema name)."""
    return '"' + name.replace('"', '""') + '"'


def create_engine(settings: Settings) -> AsyncEngine:
    """An asyncpg engine whose every connection works in `settings.database_schema`.

    The schema is set as the connection's search_path, so the SQL in this package
    stays unqualified and each test run can use a schema of its own. No connection
    is opened here; a bad URL or a missing server shows on first use.
    """
    return create_async_engine(
        settings.database_url.get_secret_value(),
        pool_size=20,
        max_overflow=20,
        pool_pre_ping=False,
        connect_args={
            "server_settings": {
                "search_path": quote_identifier(settings.database_schema),
                # asyncpg prepares and caches each statement; after five runs PostgreSQL
                # may switch to a generic plan, which guesses a range on created_at or
                # total at 0.5 % of the table whatever its real width and picks bitmap
                # scans + sort (10-20x slower for order lists, docs/QUERIES.md).
                # Planning with the real values costs ~0.2 ms per statement.
                "plan_cache_mode": "force_custom_plan",
            }
        },
    )


@asynccontextmanager
async def one_statement(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection in autocommit mode, for a write that is a single statement:
    PostgreSQL applies one statement all or nothing by itself, so BEGIN and COMMIT would
    only add two round trips (the projector writes a batch in one statement)."""
    async with engine.connect() as conn:
        yield await conn.execution_options(isolation_level="AUTOCOMMIT")


# The database is down, restarting ("the database system is starting up"), out of
# connections or unreachable: worth a retry, not a bug.
_AWAY = (
    OSError,
    asyncpg.CannotConnectNowError,
    asyncpg.PostgresConnectionError,
    asyncpg.TooManyConnectionsError,
    asyncpg.ConnectionDoesNotExistError,
    sa_exc.TimeoutError,  # no pooled connection came free in time
)


def database_unavailable(error: BaseException) -> bool:
    """True when `error` (or what it wraps) says the database cannot be reached now,
    rather than that a statement was wrong."""
    seen: BaseException | None = error
    for _ in range(8):  # a chain of wrappers is short; a cycle must not loop forever
        if seen is None:
            break
        if isinstance(seen, sa_exc.DBAPIError) and seen.connection_invalidated:
            return True
        if isinstance(seen, _AWAY):
            return True
        wrapped = getattr(seen, "orig", None)
        seen = wrapped if isinstance(wrapped, BaseException) else seen.__cause__
    return False


async def ping(engine: AsyncEngine) -> None:
    """Run `SELECT 1`; returns None when the database answers, raises the driver's
    error (e.g. OSError, asyncpg or SQLAlchemy errors) when it does not."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
