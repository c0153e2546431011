"""Read models rebuilt from the log equal the live ones, row by row.

These tests run their own pipeline (topics, app id, schema): other tests write rows
straight into the main schema, which no topic could ever rebuild."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from inventory.replay import READ_MODEL_TABLES, replay
from inventory.settings import Settings
from storage.engine import create_engine, quote_identifier
from tests.support.carts import cart_command
from tests.support.ids import unique
from tests.support.pipeline import Pipeline, isolated, own_pipeline
from tests.support.waiting import eventually
from topics.messages import (
    AdjustStock,
    AdjustStockData,
    ChangeStatus,
    ChangeStatusData,
    ReserveStock,
    ReserveStockData,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def replay_pipeline(settings: Settings) -> AsyncIterator[Pipeline]:
    async with own_pipeline(isolated(settings, "r")) as running:
        yield running


# Columns a rebuild cannot reproduce: when the row was written, not what it says.
VOLATILE = {"recorded_at"}


async def table_rows(engine: AsyncEngine, schema: str, table: str) -> list[tuple[Any, ...]]:
    async with engine.connect() as conn:
        columns = [
            c
            for c in (
                await conn.execute(
                    text(
                        "SELECT column_name FROM information_schema.columns "
                        "WHERE table_schema = :s AND table_name = :t ORDER BY ordinal_position"
                    ),
                    {"s": schema, "t": table},
                )
            ).scalars()
            if c not in VOLATILE
        ]
        listed = ", ".join(columns)
        # Every column in order: rows come out the same whatever the table's key.
        result = await conn.execute(
            text(f"SELECT {listed} FROM {quote_identifier(schema)}.{table} ORDER BY {listed}")
        )
        return [tuple(row) for row in result]


async def snapshot(engine: AsyncEngine, schema: str) -> dict[str, list[tuple[Any, ...]]]:
    return {t: await table_rows(engine, schema, t) for t in READ_MODEL_TABLES}


async def mixed_workload(pipeline: Pipeline) -> None:
    product_id = unique("p")
    await pipeline.create_product(product_id, 20)
    await pipeline.request(
        AdjustStock(
            key=product_id, data=AdjustStockData(product_id=product_id, delta=5, reason="count")
        )
    )
    orders = []
    for quantity in (1, 2, 3, 30):  # the last one is refused
        reply = await pipeline.request(
            ReserveStock(
                key=product_id,
                data=ReserveStockData(product_id=product_id, quantity=quantity, customer_id="c"),
            )
        )
        if reply.data.ok:
            orders.append(reply.data.result["order"]["id"])
    for order_id, status in zip(orders, ("confirmed", "cancelled", "confirmed"), strict=True):
        await pipeline.request(
            ChangeStatus(key=order_id, data=ChangeStatusData(order_id=order_id, status=status))
        )
    await pipeline.request(
        ChangeStatus(key=orders[0], data=ChangeStatusData(order_id=orders[0], status="processing"))
    )
    # A cart: one reservation id on two products, an order of two lines.
    other = unique("p")
    await pipeline.create_product(other, 5)
    held = await pipeline.request(cart_command([(other, 2), (product_id, 1)]))
    assert held.data.ok, held.data
    await pipeline.assert_invariants([product_id, other])
    # The read models trail the events (projector batches): let them catch up first.
    await pipeline.settled()


async def test_replayed_read_models_equal_the_live_ones(replay_pipeline: Pipeline) -> None:
    pipeline = replay_pipeline
    await mixed_workload(pipeline)
    live_schema = pipeline.settings.database_schema
    shadow = f"{live_schema}_rebuilt"
    report = await replay(pipeline.settings, swap=False, shadow_schema=shadow)
    assert report.events > 0
    shadow_engine = create_engine(pipeline.settings.model_copy(update={"database_schema": shadow}))
    try:
        rebuilt = await snapshot(shadow_engine, shadow)
        # the live projector may still be finishing the last batch
        live = await eventually(
            lambda: snapshot(pipeline.engine, live_schema),
            lambda rows: rows == rebuilt,
            what="live read models equal to the rebuilt ones",
        )
        assert all(live[t] for t in ("products", "reservations", "orders", "audit_log"))
    finally:
        async with shadow_engine.begin() as conn:
            await conn.execute(text(f"DROP SCHEMA IF EXISTS {quote_identifier(shadow)} CASCADE"))
        await shadow_engine.dispose()


async def test_replay_swaps_the_rebuilt_tables_in_and_keeps_projecting(
    replay_pipeline: Pipeline,
) -> None:
    pipeline = replay_pipeline
    await mixed_workload(pipeline)
    live_schema = pipeline.settings.database_schema
    before = await snapshot(pipeline.engine, live_schema)
    report = await replay(pipeline.settings, swap=True)
    assert report.events >= sum(len(rows) for rows in before.values()) - len(before["audit_log"])
    after = await snapshot(pipeline.engine, live_schema)
    assert after == before
    async with pipeline.engine.connect() as conn:
        leftover = await conn.scalar(
            text("SELECT count(*) FROM pg_namespace WHERE nspname = :s"),
            {"s": report.schema},
        )
    assert leftover == 0, "the shadow schema is dropped after the swap"
    # the live projector writes into the swapped-in tables
    await mixed_workload(pipeline)
