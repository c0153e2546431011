"""What the worker changes in faust 0.15.3, each for a reason faust has no setting for.

Applied once per process by `apply()` (agents.app.build_app), before any faust consumer
is created.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from agents.changelog_offsets import last_record_offsets
from agents.command_feed import FEED_ATTRIBUTE, drain_in_batches

# faust creates its worker consumer with fetch_max_wait_ms=1500, fixed. aiokafka does not
# fetch a partition again while records of it are still buffered, so a fetch for the
# other, idle partitions sits at the broker for up to that long while new commands
# for the busy partition wait behind it: the whole pipeline stalled ~1.6 s at a time
# (commands reached the agent 1.6 s after they were produced). A short wait keeps the
# busy partition fetched; idle partitions cost a cheap empty fetch every 100 ms.
WORKER_FETCH_MAX_WAIT_MS = 100

log = logging.getLogger(__name__)


def apply(bootstrap_servers: list[str]) -> None:
    """Patch faust's worker consumer, its delivery and table recovery (idempotent)."""
    if getattr(Recovery, "_inventory_patched", False):
        return
    _patch_worker_consumer()
    _patch_fetch_active_only()
    _patch_recovery_end(bootstrap_servers)
    _patch_read_offsets()
    _patch_batch_delivery()
    Recovery._inventory_patched = True  # type: ignore[attr-defined]  # our marker


def _patch_worker_consumer() -> None:
    """A short fetch wait (above), and read_committed: the worker's tables are rebuilt
    from changelogs that only committed transactions may feed (agents.transactions); a
    fenced worker's aborted writes must never come back as state. faust reads committed
    only under its own exactly_once mode, which the worker does not use."""
    thread_cls = faust_aiokafka.AIOKafkaConsumerThread
    create = thread_cls._create_worker_consumer

    def create_worker_consumer(self: Any, transport: Any) -> Any:
        consumer = create(self, transport)
        # Both are read by AIOKafkaConsumer.start(), which runs after this.
        consumer._fetch_max_wait_ms = WORKER_FETCH_MAX_WAIT_MS
        consumer._isolation_level = "read_committed"
        return consumer

    thread_cls._create_worker_consumer = create_worker_consumer  # type: ignore[method-assign]


async def fetch_active_only(
    fetch: Callable[..., Awaitable[Any]],
    consumer: Any,
    active_partitions: Iterable[TP],
    **options: Any,  # aiokafka's timeout and max_records, passed on
) -> Any:
    """Ask aiokafka for the records of the partitions active now, and of no others."""
    partitions = frozenset(active_partitions)  # faust pauses and resumes the live set
    if not partitions:
        return {}
    return await fetch(consumer, partitions, **options)


def _patch_fetch_active_only() -> None:
    """Never hand aiokafka an empty partition set: it reads that as "every partition".

    faust passes its live set of active (not paused) partitions to aiokafka's
    `fetched_records`, which drains the buffered records of every assigned partition when
    the set is empty, and faust's `getmany` then drops those of paused partitions - after
    aiokafka has moved their positions past them. The set is empty for a moment in every
    recovery: the active changelogs are paused once read, the source topics are still
    paused, and the standby changelogs, just sought to their copies' checkpoints, are not
    resumed yet. The records a standby copy needed next were dropped there and never read
    again; the copy applied what followed and checkpointed past the hole, so the worker that
    took it over decided on stale rows (docs/RELIABILITY.md, find 6). The set is empty
    too between the seek of the active changelogs and their resume, where a recovery
    would lose records the same way. Here the set is a snapshot (what faust pauses during
    the fetch is not asked for) and an empty one fetches nothing."""
    thread_cls = faust_aiokafka.AIOKafkaConsumerThread
    fetch = thread_cls._fetch_records

    async def fetch_records(
        self: Any, consumer: Any, active_partitions: Iterable[TP], **options: Any
    ) -> Any:
        return await fetch_active_only(
            functools.partial(fetch, self), consumer, active_partitions, **options
        )

    thread_cls._fetch_records = fetch_records  # type: ignore[method-assign, assignment]


class _NeverDrop(dict[Any, Any]):
    """faust's read offsets, with nothing ever read: see `_patch_read_offsets`."""

    def __getitem__(self, key: Any) -> None:
        return None


def _patch_read_offsets() -> None:
    """Stop faust's consumer from dropping records below its "read offset". It sets that
    offset from every record it hands on, stale ones included, so after a seek back the
    records it was sent back for were dropped as already read: the offset guard's seek
    (agents.offset_guard) then never got them. The guard drops repeats itself."""
    init = Consumer.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self._read_offset = _NeverDrop(self._read_offset)

    Consumer.__init__ = __init__  # type: ignore[method-assign]


def _patch_batch_delivery() -> None:
    """Hand the command records of each fetch to the app's CommandFeed at once
    (agents.command_feed), where the app has one; other apps keep faust's delivery."""
    drain = Consumer._drain_messages

    async def _drain_messages(self: Any, fetcher: Any) -> None:
        feed = getattr(self.app, FEED_ATTRIBUTE, None)
        if feed is None:
            await drain(self, fetcher)
        else:
            await drain_in_batches(self, fetcher, feed)

    Consumer._drain_messages = _drain_messages  # type: ignore[method-assign]


def _patch_recovery_end(bootstrap_servers: list[str]) -> None:
    """Let recovery end at a commit marker. faust takes `end offset - 1` as the offset of
    the last record and waits until it has applied it; after a transaction that offset
    holds the commit marker, which a consumer never receives, so recovery never ended.
    The highwater becomes the offset of the last committed record instead, found by
    reading back from the end (a marker or an aborted batch has no record to read)."""
    build = Recovery._build_highwaters

    async def build_highwaters(
        self: Recovery, consumer: Any, tps: set[TP], destination: Counter[TP], title: str
    ) -> None:
        await build(self, consumer, tps, destination, title)
        ends = {tp: destination[tp] + 1 for tp in tps if destination[tp] >= 0}
        if ends:
            last = await last_record_offsets(bootstrap_servers, ends)
            for tp, offset in last.items():
                destination[tp] = offset  # not update(): a Counter's update() adds
            log.info(
                "%s changelog highwaters at their last committed record: %s",
                title,
                {f"{tp.topic}[{tp.partition}]": offset for tp, offset in last.items()},
            )

    Recovery._build_highwaters = build_highwaters  # type: ignore[method-assign]
