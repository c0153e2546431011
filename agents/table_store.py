"""The worker's RocksDB table store: it holds committed state only.

faust's RocksDB store writes every table write to disk at once and records, per
partition, the changelog offset it holds (`set_persisted_offset`) when faust's producer
acknowledges each changelog record; recovery then reads the changelog from that offset
on. Neither fits this worker. Its tables are written while a batch is processed and
their changelog records go out through the batch's transaction (agents.changelog_table,
agents.transactions), so a worker killed or fenced before its commit would leave on disk
writes that Kafka aborted, and faust's acknowledgement hook never runs at all.

So this store keeps the open batch in memory, above RocksDB:

- a write or delete goes to `pending` (key -> value, or DELETED); reads look there
  first, then in RocksDB, which therefore only ever holds committed state;
- when the batch drains, each changelog record is staged into a RocksDB WriteBatch of
  its partition (`stage`), with the send's future;
- once the Kafka transaction has committed, `checkpoint` writes each WriteBatch together
  with the offset of the partition's last record in it (from the producer's
  RecordMetadata: commit markers take offsets, so "end offset - 1" would name a marker).
  A WriteBatch is atomic, so the disk holds a state and the offset it is the state at,
  or the previous pair. A crash between the commit and the write only costs a replay of
  that batch, which is committed and so read back by read_committed recovery.

A record's offset alone does not say which changelog it belongs to: topics recreated
under the same name, or a folder left from another run, would be taken for the state
at that offset. So the checkpoint also keeps a checksum of the record's key and value
(and about when it was written), and a partition newly assigned to this worker is
checked against the record Kafka has at that offset (`on_rebalance`, before recovery
reads the offset). Anything
else - no such record (recreated, truncated), another record there, the record
compacted away, or a checkpoint older than the changelog's tombstone retention with
records after it (a deletion may have been compacted away) - discards the partition's
store, and recovery replays that changelog partition from its start.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import rocksdict
from aiokafka import ConsumerRecord, TopicPartition
from faust.stores.rocksdb import RocksDBOptions
from faust.stores.rocksdb import Store as FaustRocksStore
from faust.streams import current_event
from faust.types import TP

from agents.changelog_offsets import committed_reader, last_record_offsets

# Beside faust's offset key, which `persisted_offset` (and so faust's recovery) reads.
CHECKPOINT_KEY = b"__inventory\x00checkpoint__"
# Kafka's default delete.retention.ms, which the changelogs are created with
# (inventory.kafka_admin): how long a tombstone is kept once its segment is cleaned.
TOMBSTONE_RETENTION_SECONDS = 86_400.0

# faust's defaults are sized for one big store (a 2 GiB block cache and three 64 MiB
# memtables per database); the worker opens one database per table and partition.
ROCKSDB_OPTIONS: dict[str, Any] = {
    "write_buffer_size": 4 * 1024 * 1024,
    "max_write_buffer_number": 2,
    "target_file_size_base": 16 * 1024 * 1024,
    "block_cache_size": 8 * 1024 * 1024,
    # Most reads are misses (a new command's applied entry, a new reservation's row):
    # faust's 3 bits a key let about a fifth of them read a block anyway; 10 bits, 1%.
    "bloom_filter_size": 10,
}


class _TunedOptions(RocksDBOptions):  # type: ignore[misc]
    """faust's options for a partition's database, plus a bloom filter on the memtable.

    Most reads miss (a new command's applied entry, a new reservation's row), and a
    miss searched the whole memtable's skiplist before the SST files' blooms were
    asked: with a bloom on the memtable too, a miss cost about a third as much in a
    microbenchmark of the worker's pattern."""

    def as_options(self) -> rocksdict.Options:
        options = super().as_options()
        options.set_memtable_prefix_bloom_ratio(0.1)
        options.set_memtable_whole_key_filtering(True)
        return options


class _Deleted:
    def __repr__(self) -> str:
        return "DELETED"


DELETED: Any = _Deleted()
_ABSENT: Any = object()


def _record_crc(key: bytes | None, value: bytes | None) -> int:
    # Content, not the timestamp: aiokafka's `send` futures give every record of a batch
    # the first one's timestamp (agents.record_batches gives each its own, but stores
    # checkpointed before it must still match).
    return zlib.crc32(value or b"", zlib.crc32(key or b""))


@dataclass(frozen=True)
class Checkpoint:
    """The changelog record a partition's store is the state after."""

    offset: int
    timestamp_ms: int  # about when it was written: for the tombstone retention only
    crc: int  # of its key and value

    def encode(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def decode(cls, raw: bytes) -> Checkpoint:
        return cls(**json.loads(raw))

    def mismatch(self, record: ConsumerRecord[bytes, bytes] | None) -> str | None:
        """Why `record`, the first committed record at or after `offset`, shows that the
        store is not the changelog's state at `offset`; None when it is that record."""
        if record is None:
            return f"the changelog has no record at offset {self.offset} any more"
        if record.offset != self.offset:
            return f"offset {self.offset} is gone from the changelog (compacted or recreated)"
        if _record_crc(record.key, record.value) != self.crc:
            return f"the changelog holds another record at offset {self.offset}"
        return None


class CommittedRocksStore(FaustRocksStore):  # type: ignore[misc]
    """faust's RocksDB store, with the open batch kept in memory until it commits."""

    META_KEYS = frozenset({FaustRocksStore.offset_key, CHECKPOINT_KEY})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rocksdb_options = _TunedOptions(
            **(self.options or {}), use_rocksdict=self.use_rocksdict
        )
        # key -> value (or DELETED) written since the last checkpoint: the open batch.
        self.pending: dict[Any, Any] = {}
        # partition -> its drained records, and the send of the last one (for its offset)
        self._staged: dict[int, rocksdict.WriteBatch] = {}
        self._last_sent: dict[int, tuple[asyncio.Future[Any], int]] = {}

    # -- reads and writes: the open batch above the committed state -------------------

    def _encode_key(self, key: Any) -> bytes:
        # faust's json key codec, without its serializer registry on the way: the
        # worker encodes a few keys per command. The same bytes (tests/unit/
        # test_table_store_units.py): RocksDB finds a row by them.
        if type(key) is str:
            return json.dumps(key).encode()
        encoded: bytes = super()._encode_key(key)
        return encoded

    def __getitem__(self, key: Any) -> Any:
        value = self.pending.get(key, _ABSENT)
        if value is _ABSENT:
            return super().__getitem__(key)
        if value is DELETED:
            raise KeyError(key)
        return value

    def __setitem__(self, key: Any, value: Any) -> None:
        self.pending[key] = value

    def __delitem__(self, key: Any) -> None:
        self.pending[key] = DELETED

    def __contains__(self, key: object) -> bool:
        value = self.pending.get(key, _ABSENT)
        if value is _ABSENT:
            return bool(super().__contains__(key))
        return value is not DELETED

    def get(self, key: Any, default: Any = None) -> Any:
        """One lookup, where the Mapping's `get` makes two (`in`, then `[]`): the agent
        reads a few keys per command, most of them absent (new ids)."""
        value = self.pending.get(key, _ABSENT)
        if value is _ABSENT:
            raw = self._get(self._encode_key(key))
            return default if raw is None else self._decode_value(raw)
        return default if value is DELETED else value

    def __len__(self) -> int:
        return sum(1 for _ in self._keys_decoded())

    def _items_decoded(self) -> Iterator[tuple[Any, Any]]:
        pending = self.pending
        for raw_key, raw_value in self._iteritems():
            key = self._decode_key(raw_key)
            if key not in pending:
                yield key, self._decode_value(raw_value)
        for key, value in list(pending.items()):
            if value is not DELETED:
                yield key, value

    def _keys_decoded(self) -> Iterator[Any]:
        for key, _ in self._items_decoded():
            yield key

    def _values_decoded(self) -> Iterator[Any]:
        for _, value in self._items_decoded():
            yield value

    # As faust does: while an event is processed, a key is looked up in the database of
    # the event's partition only. Every row a command reads lives there - its entity's,
    # the rows beside it (applied entries, reservations, carts, deadlines) and an order
    # created in a reservation's step (agents.effects) - and the open batch's writes of
    # every partition are in `pending`. A miss thus costs one RocksDB read, not one per
    # partition owned. Outside an event (the expiry timer) every active partition is read.

    def _get(self, key: bytes) -> bytes | None:
        event = current_event()
        if event is not None:
            value: bytes | None = self._db_for_partition(event.message.partition).get(key)
            return value
        for db in self._dbs_for_actives():
            value = db.get(key)
            if value is not None:
                return value
        return None

    def _contains(self, key: bytes) -> bool:
        return self._get(key) is not None

    def items_with_prefix(self, prefix: str) -> Iterator[tuple[Any, Any]]:
        """The rows whose key starts with `prefix`, without reading the others: keys are
        JSON strings, and a string's encoding without its closing quote starts the
        encoding of every longer string, so the rows sit together in RocksDB's order."""
        raw = self._encode_key(prefix)
        if not (raw.startswith(b'"') and raw.endswith(b'"')):  # not JSON: read them all
            yield from ((k, v) for k, v in self._items_decoded() if k.startswith(prefix))
            return
        raw, pending = raw[:-1], self.pending
        for db in self._dbs_for_actives():
            for raw_key, raw_value in db.items(from_key=raw):
                if not raw_key.startswith(raw):
                    break
                key = self._decode_key(raw_key)
                if key not in pending:
                    yield key, self._decode_value(raw_value)
        for key, value in list(pending.items()):
            if value is not DELETED and key.startswith(prefix):
                yield key, value

    def _visible_keys(self, db: Any) -> Iterator[bytes]:
        for key in db.keys():  # noqa: SIM118 (an Rdict, not a dict)
            if key not in self.META_KEYS:
                yield key

    def _visible_items(self, db: Any) -> Iterator[tuple[bytes, bytes]]:
        for key, value in db.items():
            if key not in self.META_KEYS:
                yield key, value

    # -- the commit ----------------------------------------------------------------------

    def stage(
        self,
        partition: int,
        raw_key: bytes | None,
        raw_value: bytes | None,
        sent: asyncio.Future[Any],
    ) -> None:
        """A changelog record of the open batch, as sent (`sent`: its send's future)."""
        batch = self._staged.get(partition)
        if batch is None:
            batch = self._staged[partition] = rocksdict.WriteBatch(raw_mode=True)
        if raw_key is None:  # faust's rule: a table key is never None
            raise TypeError("a changelog record without a key")
        if raw_value is None:
            batch.delete(raw_key)
        else:
            batch.put(raw_key, raw_value)
        self._last_sent[partition] = (sent, _record_crc(raw_key, raw_value))

    def checkpoint(self) -> None:
        """The batch's transaction committed: write what it staged, with the offset of
        each partition's last record, and forget the open batch."""
        for partition, batch in self._staged.items():
            sent, crc = self._last_sent[partition]
            metadata = sent.result()  # the commit waited for every send
            mark = Checkpoint(metadata.offset, metadata.timestamp, crc)
            batch.put(self.offset_key, str(mark.offset).encode())
            batch.put(CHECKPOINT_KEY, mark.encode())
            self._db_for_partition(partition).write(batch)
        self._staged.clear()
        self._last_sent.clear()
        self.pending.clear()

    # -- recovery and standby: records read from the changelog ----------------------------

    def apply_changelog_batch(self, batch: Any, to_key: Any, to_value: Any) -> None:
        """Committed changelog records (the worker's consumer reads committed only): each
        partition's records and its new checkpoint in one atomic write."""
        batches: dict[int, rocksdict.WriteBatch] = {}
        last: dict[int, Any] = {}
        for event in batch:
            message = event.message
            partition = message.partition
            writes = batches.get(partition)
            if writes is None:
                writes = batches[partition] = rocksdict.WriteBatch(raw_mode=True)
            if message.value is None:
                writes.delete(message.key)
            else:
                writes.put(message.key, message.value)
            if partition not in last or message.offset > last[partition].offset:
                last[partition] = message
        for partition, writes in batches.items():
            message = last[partition]
            mark = Checkpoint(
                message.offset,
                round(message.timestamp * 1000),
                _record_crc(message.key, message.value),
            )
            writes.put(self.offset_key, str(mark.offset).encode())
            writes.put(CHECKPOINT_KEY, mark.encode())
            self._db_for_partition(partition).write(writes)

    async def on_rebalance(
        self,
        assigned: set[TP],
        revoked: set[TP],
        newly_assigned: set[TP],
        generation_id: int = 0,
    ) -> None:
        await super().on_rebalance(assigned, revoked, newly_assigned, generation_id)
        mine = {tp for tp in newly_assigned if tp.topic in self.table.changelog_topic.topics}
        if mine:
            await self.check_against_changelog(mine)

    async def check_against_changelog(self, tps: set[TP]) -> None:
        """Discard the store of each partition in `tps` whose checkpoint is not a record of
        the changelog as it is now (see the module's docstring)."""
        marks: dict[TP, Checkpoint] = {}
        for tp in tps:
            db = self._db_for_partition(tp.partition)
            raw = db.get(CHECKPOINT_KEY)
            if raw is not None:
                marks[tp] = Checkpoint.decode(raw)
            elif next(self._visible_keys(db), None) is not None:
                self._discard(tp.partition, "it holds rows but no checkpoint")
        if not marks:
            return
        bootstrap = [f"{url.host}:{url.port or 9092}" for url in self.app.conf.broker]
        found = await records_at(bootstrap, {tp: mark.offset for tp, mark in marks.items()})
        old = [
            tp
            for tp, mark in marks.items()
            if time.time() - mark.timestamp_ms / 1000 >= TOMBSTONE_RETENTION_SECONDS
        ]
        ends = await last_record_offsets(bootstrap, {tp: found[tp][1] for tp in old}) if old else {}
        for tp, mark in marks.items():
            problem = mark.mismatch(found[tp][0])
            if problem is None and ends.get(tp, mark.offset) > mark.offset:
                problem = (
                    f"its checkpoint is older than the changelog's tombstone retention "
                    f"({TOMBSTONE_RETENTION_SECONDS:g} s) and records followed it"
                )
            if problem is not None:
                self._discard(tp.partition, problem)
            else:
                self.log.info(
                    "%s[%d]: local state at changelog offset %d",
                    self.table_name,
                    tp.partition,
                    mark.offset,
                )

    def _discard(self, partition: int, why: str) -> None:
        self.log.warning(
            "%s[%d]: local state discarded, replaying the changelog from its start: %s",
            self.table_name,
            partition,
            why,
        )
        db = self._dbs.pop(partition, None)
        if db is not None:
            db.close()
        shutil.rmtree(self.partition_path(partition), ignore_errors=True)
        self._key_index.clear()
        self._db_for_partition(partition)


async def records_at(
    bootstrap_servers: list[str], offsets: Mapping[TP, int]
) -> dict[TP, tuple[ConsumerRecord[bytes, bytes] | None, int]]:
    """For each partition, the first committed record at or after `offsets[tp]` (None if
    there is none) and the partition's end offset."""
    async with committed_reader(bootstrap_servers) as consumer:
        partitions = {tp: TopicPartition(tp.topic, tp.partition) for tp in offsets}
        consumer.assign(list(partitions.values()))
        ends = await consumer.end_offsets(list(partitions.values()))
        found: dict[TP, tuple[ConsumerRecord[bytes, bytes] | None, int]] = {}
        for tp, partition in partitions.items():
            end, record = ends[partition], None
            if offsets[tp] < end:
                consumer.seek(partition, offsets[tp])
                while record is None and await consumer.position(partition) < end:
                    batch = await consumer.getmany(partition, timeout_ms=1000, max_records=1)
                    record = next(iter(batch.get(partition, [])), None)
            found[tp] = (record, end)
        return found
