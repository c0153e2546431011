"""A worker killed with SIGKILL in the middle of reservations: after a restart the tables
come back from their changelogs, and retried commands apply once."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from inventory.settings import Settings
from tests.support.ids import unique
from tests.support.pipeline import isolated, own_pipeline
from tests.support.waiting import eventually
from topics.messages import ChangeStatus, ChangeStatusData, Reply, ReserveStock, ReserveStockData

pytestmark = pytest.mark.integration


async def test_reservations_survive_a_killed_worker_and_apply_once(settings: Settings) -> None:
    crash = isolated(settings, "c", reply_timeout_seconds=3.0)
    async with own_pipeline(crash) as pipeline:
        engine = pipeline.engine
        product_id = unique("p")
        total, stock = 300, 400
        await pipeline.create_product(product_id, stock)
        commands = [
            ReserveStock(
                key=product_id,
                data=ReserveStockData(product_id=product_id, quantity=1, customer_id=f"c{i}"),
            )
            for i in range(total)
        ]
        worker = next(p for p in pipeline.processes.processes if p.role == "worker")
        retried: set[str] = set()
        inflight: list[asyncio.Task[Reply]] = []

        async def stream_commands() -> None:
            # A steady stream rather than one burst: the worker commits a batch per
            # transaction, and a burst may be applied and committed whole before the kill.
            for command in commands:
                inflight.append(
                    asyncio.create_task(pipeline.request_until_answered(command, retried))
                )
                await asyncio.sleep(0.01)

        streaming = asyncio.create_task(stream_commands())
        await eventually(
            lambda: sum(t.done() for t in inflight), lambda n: n >= 20, what="first answers"
        )
        worker.kill()  # SIGKILL while most of the commands are still to come or in flight
        pipeline.processes.start("worker")
        await streaming
        replies = await asyncio.gather(*inflight)

        assert retried, "the crash should have caught some commands in flight"
        assert all(r.data.ok for r in replies), [r.data.code for r in replies if not r.data.ok]
        order_ids = {r.data.result["order"]["id"] for r in replies}
        assert len(order_ids) == total, "one order per command"
        table = await pipeline.stock_table()
        assert table[product_id]["reserved"] == total
        assert table[product_id]["available"] == stock - total
        await pipeline.assert_invariants([product_id])

        async def projected_orders() -> int:
            async with engine.connect() as conn:
                count = await conn.scalar(
                    text("SELECT count(*) FROM orders WHERE product_id = :p"), {"p": product_id}
                )
            return int(count or 0)

        # orders.events is projected on its own; give it the time to catch up
        assert await eventually(projected_orders, lambda n: n >= total, what="orders") == total

        # The worker's own order rows came back too (the inventory agent wrote them in
        # the reservation's step): every order can be confirmed, and each once.
        sample = sorted(order_ids)[:25]
        confirms = await asyncio.gather(
            *(
                pipeline.request(
                    ChangeStatus(key=o, data=ChangeStatusData(order_id=o, status="confirmed"))
                )
                for o in sample
            )
        )
        assert all(r.data.ok for r in confirms), [r.data.code for r in confirms if not r.data.ok]
        table = await pipeline.stock_table()
        assert table[product_id]["sold"] == len(sample)
        assert table[product_id]["reserved"] == total - len(sample)
        await pipeline.assert_invariants([product_id])
