"""Kafka I/O of `make bench-drain`: the queue of reservations, the replies read back, and
the record counts of a pipeline's output topics.

All of it with plain aiokafka clients in the bench's own process; nothing here decodes
a record while a processor drains (the bench shares two cores with the processor under
test, so it only counts and keeps bytes until the drain is over).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from inventory.settings import Settings
from topics.messages import ReserveStock, ReserveStockData, encode
from topics.names import (
    GATEWAY_REPLIES,
    INVENTORY_COMMANDS,
    PIPELINE_TOPICS,
    TABLES,
    changelog_of,
    decoder,
    prefixed,
)

# Producer batching for the queue: fills it fast, and the processor is not running yet.
QUEUE_LINGER_MS = 20


def output_topics(settings: Settings) -> dict[str, str]:
    """Physical name -> label of every topic a processor writes (all but its input)."""
    names = {
        prefixed(settings.topic_prefix, spec.name): spec.name
        for spec in PIPELINE_TOPICS
        if spec.name != INVENTORY_COMMANDS
    }
    for table in TABLES:
        names[changelog_of(settings.app_id, table)] = f"{table} changelog"
    return names


async def queue_reserves(
    settings: Settings, product_id: str, partition: int, count: int, reply_partition: int
) -> set[str]:
    """`count` ReserveStock of one unit each for `product_id`, on its partition of the
    command topic, answering to the pipeline's reply topic; their command ids."""
    topic = prefixed(settings.topic_prefix, INVENTORY_COMMANDS)
    replies = prefixed(settings.topic_prefix, GATEWAY_REPLIES)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_list,
        acks="all",
        enable_idempotence=True,
        linger_ms=QUEUE_LINGER_MS,
    )
    await producer.start()
    ids = set()
    try:
        sent = []
        for index in range(count):
            command = ReserveStock(
                key=product_id,
                reply_to=replies,
                reply_partition=reply_partition,
                data=ReserveStockData(
                    product_id=product_id, quantity=1, customer_id=f"customer-{index % 1000}"
                ),
            )
            ids.add(command.id)
            sent.append(
                await producer.send(
                    topic, encode(command), key=product_id.encode(), partition=partition
                )
            )
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    return ids


@dataclass
class Replies:
    """What the reply topic showed during a drain."""

    values: list[bytes] = field(default_factory=list)
    first_timestamp: float = 0.0  # record timestamp (s) of the first and last reply
    last_timestamp: float = 0.0
    first_seen: float = 0.0  # wall time (s) the bench read them
    last_seen: float = 0.0

    def problems(self, expected: set[str]) -> list[str]:
        """Replies that are not one ok per queued command (decoded now, after the drain)."""
        found: dict[str, int] = {}
        refused = []
        for raw in self.values:
            data = decoder(GATEWAY_REPLIES)(raw).data
            found[data.correlation_id] = found.get(data.correlation_id, 0) + 1
            if not data.ok:
                refused.append(f"{data.correlation_id}: {data.code} {data.message}")
        problems = refused[:5]
        missing = expected - set(found)
        if missing:
            problems.append(f"{len(missing)} queued reservations without a reply")
        twice = [k for k, n in found.items() if n > 1]
        if twice:
            problems.append(f"{len(twice)} reservations answered more than once")
        strangers = set(found) - expected
        if strangers:
            problems.append(f"{len(strangers)} replies to commands this run did not queue")
        return problems


class ReplyWatch:
    """Reads one partition of the reply topic from its end at `start()` (read_committed:
    a reply counts once its batch committed)."""

    def __init__(self, settings: Settings, partition: int) -> None:
        self._settings = settings
        self._tp = TopicPartition(prefixed(settings.topic_prefix, GATEWAY_REPLIES), partition)
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self._settings.kafka_bootstrap_list,
            group_id=None,
            enable_auto_commit=False,
            isolation_level="read_committed",
            fetch_max_wait_ms=50,
        )
        await self._consumer.start()
        self._consumer.assign([self._tp])
        await self._consumer.seek_to_end(self._tp)
        await self._consumer.position(self._tp)  # resolved now, before any reply exists

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    async def collect(
        self,
        count: int,
        deadline: float,
        check: Callable[[], None],
        on_first: Callable[[], None] | None = None,
    ) -> Replies:
        """Read until `count` replies arrived; `check()` (which raises if the processor
        died) runs between fetches, `on_first()` once the first replies are read.
        TimeoutError at `deadline` (time.monotonic())."""
        assert self._consumer is not None
        replies = Replies()
        while len(replies.values) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(replies.values)} of {count} replies in time")
            check()
            batch = await self._consumer.getmany(self._tp, timeout_ms=200)
            records = batch.get(self._tp)
            if not records:
                continue
            now = time.time()
            if not replies.values:
                replies.first_timestamp = records[0].timestamp / 1000
                replies.first_seen = now
                if on_first is not None:
                    on_first()
            replies.values.extend(r.value or b"" for r in records)
            replies.last_timestamp = records[-1].timestamp / 1000
            replies.last_seen = now
        return replies


@dataclass(frozen=True)
class TopicCount:
    records: int
    bytes: int  # keys and values
    keyed: int  # records whose key is the one asked for (the product row: one per batch)


async def count_records(settings: Settings, key: bytes) -> dict[str, TopicCount]:
    """Committed records per output topic (label -> count), read from the start to the end.
    Offsets alone would overcount: every transaction's commit marker takes one."""
    names = output_topics(settings)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_list)
    await admin.start()
    try:
        described = await admin.describe_topics(list(names))
    finally:
        await admin.close()
    tps = [TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"]]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_list,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    totals = {label: [0, 0, 0] for label in names.values()}
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        pending = {tp for tp, end in ends.items() if end > 0}
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=500)
            for tp, records in batches.items():
                total = totals[names[tp.topic]]
                for r in records:
                    total[0] += 1
                    total[1] += len(r.key or b"") + len(r.value or b"")
                    total[2] += r.key == key
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
    finally:
        await consumer.stop()
    return {label: TopicCount(*t) for label, t in totals.items()}
