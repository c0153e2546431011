"""The first start on a broker that has never seen the pipeline's topics, and errors that
may pass: no process creates a topic of its own, every one waits for
`inventory stream create-topics`, and a valid command is delayed by a failure but never
dead-lettered."""

from __future__ import annotations

import asyncio
import re
import time

import aiohttp
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from agents import exit_codes
from inventory.kafka_admin import create_topics, pipeline_topics
from inventory.settings import Settings
from tests.support.keys import bearer, make_key
from tests.support.pipeline import (
    connect,
    create_ready_topics,
    isolated,
    own_schema,
    read_to_end,
    stop_pipeline,
)
from tests.support.processes import ROOT, Process, ProcessGroup
from tests.support.waiting import eventually
from topics.messages import CreateProduct, CreateProductData, ReserveStock, ReserveStockData
from topics.names import INVENTORY_COMMANDS, ORDERS_COMMANDS, dlq_of, prefixed

pytestmark = pytest.mark.integration


async def topics_with_prefix(settings: Settings) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_list)
    await admin.start()
    try:
        return {t for t in await admin.list_topics() if t.startswith(settings.topic_prefix)}
    finally:
        await admin.close()


async def dead_letters(settings: Settings) -> int:
    """Records on the DLQs of both command topics."""
    total = 0
    for topic in (INVENTORY_COMMANDS, ORDERS_COMMANDS):
        total += len(await read_to_end(settings, prefixed(settings.topic_prefix, dlq_of(topic))))
    return total


def log_of(process: Process) -> str:
    return process.log_path.read_text(errors="replace")


def create_product(product_id: str, stock: int) -> CreateProduct:
    return CreateProduct(
        key=product_id,
        data=CreateProductData(
            product_id=product_id, name=product_id, price="5.00", initial_stock=stock
        ),
    )


async def test_a_pipeline_started_before_its_topics_answers_its_first_reservation(
    settings: Settings,
) -> None:
    fresh = isolated(settings, "fresh", reply_timeout_seconds=60.0)
    async with own_schema(fresh) as _engine:
        group = ProcessGroup(fresh, ROOT / ".local" / "test-logs" / "first-start")
        worker = group.start("worker")
        projector = group.start("projector")
        gateway = group.start("gateway")
        try:
            await eventually(
                lambda: "waiting for its topics" in log_of(worker), bool, what="worker waits"
            )
            # The broker's metadata arrives slowly: some topics first, the changelogs
            # seconds later. Meanwhile nobody creates a topic, and the gateway serves nothing.
            wanted = pipeline_topics(fresh)
            early = [name for name in wanted if not name.endswith("-changelog")]
            admin = AIOKafkaAdminClient(bootstrap_servers=fresh.kafka_bootstrap_list)
            await admin.start()
            try:
                await admin.create_topics([NewTopic(n, fresh.partitions, 1) for n in early])
            finally:
                await admin.close()
            await asyncio.sleep(6)
            assert await topics_with_prefix(fresh) == set(early)
            assert "gateway listening" not in log_of(gateway)
            assert all(p.alive() for p in (worker, projector, gateway))

            assert len(await create_topics(fresh)) == len(wanted) - len(early)
            url = await asyncio.to_thread(group.gateway_url, gateway)
            # At once: no wait for the worker's group to settle.
            key = await make_key(fresh)
            async with aiohttp.ClientSession(base_url=url, headers=bearer(key)) as http:
                started = time.monotonic()
                product = await http.post(
                    "/api/products/", json={"id": "first", "name": "F", "price": "2.50", "stock": 3}
                )
                assert product.status == 201, await product.text()
                reserved = await http.post(
                    "/api/reservations/",
                    json={"product_id": "first", "quantity": 2, "customer_id": "c"},
                )
                body = await reserved.json()
                assert reserved.status == 201, body
                assert body["order"]["status"] == "pending"
                health = await http.get("/healthz")
                assert health.status == 200, await health.text()
            print(
                f"first product and reservation answered {time.monotonic() - started:.1f}s "
                "after the topics appeared"
            )
            assert await dead_letters(fresh) == 0
            assert "PartitionsMismatch" not in log_of(worker)
            assert await topics_with_prefix(fresh) == set(wanted), "nobody made a topic of its own"
        finally:
            group.stop_all()


async def test_healthz_is_503_while_a_topic_is_missing(settings: Settings) -> None:
    """A gateway already up when a topic disappears says so instead of 200."""
    from api.bus import CommandBus

    gone = isolated(settings, "gone")
    await create_ready_topics(gone)
    bus = CommandBus(gone)
    await bus.start()
    try:
        assert await bus.kafka_error() is None
        changelog = next(n for n in pipeline_topics(gone) if n.endswith("-stock-changelog"))
        admin = AIOKafkaAdminClient(bootstrap_servers=gone.kafka_bootstrap_list)
        await admin.start()
        try:
            await admin.delete_topics([changelog])
        finally:
            await admin.close()
        error = await eventually(bus.kafka_error, bool, what="the missing changelog reported")
        assert changelog in str(error)
    finally:
        await bus.stop()


async def test_a_transient_failure_in_apply_delays_a_command_but_never_dead_letters_it(
    settings: Settings,
) -> None:
    flaky = isolated(settings, "flaky", inject_faults="apply=3")
    await create_ready_topics(flaky)
    async with own_schema(flaky) as engine:
        group = ProcessGroup(flaky, ROOT / ".local" / "test-logs" / "flaky")
        worker = group.start("worker")
        group.start("projector")
        pipeline = await connect(flaky, engine, group)
        try:
            # The first command the worker applies meets all three faults: its first
            # attempt after its row is written, the next two while finishing from its entry.
            created = await pipeline.request(create_product("flaky", 4))
            assert created.data.ok, created.data
            reserved = await pipeline.request(
                ReserveStock(
                    key="flaky",
                    data=ReserveStockData(product_id="flaky", quantity=3, customer_id="c"),
                )
            )
            assert reserved.data.ok, reserved.data
            table = await pipeline.stock_table()
            assert (table["flaky"]["available"], table["flaky"]["reserved"]) == (1, 3)
            await pipeline.assert_invariants(["flaky"])
            assert await dead_letters(flaky) == 0
            failures = re.findall(r"(\S+\[\d+\]@\d+) failed \(attempt (\d)", log_of(worker))
            [record] = {where for where, _ in failures}  # one record, three attempts failed
            assert [attempt for _, attempt in failures] == ["1", "2", "3"], failures
            assert worker.alive()
        finally:
            await stop_pipeline(pipeline)


async def test_a_command_still_failing_stops_the_worker_and_is_applied_after_restart(
    settings: Settings,
) -> None:
    stuck = isolated(
        settings,
        "stuck",
        inject_faults="apply=1000000",
        apply_retry_seconds=2.0,
        reply_timeout_seconds=90.0,
    )
    await create_ready_topics(stuck)
    async with own_schema(stuck) as engine:
        group = ProcessGroup(stuck, ROOT / ".local" / "test-logs" / "stuck")
        worker = group.start("worker")
        group.start("projector")
        pipeline = await connect(stuck, engine, group)
        try:
            answer = asyncio.ensure_future(pipeline.request(create_product("stuck", 2)))
            await eventually(worker.alive, lambda alive: not alive, within=60, what="worker exit")
            assert worker.popen.returncode == exit_codes.GAVE_UP
            assert not answer.done()
            assert await dead_letters(stuck) == 0

            group.start("worker", INJECT_FAULTS="")  # the cause is gone
            reply = await answer
            assert reply.data.ok, reply.data
            table = await pipeline.stock_table()
            assert table["stuck"]["available"] == 2
            await pipeline.assert_invariants(["stuck"])
            assert await dead_letters(stuck) == 0
        finally:
            await stop_pipeline(pipeline)
