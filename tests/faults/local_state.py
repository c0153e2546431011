"""The fault campaign's check of the workers' disks: every table partition a worker keeps
in RocksDB must be exactly the changelog's state at the offset its checkpoint names.

The changelogs can be right while a disk is not: a worker that takes a partition over
with a local copy reads only what follows the copy's checkpoint, so a copy missing a
record the checkpoint claims makes the new owner decide on stale rows (a reservation
released twice, stock reserved below zero). The campaign found exactly that with
standby replicas (docs/RELIABILITY.md); this check names such a copy directly.
"""

from __future__ import annotations

import json
from pathlib import Path

import rocksdict
from aiokafka import TopicPartition

from agents.changelog_offsets import committed_reader
from agents.table_store import CHECKPOINT_KEY, Checkpoint, CommittedRocksStore
from inventory.settings import Settings
from inventory.worker_status import state_base
from tests.support.processes import ROOT


def _disk(path: Path) -> tuple[Checkpoint | None, dict[bytes, bytes]]:
    db = rocksdict.Rdict(
        str(path),
        options=rocksdict.Options(raw_mode=True),
        access_type=rocksdict.AccessType.read_only(),
    )
    try:
        rows = dict(db.items())
    finally:
        db.close()
    raw = rows.get(CHECKPOINT_KEY)
    for key in CommittedRocksStore.META_KEYS:
        rows.pop(key, None)
    return (Checkpoint.decode(raw) if raw is not None else None), rows


async def _changelog_at(settings: Settings, topic: str, partition: int, last: int) -> dict:
    """The compacted state of one changelog partition after the record at `last`."""
    async with committed_reader(settings.kafka_bootstrap_list) as consumer:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        state: dict[bytes, bytes] = {}
        while await consumer.position(tp) <= last:
            batch = await consumer.getmany(tp, timeout_ms=2000)
            records = batch.get(tp, [])
            if not records and await consumer.position(tp) <= last:
                end = (await consumer.end_offsets([tp]))[tp]
                if await consumer.position(tp) >= end:
                    break
            for record in records:
                if record.offset > last:
                    return state
                if record.value is None:
                    state.pop(record.key, None)
                else:
                    state[record.key] = record.value
        return state


async def disk_violations(settings: Settings) -> list[str]:
    """One line per worker table partition whose disk is not its changelog at its
    checkpoint: how many rows are missing, extra or different, and an example key."""
    return await folder_violations(
        settings, sorted((ROOT / state_base(settings.app_id)).glob("worker-*"))
    )


async def folder_violations(settings: Settings, folders: list[Path]) -> list[str]:
    """`disk_violations` for the given worker state folders."""
    found = []
    paths = [path for folder in folders for path in sorted(folder.glob("v1/tables/*.db"))]
    for path in paths:
        checkpoint, rows = _disk(path)
        if checkpoint is None:
            continue  # never written: nothing claimed
        table, partition = path.stem.rsplit("-", 1)
        topic = f"{settings.app_id}-{table}-changelog"
        expected = await _changelog_at(settings, topic, int(partition), checkpoint.offset)
        missing = expected.keys() - rows.keys()
        extra = rows.keys() - expected.keys()
        differ = {k for k in expected.keys() & rows.keys() if expected[k] != rows[k]}
        if missing or extra or differ:
            example = next(iter(sorted(missing | extra | differ)))
            found.append(
                f"{path.parent.parent.parent.name}/{path.name} at changelog offset "
                f"{checkpoint.offset}: {len(missing)} rows missing, {len(extra)} extra, "
                f"{len(differ)} different (e.g. {json.loads(example)!r})"
            )
    return found
