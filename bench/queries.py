"""`python -m bench.queries`: order-list latency at 1M orders, keyset against OFFSET.

Seeds N orders (default 1,000,000) into a schema of the run's own, starts `inventory
gateway` on loopback against it, and for each filter set x sort measures over HTTP
the first page and a deep page (page 200, reached by walking `next_cursor`), then the
same deep page through `list_orders` and through `list_orders_offset` directly (OFFSET
has no HTTP route). Requests are sequential on one keep-alive connection. Progress
goes to stderr, the table and the verdicts to stdout.

Iterating: `--keep` leaves the seeded schema behind, `--schema bench_xxx` measures it
again without seeding (a schema named that way is never dropped by a later run).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import secrets
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.order_combos import FILTER_KEYS, Combo, combos
from bench.order_measure import ComboResult, Limits, measure_combo
from bench.orders_http import OrdersApi
from bench.query_report import Percentiles, render_markdown, render_text
from bench.seed_orders import SeedReport, count_orders, describe_orders, seed_orders
from bench.stack import Stack, delete_run_topics
from inventory.settings import Settings
from storage.engine import create_engine
from storage.order_params import MAX_LIMIT, SORTS

SCHEMA_PREFIX = "bench_"  # --schema must carry it: the bench never seeds a real schema


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.queries",
        description="GET /api/orders/ p50/p99 per filter/sort: first page, deep page by "
        "cursor over HTTP, and OFFSET at the same depth, on N seeded orders.",
    )
    parser.add_argument("--orders", type=int, default=1_000_000, help="orders to seed")
    parser.add_argument(
        "--schema",
        help=f"use this schema (name starting {SCHEMA_PREFIX!r}); seeded only if its orders "
        "table is empty, dropped at the end only if this run created it (and no --keep)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the schema, topics and process logs"
    )
    parser.add_argument("--limit", type=int, default=50, help="page size (the API's default)")
    parser.add_argument("--depth", type=int, default=200, help="number of the deep page")
    parser.add_argument("--rounds", type=int, default=200, help="timed requests per page kind")
    parser.add_argument("--offset-rounds", type=int, default=40, help="timed OFFSET queries")
    parser.add_argument("--warmup", type=int, default=10, help="untimed rounds first")
    parser.add_argument(
        "--filters", default=",".join(FILTER_KEYS), help=f"subset of {','.join(FILTER_KEYS)}"
    )
    parser.add_argument("--sorts", default=",".join(SORTS), help=f"subset of {','.join(SORTS)}")
    parser.add_argument(
        "--max-minutes",
        type=float,
        default=6.5,
        help="no new combination starts after this (seed included); later ones are skipped",
    )
    parser.add_argument("--request-timeout", type=float, default=10.0, help="seconds")
    parser.add_argument("--startup-timeout", type=float, default=60.0, help="seconds")
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    args = parser.parse_args(argv)
    args.filters = _subset(parser, "--filters", args.filters, FILTER_KEYS)
    args.sorts = _subset(parser, "--sorts", args.sorts, SORTS)
    if args.schema is not None and not args.schema.startswith(SCHEMA_PREFIX):
        parser.error(f"--schema must start with {SCHEMA_PREFIX!r}")
    if not 1 <= args.limit <= MAX_LIMIT:
        parser.error(f"--limit must be 1..{MAX_LIMIT}")
    if min(args.orders, args.depth, args.rounds, args.offset_rounds) < 1 or args.warmup < 0:
        parser.error("--orders, --depth, --rounds, --offset-rounds must be >= 1, --warmup >= 0")
    return args


def _subset(
    parser: argparse.ArgumentParser, flag: str, value: str, allowed: tuple[str, ...]
) -> list[str]:
    chosen = list(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))
    if not chosen or set(chosen) - set(allowed):
        parser.error(f"{flag} takes a comma separated subset of {','.join(allowed)}")
    return chosen


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def limits(args: argparse.Namespace) -> Limits:
    return Limits(
        limit=args.limit,
        depth=args.depth,
        rounds=args.rounds,
        offset_rounds=args.offset_rounds,
        warmup=args.warmup,
        # Generous for 200 pages (~1 s at a few ms each); bounds a pathological combo.
        walk_seconds=15.0,
        rounds_seconds=20.0,
        offset_seconds=5.0,
        request_timeout=args.request_timeout,
    )


async def schema_exists(engine: AsyncEngine, schema: str) -> bool:
    async with engine.connect() as conn:
        found = await conn.execute(
            text("SELECT 1 FROM pg_namespace WHERE nspname = :name"), {"name": schema}
        )
        return found.first() is not None


async def ensure_seeded(engine: AsyncEngine, orders: int) -> SeedReport:
    """Seed an empty orders table; describe (and reuse) a filled one."""
    found = await count_orders(engine)
    if found:
        progress(f"reusing {found:,} orders already in the schema (--orders ignored)")
        return await describe_orders(engine)
    report = await seed_orders(engine, orders)
    progress(f"seeded {report.orders:,} orders in {report.seconds:.1f}s")
    return report


async def start_gateway(stack: Stack, args: argparse.Namespace) -> str:
    """Start `inventory gateway` for the run's settings; its base URL once it listens.
    Only the gateway: the order list reads PostgreSQL, and a worker and a projector
    would only compete for this machine's two CPUs."""
    gateway = stack.start("gateway")
    return await stack.gateway_url(gateway, time.monotonic() + args.startup_timeout)


async def measure_all(
    args: argparse.Namespace,
    api: OrdersApi,
    engine: AsyncEngine,
    chosen: list[Combo],
    deadline: float,
    stack: Stack,
) -> list[ComboResult]:
    results: list[ComboResult] = []
    for n, combo in enumerate(chosen, 1):
        if time.monotonic() >= deadline:
            results.append(ComboResult(combo, error="skipped: past the --max-minutes budget"))
            continue
        try:
            result = await measure_combo(api, engine, combo, limits(args))
        except Exception as exc:  # noqa: BLE001 - one broken combination must not hide the rest
            result = ComboResult(combo, error=f"{type(exc).__name__}: {exc}"[:400])
            stack.check_alive()  # ... unless the gateway itself died
        results.append(result)
        progress(f"{n}/{len(chosen)} {combo.label}: {_summary(result)}")
    return results


def _summary(r: ComboResult) -> str:
    if r.error:
        return r.error
    first, deep = Percentiles.of(r.first_http), Percentiles.of(r.deep_http)
    offset = Percentiles.of(r.offset_direct)
    return (
        f"first p99 {first.p99:.1f} ms, deep p99 {deep.p99:.1f} ms, OFFSET p50 {offset.p50:.1f} ms"
    )


async def run(
    args: argparse.Namespace, run_id: str, workdir: Path, started: float
) -> tuple[list[ComboResult], list[str]]:
    schema = args.schema or f"{SCHEMA_PREFIX}{run_id}"
    settings = Settings().model_copy(
        update={
            "topic_prefix": f"bench{run_id}.",
            "database_schema": schema,
            "gateway_host": "127.0.0.1",
            "gateway_port": 0,
        }
    )
    stack = Stack(settings, workdir)
    engine = create_engine(settings)
    api: OrdersApi | None = None
    created_schema = False
    try:
        created_schema = not await schema_exists(engine, schema)
        progress(f"topics {settings.topic_prefix}*, schema {schema}")
        await stack.prepare()
        seed = await ensure_seeded(engine, args.orders)
        url = await start_gateway(stack, args)
        api = OrdersApi(url, args.request_timeout)
        await api.start()
        await api.wait_served(time.monotonic() + args.startup_timeout)
        progress(f"gateway at {url}")
        chosen = combos(seed, args.filters, args.sorts)
        deadline = started + args.max_minutes * 60
        results = await measure_all(args, api, engine, chosen, deadline, stack)
        return results, await context_lines(args, engine, seed, schema)
    finally:
        if api is not None:
            await api.close()
        await engine.dispose()
        progress("stopping the gateway")
        stack.stop()
        await _cleanup(args, stack, created_schema)


async def _cleanup(args: argparse.Namespace, stack: Stack, created_schema: bool) -> None:
    schema = stack.settings.database_schema
    try:
        if args.keep:
            progress(f"kept schema {schema}: measure it again with --schema {schema}")
        elif created_schema:
            await stack.cleanup()  # the run's topics and the schema it created
        else:
            await delete_run_topics(  # someone else's schema stays
                stack.settings.kafka_bootstrap_list, stack.settings.topic_prefix
            )
    except Exception as exc:  # noqa: BLE001 - never hide the run's own error
        progress(f"could not remove the run's topics or schema: {exc!r}")


async def context_lines(
    args: argparse.Namespace, engine: AsyncEngine, seed: SeedReport, schema: str
) -> list[str]:
    async with engine.connect() as conn:
        pg = (await conn.execute(text("SHOW server_version"))).scalar_one()
    seeded = (
        f"seeded in {seed.seconds:.0f}s incl. indexes and VACUUM ANALYZE"
        if seed.seconds
        else "reused"
    )
    try:
        load = "/".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        load = "?"
    return [
        f"{seed.orders:,} orders ({seeded}); page size {args.limit}; deep page = page "
        f"{args.depth}, reached by walking next_cursor over HTTP.",
        f"HTTP: `inventory gateway` on loopback, sequential requests on one keep-alive "
        f"connection, {args.rounds} rounds of (first page, deep page, keyset direct) "
        f"interleaved after {args.warmup} warm-up rounds; times in ms, p50 / p99.",
        "keyset direct = list_orders() and OFFSET direct = list_orders_offset() called in "
        "the bench process on an engine like the gateway's (OFFSET has no HTTP route): the "
        f"same query at the same depth, no HTTP; OFFSET {args.offset_rounds} queries.",
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, PostgreSQL {pg}, "
        f"load average {load}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
    ]


def main(argv: list[str] | None = None) -> int:
    """Exit 0 when every combination was measured, 1 when one failed or was skipped.
    Missed latency targets are a result, printed in the verdicts, not a failure."""
    args = parse_args(argv)
    started = time.monotonic()
    logging.basicConfig(level=logging.WARNING, format="[bench] %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    run_id = secrets.token_hex(4)
    workdir = Path(tempfile.mkdtemp(prefix=f"inventory-bench-{run_id}-"))
    failed = True
    try:
        try:
            results, context = asyncio.run(run(args, run_id, workdir, started))
        except KeyboardInterrupt:
            progress("interrupted")  # run()'s finally has stopped and removed what it made
            return 130
        print(render_text(results, context))
        if args.markdown:
            print("\n" + render_markdown(results, context))
        failed = any(r.error for r in results)
        progress(f"done in {time.monotonic() - started:.0f}s")
    finally:
        if failed or args.keep:
            progress(f"process logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
