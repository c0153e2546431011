"""`inventory cleanup`: overdue pending orders in the read model get an ExpireOrder on
the order topic — the same command id the timer uses, so the agent applies it once."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from agents.order_rules import expire_command
from inventory.cleanup import expire_overdue
from inventory.settings import Settings
from tests.support.pipeline import Pipeline, collect, own_schema
from topics.names import ORDERS_COMMANDS

pytestmark = pytest.mark.integration


async def test_cleanup_asks_the_order_agent_to_expire_overdue_pending_orders(
    pipeline: Pipeline,
) -> None:
    # A schema of its own: other tests seed many synthetic orders into the main one.
    settings = pipeline.settings.model_copy(
        update={"database_schema": f"{pipeline.settings.database_schema}_cleanup"}
    )
    async with own_schema(settings) as engine:
        await check_cleanup(pipeline, settings, engine)


async def check_cleanup(pipeline: Pipeline, settings: Settings, engine: AsyncEngine) -> None:
    overdue, fresh = str(uuid.uuid4()), str(uuid.uuid4())
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        for order_id, expires_at in (
            (overdue, now - timedelta(minutes=1)),
            (fresh, now + timedelta(minutes=9)),
        ):
            await conn.execute(
                text(
                    "INSERT INTO orders (id, status, customer_id, product_id, quantity, unit_price,"
                    " total, reservation_id, expires_at, history, version, created_at, updated_at)"
                    " VALUES (:id, 'pending', 'c', 'p-cleanup', 1, 1, 1, :r, :e, '[]', 1, :n, :n)"
                ),
                {"id": order_id, "r": str(uuid.uuid4()), "e": expires_at, "n": now},
            )
    assert await expire_overdue(settings) == 1
    records = await collect(
        pipeline.settings,
        pipeline.topic(ORDERS_COMMANDS),
        lambda recs: any(r.key == overdue.encode() for r in recs),
    )
    asked = [json.loads(r.value) for r in records if r.key in (overdue.encode(), fresh.encode())]
    assert [a["data"]["order_id"] for a in asked] == [overdue], "only the overdue order"
    assert asked[0]["type"] == "order.expire"
    assert asked[0]["id"] == expire_command(overdue).id, "the timer's command id"
