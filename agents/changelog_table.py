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

With the RocksDB store (agents.table_store) the values of the open batch stay in memory
above the committed state on disk: `drain()` also stages each record for the store, and
`checkpoint()`, called once the batch's transaction has committed, writes them to disk
with the offsets they have in the changelog.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

import faust
import pydantic_core
from faust.serializers import codecs
from yarl import URL

from agents.table_store import CommittedRocksStore
from topics.partitioning import partition_for

log = logging.getLogger(__name__)

# The first character of every key the worker keeps beside entity rows (agents.app).
OWN_ROW_PREFIX = "\x00"


class RowCodec(codecs.Codec):  # type: ignore[misc]
    """The tables' values as JSON, written by pydantic-core: 4-6 µs less than faust's json
    codec per value, and the worker writes about four per command (each key once per
    batch). Compact, and read back as any JSON, so changelogs written with faust's codec
    load as they did. Keys keep faust's codec: RocksDB finds a row by its key's bytes."""

    def _dumps(self, obj: Any) -> bytes:
        encoded: bytes = pydantic_core.to_json(obj)
        return encoded

    def _loads(self, s: bytes) -> Any:
        return json.loads(s)


ROW_CODEC = "inventory-rows"
codecs.register(ROW_CODEC, RowCodec())

# (partition, topic, key, value): how a drained record is sent; returns the send's future
# (its RecordMetadata once delivered).
Send = Callable[[int, str, bytes | None, bytes | None], Awaitable["asyncio.Future[Any]"]]


class ChangelogTable(faust.Table):  # type: ignore[misc]
    """A faust Table whose changelog records wait in a queue until the batch commits."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # faust takes a table's codec from its value type (a Record's) or uses json; set
        # before the store and the changelog topic, both made on first use, take it.
        self.value_serializer = ROW_CODEC
        # key -> its changelog partition, for keys written since the last drain, in
        # first-write order. A key has one partition: its entity's, or for the worker's
        # own rows the partition of the command that wrote them (ids are unique).
        self._dirty: dict[Any, int] = {}
        # Changelog records read since the last recovery ended, by partition: what a
        # restart or a takeover cost (logged when a recovery ends).
        self._recovered: Counter[int] = Counter()
        self._standby_read: Counter[int] = Counter()

    def apply_changelog_batch(self, batch: Iterable[Any]) -> None:
        events = list(batch)
        standbys = self.app.assignor.assigned_standbys()
        for event in events:
            tp = event.message.tp
            (self._standby_read if tp in standbys else self._recovered)[tp.partition] += 1
        super().apply_changelog_batch(events)

    async def on_recovery_completed(self, active_tps: Any, standby_tps: Any) -> None:
        # One line per table and recovery, in a fixed form (tests read it).
        log.info(
            "table %s recovered: read %d changelog records (%s); standby records read: %d",
            self.name,
            sum(self._recovered.values()),
            " ".join(f"p{p}={n}" for p, n in sorted(self._recovered.items())) or "none",
            sum(self._standby_read.values()),
        )
        self._recovered.clear()
        self._standby_read.clear()
        await super().on_recovery_completed(active_tps, standby_tps)

    def get(self, key: Any, default: Any = None) -> Any:
        """The value of `key`, or `default`: one store lookup (the Mapping's `get` makes
        two, and faust's per-read table sensor call is skipped: the worker reads a few
        keys per command). The tables have no default factory, so a miss is a miss."""
        return self.data.get(key, default)

    def _new_store_by_url(self, url: Any) -> Any:
        if URL(str(url)).scheme != "rocksdb":
            return super()._new_store_by_url(url)
        return CommittedRocksStore(
            url,
            self.app,
            self,
            table_name=self.name,
            key_type=self.key_type,
            key_serializer=self.key_serializer,
            value_serializer=self.value_serializer,
            value_type=self.value_type,
            loop=self.loop,
            options=self.options,
        )

    def _partition(self, key: Any) -> int:
        """The changelog partition of a write: the current event's, which for an entity
        row must be its key's (Kafka's default partitioner), or the entity would have a
        second copy of its state elsewhere. Rows of the worker's own (prefixed by a
        control character) live beside the entity they belong to."""
        partition = self.partition_for_key(key)
        if partition is None:  # faust's rule: tables are written while processing an event
            raise RuntimeError(f"{self.name}[{key!r}] written outside an agent's event")
        if key.startswith(OWN_ROW_PREFIX):
            return int(partition)
        owner = partition_for(key, self.partitions or self.app.conf.topic_partitions)
        if owner != partition:
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

    def items_with_prefix(self, prefix: str) -> Iterator[tuple[Any, Any]]:
        """The rows whose key starts with `prefix` (the worker's own rows: applied
        entries, reservations). On RocksDB only those rows are read and decoded."""
        store = self.data
        if isinstance(store, CommittedRocksStore):
            return store.items_with_prefix(prefix)
        return ((k, v) for k, v in store.items() if k.startswith(prefix))

    @property
    def dirty(self) -> int:
        """Keys written since the last drain (each becomes one changelog record)."""
        return len(self._dirty)

    async def drain(self, send: Send) -> None:
        """Send one changelog record per key written since the last drain: its value now,
        or a tombstone. A key leaves the dirty set only once `send` has taken it."""
        topic = self.changelog_topic.get_topic_name()
        store = self.data
        staging = store if isinstance(store, CommittedRocksStore) else None
        while self._dirty:
            key, partition = next(iter(self._dirty.items()))
            raw_key, _ = self.changelog_topic.prepare_key(key, self.key_serializer)
            raw_value = None
            if key in store:
                raw_value, _ = self.changelog_topic.prepare_value(store[key], self.value_serializer)
            sent = await send(partition, topic, raw_key, raw_value)
            if staging is not None:
                staging.stage(partition, raw_key, raw_value, sent)
            del self._dirty[key]

    def checkpoint(self) -> None:
        """The drained records are committed: a RocksDB store writes them to disk now."""
        if self._dirty:
            raise RuntimeError(f"{self.name}: checkpoint() with writes not drained")
        if isinstance(self.data, CommittedRocksStore):
            self.data.checkpoint()
