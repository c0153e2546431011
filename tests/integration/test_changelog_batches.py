"""A batch writes each table key once (agents.changelog_table): the product row that a
hundred reservations of one batch rewrite reaches the changelog as one record, with the
value it has when the batch commits, and a restart rebuilds the same table from it."""

from __future__ import annotations

import asyncio

import pytest

from agents.app import APPLIED_PREFIX
from inventory.settings import Settings
from tests.support.ids import unique
from tests.support.pipeline import isolated, own_pipeline, read_log
from topics.messages import ReserveStock, ReserveStockData

pytestmark = pytest.mark.integration


async def test_a_batch_writes_each_key_once_with_its_last_value(settings: Settings) -> None:
    batched = isolated(settings, "batches", reply_timeout_seconds=60.0, max_batch=10)
    async with own_pipeline(batched) as pipeline:
        product_id = unique("p")
        await pipeline.create_product(product_id, 1000)
        worker = next(p for p in pipeline.processes.processes if p.role == "worker")
        worker.stop()  # the commands queue up, and the next worker drains them in batches
        commands = [
            ReserveStock(
                key=product_id,
                data=ReserveStockData(product_id=product_id, quantity=1, customer_id=f"c{i}"),
            )
            for i in range(100)
        ]
        answers = [asyncio.ensure_future(pipeline.request(c)) for c in commands]
        await asyncio.sleep(1.0)  # sent before the worker starts, as a queue
        pipeline.processes.start("worker")
        replies = await asyncio.gather(*answers)
        assert all(r.data.ok for r in replies)

        log = await read_log(batched, f"{batched.app_id}-stock-changelog")
        versions = [value["version"] for _, _, key, value in log if key == product_id]
        # Created at version 1, then one version per reservation: 101 in the end. Each
        # record carries the row as its batch left it, so versions rise and skip.
        assert versions[-1] == 101
        assert versions == sorted(set(versions))
        assert len(versions) < 101, "the reservations of a batch share one product record"
        # A batch ends at MAX_BATCH commands even with more waiting (it once counted
        # partitions, so a long backlog kept one transaction open past its timeout).
        assert len(versions) >= 1 + 100 // 10
        entries = {key for _, _, key, _ in log if key.startswith(APPLIED_PREFIX)}
        assert {APPLIED_PREFIX + c.id for c in commands} <= entries

        table = await pipeline.stock_table()
        assert table[product_id]["reserved"] == 100 and len(table[product_id]["active"]) == 100
        await pipeline.assert_invariants([product_id])
