"""Every command of an owned partition is applied once, in offset order, none skipped.

The worker commits, with each batch, the offset after the last command it applied
(agents.transactions). That is only right if it applied every command before it, and
faust's stream does not promise that: around a rebalance it drops records it fetched
while its flow control was suspended or under an older generation, expecting its own
offset tracking to hold the commit back and a later seek to deliver them again. Seen
in the fencing test: 16 reservations skipped, the next ones applied and committed past
them. And after its seek to the committed offsets it may deliver a record twice.

So the guard keeps, for every owned partition, the offset it expects next (the committed
one when the partition was assigned, since the new owner fenced every other writer
first). A record below it was applied already and is dropped. A record above it leaves
a gap that is either harmless - commit markers and aborted records take offsets too,
which is common on the command topics the worker itself writes to - or records faust
dropped. One fetch from the expected offset tells which: when the first record there is
the one in hand, the gap holds no record; otherwise faust's consumer is sent back to the
expected offset and the record in hand is dropped, to come again in order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

log = logging.getLogger(__name__)

# After a seek back, records ahead of the expected one are dropped unchecked for this long
# (they are the stale ones still on their way); then the gap is checked again.
RECHECK_SECONDS = 1.0

Seek = Callable[[TopicPartition, int], Awaitable[None]]


# (partition, offset) -> the offset of the first committed record at or after it, if any
FirstRecordAt = Callable[[TopicPartition, int], Awaitable[int | None]]


class OffsetGuard:
    """Admits each command record of the owned partitions exactly once, in order. The
    rule; the Kafka reads it needs are `KafkaOffsets`'."""

    def __init__(
        self, first_record_at: FirstRecordAt, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._first_record_at = first_record_at
        self._clock = clock
        self._expected: dict[TopicPartition, int] = {}
        # partition -> when the guard last sent faust's consumer back to its expected offset
        self._rewound: dict[TopicPartition, float] = {}
        # partition -> its expected offset at the last check_stalled
        self._last_seen: dict[TopicPartition, int] = {}
        # partition -> (expected, fetched position) found to hold no record in between
        self._cleared: dict[TopicPartition, tuple[int, int]] = {}

    def reset(self, expected: dict[TopicPartition, int]) -> None:
        """Expect these offsets next (the committed ones, read after the fence)."""
        self._expected, self._rewound = dict(expected), {}
        self._last_seen, self._cleared = {}, {}

    def flow_stopped(self) -> None:
        """faust delivers no record while its flow is stopped (a rebalance, a table
        recovery), so none is late then: forget the last look, and count a stall again
        from the first look after the flow resumes. Looking meanwhile found "fetched but
        not delivered" on every partition of a worker recovering for seconds, and sent
        its consumer back once a second until the recovery ended (a takeover under load
        in `make bench-reserve-products`; the fault campaign, inside a rebalance)."""
        self._last_seen = {}

    async def check_stalled(
        self, position: Callable[[TopicPartition], Awaitable[int | None]], seek: Seek
    ) -> None:
        """Called every few seconds: a partition whose expected offset has not moved since
        the last call while the consumer has fetched past it (`position`: its fetch
        position or the end offset it last saw, whichever is further) lost its next record
        with no later one to show the gap (a dropped last record), or stopped fetching
        after a seek back. Send the consumer back for it.
        A false alarm (the agent busy with other partitions) costs a refetch of records
        the guard then drops as repeats."""
        for tp, expected in list(self._expected.items()):
            stalled = self._last_seen.get(tp) == expected
            self._last_seen[tp] = expected
            if not stalled:
                continue
            fetched_to = await position(tp)
            if fetched_to is None or fetched_to <= expected:
                continue  # nothing more on the partition: idle, not stalled
            if self._cleared.get(tp) == (expected, fetched_to):
                continue  # looked already: only markers between the two
            first = await self._first_record_at(tp, expected)
            if first is None or first >= fetched_to:
                self._cleared[tp] = (expected, fetched_to)
                continue
            if self._expected.get(tp) == expected:  # not applied meanwhile
                log.warning(
                    "%s[%s]: record %s fetched but not delivered; going back for it",
                    tp.topic,
                    tp.partition,
                    first,
                )
                await self._go_back(tp, first, seek)

    async def admit(self, topic: str, partition: int, offset: int, seek: Seek) -> bool:
        """True when the record at `offset` is the next to apply; then it is expected done.
        False when it must be dropped (a repeat, or ahead of records not yet delivered)."""
        tp = TopicPartition(topic, partition)
        expected = self._expected.get(tp)
        if expected is None or offset == expected:
            self._expected[tp] = offset + 1
            self._rewound.pop(tp, None)
            return True
        if offset < expected:
            log.debug("%s[%s]@%s delivered again; already applied", topic, partition, offset)
            return False
        rewound = self._rewound.get(tp)
        if rewound is not None and self._clock() - rewound < RECHECK_SECONDS:
            return False  # a stale record: the ones sent back for are on their way
        first = await self._first_record_at(tp, expected)
        if first == offset:  # only markers or aborted records in between
            self._expected[tp] = offset + 1
            return True
        log.warning(
            "%s[%s]: records %s..%s were not delivered before %s; going back for them",
            topic,
            partition,
            expected,
            offset - 1,
            offset,
        )
        await self._go_back(tp, first if first is not None else expected, seek)
        return False

    async def _go_back(self, tp: TopicPartition, first: int, seek: Seek) -> None:
        """Send the consumer back to `first`, the first record at or after the expected
        offset, and expect it: whatever lies between holds no record (commit markers,
        aborted records). Expecting a marker instead, the first record the seek brings
        would pass for a stale one and be dropped on every seek (the fault campaign's
        first find: a new owner whose committed offset was a marker never moved on)."""
        self._expected[tp] = first
        await seek(tp, first)
        self._rewound[tp] = self._clock()


class KafkaOffsets:
    """The reads the guard needs: committed offsets of the group, first records."""

    def __init__(self, bootstrap_servers: list[str], group_id: str) -> None:
        self._bootstrap = bootstrap_servers
        self._group = group_id
        self._reader: AIOKafkaConsumer | None = None
        self._asking = asyncio.Lock()

    async def committed(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        """Each partition's committed offset in the group, its first offset if none."""
        wanted = [TopicPartition(tp.topic, tp.partition) for tp in partitions]
        if not wanted:
            return {}
        admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap)
        await admin.start()
        try:
            committed = await admin.list_consumer_group_offsets(self._group)
        finally:
            await admin.close()
        firsts = await (await self._started_reader()).beginning_offsets(wanted)
        found = {}
        for tp in wanted:
            meta = committed.get(tp)
            found[tp] = meta.offset if meta is not None and meta.offset >= 0 else firsts[tp]
        return found

    async def end_offset(self, tp: TopicPartition) -> int:
        """The partition's end as a read_committed reader sees it (its last stable
        offset): where the records a consumer may read end."""
        async with self._asking:
            reader = await self._started_reader()
            ends = await reader.end_offsets([tp])
            return int(ends[tp])

    async def first_record_at(self, tp: TopicPartition, offset: int) -> int | None:
        # One reader, asked by the agent and by the stall check: one question at a time.
        async with self._asking:
            reader = await self._started_reader()
            reader.assign([tp])
            reader.seek(tp, offset)
            batch = await reader.getmany(tp, timeout_ms=500, max_records=1)
            records = batch.get(tp, [])
            return records[0].offset if records else None

    async def _started_reader(self) -> AIOKafkaConsumer:
        if self._reader is None:
            self._reader = AIOKafkaConsumer(
                bootstrap_servers=self._bootstrap,
                group_id=None,
                enable_auto_commit=False,
                isolation_level="read_committed",
            )
            await self._reader.start()
        return self._reader
