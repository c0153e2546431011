"""Standby replicas with the RocksDB store (issue 18; docs/RELIABILITY.md, find 6): a
worker's standby copy of another worker's partitions must be exactly the changelog at
the offset its checkpoint names, and a worker taking a killed one's partitions over
from such a copy reads only the changelog's tail."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from inventory.settings import Settings
from tests.faults.local_state import folder_violations
from tests.integration.test_table_store import (
    RECOVERED,
    TABLES,
    changelog_tables,
    local_tables,
    owned,
    recoveries,
    reserve_all,
    rocksdb_settings,
    worker_of,
)
from tests.support.pipeline import own_pipeline, read_to_end
from tests.support.processes import Process
from tests.support.waiting import eventually
from topics.names import changelog_of
from topics.partitioning import partition_for

pytestmark = pytest.mark.integration


def standby_offsets(state_dir: Path) -> dict[tuple[str, int], int]:
    """How far a worker's standby copies have read, by its status file."""
    status = state_dir / "recovery.json"
    if not status.exists():
        return {}
    rows = json.loads(status.read_text())["standby"]
    return {(r["table"], r["partition"]): r["offset"] for r in rows}


async def last_offsets(
    settings: Settings, partitions: frozenset[int]
) -> dict[tuple[str, int], int]:
    """The offset of the last committed record of each table partition in `partitions`."""
    last: dict[tuple[str, int], int] = {}
    for table in TABLES:
        for record in await read_to_end(settings, changelog_of(settings.app_id, table)):
            if record.partition in partitions:
                last[(table, record.partition)] = record.offset
    return last


def one_product_per_partition(partitions: int) -> list[str]:
    products: dict[int, str] = {}
    while len(products) < partitions:
        candidate = f"p-{uuid.uuid4().hex[:8]}"
        products.setdefault(partition_for(candidate, partitions), candidate)
    return list(products.values())


async def split_between(first: Process, second: Process, partitions: int) -> None:
    await eventually(
        lambda: (owned(first), owned(second)),
        lambda o: bool(o[0] and o[1]) and not o[0] & o[1] and len(o[0] | o[1]) == partitions,
        within=90,
        what="the partitions split between the two workers",
    )


async def caught_up(settings: Settings, state_dir: Path, of: Process) -> None:
    """Wait until the standby copies in `state_dir` have read every committed record of
    the partitions `of` owns."""
    last = await last_offsets(settings, owned(of))
    await eventually(
        lambda: standby_offsets(state_dir),
        lambda seen: all(seen.get(tp, -1) >= offset for tp, offset in last.items()),
        within=60,
        what="the standby copy caught up",
    )


async def test_a_standby_copy_that_starts_behind_is_the_changelog_at_its_checkpoint(
    settings: Settings, tmp_path: Path
) -> None:
    """The campaign's find 6, step by step: a worker joins while the changelogs already
    hold records, keeps standby copies of the other worker's partitions (read from the
    start), more is written, and every copy on its disk must be its changelog exactly."""
    own = rocksdb_settings(settings, "standby-copy", tmp_path, standby_replicas=1)
    partitions = own.partitions
    async with own_pipeline(own) as pipeline:
        first = worker_of(pipeline)
        products = one_product_per_partition(partitions)
        for product_id in products:
            await pipeline.create_product(product_id, 200)
        await asyncio.gather(*(reserve_all(pipeline, p, 0, 40) for p in products))

        second = pipeline.processes.start("worker", STATE_DIR=str(tmp_path / "worker-b"))
        await split_between(first, second, partitions)
        await asyncio.gather(*(reserve_all(pipeline, p, 40, 10) for p in products))
        await caught_up(own, tmp_path / "worker-b", first)
        second.stop()
        first.stop()
        # The second worker's disk holds its own partitions and its copies of the first
        # one's: every partition, so all of each changelog.
        assert local_tables(tmp_path / "worker-b") == await changelog_tables(own)

    assert await folder_violations(own, [tmp_path / "worker-a", tmp_path / "worker-b"]) == []


def standby_read(process: Process) -> int:
    """Standby records `process` has logged reading, over all its recoveries."""
    return sum(int(m.group(4)) for m in RECOVERED.finditer(process.log_path.read_text()))


async def test_a_standby_takes_over_a_killed_worker_reading_only_the_tail(
    settings: Settings, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    own = rocksdb_settings(settings, "standby-takeover", tmp_path, standby_replicas=1)
    partitions = own.partitions
    async with own_pipeline(own) as pipeline:
        first = worker_of(pipeline)
        second = pipeline.processes.start("worker", STATE_DIR=str(tmp_path / "worker-b"))
        await split_between(first, second, partitions)
        # One product on each partition, so that both workers write their changelogs.
        products = one_product_per_partition(partitions)
        for product_id in products:
            await pipeline.create_product(product_id, 100)
        await asyncio.gather(*(reserve_all(pipeline, p, 0, 40) for p in products))
        taken = owned(first)
        await caught_up(own, tmp_path / "worker-b", first)
        copied = await last_offsets(own, taken)

        first.kill()
        killed_at = time.monotonic()
        replies = await asyncio.gather(*(reserve_all(pipeline, p, 40, 5) for p in products))
        takeover = time.monotonic() - killed_at
        # Recorded, not asserted: most of it is the group's session timeout (10 s).
        record_property("takeover_seconds", round(takeover, 2))
        print(f"standby takeover: every product answered {takeover:.1f} s after the kill")

        assert all(len(r) == 5 for r in replies)
        assert owned(second) == frozenset(range(partitions))
        # The takeover's recovery started at the standby copy's checkpoint, which had every
        # record of the killed worker's partitions: it read nothing, where a worker without
        # a copy reads them all again.
        assert sum(copied.values()) > 0 and standby_read(second) > 0
        assert recoveries(second)[-1] == dict.fromkeys(TABLES, 0)
        table = await pipeline.stock_table()
        assert all(table[p]["reserved"] == 45 for p in products)
        await pipeline.assert_invariants(products)
        second.stop()
        assert local_tables(tmp_path / "worker-b") == await changelog_tables(own)

    assert await folder_violations(own, [tmp_path / "worker-a", tmp_path / "worker-b"]) == []
