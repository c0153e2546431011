"""A running pipeline for tests: real worker and projector processes on the run's topics,
a real CommandBus to talk to them, and the invariant checks every scenario ends with."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from agents.app import RESERVATION_PREFIX
from agents.domain import stock as stock_rules
from api.bus import CommandBus
from inventory.kafka_admin import create_topics, wait_for_topics
from inventory.projector import projections
from inventory.settings import Settings
from storage.engine import create_engine, quote_identifier
from storage.migrate import migrate
from storage.queries import get_product, stock_invariant_violations
from tests.support.processes import ROOT, ProcessGroup
from tests.support.waiting import eventually
from topics.messages import CreateProduct, CreateProductData, Reply
from topics.names import (
    INVENTORY_COMMANDS,
    ORDERS_COMMANDS,
    STOCK_TABLE,
    changelog_of,
    prefixed,
)

COMMAND_TOPICS = {"inventory": INVENTORY_COMMANDS, "orders": ORDERS_COMMANDS}


@dataclass
class Pipeline:
    settings: Settings
    engine: AsyncEngine
    processes: ProcessGroup
    bus: CommandBus
    producer: AIOKafkaProducer

    def topic(self, logical: str) -> str:
        return prefixed(self.settings.topic_prefix, logical)

    async def request(self, command: Any, *, partition: int | None = None) -> Reply:
        """Send a command to its topic (by the command's family) and await the reply; to
        `partition` instead of its key's if given."""
        logical = (
            INVENTORY_COMMANDS
            if command.type.split(".")[0] in ("product", "stock", "reservation")
            else ORDERS_COMMANDS
        )
        return await self.bus.request(self.topic(logical), command, partition=partition)

    async def request_until_answered(
        self, command: Any, retried: set[str] | None = None, attempts: int = 20
    ) -> Reply:
        """What a careful client does: send the same command (same id) again after each
        timeout until it is answered; the ids it had to resend are added to `retried`."""
        for _ in range(attempts):
            try:
                return await self.request(command)
            except TimeoutError:
                if retried is not None:
                    retried.add(command.id)
        raise AssertionError(f"{command.id} not answered after {attempts} attempts")

    async def send_raw(
        self,
        logical: str,
        key: bytes | None,
        value: bytes,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        """Post bytes straight to a topic, as an outside producer would."""
        await self.producer.send_and_wait(
            self.topic(logical), value=value, key=key, headers=headers
        )

    async def create_product(self, product_id: str, stock: int, price: str = "10.00") -> Reply:
        reply = await self.request(
            CreateProduct(
                key=product_id,
                data=CreateProductData(
                    product_id=product_id,
                    name=f"Product {product_id}",
                    price=price,
                    initial_stock=stock,
                ),
            )
        )
        assert reply.data.ok, reply.data
        return reply

    async def settled(self, within: float = 30.0) -> None:
        """Wait until every projection has committed all of its topics (lag 0): the read
        models then hold every event written so far."""

        async def lag() -> int:
            return sum(
                [
                    await self.bus.consumer_lag(p.group, list(p.decoders))
                    for p in projections(self.settings)
                ]
            )

        await eventually(lag, lambda n: n == 0, within=within, what="projections caught up")

    async def stock_table(self) -> dict[str, dict[str, Any]]:
        """The worker's `stock` table as its changelog topic holds it (latest value per key)."""
        changelog = changelog_of(self.settings.app_id, STOCK_TABLE)
        rows = await read_compacted(self.settings, changelog)
        products = {k: dict(v) for k, v in rows.items() if not k.startswith("\x00")}
        # Active reservations are rows of their own beside the product's row.
        for key, held in rows.items():
            if key.startswith(RESERVATION_PREFIX):
                product_id, _, reservation_id = key[len(RESERVATION_PREFIX) :].partition(":")
                products[product_id]["active"][reservation_id] = held
        return products

    async def assert_invariants(self, product_ids: list[str] | None = None) -> None:
        """Invariant 1 in the table and in the read model (once it has caught up)."""
        table = await self.stock_table()
        ids = product_ids if product_ids is not None else list(table)
        for product_id in ids:
            assert product_id in table, f"{product_id} missing from the stock table"
            stock = stock_rules.from_dict(table[product_id])
            assert stock_rules.invariant_violations(stock) == [], (product_id, stock)
            await eventually(
                lambda pid=product_id: get_product(self.engine, pid),
                lambda row, v=stock.version: row is not None and row["version"] >= v,
                what=f"read model of {product_id} at version {stock.version}",
            )
        assert await stock_invariant_violations(self.engine) == []


async def _from_start(
    settings: Settings, topic: str, isolation_level: str = "read_committed"
) -> AIOKafkaConsumer:
    """A started consumer of every partition of `topic`, from offset 0, in no group,
    reading by default what the pipeline's readers read: committed transactions only."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap_list,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level=isolation_level,
    )
    await consumer.start()
    return consumer


async def collect(
    settings: Settings,
    topic: str,
    accept: Any,
    *,
    within: float = 15.0,
) -> list[Any]:
    """Read `topic` from the start until `accept(records)` is true; return the records.
    Fails with what it saw when the deadline passes."""
    consumer = await _from_start(settings, topic)
    seen: list[Any] = []
    try:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                seen.extend(records)
            if accept(seen):
                return seen
        raise AssertionError(f"{topic}: condition not met in {within}s; saw {len(seen)} records")
    finally:
        await consumer.stop()


async def end_offsets(settings: Settings, topic: str) -> dict[TopicPartition, int]:
    """The end offset of every partition of `topic` (which must exist) as a read_committed
    reader sees it (the last stable offset). Commit markers take offsets: to count
    records, use `read_to_end`."""
    # Without a group, a subscribed consumer is assigned every partition on start.
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=settings.kafka_bootstrap_list, isolation_level="read_committed"
    )
    await consumer.start()
    try:
        return await consumer.end_offsets(list(consumer.assignment()))
    finally:
        await consumer.stop()


async def read_to_end(
    settings: Settings, topic: str, *, aborted_too: bool = False
) -> list[ConsumerRecord[Any, Any]]:
    """Every committed record of `topic` up to its end now (with `aborted_too`, the
    records of aborted transactions as well), in offset order within each partition. The
    end is reached by position, not by the last record's offset: the commit marker of
    the last transaction takes an offset no record has."""
    isolation = "read_uncommitted" if aborted_too else "read_committed"
    consumer = await _from_start(settings, topic, isolation)
    try:
        await eventually(consumer.assignment, bool, within=10, what=f"{topic} assigned")
        ends = await consumer.end_offsets(list(consumer.assignment()))
        found: list[ConsumerRecord[Any, Any]] = []
        pending = {tp for tp, end in ends.items() if end > 0}
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=500)
            for records in batches.values():
                found.extend(records)
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
        return found
    finally:
        await consumer.stop()


async def read_log(settings: Settings, topic: str) -> list[tuple[int, int, Any, Any]]:
    """Every record of a faust changelog topic as (partition, offset, key, value), JSON
    decoded (value None for a deletion), in offset order within each partition."""
    return [
        (
            record.partition,
            record.offset,
            json.loads(record.key),
            None if record.value is None else json.loads(record.value),
        )
        for record in await read_to_end(settings, topic)
    ]


async def read_compacted(settings: Settings, topic: str) -> dict[str, Any]:
    """Read a faust changelog topic from the start to its end; JSON keys and values."""
    values: dict[str, Any] = {}
    for _partition, _offset, key, value in await read_log(settings, topic):
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value
    return values


async def connect(settings: Settings, engine: AsyncEngine, group: ProcessGroup) -> Pipeline:
    """A bus and a raw producer on `settings`, beside processes started by the caller."""
    bus = CommandBus(settings)
    await bus.start()
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_list, acks="all")
    await producer.start()
    return Pipeline(settings, engine, group, bus, producer)


async def create_ready_topics(settings: Settings) -> None:
    """Every pipeline topic of `settings`, and their metadata on the broker: as every
    process does, wait for it before use (a bus once found a topic it had just created
    "missing", under load)."""
    await create_topics(settings)
    await wait_for_topics(settings)


async def start_pipeline(settings: Settings, engine: AsyncEngine, log_name: str) -> Pipeline:
    """Topics, a worker and a projector for `settings`; returns once the worker answers."""
    await create_ready_topics(settings)
    group = ProcessGroup(settings, ROOT / ".local" / "test-logs" / log_name)
    group.start("worker")
    group.start("projector")
    pipeline = await connect(settings, engine, group)
    deadline = time.monotonic() + 120
    while True:
        try:
            # A fresh product per attempt: an earlier attempt may still be applied late.
            await pipeline.create_product(f"probe-{time.time_ns()}", 1)
            return pipeline
        except TimeoutError:
            dead = [p for p in group.processes if not p.alive()]
            if dead or time.monotonic() > deadline:
                await stop_pipeline(pipeline)
                logs = "\n".join(f"--- {p.role}\n{p.tail()}" for p in group.processes)
                raise RuntimeError(f"pipeline did not start:\n{logs}") from None


async def stop_pipeline(pipeline: Pipeline) -> None:
    await pipeline.bus.stop()
    await pipeline.producer.stop()
    pipeline.processes.stop_all()


_ISOLATED_NAMES: set[str] = set()


def isolated(settings: Settings, name: str, **overrides: Any) -> Settings:
    """The run's settings with topics, app id and schema of their own (suffix `name`),
    for tests that must not share the main pipeline or its rows. Each name once per run:
    two tests with one name would read each other's messages and rows."""
    if name in _ISOLATED_NAMES:
        raise ValueError(f"isolated name {name!r} is already used in this test run")
    _ISOLATED_NAMES.add(name)
    return settings.model_copy(
        update={
            "topic_prefix": f"{settings.topic_prefix.rstrip('.')}{name}.",
            "database_schema": f"{settings.database_schema}_{name}",
            **overrides,
        }
    )


@asynccontextmanager
async def own_schema(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """An engine on `settings.database_schema`, migrated, dropped again afterwards."""
    engine = create_engine(settings)
    await migrate(engine, settings.database_schema)
    try:
        yield engine
    finally:
        async with engine.begin() as conn:
            await conn.execute(
                text(f"DROP SCHEMA IF EXISTS {quote_identifier(settings.database_schema)} CASCADE")
            )
        await engine.dispose()


@asynccontextmanager
async def own_pipeline(settings: Settings) -> AsyncIterator[Pipeline]:
    """A worker and projector on `settings` (see `isolated`), with its own schema."""
    async with own_schema(settings) as engine:
        log_name = settings.topic_prefix.rstrip(".")
        running = await start_pipeline(settings, engine, log_name)
        try:
            yield running
        finally:
            await stop_pipeline(running)
