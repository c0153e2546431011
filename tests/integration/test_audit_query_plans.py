"""The audit log's queries use its indexes: every filter combination GET /api/audit/
can issue, first page and a cursor page, on 100k events — no sequential scan."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from inventory.settings import Settings
from storage.audit_queries import AuditParams, AuditPosition, build_audit_query
from tests.support.explain import explain, index_problems, plan_shape
from tests.support.pipeline import own_schema

pytestmark = pytest.mark.integration

EVENTS = 100_000
START = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
async def audit_engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """A schema of its own holding 100k audit events over 100 days, analyzed."""
    own = settings.model_copy(update={"database_schema": f"{settings.database_schema}_auditplans"})
    async with own_schema(own) as engine:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    """
                    INSERT INTO audit_log
                        (id, type, entity_type, entity_id, request_id, occurred_at, payload)
                    SELECT 'e' || g,
                           (ARRAY['product.created', 'stock.adjusted', 'reservation.created',
                                  'reservation.committed', 'order.created',
                                  'order.status_changed', 'command.rejected'])[1 + g % 7],
                           (ARRAY['product', 'reservation', 'order'])[1 + g % 3],
                           'ent-' || (g % 20000),
                           'req-' || (g / 3),
                           CAST(:start AS timestamptz) + g * interval '86 seconds',
                           '{}'::jsonb
                      FROM generate_series(1, :n) AS g
                    """
                ),
                {"start": START, "n": EVENTS},
            )
            await conn.execute(text("ANALYZE audit_log"))
        yield engine


def filter_sets() -> list[dict[str, Any]]:
    """Each filter absent or given, in every combination the API accepts."""
    since, until = START + timedelta(days=10), START + timedelta(days=12)
    choices: dict[str, list[Any]] = {
        "entity": [None, ("order", "ent-42")],
        "type": [None, "order.created"],
        "request_id": [None, "req-777"],
        "window": [None, (since, None), (None, until), (since, until)],
    }
    sets = []
    for entity, type_, request_id, window in itertools.product(*choices.values()):
        params: dict[str, Any] = {"type": type_, "request_id": request_id}
        if entity is not None:
            params["entity_type"], params["entity_id"] = entity
        if window is not None:
            params["since"], params["until"] = window
        sets.append(params)
    # an entity type on its own is a filter the API takes too
    sets.append({"entity_type": "product"})
    return sets


async def test_every_audit_filter_combination_reads_through_an_index(
    audit_engine: AsyncEngine,
) -> None:
    failures = []
    after = AuditPosition(occurred_at=START + timedelta(days=50), event_id="e50000")
    async with audit_engine.connect() as conn:
        for filters in filter_sets():
            params = AuditParams(**filters)
            for position in (None, after):
                plan = await explain(conn, build_audit_query(params, position))
                problems = index_problems(plan, "audit_log")
                if problems:
                    failures.append(
                        f"{filters} page={'2' if position else '1'}: "
                        f"{problems} ({plan_shape(plan)})"
                    )
    assert failures == [], "\n".join(failures)
