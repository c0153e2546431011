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
    )
