"""Records into Kafka a record batch at a time, not one `send` at a time.

`AIOKafkaProducer.send` costs ~30 us of CPU per record, delivery included (a metadata
wait, the partitioner, the accumulator's lookups and a future, all through coroutines,
then the sender's requests of 16 KiB batches), and a reservation writes nine records:
~0.4 ms of the worker's CPU per reservation went there. This way costs ~10 us a record
(both measured alone: 1 KB records, 4,500 to a transaction).

`RecordBatches` appends each record straight into a record batch of its topic-partition
(aiokafka's `BatchBuilder`, the same Cython builder `send` fills) and hands the
producer whole, closed batches with `send_batch`: one as soon as it is full, the rest
when the caller flushes (before its transaction commits). Each record still gets a
future, resolved with its own RecordMetadata once its batch is delivered: offset = the
batch's base offset + the record's index in it.

A record without a partition goes where `send` would have put it: Kafka's default
partitioner (murmur2 of the key, topics.partitioning.partition_for; a random partition
for no key), over the partitions the producer's metadata knows for the topic.

Transactions: `send_batch` registers the partition in the producer's open transaction
as `send` does (aiokafka 0.14: `MessageAccumulator.add_batch` -> `_append_batch` ->
`TransactionManager.maybe_add_partition_to_txn`), and aiokafka's sender mutes the
partition until the coordinator has added it; tests/integration/test_record_batches.py
checks that such records commit and abort with their transaction.

One instance holds one producer's records between two flushes (in the worker: one
transaction). Its calls are not meant to run concurrently: records of one
topic-partition keep the order of the `add` calls that added them.
"""

from __future__ import annotations

import asyncio
import functools
import random
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.structs import RecordMetadata

from topics.partitioning import partition_of

# The producer's max_batch_size, which bounds the batches `create_batch()` builds. A
# reservation's records are ~0.05-2 KB, so a batch of 500 reservations puts up to ~1 MB
# on one topic-partition (the replies; the stock changelog's applied entries): at
# 256 KiB that is a few batches, the first of which ship while the commands are still
# being processed. aiokafka's sender keeps one request in flight per broker and one
# batch per partition in it, so each further batch of a partition at commit costs a
# round trip: aiokafka's 16 KiB default would make that dozens. A quarter of the
# broker's message.max.bytes (1 MiB by default, checked per record batch) leaves room
# for a record that alone is bigger than a batch (it gets a batch of its own).
BATCH_BYTES = 256 * 1024


def keyed_partition(key: bytes | None, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a record keyed `key`, out of
    `partitions`: topics.partitioning.partition_for on the key's bytes; any partition
    (at random, as aiokafka does) for a record without a key."""
    if key is None:
        return random.randrange(partitions)
    return partition_of(key, partitions)


@dataclass
class _Building:
    """A record batch being filled, and the future and metadata of each of its records."""

    builder: Any  # aiokafka.producer.message_accumulator.BatchBuilder
    records: list[tuple[asyncio.Future[RecordMetadata], Any]] = field(default_factory=list)


class RecordBatches:
    """One producer's records since the last flush, in record batches per topic-partition."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer
        self._building: dict[tuple[str, int], _Building] = {}
        self._partitions: dict[str, int] = {}  # partition count per topic, as first seen
        self._loop = asyncio.get_running_loop()
        # One future per batch handed over (its base offset once delivered).
        self.shipped: list[asyncio.Future[Any]] = []

    async def add(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        *,
        partition: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future[RecordMetadata]:
        """Append a record to its topic-partition's batch. Returns a future of its
        RecordMetadata, set once its batch is delivered (after a `flush` at the latest).
        Raises what the producer raises for a batch handed over now (a full one), and
        ValueError for a partition the topic does not have."""
        if partition is None:
            partition = keyed_partition(key, await self._partition_count(topic))
        building = self._building.get((topic, partition))
        if building is None:
            building = await self._start(topic, partition)
        future: asyncio.Future[RecordMetadata] = self._loop.create_future()
        metadata = building.builder.append(
            timestamp=None, key=key, value=value, headers=headers or []
        )
        if metadata is None:  # full: this record opens the next batch of the partition
            full, building = building, self._new_batch(topic, partition)
            metadata = building.builder.append(
                timestamp=None, key=key, value=value, headers=headers or []
            )
            building.records.append((future, metadata))
            await self._ship(topic, partition, full)
        else:
            building.records.append((future, metadata))
        return future

    async def flush(self) -> None:
        """Hand every batch still being filled to the producer. The records are then the
        producer's: `delivered()` waits for them."""
        building, self._building = self._building, {}
        for (topic, partition), batch in building.items():
            await self._ship(topic, partition, batch)

    async def delivered(self) -> None:
        """Flush, then wait until every record handed over is on the broker; raises the
        first delivery's error."""
        await self.flush()
        if self.shipped:
            await asyncio.gather(*self.shipped)

    async def _partition_count(self, topic: str) -> int:
        count = self._partitions.get(topic)
        if count is None:
            count = self._partitions[topic] = len(await self._producer.partitions_for(topic))
        return count

    async def _start(self, topic: str, partition: int) -> _Building:
        # Checked once per topic-partition and flush, where `send` checked every record.
        if partition not in await self._producer.partitions_for(topic):
            raise ValueError(f"{topic} has no partition {partition}")
        return self._new_batch(topic, partition)

    def _new_batch(self, topic: str, partition: int) -> _Building:
        building = self._building[(topic, partition)] = _Building(self._producer.create_batch())
        return building

    async def _ship(self, topic: str, partition: int, batch: _Building) -> None:
        if self._building.get((topic, partition)) is batch:
            del self._building[(topic, partition)]
        # Closed, the batch is complete: the accumulator ships it at its sender's next
        # turn, without a linger.
        batch.builder.close()
        delivery = await self._producer.send_batch(batch.builder, topic, partition=partition)
        delivery.add_done_callback(functools.partial(_resolve, batch.records))
        self.shipped.append(delivery)


def _resolve(
    records: list[tuple[asyncio.Future[RecordMetadata], Any]], delivery: asyncio.Future[Any]
) -> None:
    """Give each record of a delivered batch its own metadata (what `send`'s futures
    hold, but with each record's timestamp where aiokafka repeats the first one's)."""
    if delivery.cancelled():
        for future, _ in records:
            future.cancel()
        return
    error = delivery.exception()
    if error is not None:
        for future, _ in records:
            if not future.done():
                future.set_exception(error)
        return
    batch: RecordMetadata = delivery.result()
    # -1: the topic keeps the producer's timestamps (CreateTime); else the broker's.
    broker_time = batch.timestamp if batch.timestamp not in (-1, None) else None
    for future, appended in records:
        if not future.done():
            future.set_result(
                RecordMetadata(
                    batch.topic,
                    batch.partition,
                    batch.topic_partition,
                    batch.offset + appended.offset,
                    appended.timestamp if broker_time is None else broker_time,
                    batch.timestamp_type,
                    batch.log_start_offset,
                )
            )
