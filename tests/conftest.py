"""Fixtures shared by every layer. Unit tests use none of the I/O ones.

Each test run gets its own topic prefix, faust app id and database schema, so
runs (and developers) sharing one broker and one database never read each
other's messages or rows.
"""

from __future__ import annotations

import os
import uuid

import pytest

from inventory.settings import Settings

RUN_ID = uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def run_id() -> str:
    return RUN_ID


@pytest.fixture(scope="session")
def settings() -> Settings:
    """Settings of this test run: the environment's broker and database, private names."""
    return Settings(
        topic_prefix=f"t{RUN_ID}.",
        database_schema=f"test_{RUN_ID}",
        reservation_ttl_seconds=float(os.environ.get("TEST_RESERVATION_TTL_SECONDS", "600")),
        partitions=int(os.environ.get("TEST_PARTITIONS", "2")),
        gateway_port=0,
        # Tests run several workers and projectors at once: metrics ports only where a
        # test asks for them (tests/e2e/test_metrics_http.py).
        worker_metrics_port=0,
        projector_metrics_port=0,
        # The derived internal command key is fine here (and required by nothing else).
        environment="development",
    )


@pytest.fixture(scope="session")
async def engine(settings: Settings):  # type: ignore[no-untyped-def]
    """An engine on a fresh schema of this run, migrated; dropped at the end of the run."""
    from sqlalchemy import text

    from storage.engine import create_engine
    from storage.migrate import migrate

    eng = create_engine(settings)
    await migrate(eng, settings.database_schema)
    yield eng
    if not os.environ.get("KEEP_TEST_SCHEMA"):
        async with eng.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{settings.database_schema}" CASCADE'))
    await eng.dispose()


@pytest.fixture(scope="session")
async def admin_key(settings: Settings, engine) -> str:  # type: ignore[no-untyped-def]
    """An admin API key in this run's schema, for tests that are not about keys."""
    from tests.support.keys import make_key

    return await make_key(settings, "admin", "test run admin")


@pytest.fixture(scope="session")
async def pipeline(settings: Settings, engine):  # type: ignore[no-untyped-def]
    """Real worker + projector processes on this run's topics, and a CommandBus to them."""
    from tests.support.pipeline import start_pipeline, stop_pipeline

    running = await start_pipeline(settings, engine, f"{RUN_ID}/main")
    yield running
    await stop_pipeline(running)


@pytest.fixture(scope="session")
async def short_ttl_pipeline(settings: Settings):  # type: ignore[no-untyped-def]
    """A second pipeline (own topics, app id and schema) whose reservations expire in 3 s."""
    from tests.support.pipeline import isolated, own_pipeline

    async with own_pipeline(isolated(settings, "s", reservation_ttl_seconds=3.0)) as running:
        yield running
