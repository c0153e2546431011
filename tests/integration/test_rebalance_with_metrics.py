"""A worker that serves metrics (faust's Prometheus sensor installed) goes through a
rebalance like any other: a second worker joins while commands flow, and the first one
hands its partitions over with its commit before the revoke, rather than being fenced.

Seen in `make bench-reserve-products`: faust's sensor clears its per-partition series
from inside the consumer's revoke listener, the sensor's label cache could not, the
listener failed, the first worker's commit before the revoke never ran, and the second
worker's producer fenced its open transaction: it exited (agents.metrics.CachedLabels).
The other tests run their workers without metrics (port 0), so none of them saw it."""

from __future__ import annotations

import asyncio
import re

import aiohttp
import pytest

from inventory.settings import Settings
from tests.integration.test_standby_replicas import one_product_per_partition, split_between
from tests.integration.test_table_store import worker_of
from tests.support.pipeline import isolated, own_pipeline
from tests.support.ports import free_ports
from tests.support.waiting import eventually
from topics.messages import ReserveStock, ReserveStockData

pytestmark = pytest.mark.integration


async def test_a_worker_serving_metrics_hands_its_partitions_over_under_load(
    settings: Settings,
) -> None:
    [port] = free_ports(1)
    own = isolated(settings, "metrics-rebalance", worker_metrics_port=port)
    async with own_pipeline(own) as pipeline:
        first = worker_of(pipeline)
        products = one_product_per_partition(own.partitions)
        for product_id in products:
            await pipeline.create_product(product_id, 100_000)

        answered: list[bool] = []
        joined = asyncio.Event()

        async def load(product_id: str) -> None:
            n = 0
            while not joined.is_set():
                command = ReserveStock(
                    key=product_id,
                    data=ReserveStockData(product_id=product_id, quantity=1, customer_id=f"c{n}"),
                )
                reply = await pipeline.request_until_answered(command)
                answered.append(reply.data.ok)
                n += 1

        clients = [asyncio.create_task(load(p)) for p in products for _ in range(3)]
        await asyncio.sleep(2)  # commands flowing, transactions open
        second = pipeline.processes.start("worker", WORKER_METRICS_PORT="0")
        try:
            await split_between(first, second, own.partitions)
            await asyncio.sleep(2)  # and flowing on both after the split
        finally:
            joined.set()
            await asyncio.gather(*clients)

        log = first.log_path.read_text(errors="replace")
        assert "failed on_partitions_revoked" not in log, first.tail()
        assert "fenced" not in log, first.tail()
        assert first.alive() and second.alive(), (first.tail(), second.tail())
        assert answered and all(answered)
        # Each answered reservation held exactly one unit: none lost, none doubled.
        table = await pipeline.stock_table()
        assert sum(table[p]["reserved"] for p in products) == len(answered)
        await pipeline.assert_invariants(products)
        # Idle again, the first worker has no record in flight: any the rebalance dropped
        # were reported done with (agents.command_feed; tests/unit/test_command_feed.py).
        await eventually(
            lambda: active_messages(port),
            lambda n: n == 0,
            within=30,
            what="faust_active_messages back to 0",
        )


async def active_messages(port: int) -> float:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        text = await response.text()
    match = re.search(r"^faust_active_messages (\S+)$", text, re.MULTILINE)
    assert match, "faust_active_messages not exported"
    return float(match.group(1))
