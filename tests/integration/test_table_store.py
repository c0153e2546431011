"""The RocksDB table store (issue 18): a worker restarted on the same disk replays only
the changelog written since its last commit, and its disk never holds a write Kafka did
not commit - not after a SIGKILL in the middle of a batch, nor after a batch sent and
abandoned before its commit (agents.table_store). These run one worker at a time with
no standby copies; the copies and a takeover from one: tests/integration/
test_standby_replicas.py."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
import rocksdict

from agents import exit_codes
from agents.table_store import CHECKPOINT_KEY, Checkpoint, CommittedRocksStore
from inventory.settings import Settings
from tests.integration.gateway.gateway_fixtures import gateway_client
from tests.support.pipeline import (
    Pipeline,
    isolated,
    own_pipeline,
    read_compacted,
    read_to_end,
)
from tests.support.processes import Process
from tests.support.waiting import eventually
from topics.messages import Reply, ReserveStock, ReserveStockData
from topics.names import DEADLINES_TABLE, ORDERS_TABLE, STOCK_TABLE, changelog_of

pytestmark = pytest.mark.integration

TABLES = (STOCK_TABLE, ORDERS_TABLE, DEADLINES_TABLE)
OWNED = re.compile(r"partitions owned: \[([\d, ]*)\]")
RECOVERED = re.compile(
    r"table (\S+) recovered: read (\d+) changelog records \(([^)]*)\); "
    r"standby records read: (\d+)"
)


def rocksdb_settings(settings: Settings, name: str, tmp: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "table_store": "rocksdb",
        "standby_replicas": 0,
        "state_dir": str(tmp / "worker-a"),
        "reply_timeout_seconds": 3.0,
        **overrides,
    }
    return isolated(settings, name, **values)


def recoveries(process: Process) -> list[dict[str, int]]:
    """Changelog records read by each recovery in `process`'s log, table by table."""
    found: list[dict[str, int]] = []
    for line in process.log_path.read_text(errors="replace").splitlines():
        match = RECOVERED.search(line)
        if match is None:
            continue
        table, read = match.group(1), int(match.group(2))
        if not found or table in found[-1]:
            found.append({})
        found[-1][table] = read
    return found


def owned(process: Process) -> frozenset[int]:
    """The command partitions `process` owns, by its last "partitions owned" line."""
    found = OWNED.findall(process.log_path.read_text(errors="replace"))
    return frozenset(int(p) for p in found[-1].split(",") if p.strip()) if found else frozenset()


def local_tables(state_dir: Path) -> dict[str, dict[str, Any]]:
    """What a stopped worker's RocksDB folder holds, table by table (JSON decoded)."""
    tables: dict[str, dict[str, Any]] = {}
    for table in TABLES:
        rows: dict[str, Any] = {}
        for path in sorted((state_dir / "v1" / "tables").glob(f"{table}-*.db")):
            db = rocksdict.Rdict(
                str(path),
                options=rocksdict.Options(raw_mode=True),
                access_type=rocksdict.AccessType.read_only(),
            )
            try:
                for key, value in db.items():
                    if key not in CommittedRocksStore.META_KEYS:
                        rows[json.loads(key)] = json.loads(value)
            finally:
                db.close()
        tables[table] = rows
    return tables


def local_checkpoints(state_dir: Path) -> dict[tuple[str, int], Checkpoint]:
    """The checkpoint of each table partition in a stopped worker's RocksDB folder."""
    found: dict[tuple[str, int], Checkpoint] = {}
    for table in TABLES:
        for path in (state_dir / "v1" / "tables").glob(f"{table}-*.db"):
            db = rocksdict.Rdict(
                str(path),
                options=rocksdict.Options(raw_mode=True),
                access_type=rocksdict.AccessType.read_only(),
            )
            try:
                raw = db.get(CHECKPOINT_KEY)
            finally:
                db.close()
            if raw is not None:
                partition = int(path.name.removesuffix(".db").rsplit("-", 1)[1])
                found[(table, partition)] = Checkpoint.decode(raw)
    return found


async def last_changelog_records(settings: Settings) -> dict[tuple[str, int], Any]:
    """The last committed record of each changelog partition that has one."""
    last: dict[tuple[str, int], Any] = {}
    for table in TABLES:
        for record in await read_to_end(settings, changelog_of(settings.app_id, table)):
            last[(table, record.partition)] = record  # offset order within a partition
    return last


async def changelog_tables(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        table: await read_compacted(settings, changelog_of(settings.app_id, table))
        for table in TABLES
    }


async def committed_records(settings: Settings) -> dict[str, int]:
    return {
        table: len(await read_to_end(settings, changelog_of(settings.app_id, table)))
        for table in TABLES
    }


def reserve(product_id: str, i: int) -> ReserveStock:
    return ReserveStock(
        key=product_id,
        data=ReserveStockData(product_id=product_id, quantity=1, customer_id=f"c{i}"),
    )


def worker_of(pipeline: Pipeline) -> Process:
    return next(p for p in pipeline.processes.processes if p.role == "worker" and p.alive())


async def reserve_all(pipeline: Pipeline, product_id: str, first: int, n: int) -> list[Reply]:
    replies = await asyncio.gather(
        *(pipeline.request_until_answered(reserve(product_id, first + i)) for i in range(n))
    )
    assert all(r.data.ok for r in replies), [r.data.code for r in replies if not r.data.ok]
    return list(replies)


async def test_a_restart_on_the_same_disk_replays_only_the_tail(
    settings: Settings, tmp_path: Path
) -> None:
    own = rocksdb_settings(settings, "rocks-tail", tmp_path)
    async with own_pipeline(own) as pipeline:
        product_id = f"p-{uuid.uuid4().hex[:8]}"
        await pipeline.create_product(product_id, 100)
        await reserve_all(pipeline, product_id, 0, 30)
        worker_of(pipeline).stop()
        before_b = await committed_records(own)

        # Another worker on another disk takes over and writes the tail: it has nothing
        # local, so it reads every changelog record there is.
        other = pipeline.processes.start("worker", STATE_DIR=str(tmp_path / "worker-b"))
        await reserve_all(pipeline, product_id, 30, 10)
        other.stop()
        total = await committed_records(own)
        assert recoveries(other)[0] == before_b

        back = pipeline.processes.start("worker")  # worker-a's disk again
        await reserve_all(pipeline, product_id, 40, 1)
        tail = {table: total[table] - before_b[table] for table in TABLES}
        assert recoveries(back)[0] == tail
        assert all(0 < tail[t] < total[t] for t in TABLES), (tail, total)

        table = await pipeline.stock_table()
        assert table[product_id]["reserved"] == 41
        await pipeline.assert_invariants([product_id])
        # The gateway's /healthz shows the worker on this disk, done recovering.
        async with gateway_client(own) as client:
            health = await (await client.get("/healthz")).json()
        assert health["workers"] == [
            {
                "folder": "worker-a",
                "recovering": False,
                "partitions": [],
                "updated_at": health["workers"][0]["updated_at"],
            }
        ]
        back.stop()
        assert local_tables(tmp_path / "worker-a") == await changelog_tables(own)
        # Each partition's checkpoint names its changelog's last record, by the offset
        # the record's send future gave (agents.record_batches) or recovery read.
        checkpoints = local_checkpoints(tmp_path / "worker-a")
        last = await last_changelog_records(own)
        assert checkpoints.keys() == last.keys()
        for where, mark in checkpoints.items():
            assert mark.mismatch(last[where]) is None, (where, mark, last[where].offset)


@pytest.mark.parametrize("crash", ["sigkill", "crash_before_commit"])
async def test_a_worker_crashed_mid_batch_restarts_on_its_disk_with_exact_tables(
    settings: Settings, tmp_path: Path, crash: str
) -> None:
    faults = "crash_before_commit=6" if crash == "crash_before_commit" else ""
    own = rocksdb_settings(settings, f"rocks-{crash}", tmp_path, inject_faults=faults)
    async with own_pipeline(own) as pipeline:
        product_id = f"p-{uuid.uuid4().hex[:8]}"
        total, stock = 200, 300
        await pipeline.create_product(product_id, stock)
        worker = worker_of(pipeline)
        retried: set[str] = set()
        inflight: list[asyncio.Task[Reply]] = []

        async def stream_commands() -> None:
            # A steady stream, so that batches are open when the worker dies.
            for i in range(total):
                command = reserve(product_id, i)
                inflight.append(
                    asyncio.create_task(pipeline.request_until_answered(command, retried))
                )
                await asyncio.sleep(0.01)

        streaming = asyncio.create_task(stream_commands())
        if crash == "sigkill":
            await eventually(
                lambda: sum(t.done() for t in inflight), lambda n: n >= 20, what="first answers"
            )
            worker.kill()
        else:
            await eventually(worker.alive, lambda alive: not alive, within=90, what="the crash")
            assert worker.popen.returncode == exit_codes.GAVE_UP, worker.tail()
        committed_at_restart = await committed_records(own)
        restarted = pipeline.processes.start("worker", INJECT_FAULTS="")
        await streaming
        replies = await asyncio.gather(*inflight)

        assert all(r.data.ok for r in replies), [r.data.code for r in replies if not r.data.ok]
        assert len({r.data.result["order"]["id"] for r in replies}) == total
        table = await pipeline.stock_table()
        assert table[product_id]["reserved"] == total
        assert table[product_id]["available"] == stock - total
        await pipeline.assert_invariants([product_id])
        if crash == "crash_before_commit":
            stock_log = changelog_of(own.app_id, STOCK_TABLE)
            aborted = len(await read_to_end(own, stock_log, aborted_too=True))
            assert aborted > len(await read_to_end(own, stock_log)), "a batch was abandoned"

        # The restart read from its checkpoint, not from the start.
        restart = recoveries(restarted)[0]
        assert all(restart[t] < committed_at_restart[t] for t in TABLES), (
            restart,
            committed_at_restart,
        )
        # Its disk holds exactly what Kafka committed: nothing of the batch that died.
        restarted.stop()
        assert local_tables(tmp_path / "worker-a") == await changelog_tables(own)
