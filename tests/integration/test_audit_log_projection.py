"""The audit-log projection against the real pipeline: every change lands in audit_log
once, with the request that caused it and the event as it was sent."""

from __future__ import annotations

import pytest

from storage.audit_queries import AuditParams, list_audit
from tests.support.audit_events import Story, logged
from tests.support.pipeline import Pipeline

pytestmark = pytest.mark.integration


async def test_every_change_is_logged_once_with_the_request_that_caused_it(
    pipeline: Pipeline, story: Story
) -> None:
    assert await logged(pipeline.engine, story.request_ids) == story.expected_events()


async def test_each_row_keeps_the_event_and_what_caused_it(
    pipeline: Pipeline, story: Story
) -> None:
    rows, _ = await list_audit(pipeline.engine, AuditParams(request_id=story.refused_request))
    assert len(rows) == 1
    rejected = rows[0]
    assert rejected["type"] == "command.rejected"
    assert rejected["data"]["code"] == "insufficient_stock"
    assert rejected["causation_id"] == rejected["data"]["command_id"]
    assert rejected["occurred_at"].endswith("Z")
