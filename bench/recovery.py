"""`python -m bench.recovery`: worker restart time and memory against orders taken, for
the RocksDB table store and the memory store, in one run.

For each size N (orders taken) the changelogs are seeded directly, in the worker's
format, with a transactional producer: N finished orders (orders table, inside their
24 h grace, so nothing leaves), N applied entries (stock table, at most DEDUPE_MAX_ENTRIES
per partition, as the worker keeps them) and one product per partition. That is what a
worker's tables hold after taking N orders within a day; seeding it costs seconds where
taking the orders through the pipeline would cost hours. Then, per store, one worker:

- cold: started on an empty state folder (both stores read the whole changelog);
- restart after a clean stop (SIGTERM);
- restart after kill -9.

Each start is timed from the process's start to faust's "Worker ready" line (the time
to the first command it could apply), with the changelog records its recovery read
(agents.changelog_table's log line) and its resident memory once ready (VmRSS) and at
its peak (VmHWM); then one reservation is sent and timed to its reply (the first
command after a recovery builds the worker's in-memory indexes of the table, its
applied entries), and the memory measured again. The ratios are memory store / RocksDB
store of the same run. A restart after kill -9 includes the group's wait for the dead
member's session to expire (10 s, agents.app), for both stores alike.

`--sizes 10000,100000,1000000` chooses N; a PNG of the results goes to docs/.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaProducer

from agents.app import APPLIED_PREFIX
from api.bus import CommandBus
from bench.plots import log_x_panel
from bench.stack import delete_run_topics, settings_env
from inventory.kafka_admin import create_topics, wait_for_topics
from inventory.settings import Settings
from topics.messages import ReserveStock, ReserveStockData
from topics.names import INVENTORY_COMMANDS, ORDERS_TABLE, STOCK_TABLE, changelog_of, prefixed
from topics.partitioning import partition_for

ROOT = Path(__file__).resolve().parent.parent
STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]")
RECOVERED = re.compile(r"table (\S+) recovered: read (\d+) changelog records")
STORES = ("memory", "rocksdb")
STARTS = ("cold", "clean stop", "kill -9")
NAMESPACE = uuid.UUID("7d1c3c52-6f0b-4b0e-9d35-2f3b9a0a4e11")
TRANSACTION_RECORDS = 50_000
ATTEMPTS = 3


@dataclass
class Start:
    store: str
    orders: int
    kind: str
    seconds: float
    recovery_seconds: float  # from the partitions' fence to "Worker ready"
    records_read: int
    rss_mib: float
    peak_mib: float
    first_reply_seconds: float = 0.0
    serving_rss_mib: float = 0.0


@dataclass
class Seeded:
    orders: int
    records: int
    seconds: float
    bytes: int
    product_id: str  # one of the seeded products


def _order(order_id: str, product_id: str, now: datetime, i: int) -> dict[str, object]:
    at = now.isoformat().replace("+00:00", "Z")
    history = [
        {"status": s, "at": at, "reason": None, "request_id": str(uuid.uuid5(NAMESPACE, f"{i}{s}"))}
        for s in ("pending", "confirmed", "processing", "shipped", "delivered")
    ]
    return {
        "order_id": order_id,
        "status": "delivered",
        "customer_id": f"customer-{i % 10_000}",
        "product_id": product_id,
        "quantity": 1,
        "unit_price": "10.00",
        "total": "10.00",
        "reservation_id": str(uuid.uuid5(NAMESPACE, f"reservation-{i}")),
        "expires_at": at,
        "created_at": at,
        "updated_at": at,
        "version": 5,
        "history": history,
        "cancel_reason": None,
    }


def _applied(command_id: str, order_id: str, product_id: str, partition: int, i: int) -> dict:
    reply = {
        "correlation_id": command_id,
        "ok": True,
        "code": "ok",
        "message": "",
        "details": {},
        "result": {
            "reservation": {"id": str(uuid.uuid5(NAMESPACE, f"reservation-{i}")), "quantity": 1},
            "order": {"id": order_id, "status": "pending", "product_id": product_id},
            "product": {"id": product_id, "available": 1_000_000 - i, "reserved": i},
        },
        "read_after": [
            {"entity": "product", "id": product_id, "version": i + 1},
            {"entity": "order", "id": order_id, "version": 1},
        ],
    }
    return {
        "at": time.time(),
        "source": [partition, i],
        "reply": json.dumps(reply, separators=(",", ":")),
        "follow_ups": [],
    }


async def seed(settings: Settings, orders: int) -> Seeded:
    """The changelogs a worker that took `orders` orders today would have left."""
    started = time.monotonic()
    partitions = settings.partitions
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_list,
        transactional_id=f"{settings.app_id}-bench-seed",
        linger_ms=5,
        max_batch_size=512 * 1024,
    )
    await producer.start()
    stock = changelog_of(settings.app_id, STOCK_TABLE)
    orders_log = changelog_of(settings.app_id, ORDERS_TABLE)
    now = datetime.now(UTC)
    products: dict[int, str] = {}
    while len(products) < partitions:
        candidate = f"product-{secrets.token_hex(4)}"
        products.setdefault(partition_for(candidate, partitions), candidate)
    keep = Settings().dedupe_max_entries  # applied entries the worker keeps per partition
    per_partition = [0] * partitions
    sent = size = 0
    try:
        await producer.begin_transaction()

        async def put(topic: str, partition: int, key: str, value: object) -> None:
            nonlocal sent, size
            raw_key, raw_value = json.dumps(key).encode(), json.dumps(value).encode()
            await producer.send(topic, raw_value, key=raw_key, partition=partition)
            sent += 1
            size += len(raw_key) + len(raw_value)
            if sent % TRANSACTION_RECORDS == 0:
                await producer.commit_transaction()
                await producer.begin_transaction()

        for partition, product_id in products.items():
            row = {
                "product_id": product_id,
                "name": product_id,
                "price": "10.00",
                "initial": 10_000_000,
                "adjusted": 0,
                "available": 10_000_000,
                "reserved": 0,
                "sold": 0,
                "version": 1,
                "active": {},
            }
            await put(stock, partition, product_id, row)
        # Newest last, like the worker's log; only the newest `keep` applied entries of a
        # partition are written (older ones the worker would have removed).
        for i in range(orders):
            command_id = str(uuid.uuid5(NAMESPACE, f"command-{i}"))
            order_id = str(uuid.uuid5(NAMESPACE, f"order-{i}"))
            order_partition = partition_for(order_id, partitions)
            await put(orders_log, order_partition, order_id, _order(order_id, "p", now, i))
            partition = i % partitions
            if (orders - i) <= keep * partitions:
                per_partition[partition] += 1
                entry = _applied(command_id, order_id, products[partition], partition, i)
                await put(stock, partition, APPLIED_PREFIX + command_id, entry)
        await producer.commit_transaction()
    finally:
        await producer.stop()
    return Seeded(orders, sent, time.monotonic() - started, size, products[0])


def _status_kib(pid: int, field_name: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return float(line.split()[1])
    return 0.0


async def _first_reply(settings: Settings, product_id: str) -> float:
    bus = CommandBus(settings.model_copy(update={"reply_timeout_seconds": 600.0}))
    await bus.start()
    try:
        started = time.monotonic()
        command = ReserveStock(
            key=product_id,
            data=ReserveStockData(product_id=product_id, quantity=1, customer_id="bench"),
        )
        reply = await bus.request(prefixed(settings.topic_prefix, INVENTORY_COMMANDS), command)
        assert reply.data.ok, reply.data
        return time.monotonic() - started
    finally:
        await bus.stop()


def _run_start(
    settings: Settings,
    store: str,
    state: Path,
    log: Path,
    orders: int,
    kind: str,
    product_id: str,
) -> tuple[Start, subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        # As every bench child: development, so the derived internal command key is
        # accepted (a worker refuses it otherwise, and this bench could not start one).
        **settings_env(settings),
        "TABLE_STORE": store,
        "STATE_DIR": str(state),
        "STANDBY_REPLICAS": "0",
        "PYTHONUNBUFFERED": "1",
    }
    started = time.monotonic()
    with log.open("wb") as out:
        popen = subprocess.Popen(
            [sys.executable, "-m", "inventory.cli", "worker"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        return _measure_start(settings, store, orders, kind, product_id, popen, log, started)
    except BaseException:
        popen.kill()
        popen.wait()
        raise


def _measure_start(
    settings: Settings,
    store: str,
    orders: int,
    kind: str,
    product_id: str,
    popen: subprocess.Popen[bytes],
    log: Path,
    started: float,
) -> tuple[Start, subprocess.Popen[bytes]]:
    deadline = started + 1800
    while True:
        text = log.read_text(errors="replace")
        if "Worker ready" in text:
            break
        if popen.poll() is not None:
            raise RuntimeError(f"worker exited ({popen.returncode}):\n{text[-3000:]}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"worker not ready after 30 min:\n{text[-3000:]}")
        time.sleep(0.05)
    seconds = time.monotonic() - started
    time.sleep(2.0)  # let what the recovery left behind settle before measuring memory
    text = log.read_text(errors="replace")
    read = sum(int(m.group(2)) for m in RECOVERED.finditer(text))
    recovery = _between(text, "partitions owned:", "Worker ready")
    rss = _status_kib(popen.pid, "VmRSS") / 1024
    peak = _status_kib(popen.pid, "VmHWM") / 1024
    first = asyncio.run(_first_reply(settings, product_id))
    serving = _status_kib(popen.pid, "VmRSS") / 1024
    start = Start(store, orders, kind, seconds, recovery, read, rss, peak, first, serving)
    return start, popen


def _between(text: str, first: str, last: str) -> float:
    """Seconds between the log lines holding `first` and `last` (their timestamps)."""
    stamps = {}
    for line in text.splitlines():
        for needle in (first, last):
            match = STAMP.match(line)
            if needle in line and match and needle not in stamps:
                stamps[needle] = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f")
    return (stamps[last] - stamps[first]).total_seconds()


def measure(settings: Settings, orders: int, workdir: Path, product_id: str) -> list[Start]:
    results: list[Start] = []
    for store in STORES:
        state = workdir / f"state-{store}-{orders}"
        shutil.rmtree(state, ignore_errors=True)  # a cold start, also on a second attempt
        popen: subprocess.Popen[bytes] | None = None
        try:
            for n, kind in enumerate(STARTS):
                if popen is not None:
                    if kind == "kill -9":
                        popen.kill()
                    else:
                        popen.send_signal(signal.SIGTERM)
                    popen.wait(60)
                log = workdir / f"worker-{store}-{orders}-{n}.log"
                start, popen = _run_start(settings, store, state, log, orders, kind, product_id)
                results.append(start)
                print(
                    f"  {store:8} {orders:>9,} {kind:10} {start.seconds:7.1f} s "
                    f"(recovery {start.recovery_seconds:6.1f} s) "
                    f"{start.records_read:>10,} records  RSS {start.rss_mib:7.0f} MiB "
                    f"(peak {start.peak_mib:.0f}); first reply {start.first_reply_seconds:.2f} s, "
                    f"RSS then {start.serving_rss_mib:.0f} MiB",
                    flush=True,
                )
            assert popen is not None
            popen.send_signal(signal.SIGTERM)
            popen.wait(60)
        except BaseException:
            if popen is not None and popen.poll() is None:
                popen.kill()
                popen.wait()
            raise
    return results


def render(results: list[Start], seeded: list[Seeded], context: str) -> str:
    lines = [context, ""]
    lines.append(
        "| orders | store | cold start | restart, clean stop | restart, kill -9 | "
        "recovery (cold / clean / kill) | records read (cold / clean / kill) | "
        "first reply after kill -9 | RSS ready | RSS serving | RSS peak |"
    )
    lines.append("|---:|---|---:|---:|---:|---|---|---:|---:|---:|---:|")
    by = {(r.store, r.orders, r.kind): r for r in results}
    for s in seeded:
        for store in STORES:
            row = [by[(store, s.orders, k)] for k in STARTS]
            lines.append(
                f"| {s.orders:,} | {store} | "
                + " | ".join(f"{r.seconds:.1f} s" for r in row)
                + " | "
                + " / ".join(f"{r.recovery_seconds:.1f} s" for r in row)
                + " | "
                + " / ".join(f"{r.records_read:,}" for r in row)
                + f" | {row[-1].first_reply_seconds:.2f} s | {row[-1].rss_mib:.0f} MiB | "
                f"{row[-1].serving_rss_mib:.0f} MiB | {max(r.peak_mib for r in row):.0f} MiB |"
            )
    lines.append("")
    lines.append("Ratios, memory store / RocksDB store (same run):")
    lines.append("")
    lines.append(
        "| orders | clean-stop restart | kill -9 restart | recovery after kill -9 | "
        "restart + first reply, kill -9 | RSS ready | RSS serving | RSS peak |"
    )
    lines.append("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in seeded:
        m = {k: by[("memory", s.orders, k)] for k in STARTS}
        r = {k: by[("rocksdb", s.orders, k)] for k in STARTS}
        mem_peak = max(x.peak_mib for x in m.values())
        rocks_peak = max(x.peak_mib for x in r.values())
        lines.append(
            f"| {s.orders:,} | {m['clean stop'].seconds / r['clean stop'].seconds:.1f}x | "
            f"{m['kill -9'].seconds / r['kill -9'].seconds:.1f}x | "
            f"{m['kill -9'].recovery_seconds / max(r['kill -9'].recovery_seconds, 0.001):.1f}x | "
            f"{_total(m['kill -9']) / _total(r['kill -9']):.1f}x | "
            f"{m['kill -9'].rss_mib / r['kill -9'].rss_mib:.1f}x | "
            f"{m['kill -9'].serving_rss_mib / r['kill -9'].serving_rss_mib:.1f}x | "
            f"{mem_peak / rocks_peak:.1f}x |"
        )
    lines.append("")
    lines.append(
        "Seeding: "
        + ", ".join(
            f"{s.orders:,} orders = {s.records:,} records, {s.bytes / 2**20:.0f} MiB "
            f"in {s.seconds:.0f} s"
            for s in seeded
        )
    )
    return "\n".join(lines)


def _total(start: Start) -> float:
    return start.seconds + start.first_reply_seconds


def plot(results: list[Start], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted({r.orders for r in results})
    fig, (ax_time, ax_rss) = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = {"memory": "tab:red", "rocksdb": "tab:blue"}
    for store in STORES:
        for kind, marker in (("clean stop", "o"), ("kill -9", "s"), ("cold", "^")):
            ys = [
                next(_total(r) for r in results if (r.store, r.orders, r.kind) == (store, n, kind))
                for n in sizes
            ]
            ax_time.plot(
                sizes,
                ys,
                marker=marker,
                color=styles[store],
                label=f"{store}, {kind}",
                linestyle="-" if kind != "cold" else ":",
            )
        rss = [
            next(
                r.serving_rss_mib
                for r in results
                if (r.store, r.orders, r.kind) == (store, n, "kill -9")
            )
            for n in sizes
        ]
        ax_rss.plot(sizes, rss, marker="o", color=styles[store], label=store)
    for ax, title, unit in (
        (ax_time, "worker start until its first reply", "seconds"),
        (ax_rss, "worker RSS serving (kill -9 restart, first reply)", "MiB"),
    ):
        log_x_panel(ax, title, "orders taken (seeded changelogs)", unit, legend_size=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


async def _prepare(settings: Settings) -> None:
    await create_topics(settings)
    await wait_for_topics(settings)


def _wait_for_broker(settings: Settings, seconds: float = 900.0) -> None:
    host, _, port = settings.kafka_bootstrap_list[0].rpartition(":")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, int(port)), timeout=2).close()
            time.sleep(10)  # up is not ready: let it load its logs
            return
        except OSError:
            time.sleep(5)
    raise TimeoutError(f"no broker at {host}:{port} for {seconds:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="orders taken, comma separated")
    parser.add_argument("--plot", default=str(ROOT / "docs" / "bench-recovery.png"))
    parser.add_argument("--keep", action="store_true", help="keep topics and state folders")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="bench-recovery-", dir=ROOT / ".local"))
    base = Settings()  # type: ignore[call-arg]
    context = (
        f"bench.recovery {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, {base.partitions} partitions"
    )
    print(context, flush=True)
    results: list[Start] = []
    seeded: list[Seeded] = []
    for orders in sizes:
        for attempt in range(1, ATTEMPTS + 1):
            prefix = f"benchrec{secrets.token_hex(3)}."
            settings = base.model_copy(update={"topic_prefix": prefix})
            try:
                asyncio.run(_prepare(settings))
                s = asyncio.run(seed(settings, orders))
                print(f"seeded {orders:,} orders: {s.records:,} records in {s.seconds:.0f} s")
                results.extend(measure(settings, orders, workdir, s.product_id))
                seeded.append(s)
                break
            except Exception as err:
                # The broker of a shared machine may be restarted under the run (fault
                # campaigns, CI): measure that size again from the start.
                print(f"size {orders:,}, attempt {attempt} failed: {type(err).__name__}: {err}")
                if attempt == ATTEMPTS:
                    raise
                _wait_for_broker(settings)
            finally:
                if not args.keep:
                    with contextlib.suppress(Exception):
                        asyncio.run(
                            delete_run_topics(settings.kafka_bootstrap_list, settings.topic_prefix)
                        )
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(render(results, seeded, context))
    plot(results, Path(args.plot))
    print(f"\nplot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
