"""Real PostgreSQL (and, for the pipeline fixtures, the real broker)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from inventory.settings import Settings
from storage.engine import create_engine
from storage.migrate import migrate


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """An engine on a fresh schema of this run, migrated; dropped at the end of the run."""
    eng = create_engine(settings)
    await migrate(eng, settings.database_schema)
    yield eng
    if not os.environ.get("KEEP_TEST_SCHEMA"):
        async with eng.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{settings.database_schema}" CASCADE'))
    await eng.dispose()
