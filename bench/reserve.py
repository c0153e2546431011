"""`python -m bench.reserve`: reservations per second and latency, several ways, one run.

(a) ReserveStock posted straight to Kafka, outcome awaited on a reply topic;
(b) POST /api/reservations/ through the HTTP gateway;
(c) the seed's approach: a PostgreSQL transaction with SELECT ... FOR UPDATE;
(d) carts of `--cart-lines` products (3) through the HTTP gateway, one unit each;
(e) the same carts in PostgreSQL, the cart's rows locked in id order;
(p) (a)'s client against the plain aiokafka loop of `make bench-drain`
    (bench/plain_loop.py: the project's rules, one Kafka transaction per batch) instead
    of the faust worker, on topics of its own. One plain-loop process per partition its
    products live on (one for one product, whatever `--workers` says; up to the number
    of partitions with `--products N`). a/p is the worker against a plain
    implementation of the same work under the same load, p/c what that plain
    implementation does against the row lock: a target (a)/(c) out of reach for the
    worker is only out of reach for the design when p/c is short of it too.
(q) (b)'s HTTP client against bench/plain_gateway.py (the least an HTTP front can do:
    decode, send, await the reply, answer; no authentication, idempotency, metrics,
    access log or read-model wait) in front of the same plain loops. q/c bounds what
    (b) can reach here, b/q is what the project's gateway and worker give away.

One product per mode with stock that never runs out (or `--products N`, reserved in
turn: a uniform load), the same number of concurrent clients and requests for each, on
this machine; `--modes` picks them (default all). `--sweep 1,10,50,200,1000`
repeats every mode at each number of clients and draws throughput and p99 against
clients (`--plot`). `--workers 2` runs two worker processes. The bench starts the
pipeline it measures (workers, projector, gateway) with a private topic prefix and
schema, and stops and removes all of it at the end.
Progress goes to stderr, the tables to stdout.
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

from bench.cpu import CpuMeter, CpuUsage
from bench.http_gateway import HttpGateway
from bench.kafka_direct import KafkaDirect
from bench.load import Attempt, Measurement, run_closed_loop
from bench.plain_reserve import PlainLoops
from bench.postgres_baseline import PostgresBaseline
from bench.report import ModeResult, render_markdown, render_text
from bench.stack import ROOT, Stack
from bench.sweep_report import plot_sweep, render_sweep
from inventory.settings import Settings

STOCK = 100_000_000  # never runs out: every attempt should be acknowledged
MODES = ("a", "b", "c", "d", "e", "p", "q")
# (p) and (q) too: a target out of their reach is out of the design's reach here.
DEFAULT_MODES = ",".join(MODES)
CART_MODES = ("d", "e")
WARMUP_MAX_SECONDS = 15.0  # with the phase limits, keeps a default run under 5 minutes


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.reserve",
        description="Reservations/s and p50/p99 latency: (a) Kafka commands, (b) HTTP "
        "gateway, (c) PostgreSQL SELECT ... FOR UPDATE, (d, e) carts of both, (p) (a)'s "
        "client against the plain aiokafka loop and (q) (b)'s against a bare HTTP front "
        "of it, in one run.",
    )
    parser.add_argument(
        "--modes",
        default=DEFAULT_MODES,
        help=f"comma separated subset of {','.join(MODES)} (default {DEFAULT_MODES})",
    )
    parser.add_argument(
        "--cart-lines", type=int, default=3, help="products per cart in modes d and e"
    )
    parser.add_argument("--requests", type=int, default=3000, help="measured requests per mode")
    parser.add_argument("--warmup", type=int, default=200, help="unmeasured requests first")
    parser.add_argument("--concurrency", type=int, default=50, help="concurrent clients")
    parser.add_argument(
        "--max-seconds", type=float, default=45.0, help="time limit of each measured phase"
    )
    parser.add_argument(
        "--request-timeout", type=float, default=15.0, help="limit of one request, seconds"
    )
    parser.add_argument(
        "--startup-timeout", type=float, default=60.0, help="limit for the pipeline to answer"
    )
    parser.add_argument(
        "--products", type=int, default=1, help="products per mode, reserved in turn"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes (mode p: one plain loop per partition of its products)",
    )
    parser.add_argument(
        "--sweep",
        default="",
        help="comma separated numbers of clients, each mode measured at each (overrides "
        "--concurrency)",
    )
    parser.add_argument(
        "--plot",
        default=str(ROOT / "docs" / "bench-reserve-sweep.png"),
        help="where a sweep's PNG goes",
    )
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    parser.add_argument(
        "--keep", action="store_true", help="keep the run's topics, schemas and process logs"
    )
    args = parser.parse_args(argv)
    # dict.fromkeys: each mode once, in the order given.
    args.modes = list(dict.fromkeys(m.strip() for m in args.modes.split(",") if m.strip()))
    unknown = set(args.modes) - set(MODES)
    if unknown or not args.modes:
        parser.error(f"--modes takes a comma separated subset of {','.join(MODES)}")
    if min(args.requests, args.concurrency) < 1 or args.warmup < 0:
        parser.error("--requests and --concurrency must be >= 1, --warmup >= 0")
    if args.cart_lines < 2:
        parser.error("--cart-lines must be >= 2")
    if min(args.products, args.workers) < 1:
        parser.error("--products and --workers must be >= 1")
    try:
        args.levels = [int(n) for n in args.sweep.split(",") if n.strip()] or [args.concurrency]
    except ValueError:
        parser.error("--sweep takes comma separated numbers of clients")
    if min(args.levels) < 1:
        parser.error("--sweep takes numbers of clients >= 1")
    return args


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def kafka_version() -> str:
    """The pinned broker version from .env (informational: the broker may be external)."""
    try:
        for line in (ROOT / ".env").read_text().splitlines():
            if line.startswith("KAFKA_VERSION="):
                return line.split("=", 1)[1].strip()
    except OSError:
        pass
    return "?"


async def measure(
    args: argparse.Namespace,
    name: str,
    attempt: Attempt,
    pids: dict[str, int],
    concurrency: int,
) -> tuple[Measurement, CpuUsage]:
    """Warm up, then measure; both phases with the same concurrency. Also returns the
    CPU that `pids` (role -> pid) used during the measured phase."""

    async def phase(requests: int, max_seconds: float) -> Measurement:
        return await run_closed_loop(
            attempt,
            requests=requests,
            concurrency=concurrency,
            request_timeout=args.request_timeout,
            max_seconds=max_seconds,
        )

    if args.warmup:
        progress(f"{name}: warm-up, {args.warmup} requests")
        await phase(args.warmup, min(args.max_seconds, WARMUP_MAX_SECONDS))
    progress(f"{name}: measuring {args.requests} requests, {concurrency} clients")
    meter = CpuMeter(pids)
    meter.start()
    result = await phase(args.requests, args.max_seconds)
    usage = meter.stop()
    progress(f"{name}: {result.acknowledged} ok in {result.elapsed:.1f}s, {result.errors} errors")
    return result, usage


def product_ids(args: argparse.Namespace, mode: str, run_id: str, clients: int) -> list[str]:
    """A fresh set of products for one mode at one number of clients (a cart mode has at
    least one product per line)."""
    base = f"bench-{mode}{clients}-{run_id}"
    count = max(args.products, args.cart_lines) if mode in CART_MODES else args.products
    return [base] if count == 1 else [f"{base}-{i}" for i in range(count)]


async def bench_kafka(
    args: argparse.Namespace, stack: Stack, run_id: str, clients: int
) -> ModeResult:
    target = KafkaDirect(stack.settings, product_ids(args, "a", run_id, clients))
    await target.start()
    try:
        await target.create_products(STOCK, time.monotonic() + args.startup_timeout)
        result, cpu = await measure(args, "(a)", target.reserve, stack.pids(), clients)
    finally:
        await target.stop()
    # Doubles as a barrier: (b) starts only when the projector has caught up with (a).
    check = await stack.wait_reserved(target.product_ids, target.acknowledged, 30.0)
    return ModeResult("a", target.label, result, check, cpu)


async def bench_plain(
    args: argparse.Namespace,
    stack: Stack,
    loops: PlainLoops,
    run_id: str,
    clients: int,
    mode: str = "p",
) -> ModeResult:
    """(p): mode (a)'s client against the plain loops; (q): mode (b)'s HTTP client
    against the plain gateway in front of them."""
    ids = product_ids(args, mode, run_id, clients)
    partitions = loops.start(ids, f"{mode}{clients}")
    count = len(partitions)
    processes = f"{count} process{'es' if count > 1 else ''}"
    progress(f"({mode}): plain loops on partitions {','.join(map(str, partitions))}")
    direct = KafkaDirect(loops.settings, ids)
    http: HttpGateway | None = None
    target: KafkaDirect | HttpGateway
    try:
        deadline = time.monotonic() + args.startup_timeout
        gateway = loops.start_gateway(f"{mode}{clients}") if mode == "q" else None
        await loops.wait_ready(deadline)
        await direct.start()
        try:
            await direct.create_products(STOCK, deadline)
            if gateway is None:
                label, target, attempt = f"{loops.label}, {processes}", direct, direct.reserve
            else:
                url = await loops.gateway_url(gateway, deadline)
                http = HttpGateway(url, ids, clients, args.request_timeout)
                await http.start()
                await http.wait_healthy(deadline)
                label = f"HTTP, plain gateway over the plain loop, {processes}"
                target, attempt = http, http.reserve
            # The idle pipeline's processes are metered too, as in the other modes.
            pids = {**stack.pids(), **loops.pids()}
            result, cpu = await measure(args, f"({mode})", attempt, pids, clients)
        finally:
            if http is not None:
                await http.stop()
            await direct.stop()
        loops.check_alive()
        # Every acknowledged reply was sent in a committed batch with its changelog rows.
        reserved = await loops.reserved(ids)
    finally:
        loops.stop()
    check = (
        f"ok, stock changelog shows {reserved} reserved = {target.acknowledged} acknowledged"
        if reserved == target.acknowledged
        else f"MISMATCH: stock changelog shows {reserved} reserved, "
        f"client saw {target.acknowledged} acknowledged"
    )
    return ModeResult(mode, label, result, check, cpu)


async def bench_http(
    args: argparse.Namespace, stack: Stack, base_url: str, run_id: str, clients: int, mode: str
) -> ModeResult:
    lines = args.cart_lines if mode in CART_MODES else 1
    target = HttpGateway(
        base_url, product_ids(args, mode, run_id, clients), clients, args.request_timeout, lines
    )
    await target.start()
    try:
        await target.wait_healthy(time.monotonic() + args.startup_timeout)
        await target.create_products(STOCK)
        result, cpu = await measure(args, f"({mode})", target.reserve, stack.pids(), clients)
    finally:
        await target.stop()
    units = target.acknowledged * lines
    check = await stack.wait_reserved(target.product_ids, units, 30.0)
    return ModeResult(mode, target.label, result, check, cpu)


async def bench_postgres(
    args: argparse.Namespace, stack: Stack, run_id: str, clients: int, mode: str
) -> ModeResult:
    settings = stack.settings
    lines = args.cart_lines if mode in CART_MODES else 1
    target = PostgresBaseline(
        settings.database_url.get_secret_value(),
        f"bench_baseline_{mode}_{run_id}_{clients}",
        product_ids(args, mode, run_id, clients),
        clients,
        lines,
    )
    try:
        await target.setup(STOCK)
        # The PostgreSQL server is not our child: its share shows in the machine total.
        result, cpu = await measure(args, f"({mode})", target.reserve, stack.pids(), clients)
        reserved = await target.reserved_units()
        units = target.acknowledged * lines
        check = (
            f"ok, table shows {reserved} reserved = {units} acknowledged units"
            if reserved == units
            else f"MISMATCH: table shows {reserved} reserved, client saw {units} units"
        )
        if target.pool_size < clients:
            check += f" (pool of {target.pool_size} connections for {clients} clients)"
    finally:
        await target.close(drop_schema=not args.keep)
    return ModeResult(mode, target.label, result, check, cpu)


async def start_pipeline(args: argparse.Namespace, stack: Stack) -> str | None:
    """Topics, schema, worker, projector and (for mode b) the gateway; its URL or None."""
    progress(
        f"preparing topics {stack.settings.topic_prefix}* and schema "
        f"{stack.settings.database_schema}"
    )
    await stack.prepare()
    for _ in range(args.workers):
        stack.start("worker")
    stack.start("projector")
    if not {"b", "d"} & set(args.modes):
        return None
    gateway = stack.start("gateway")
    url = await stack.gateway_url(gateway, time.monotonic() + args.startup_timeout)
    progress(f"gateway at {url}")
    return url


async def run(
    args: argparse.Namespace, run_id: str, workdir: Path
) -> list[tuple[int, list[ModeResult]]]:
    # Broker and database come from the environment like every other process; the
    # names and the gateway address are the run's own (loopback, any free port).
    settings = Settings().model_copy(
        update={
            "topic_prefix": f"bench{run_id}.",
            "database_schema": f"bench_{run_id}",
            "gateway_host": "127.0.0.1",
            "gateway_port": 0,
        }
    )
    stack = Stack(settings, workdir)
    uses_pipeline = bool({"a", "b", "d"} & set(args.modes))
    # Mode p's topics: a prefix of their own, so the worker never sees its commands.
    loops = PlainLoops(settings.model_copy(update={"topic_prefix": f"bench{run_id}p."}), workdir)
    levels: list[tuple[int, list[ModeResult]]] = []
    try:
        base_url = await start_pipeline(args, stack) if uses_pipeline else None
        if {"p", "q"} & set(args.modes):
            progress(f"preparing topics {loops.settings.topic_prefix}* for the plain loops")
            await loops.prepare()
        for clients in args.levels:
            results: list[ModeResult] = []
            for mode in args.modes:
                if mode == "a":
                    results.append(await bench_kafka(args, stack, run_id, clients))
                elif mode in ("p", "q"):
                    results.append(await bench_plain(args, stack, loops, run_id, clients, mode))
                elif mode in ("b", "d"):
                    assert base_url is not None
                    results.append(await bench_http(args, stack, base_url, run_id, clients, mode))
                else:
                    results.append(await bench_postgres(args, stack, run_id, clients, mode))
                stack.check_alive()
            levels.append((clients, results))
    finally:
        loops.stop()  # already stopped unless (p) failed halfway
        if {"p", "q"} & set(args.modes) and not args.keep:
            try:
                await loops.cleanup()
            except Exception as exc:  # noqa: BLE001 - never hide the run's own error
                progress(f"could not remove the plain loops' topics: {exc!r}")
        if uses_pipeline:
            progress("stopping the pipeline")
            stack.stop()
            if not args.keep:
                try:
                    await stack.cleanup()
                except Exception as exc:  # noqa: BLE001 - never hide the run's own error
                    progress(f"could not remove the run's topics or schema: {exc!r}")
    return levels


def context_line(args: argparse.Namespace, clients: int) -> str:
    products = "1 product" if args.products == 1 else f"{args.products:,} products in turn"
    return (
        f"{args.requests} requests per mode after {args.warmup} warm-up, "
        f"{clients} concurrent clients, {products} of stock {STOCK:,}, "
        f"{args.workers} worker process{'es' if args.workers > 1 else ''}; "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, Kafka {kafka_version()}, "
        f"load average {_load_average()}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )


def _load_average() -> str:
    # Shows whether something else was competing for the CPUs during the run.
    try:
        return "/".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    """Exit 0 when every mode ran without errors and its check matched, 1 otherwise."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="[bench] %(levelname)s %(name)s: %(message)s")
    # A freshly created reply topic is briefly missing from the metadata; aiokafka warns
    # about that on every retry, which is noise here (real failures are errors).
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    run_id = secrets.token_hex(4)
    workdir = Path(tempfile.mkdtemp(prefix=f"inventory-bench-{run_id}-"))
    failed = True
    try:
        try:
            levels = asyncio.run(run(args, run_id, workdir))
        except KeyboardInterrupt:
            # run()'s finally blocks have stopped the children and removed the run's data.
            progress("interrupted")
            return 130
        for clients, results in levels:
            context = context_line(args, clients)
            print(render_text(results, context) + "\n")
            if args.markdown:
                print(render_markdown(results, context) + "\n")
        if len(levels) > 1:
            print(render_sweep(levels))
            plot_sweep(levels, Path(args.plot))
            progress(f"plot: {args.plot}")
        failed = any(
            r.measurement.errors or "MISMATCH" in r.consistency
            for _, results in levels
            for r in results
        )
    finally:
        if failed or args.keep:
            progress(f"process logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
