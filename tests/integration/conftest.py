"""Integration layer: real Kafka broker and PostgreSQL (fixtures in tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.support.audit_events import Story, tell_story
from tests.support.pipeline import Pipeline


@pytest.fixture(scope="session")
async def story(pipeline: Pipeline) -> Story:
    """One short story through the run's pipeline, logged in audit_log (the audit tests
    read it: tests/support/audit_events.py)."""
    return await tell_story(pipeline)
