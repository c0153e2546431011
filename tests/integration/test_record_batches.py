"""A transaction's records handed to Kafka as whole record batches (agents.record_batches):
they arrive where `send` would have put them, in order, with their headers; each
record's future holds its real offset and timestamp; batches fill up to the producer's
batch size and ship while records are still added; and they commit and abort with
their transaction (aiokafka's `send_batch` registers the partition in it)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from agents.record_batches import RecordBatches
from inventory.settings import Settings
from tests.support.ids import unique
from tests.support.pipeline import read_to_end
from topics.partitioning import partition_for

pytestmark = pytest.mark.integration

PARTITIONS = 3


@pytest.fixture
async def topic(settings: Settings) -> AsyncIterator[str]:
    name = f"{settings.topic_prefix}{unique('batches')}"
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_list)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, PARTITIONS, 1)])
        yield name
        await admin.delete_topics([name])
    finally:
        await admin.close()


@pytest.fixture
async def producer(settings: Settings) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_list,
        transactional_id=unique("batches-txn"),
        # Small batches: a few records fill one, so the size bound is crossed often.
        max_batch_size=2048,
    )
    await producer.start()
    yield producer
    await producer.stop()


def record(i: int) -> dict[str, Any]:
    """The i-th record of a test: every third one keyed and without a partition, every
    fourth with headers, every fifth a tombstone, sizes from ~10 bytes to ~1 KB."""
    keyed = i % 3 == 0
    return {
        "key": f"entity-{i % 17}".encode() if keyed else f"k{i}".encode(),
        "value": None if i % 5 == 0 else f"v{i}:".encode() + b"x" * (i * 37 % 1000),
        "partition": None if keyed else i % PARTITIONS,
        "headers": [("signature", f"sig-{i}".encode()), ("n", b"")] if i % 4 == 0 else None,
    }


async def test_batched_records_arrive_in_order_where_send_puts_them_with_their_metadata(
    settings: Settings, topic: str, producer: AIOKafkaProducer
) -> None:
    records = [record(i) for i in range(300)]
    await producer.begin_transaction()
    batches = RecordBatches(producer)
    futures = []
    for r in records:
        futures.append(await batches.add(topic, r["key"], r["value"], **_where(r)))
    shipped_while_adding = len(batches.shipped)
    await batches.delivered()
    await producer.commit_transaction()

    # ~150 KB in 2 KiB batches: most of them left while records were still added.
    assert shipped_while_adding >= 3 * PARTITIONS
    found = await read_to_end(settings, topic)
    assert len(found) == len(records)
    by_partition: dict[int, list[Any]] = defaultdict(list)
    for consumed in found:
        by_partition[consumed.partition].append(consumed)
    sent_to: dict[int, list[int]] = defaultdict(list)
    for i, (r, future) in enumerate(zip(records, futures, strict=True)):
        metadata = future.result()
        expected = r["partition"]
        if expected is None:  # Kafka's default partitioner, as for any keyed producer
            expected = partition_for(r["key"].decode(), PARTITIONS)
        assert metadata.partition == expected
        sent_to[metadata.partition].append(i)
    for partition, indices in sent_to.items():
        consumed_records = by_partition[partition]
        assert len(consumed_records) == len(indices)
        for i, consumed in zip(indices, consumed_records, strict=True):  # in order
            r, metadata = records[i], futures[i].result()
            assert (consumed.key, consumed.value) == (r["key"], r["value"])
            assert list(consumed.headers) == (r["headers"] or [])
            assert (metadata.offset, metadata.timestamp) == (consumed.offset, consumed.timestamp)


async def test_batched_records_commit_and_abort_with_their_transaction(
    settings: Settings, topic: str, producer: AIOKafkaProducer
) -> None:
    async def transaction(tag: str, commit: bool) -> None:
        await producer.begin_transaction()
        batches = RecordBatches(producer)
        for i in range(60):
            r = record(i)
            await batches.add(topic, r["key"], f"{tag}-{i}".encode(), **_where(r))
        await batches.delivered()  # on the broker, as `abandon` leaves them
        if commit:
            await producer.commit_transaction()
        else:
            await producer.abort_transaction()

    await transaction("aborted", commit=False)
    await transaction("committed", commit=True)

    committed = await read_to_end(settings, topic)
    everything = await read_to_end(settings, topic, aborted_too=True)
    expected = sorted(f"committed-{i}".encode() for i in range(60))
    assert sorted(r.value for r in committed) == expected
    assert len(everything) == 120, "the aborted records reached the broker"
    # Every partition written took part in both transactions: each has its markers.
    assert {r.partition for r in committed} == set(range(PARTITIONS))


def _where(r: dict[str, Any]) -> dict[str, Any]:
    return {"partition": r["partition"], "headers": r["headers"]}
