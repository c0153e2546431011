"""Command records from faust's fetcher to the command loop, a fetch at a time.

faust hands every record to its agents one by one: its fetcher awaits each delivery
through four tasks (mode's `wait_first`), the conductor finds the record's channels,
the channel wraps it in an Event and queues it, and the stream takes it out again,
sets it as the current event and acks it. Measured alone that is ~0.12 ms of CPU a
record on this machine (`make bench-floor`), a quarter of what the worker spent on a
reservation. The worker needs none of it for its command topics: it decodes the bytes
itself, commits their offsets in its own transactions (the topics are acks=False) and
applies each partition's records in order.

So faust's fetcher (`drain_in_batches`, installed by agents.faust_patches) puts the
command records of each fetch into the app's CommandFeed in one go, and the command
loop (agents.worker) takes them from there. Every other record - the tables'
changelogs, read in recovery - takes faust's path as before. faust still assigns the
partitions, pauses, resumes and seeks them (its `getmany` still decides which fetched
records are handed on at all: none while the flow is stopped for a rebalance, none of
an older group generation), recovers the tables and runs the timers: only the
hand-over changed.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from faust.streams import _current_event

log = logging.getLogger(__name__)

# The app attribute the patched fetcher looks for; an app without one (any other faust
# app in the process, bench/floor_app.py) keeps faust's own delivery.
FEED_ATTRIBUTE = "inventory_command_feed"

# Loop turns the fetcher needs to hand over records it already holds (its getmany is a
# thread hop away from aiokafka's buffer): how long the command loop waits for more
# before it ends a batch.
FETCHER_TURNS = 3


class CommandRecord:
    """One command record as the command loop and the tables use it: what faust's Event
    offered them (`key`, `value`, `headers` as a dict, `message`), nothing more. It is
    the "current event" while it is applied, so that faust's tables (and ours) write
    and read in its partition."""

    __slots__ = ("headers", "key", "message", "value", "__weakref__")

    def __init__(self, message: Any) -> None:
        self.message = message
        self.key = message.key
        self.value = message.value
        headers = message.headers
        self.headers: dict[str, bytes] = dict(headers) if headers else {}

    def make_current(self) -> None:
        """The event faust's `current_event()` returns in this task from now on (the
        tables ask it for the partition a write belongs to)."""
        _current_event.set(weakref.ref(self))  # type: ignore[arg-type]  # duck-typed Event


class CommandFeed:
    """Fetched command records waiting for the command loop, in fetch order.

    Bounded: past `limit` records the fetcher waits for room, as it would on a full
    faust stream buffer, so a slow worker does not pull a whole topic into memory.

    `on_dropped` is told of every record fetched but never applied (dropped by `clear`,
    or by the command loop through `dropped`): faust's sensor counts a record in flight
    from its fetch until it is done with, and would count these for ever."""

    def __init__(
        self,
        topics: Iterable[str],
        limit: int,
        on_dropped: Callable[[Any], None] | None = None,
    ) -> None:
        self.topics = frozenset(topics)
        self.limit = limit
        self._on_dropped = on_dropped
        self._records: deque[Any] = deque()
        self._ready = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        # Bumped by `clear`: records taken before it are no longer to be applied.
        self.generation = 0

    def __len__(self) -> int:
        return len(self._records)

    def put(self, message: Any) -> None:
        self._records.append(message)
        if len(self._records) >= self.limit:
            self._room.clear()
        self._ready.set()

    async def wait_for_room(self) -> None:
        await self._room.wait()

    @property
    def full(self) -> bool:
        return not self._room.is_set()

    async def take(self) -> tuple[int, list[Any]]:
        """Every record waiting (at least one: waits for it), with the generation they
        belong to: once `generation` has moved on, the rest of them is not to be applied."""
        while not self._records:
            self._ready.clear()
            await self._ready.wait()
        records = list(self._records)
        self._records.clear()
        self._ready.clear()
        self._room.set()
        return self.generation, records

    def clear(self) -> None:
        """Drop what is waiting, and what was taken but not applied yet (a rebalance:
        faust seeks every partition it assigns back to its committed offset, so these
        records come again to whoever owns them then)."""
        self.dropped(self._records)
        self._records.clear()
        self._ready.clear()
        self._room.set()
        self.generation += 1

    def dropped(self, records: Iterable[Any]) -> None:
        """Records taken from the feed that will not be applied (a rebalance since)."""
        if self._on_dropped is not None:
            for message in records:
                self._on_dropped(message)

    async def more_coming(self) -> bool:
        """Whether a record is waiting, or the fetcher is handing one over: the command
        loop never yields while it applies a batch, so the fetcher moves records only
        while the loop waits, and an empty feed alone would end a batch whenever the loop
        caught up with the fetcher rather than when the partitions are drained."""
        for _ in range(FETCHER_TURNS):
            if self._records:
                return True
            await asyncio.sleep(0)
        return bool(self._records)


async def drain_in_batches(
    consumer: Any,
    fetcher: Any,
    feed: CommandFeed,
) -> None:
    """faust's fetcher loop (`Consumer._drain_messages`) with command records put into
    `feed` rather than delivered one by one, and changelog records delivered without
    faust's race against a flow suspension when nothing on their way can wait. Runs
    until the consumer or the fetcher stops; errors end it as they end faust's."""
    callback: Callable[[Any], Awaitable[Any]] = consumer.callback
    sensors = consumer.app.sensors
    changelogs = consumer.app.tables._changelogs  # topic name -> table, kept up to date
    changelog_queue = consumer.app.tables.changelog_queue
    flow_control = consumer.app.flow_control
    subscription_lock = consumer.app.topics._tp_to_callback_lock
    consumer_stopped = consumer._stopped.is_set
    fetcher_stopped = fetcher._stopped.is_set
    commit_every = consumer._commit_every
    topics = feed.topics
    try:
        while not (consumer_stopped() or fetcher_stopped()):
            # getmany may return at once many times over: let the loop run between.
            await consumer.sleep(0)
            if consumer.should_stop:
                continue
            async for tp, message in consumer.getmany(timeout=1.0):
                if tp.topic in topics:
                    sensors.on_message_in(tp, message.offset, message)
                    feed.put(message)
                    if feed.full:
                        await consumer.wait_first(feed.wait_for_room(), consumer.suspend_flow)
                    continue
                # faust's own path for everything else (changelogs in recovery).
                if commit_every is not None and consumer._n_acked >= commit_every:
                    consumer._n_acked = 0
                    await consumer.commit()
                if (
                    tp.topic in changelogs
                    and flow_control.is_active()
                    and not changelog_queue.full()
                    and not subscription_lock.locked()
                ):
                    # Nothing on a changelog record's way can wait now (the conductor's
                    # lock, the queue's flow control and room), so its delivery ends in
                    # this turn of the loop. faust races every delivery against a flow
                    # suspension instead, four tasks a record: with standby replicas,
                    # four changelog records a reservation in the other workers.
                    await callback(message)
                else:
                    await consumer.wait_first(callback(message), consumer.suspend_flow)
    except consumer.consumer_stopped_errors:
        if consumer.transport.app.should_stop:
            log.info("broker stopped the consumer, shutting down")
            return
        raise
    except asyncio.CancelledError:
        if consumer.transport.app.should_stop:
            return
        raise
