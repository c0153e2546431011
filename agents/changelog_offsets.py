"""Reading a changelog back from Kafka, where commit markers take offsets: only what
committed transactions wrote, as a table's recovery reads it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.types import TP


@contextlib.asynccontextmanager
async def committed_reader(bootstrap_servers: list[str]) -> AsyncIterator[AIOKafkaConsumer]:
    """A started consumer of committed records only, in no group (it assigns its
    partitions itself and commits nothing), stopped on leaving."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


async def last_record_offsets(bootstrap_servers: list[str], ends: dict[TP, int]) -> dict[TP, int]:
    """For each partition, the offset of the last committed record before `ends[tp]`, or
    -1 when there is none. Reads back a window from the end, widening it until it finds a
    record: a tail of markers is short (one per transaction), unless many transactions
    in a row were aborted."""
    async with committed_reader(bootstrap_servers) as consumer:
        found: dict[TP, int] = {}
        for tp, end in ends.items():
            partition = TopicPartition(tp.topic, tp.partition)
            consumer.assign([partition])
            window, last = 16, -1
            while True:
                start = max(0, end - window)
                consumer.seek(partition, start)
                while await consumer.position(partition) < end:
                    batch = await consumer.getmany(partition, timeout_ms=1000)
                    for record in batch.get(partition, []):
                        if record.offset < end:
                            last = max(last, record.offset)
                if last >= 0 or start == 0:
                    break
                window *= 16
            found[tp] = last
        return found
