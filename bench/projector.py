"""`python -m bench.projector` (`make bench-projector`): the projector alone, writing a
queue of reservations' events into a fresh schema.

Per round, on a topic prefix and a database schema of its own:

1. create the run's topics and migrate its schema;
2. decide `--products` CreateProduct and N ReserveStock commands (one unit each, the
   products in turn) with the project's own rules, in this process, with no worker:
   bench/plain_loop.py's InventoryLoop (`agents.inventory_rules.decide`, the order
   created in the reservation's step), so the events are the ones the worker sends.
   Their records on `inventory.events`, `orders.events` and `audit` are queued (2 per
   reservation on the event topics, 2 more on audit); the reply and the changelogs are
   left out, as the projector reads neither;
3. start `inventory projector` on them. The bench polls the row counts meanwhile and
   samples the process's CPU (/proc/<pid>/stat);
4. once every row is there (reservations, orders, order lines, audit log, and the
   products' reserved units equal to N), stop it.

The window runs from the first poll that sees a row to the first that sees them all
(polled every POLL_SECONDS): events/s is the queued events over it, CPU ms per
reservation the projector's CPU over it divided by N. `--profile` records the window
with py-spy and summarizes it (bench/profile_summary.py). A table goes to stdout, a JSON
result to .local/bench/projector-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord
from sqlalchemy import text

from bench.cpu_sampler import CpuSampler
from bench.drain import PySpy, _find_py_spy, load_average
from bench.plain_loop import InventoryLoop, Out
from bench.profile_summary import render, summarize
from bench.stack import ROOT, Stack
from inventory.settings import Settings
from storage.engine import create_engine
from topics.messages import (
    CreateProduct,
    CreateProductData,
    ReserveStock,
    ReserveStockData,
    encode,
)
from topics.names import AUDIT, INVENTORY_COMMANDS, INVENTORY_EVENTS, ORDERS_EVENTS, prefixed
from topics.partitioning import partition_for

POLL_SECONDS = 0.05
QUEUE_LINGER_MS = 20
STARTUP_SECONDS = 120.0
PROGRESS_TIMEOUT_SECONDS = 60.0  # no new row for this long: the projector is stuck

_COUNTS = text(
    """
    SELECT (SELECT count(*) FROM reservations), (SELECT count(*) FROM orders),
           (SELECT count(*) FROM order_lines), (SELECT count(*) FROM audit_log),
           (SELECT coalesce(sum(reserved), 0) FROM products)
    """
)


def progress(message: str) -> None:
    print(f"[projector-bench] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Queued:
    """What was queued, and the rows it must give."""

    event_records: int  # on inventory.events and orders.events
    audit_records: int
    rows: tuple[int, int, int, int, int]  # as _COUNTS: reservations .. reserved units


def decide_events(settings: Settings, products: int, reservations: int) -> list[Out]:
    """The event records of `products` created and `reservations` of one unit each,
    decided by the project's rules (bench/plain_loop.py's InventoryLoop)."""
    loop = InventoryLoop(settings, 0)
    source = prefixed(settings.topic_prefix, INVENTORY_COMMANDS)
    wanted = {prefixed(settings.topic_prefix, t) for t in (INVENTORY_EVENTS, ORDERS_EVENTS, AUDIT)}
    ids = [f"pb-{i}-{secrets.token_hex(3)}" for i in range(products)]
    offsets: dict[int, int] = {}
    clock = int(time.time() * 1000)
    outs: list[Out] = []

    def apply(command: CreateProduct | ReserveStock, product_id: str) -> None:
        nonlocal clock
        partition = partition_for(product_id, settings.partitions)
        offset = offsets.get(partition, 0)
        offsets[partition] = offset + 1
        clock += 1  # as a broker stamps a partition's records: one per ms
        value = encode(command)
        record = ConsumerRecord(
            source, partition, offset, clock, 1, product_id.encode(), value, None, 0, len(value), []
        )
        outs.extend(o for o in loop.apply(record) if o.topic in wanted)

    for product_id in ids:
        stock = reservations + 1
        data = CreateProductData(
            product_id=product_id, name="bench", price=Decimal("1.00"), initial_stock=stock
        )
        apply(CreateProduct(key=product_id, data=data), product_id)
    for index in range(reservations):
        product_id = ids[index % products]
        reserve = ReserveStockData(
            product_id=product_id, quantity=1, customer_id=f"customer-{index % 1000}"
        )
        apply(ReserveStock(key=product_id, data=reserve), product_id)
    if loop.skipped:
        raise RuntimeError(f"the rules skipped {loop.skipped} commands")
    return outs


async def queue(settings: Settings, outs: list[Out]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_list,
        acks="all",
        enable_idempotence=True,
        linger_ms=QUEUE_LINGER_MS,
    )
    await producer.start()
    try:
        sent = [
            await producer.send(o.topic, o.value, key=o.key, partition=o.partition) for o in outs
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


@dataclass
class RoundResult:
    round: int
    reservations: int
    events: int  # every record queued: both event topics and audit
    seconds: float
    cpu_seconds: float
    startup_seconds: float
    load_before: str
    load_after: str
    profile: str | None = None

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_ms(self) -> float:
        return 1000.0 * self.cpu_seconds / self.reservations


async def one_round(
    args: argparse.Namespace, round_: int, run_id: str, workdir: Path, stamp: str
) -> RoundResult:
    name = f"r{round_}"
    settings = Settings().model_copy(
        update={
            "topic_prefix": f"projbench{run_id}-{name}.",
            "database_schema": f"bench_projector_{run_id}_{name}",
            "projector_metrics_port": 0,
        }
    )
    stack = Stack(settings, workdir / name)
    stack.workdir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings)
    try:
        await stack.prepare()
        progress(f"{name}: deciding {args.reservations} reservations")
        outs = decide_events(settings, args.products, args.reservations)
        audit = prefixed(settings.topic_prefix, AUDIT)
        audit_records = sum(o.topic == audit for o in outs)
        expected = (args.reservations, args.reservations, args.reservations, audit_records)
        expected_rows = (*expected, args.reservations)
        progress(f"{name}: queueing {len(outs)} records ({audit_records} on audit)")
        await queue(settings, outs)
        load_before = load_average()
        started = time.time()
        child = stack.start("projector")
        sampler = CpuSampler(child.popen.pid)
        sampler.start()
        profiler: PySpy | None = None
        first = last = 0.0
        last_change = time.monotonic()
        deadline = time.monotonic() + STARTUP_SECONDS
        seen: tuple[int, ...] = (0, 0, 0, 0, 0)
        try:
            while True:
                async with engine.connect() as conn:
                    counts = tuple((await conn.execute(_COUNTS)).one())
                now = time.time()
                if counts != seen:
                    seen, last_change = counts, time.monotonic()
                if not first and any(counts):
                    first = now
                    if args.profile:
                        output = (
                            ROOT / ".local" / "bench" / f"projector-{stamp}-{name}.speedscope.json"
                        )
                        profiler = PySpy(args.py_spy, child.popen.pid, output)
                if counts == expected_rows:
                    last = now
                    break
                stack.check_alive()
                if not first and time.monotonic() > deadline:
                    raise TimeoutError("the projector wrote no row")
                if first and time.monotonic() - last_change > PROGRESS_TIMEOUT_SECONDS:
                    raise TimeoutError(f"no progress: rows {counts}, expected {expected_rows}")
                await asyncio.sleep(POLL_SECONDS)
            sampler.stop()
        finally:
            profile = profiler.stop() if profiler is not None else None
            stack.stop()
        result = RoundResult(
            round=round_,
            reservations=args.reservations,
            events=len(outs),
            seconds=last - first,
            cpu_seconds=sampler.at(last) - sampler.at(first),
            startup_seconds=first - started,
            load_before=load_before,
            load_after=load_average(),
            profile=profile,
        )
        progress(
            f"{name}: {result.per_second:,.0f} events/s, {result.cpu_ms:.3f} CPU ms per reservation"
        )
        return result
    finally:
        await engine.dispose()
        if not args.keep:
            try:
                await stack.cleanup()
            except Exception as exc:  # noqa: BLE001 - never hide the run's own error
                progress(f"could not remove the round's topics and schema: {exc!r}")


def render_table(results: list[RoundResult], products: int) -> str:
    lines = [
        f"projector draining queued events: {results[0].reservations:,} reservations, "
        f"{products} product(s), {os.cpu_count()} CPUs",
        "",
        "| round | events | seconds | events/s | CPU s | CPU ms per reservation | start-up s "
        "| load before → after |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.round} | {r.events:,} | {r.seconds:.2f} | {r.per_second:,.0f} | "
            f"{r.cpu_seconds:.2f} | {r.cpu_ms:.3f} | {r.startup_seconds:.1f} | "
            f"{r.load_before} → {r.load_after} |"
        )
    best = min(results, key=lambda r: r.cpu_ms)
    lines.append(
        f"\nbest: {best.cpu_ms:.3f} CPU ms per reservation, {best.per_second:,.0f} events/s"
    )
    return "\n".join(lines)


async def run(
    args: argparse.Namespace, run_id: str, workdir: Path, stamp: str
) -> list[RoundResult]:
    return [
        await one_round(args, round_, run_id, workdir, stamp)
        for round_ in range(1, args.rounds + 1)
    ]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.projector", description=__doc__)
    parser.add_argument("--reservations", type=int, default=20_000)
    parser.add_argument("--products", type=int, default=1, help="reserved in turn")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--profile", action="store_true", help="py-spy record, and a summary")
    parser.add_argument("--py-spy", default=_find_py_spy(), help="the py-spy binary")
    parser.add_argument("--keep", action="store_true", help="keep topics, schema and logs")
    args = parser.parse_args(argv)
    if args.reservations < 1 or args.products < 1 or args.rounds < 1:
        parser.error("--reservations, --products and --rounds must be >= 1")
    if args.profile and not args.py_spy:
        parser.error("--profile needs py-spy (on PATH, beside python, or --py-spy)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run_id = secrets.token_hex(3)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    workdir = Path(tempfile.mkdtemp(prefix=f"inventory-projector-bench-{run_id}-"))
    ok = False
    try:
        try:
            results = asyncio.run(run(args, run_id, workdir, stamp))
        except KeyboardInterrupt:
            progress("interrupted")
            return 130
        out = ROOT / ".local" / "bench" / f"projector-{stamp}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(
            json.dumps(
                {
                    "bench": "projector",
                    "at": stamp,
                    "products": args.products,
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "results": [
                        {**asdict(r), "events_per_second": r.per_second, "cpu_ms": r.cpu_ms}
                        for r in results
                    ],
                },
                indent=2,
            )
        )
        print(render_table(results, args.products))
        print(f"\nresult: {out}")
        for r in results:
            if r.profile:
                print(f"\nprofile of round {r.round} ({r.profile}), ms per reservation:")
                print(render(summarize(Path(r.profile)), r.cpu_ms))
        ok = True
    finally:
        if not ok or args.keep:
            progress(f"process logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
