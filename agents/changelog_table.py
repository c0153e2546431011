"""The worker's table class: faust's Table, with its changelog records handed to the
transaction of the partition being processed instead of faust's producer.

Reads, the in-memory store and recovery from the changelog are faust's. Only the write
path differs: a write or delete updates the store at once and queues its changelog
record under the partition of the current event (as faust would send it); `drain()`
hands the queue over in order when the batch commits (agents.transactions). Records of
one partition therefore reach Kafka in the order the agent wrote them, which the
processor's dedupe relies on (applied entry before the row), and faust's own send path,
which cost ~0.2 ms of CPU per record (docs/BENCHMARKS.md, "the faust floor"), is not
used at all.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import faust

from topics.partitioning import partition_for

# The first character of every key the worker keeps beside entity rows (agents.app).
OWN_ROW_PREFIX = "\x00"

# (partition, topic, key, value): how a drained record is sent.
Send = Callable[[int, str, bytes | None, bytes | None], Awaitable[None]]


class ChangelogTable(faust.Table):  # type: ignore[misc]
    """A faust Table whose changelog records wait in a queue until the batch commits."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._queued: deque[tuple[int, bytes | None, bytes | None]] = deque()

    def _partition(self, key: Any) -> int:
        """The changelog partition of a write: the current event's, which for an entity
        row must be its key's (Kafka's default partitioner), or the entity would have a
        second copy of its state elsewhere. Rows of the worker's own (prefixed by a
        control character) live beside the entity they belong to."""
        partition = self.partition_for_key(key)
        if partition is None:  # faust's rule: tables are written while processing an event
            raise RuntimeError(f"{self.name}[{key!r}] written outside an agent's event")
        owner = partition_for(key, self.partitions or self.app.conf.topic_partitions)
        if not key.startswith(OWN_ROW_PREFIX) and owner != partition:
            raise RuntimeError(
                f"{self.name}[{key!r}] belongs on partition {owner}, not {partition}"
            )
        return int(partition)

    def on_key_set(self, key: Any, value: Any) -> None:
        partition = self._partition(key)
        raw_key, _ = self.changelog_topic.prepare_key(key, self.key_serializer)
        raw_value, _ = self.changelog_topic.prepare_value(value, self.value_serializer)
        self._queued.append((partition, raw_key, raw_value))

    def on_key_del(self, key: Any) -> None:
        partition = self._partition(key)
        raw_key, _ = self.changelog_topic.prepare_key(key, self.key_serializer)
        self._queued.append((partition, raw_key, None))

    async def drain(self, send: Send) -> None:
        """Hand every queued changelog record to `send`, oldest first. A record leaves
        the queue only once `send` has taken it."""
        topic = self.changelog_topic.get_topic_name()
        while self._queued:
            partition, key, value = self._queued[0]
            await send(partition, topic, key, value)
            self._queued.popleft()
