"""`python -m bench.faust_floor`: what one record costs a faust worker on this machine.

A reservation is a fixed number of Kafka records through faust (records consumed,
changelog writes, messages sent). This bench measures each kind alone, in a trivial
agent with nothing else to do (bench/floor_app.py), so the pipeline's ceiling per
worker process can be read off without our own code in the way:

- consume: the agent reads a pre-filled topic and does nothing (the baseline);
- topic_send: and sends 3 messages with faust's `Topic.send`;
- producer_send: and sends 3 messages through the producer underneath faust (the
  worker sends through aiokafka producers of its own, in transactions);
- faust_table: and writes 3 keys of a plain `faust.Table`;
- changelog_table: and writes 3 keys of `agents.changelog_table.ChangelogTable` (the worker's).

Each variant runs in a fresh process on its own topics; the CPU time of that process
from its first to its last record, divided by the records, is the cost per record.
Ratios are against the consume-only baseline of the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.floor_app import VARIANTS
from bench.stack import ROOT, delete_run_topics
from inventory.settings import Settings

RECORD = json.dumps({"type": "stock.reserve", "padding": "x" * 600}).encode()  # ~ a command
OPERATIONS = 3
# Records of one reservation in the worker today (docs/ARCHITECTURE.md, "One step for a
# reservation"): 1 consumed (stock.reserve); 5 changelog writes (applied entry, product
# row, reservation row, order row, deadline); 5 sends (reservation.created and
# order.created, each to its events topic and to audit, and the reply).
RESERVATION = {"consumed": 1, "writes": 5, "sends": 5}


@dataclass(frozen=True)
class Result:
    variant: str
    records: int
    cpu_seconds: float
    wall_seconds: float

    @property
    def cpu_ms_per_record(self) -> float:
        return 1000.0 * self.cpu_seconds / self.records

    @property
    def records_per_second(self) -> float:
        return self.records / self.wall_seconds


async def _prepare(bootstrap: list[str], source: str, sink: str, records: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(source, 1, 1), NewTopic(sink, 1, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        sent = [await producer.send(source, key=b"k", value=RECORD) for _ in range(records)]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


def _run_variant(settings: Settings, prefix: str, variant: str, records: int, work: Path) -> Result:
    source, sink = f"{prefix}{variant}.source", f"{prefix}{variant}.sink"
    asyncio.run(_prepare(settings.kafka_bootstrap_list, source, sink, records))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "FLOOR_BROKER": settings.kafka_bootstrap_list[0],
        "FLOOR_SOURCE": source,
        "FLOOR_SINK": sink,
        "FLOOR_RECORDS": str(records),
        "FLOOR_VARIANT": variant,
        "FLOOR_OPERATIONS": str(OPERATIONS),
        "FLOOR_APP_ID": f"{prefix}{variant}",
        "FLOOR_DATADIR": str(work / variant),
    }
    done = subprocess.run(
        [sys.executable, "-m", "bench.floor_app", "worker", "-l", "warn"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    # faust hands print() to its logger, so the line may come on either stream.
    match = re.search(r"FLOOR (\{.*?\})", done.stdout + done.stderr)
    if match:
        found = json.loads(match.group(1))
        return Result(variant, found["records"], found["cpu_seconds"], found["wall_seconds"])
    raise RuntimeError(f"{variant}: no result (exit {done.returncode}):\n{done.stderr[-3000:]}")


def _report(results: dict[str, Result], records: int) -> str:
    base = results["consume"]
    lines = [
        f"{records} records per variant, {OPERATIONS} operations per record; "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"{'variant':<16} {'records/s':>10} {'CPU ms/record':>14} {'x baseline':>11} "
        f"{'CPU ms/operation':>17}",
    ]
    for variant in VARIANTS:
        r = results[variant]
        per_op = (r.cpu_ms_per_record - base.cpu_ms_per_record) / OPERATIONS
        shown = "" if variant == "consume" else f"{per_op:.3f}"
        lines.append(
            f"{variant:<16} {r.records_per_second:>10.0f} {r.cpu_ms_per_record:>14.3f} "
            f"{r.cpu_ms_per_record / base.cpu_ms_per_record:>10.2f}x {shown:>17}"
        )

    def op(variant: str) -> float:
        return (results[variant].cpu_ms_per_record - base.cpu_ms_per_record) / OPERATIONS

    def floor(write: str, send: str) -> float:
        return (
            RESERVATION["consumed"] * base.cpu_ms_per_record
            + RESERVATION["writes"] * op(write)
            + RESERVATION["sends"] * op(send)
        )

    shape = ", ".join(f"{kind} {count}" for kind, count in RESERVATION.items())
    for label, write, send in (
        ("with faust's Topic.send and Table", "faust_table", "topic_send"),
        ("with the producer underneath and ChangelogTable", "changelog_table", "producer_send"),
    ):
        ms = floor(write, send)
        lines.append(
            f"floor of one reservation ({shape}) {label}: {ms:.2f} ms CPU, "
            f"at most {1000 / ms:.0f} reservations/s per worker process"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.faust_floor", description=__doc__)
    parser.add_argument("--records", type=int, default=20_000, help="records per variant")
    args = parser.parse_args(argv)
    settings = Settings()
    prefix = f"floor{secrets.token_hex(4)}."
    work = Path(tempfile.mkdtemp(prefix="faust-floor-"))
    results: dict[str, Result] = {}
    try:
        for variant in VARIANTS:
            print(f"[floor] {variant}: {args.records} records", file=sys.stderr, flush=True)
            results[variant] = _run_variant(settings, prefix, variant, args.records, work)
    finally:
        asyncio.run(delete_run_topics(settings.kafka_bootstrap_list, prefix))
        shutil.rmtree(work, ignore_errors=True)
    print(_report(results, args.records))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
