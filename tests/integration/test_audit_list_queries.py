"""The list behind GET /api/audit/ (storage.audit_queries.list_audit) against real
PostgreSQL: filters on the story's rows, and keyset pages through many events of one
entity, also while new events arrive."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.audit import record_audit_events
from storage.audit_queries import AuditParams, CursorMismatch, list_audit
from tests.support.audit_events import Story, synthetic
from tests.support.ids import unique
from tests.support.pipeline import Pipeline

pytestmark = pytest.mark.integration


async def test_an_orders_history_comes_newest_first_with_its_requests(
    pipeline: Pipeline, story: Story
) -> None:
    rows, next_cursor = await list_audit(
        pipeline.engine, AuditParams(entity_type="order", entity_id=story.order_id)
    )
    assert [(r["type"], r["request_id"]) for r in rows] == [
        ("order.status_changed", story.confirm_request),
        ("order.created", story.reserve_request),
    ]
    assert rows[0]["data"]["order"]["status"] == "confirmed"
    assert next_cursor is None


async def test_filters_combine(pipeline: Pipeline, story: Story) -> None:
    by_type, _ = await list_audit(
        pipeline.engine,
        AuditParams(type="reservation.committed", entity_id=story.reservation_id),
    )
    assert [r["request_id"] for r in by_type] == [story.confirm_request]
    by_request, _ = await list_audit(pipeline.engine, AuditParams(request_id=story.reserve_request))
    assert sorted(r["type"] for r in by_request) == ["order.created", "reservation.created"]
    nothing, _ = await list_audit(
        pipeline.engine, AuditParams(entity_type="product", entity_id=story.order_id)
    )
    assert nothing == []


async def test_since_is_inclusive_and_until_exclusive(pipeline: Pipeline, story: Story) -> None:
    order = AuditParams(entity_type="order", entity_id=story.order_id)
    rows, _ = await list_audit(pipeline.engine, order)
    confirmed_at = datetime.fromisoformat(rows[0]["occurred_at"])

    since, _ = await list_audit(pipeline.engine, replace(order, since=confirmed_at))
    assert [r["type"] for r in since] == ["order.status_changed"]
    until, _ = await list_audit(pipeline.engine, replace(order, until=confirmed_at))
    assert [r["type"] for r in until] == ["order.created"]


async def walk(engine: AsyncEngine, params: AuditParams, between_pages: Any = None) -> list[Any]:
    """Every page of `params` in turn; `between_pages()` runs after each page."""
    seen: list[Any] = []
    cursor: str | None = None
    for _ in range(1000):
        rows, cursor = await list_audit(engine, replace(params, cursor=cursor))
        seen.extend(rows)
        if between_pages is not None:
            await between_pages()
        if cursor is None:
            return seen
    raise AssertionError("the walk did not end")


async def test_walking_every_page_returns_each_event_once_newest_first(
    engine: AsyncEngine,
) -> None:
    entity_id = unique("p-paged")
    base = datetime(2025, 1, 1, tzinfo=UTC)
    # Ties on occurred_at on purpose: the event id must break them and keep the walk exact.
    events = [synthetic(entity_id, base + timedelta(seconds=i // 3)) for i in range(23)]
    assert await record_audit_events(engine, events) == 23
    params = AuditParams(entity_type="product", entity_id=entity_id, limit=4)

    seen = await walk(engine, params)
    expected = sorted(events, key=lambda e: (e.occurred_at, e.id), reverse=True)
    assert [r["id"] for r in seen] == [e.id for e in expected]


async def test_new_events_arriving_during_a_walk_neither_repeat_nor_hide_any(
    engine: AsyncEngine,
) -> None:
    entity_id = unique("p-live")
    start = datetime.now(UTC) - timedelta(hours=1)
    old = [synthetic(entity_id, start + timedelta(seconds=i)) for i in range(10)]
    await record_audit_events(engine, old)

    async def more_arrive() -> None:
        await record_audit_events(engine, [synthetic(entity_id, datetime.now(UTC))])

    seen = await walk(engine, AuditParams(entity_id=entity_id, limit=3), more_arrive)
    ids = [r["id"] for r in seen]
    assert len(ids) == len(set(ids)), "an event came twice"
    assert {e.id for e in old} <= set(ids), "an event that was there all along was skipped"


async def test_a_cursor_used_with_other_filters_is_refused(engine: AsyncEngine) -> None:
    entity_id = unique("p-cursor")
    base = datetime(2025, 2, 1, tzinfo=UTC)
    await record_audit_events(
        engine, [synthetic(entity_id, base + timedelta(seconds=i)) for i in range(3)]
    )
    params = AuditParams(entity_id=entity_id, limit=1)
    _, cursor = await list_audit(engine, params)
    assert cursor is not None
    with pytest.raises(CursorMismatch):
        await list_audit(engine, AuditParams(entity_id=unique("other"), limit=1, cursor=cursor))
