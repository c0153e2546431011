"""The worker's table class: faust's Table, with its changelog records handed to the
transaction of the partition being processed instead of faust's producer.

Reads, the in-memory store and recovery from the changelog are faust's. Only the write
path differs: a write or delete updates the store at once and marks its key dirty under
the partition of the current event (where faust would send it); `drain()` sends, when
the batch commits, one changelog record per dirty key with the key's value at that
moment (a tombstone if it was deleted). A product row written by 500 reservations of a
batch costs one record and one serialization, not 500. That is safe because the batch
commits as one transaction (agents.transactions): a reader sees all of its writes or
none, so the values in between were never anybody's to see. faust's own send path,
which cost ~0.2 ms of CPU per record (docs/BENCHMARKS.md, "the faust floor"), is not
used at all.
"""

from __future__ import annotations

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
        # key -> its changelog partition, for keys written since the last drain, in
        # first-write order. A key has one partition: its entity's, or for the worker's
        # own rows the partition of the command that wrote them (ids are unique).
        self._dirty: dict[Any, int] = {}

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
        self._mark(key)

    def on_key_del(self, key: Any) -> None:
        self._mark(key)

    def _mark(self, key: Any) -> None:
        if key not in self._dirty:  # checked once per key and batch
            self._dirty[key] = self._partition(key)

    def refresh(self, key: Any, value: Any) -> None:
        """Replace the value of a key written in the open batch, outside any event (as
        the batch commits): its changelog record, still to be sent, carries this one."""
        if key not in self._dirty:
            raise RuntimeError(f"{self.name}[{key!r}] was not written in this batch")
        self.data[key] = value

    @property
    def dirty(self) -> int:
        """Keys written since the last drain (each becomes one changelog record)."""
        return len(self._dirty)

    async def drain(self, send: Send) -> None:
        """Send one changelog record per key written since the last drain: its value now,
        or a tombstone. A key leaves the dirty set only once `send` has taken it."""
        topic = self.changelog_topic.get_topic_name()
        store = self.data
        while self._dirty:
            key, partition = next(iter(self._dirty.items()))
            raw_key, _ = self.changelog_topic.prepare_key(key, self.key_serializer)
            raw_value = None
            if key in store:
                raw_value, _ = self.changelog_topic.prepare_value(store[key], self.value_serializer)
            await send(partition, topic, raw_key, raw_value)
            del self._dirty[key]
