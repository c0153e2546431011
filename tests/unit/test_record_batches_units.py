"""agents.record_batches without a broker: a record without a partition goes where
Kafka's default partitioner puts its key, as it did when each record was a `send`; full
batches are handed over at once, and each record's future gets its own offset. (With a
broker, and transactions: tests/integration/test_record_batches.py.)"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.structs import RecordMetadata

from agents.record_batches import RecordBatches, keyed_partition
from topics.partitioning import partition_for


def test_a_keyed_record_lands_on_its_keys_partition_as_the_default_partitioner_has_it() -> None:
    keys = ["p-1", "order-9f2c", "ünïcode", "", "x" * 200] + [f"id-{i}" for i in range(500)]
    for partitions in (1, 2, 4, 12):
        for key in keys:
            chosen = keyed_partition(key.encode(), partitions)
            assert chosen == partition_for(key, partitions)
            assert chosen == DefaultPartitioner()(key.encode(), list(range(partitions)), [])


def test_a_record_without_a_key_lands_on_some_partition_of_the_topic() -> None:
    assert {keyed_partition(None, 3) for _ in range(300)} == {0, 1, 2}


class FakeProducer:
    """What RecordBatches uses of AIOKafkaProducer: batches of 1 KiB, three partitions,
    and a log that plays the broker (each batch gets the next offsets of its partition)."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, int, Any]] = []
        self.ends: dict[int, int] = {}

    def create_batch(self) -> Any:
        return BatchBuilder(1024, 0, is_transactional=True)

    async def partitions_for(self, topic: str) -> set[int]:
        return {0, 1, 2}

    async def send_batch(self, batch: Any, topic: str, *, partition: int) -> asyncio.Future[Any]:
        assert batch.closed(), "a batch is handed over complete"
        self.batches.append((topic, partition, batch))
        base = self.ends.get(partition, 0)
        self.ends[partition] = base + batch.record_count()
        delivery: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        tp = TopicPartition(topic, partition)
        delivery.set_result(RecordMetadata(topic, partition, tp, base, -1, 0, 0))
        return delivery


async def test_full_batches_leave_at_once_and_each_record_learns_its_own_offset() -> None:
    producer = FakeProducer()
    batches = RecordBatches(producer)  # type: ignore[arg-type]  # the fake above
    futures = [
        await batches.add("t", f"k{i}".encode(), b"v" * 100, partition=i % 2) for i in range(40)
    ]
    assert len(producer.batches) >= 4, "~2 KB a partition in 1 KiB batches"
    await batches.delivered()

    for i, future in enumerate(futures):
        metadata = future.result()
        assert (metadata.partition, metadata.offset) == (i % 2, i // 2)  # in order
        assert metadata.timestamp > 0  # the record's own (the batch's says -1)
    assert not batches._building


async def test_a_partition_the_topic_does_not_have_is_refused() -> None:
    batches = RecordBatches(FakeProducer())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no partition 7"):
        await batches.add("t", b"k", b"v", partition=7)
