"""The fault campaign: the whole pipeline under load while its parts fail, then the proof
that nothing the clients were told was lost or undone (issue 8).

Two workers, two gateways and the projector run on topics and a schema of their own.
Clients reserve, confirm, cancel, advance orders and adjust stock over HTTP, each
request with an Idempotency-Key and retried with it until its answer is definite, on
either gateway. Meanwhile one fault at a time is injected and healed: kill -9 of a
worker, a gateway, the projector or the broker, a worker stopped (SIGSTOP) past its
session timeout, PostgreSQL stopped in immediate mode. Every process that dies is
started again, as `inventory run` or a container's restart policy would.

Then the campaign waits until the pipeline is quiet and checks (tests.faults.ledger):
per product available + reserved + sold = received - removed with none negative,
reserved = the pending orders' units, sold = the confirmed-or-later orders' units, in
the worker's tables and in the read models alike; every acknowledged reservation and
status change present and no order moved backwards; one order per acknowledged
reservation and one event per adjustment (no key applied twice); one content per audit
event id, aborted transactions included; no 500; every request answered. It prints a
summary and exits 1 on any violation.

    python -m tests.faults.campaign --seed 7 --duration 60     (make faults)

The seed fixes the fault schedule and every client's choices; timings still vary with
the machine, so a failing seed replays the same faults in the same order, not the same
interleaving.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from sqlalchemy import select

from inventory.kafka_admin import create_topics, wait_for_topics
from inventory.settings import LOCAL_KAFKA, Settings
from storage.tables import order_lines as order_lines_table
from storage.tables import orders as orders_table
from storage.tables import products as products_table
from tests.faults.ledger import Ledger, Snapshot, violations
from tests.faults.local_state import disk_violations
from tests.support.pipeline import Pipeline, connect, own_schema, read_compacted, read_to_end
from tests.support.processes import ROOT, Process, ProcessGroup
from topics.names import AUDIT, ORDERS_TABLE, changelog_of

FAULT_KINDS = (
    "worker-kill",
    "worker-pause",
    "gateway-kill",
    "projector-kill",
    "broker-kill",
    "postgres-stop",
)
# The workers' session timeout (agents.app): a pause longer than this loses the group.
SESSION_TIMEOUT_SECONDS = 10.0
ANSWER_GRACE_SECONDS = 180.0  # after the load stops, for the last requests' answers
QUIET_WITHIN_SECONDS = 180.0


@dataclass
class Stack:
    """The processes under test by slot ("worker-0", "gateway-1", ...), restarted when
    they die unless a fault holds their slot down."""

    group: ProcessGroup
    gateway_ports: list[int]
    slots: dict[str, Process] = field(default_factory=dict)
    held: set[str] = field(default_factory=set)
    exits: Counter[tuple[str, int]] = field(default_factory=Counter)

    def start(self, slot: str) -> None:
        role, _, index = slot.partition("-")
        env = {"GATEWAY_PORT": str(self.gateway_ports[int(index)])} if role == "gateway" else {}
        self.slots[slot] = self.group.start(role, **env)

    def of(self, role: str) -> list[str]:
        return sorted(s for s in self.slots if s.startswith(role + "-"))

    async def supervise(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            for slot, process in list(self.slots.items()):
                if slot not in self.held and not process.alive():
                    self.exits[(slot.partition("-")[0], process.popen.returncode)] += 1
                    self.start(slot)
            await asyncio.sleep(0.5)

    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.gateway_ports]


@dataclass
class Services:
    """How the broker and the database are failed and healed."""

    cluster_nodes: int  # 0: the local single broker of scripts/kafka.sh

    async def kill_broker(self, rng: random.Random) -> str:
        if self.cluster_nodes:
            node = rng.randint(1, self.cluster_nodes)
            await _script("kafka.sh", "node-kill", str(node))
            return f"node {node}"
        pid = int((ROOT / ".local" / "kafka" / "kafka.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        return f"pid {pid}"

    async def start_broker(self, which: str, bootstrap: str) -> None:
        try:
            if self.cluster_nodes:
                await _script("kafka.sh", "node-start", which.split()[-1])
            else:
                await _script("kafka.sh", "start")
        except RuntimeError as err:
            # A broker holding thousands of partitions recovers its logs for longer than
            # the script waits after a kill -9: keep waiting, do not start a second one.
            print(f"  {str(err)[:200]}; waiting longer for the broker", flush=True)
            await asyncio.to_thread(
                subprocess.run,
                [sys.executable, str(ROOT / "scripts" / "kafka_ready.py"), bootstrap, "600"],
                check=True,
            )

    async def stop_postgres(self) -> None:
        await _script("postgres.sh", "crash")

    async def start_postgres(self) -> None:
        await _script("postgres.sh", "start")


async def _script(name: str, *args: str) -> None:
    done = await asyncio.to_thread(
        subprocess.run, [str(ROOT / "scripts" / name), *args], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"scripts/{name} {' '.join(args)}: {done.stderr[-2000:]}")


class Clients:
    """HTTP clients that retry each request with its Idempotency-Key until it is answered
    for sure, and write every definite answer into the ledger."""

    def __init__(self, stack: Stack, ledger: Ledger, answer_by: Callable[[], float]) -> None:
        self.stack = stack
        self.ledger = ledger
        self.answer_by = answer_by
        self.sent = 0

    async def call(
        self,
        session: aiohttp.ClientSession,
        rng: random.Random,
        action: str,
        method: str,
        path: str,
        body: dict[str, Any],
    ) -> tuple[int, dict[str, Any]] | None:
        key = str(uuid.UUID(int=rng.getrandbits(128)))
        urls = self.stack.urls()
        attempt = rng.randrange(len(urls))
        self.sent += 1
        while time.monotonic() < self.answer_by():
            url = urls[attempt % len(urls)] + path
            attempt += 1
            try:
                async with session.request(
                    method, url, json=body, headers={"Idempotency-Key": key}
                ) as response:
                    status = response.status
                    text = await response.text()
            except (aiohttp.ClientError, TimeoutError):
                await asyncio.sleep(0.3)
                continue
            if status in (503, 504):  # a dependency away, or no answer yet: ask again
                await asyncio.sleep(0.3)
                continue
            try:
                payload = json.loads(text)
            except ValueError:
                payload = {"raw": text[:200]}
            if status >= 500:
                self.ledger.server_errors.append(f"{status} {method} {path}: {text[:300]}")
                await asyncio.sleep(0.3)
                continue
            self.ledger.answers[(action, status)] += 1
            return status, payload
        self.ledger.unanswered.append(f"{method} {path} {body} (Idempotency-Key {key})")
        return None

    async def run_one(
        self,
        session: aiohttp.ClientSession,
        n: int,
        seed: int,
        products: list[str],
        load_until: float,
    ) -> None:
        rng = random.Random(f"{seed}-client-{n}")
        mine: dict[str, str] = {}  # order id -> status this client was told
        while time.monotonic() < load_until:
            choice = rng.choices(
                ["reserve", "cart", "confirm", "cancel", "advance", "adjust"],
                [40, 10, 20, 8, 12, 10],
            )[0]
            if choice == "reserve":
                await self.reserve(session, rng, n, rng.choice(products), mine)
            elif choice == "cart":
                picked = rng.sample(products, k=min(len(products), rng.randint(2, 3)))
                await self.reserve_cart(session, rng, n, picked, mine)
            elif choice == "adjust":
                await self.adjust(session, rng, rng.choice(products))
            else:
                await self.change(session, rng, choice, mine)
            await asyncio.sleep(rng.uniform(0.01, 0.1))

    async def reserve(
        self,
        session: aiohttp.ClientSession,
        rng: random.Random,
        n: int,
        product_id: str,
        mine: dict[str, str],
    ) -> None:
        quantity = rng.randint(1, 3)
        body = {"product_id": product_id, "quantity": quantity, "customer_id": f"client-{n}"}
        answer = await self.call(session, rng, "reserve", "POST", "/api/reservations/", body)
        if answer and answer[0] == 201:
            order_id = answer[1]["order"]["id"]
            self.ledger.reserved(product_id, order_id, quantity)
            mine[order_id] = "pending"

    async def reserve_cart(
        self,
        session: aiohttp.ClientSession,
        rng: random.Random,
        n: int,
        product_ids: list[str],
        mine: dict[str, str],
    ) -> None:
        lines = {product_id: rng.randint(1, 2) for product_id in product_ids}
        body = {
            "customer_id": f"client-{n}",
            "lines": [{"product_id": p, "quantity": q} for p, q in lines.items()],
        }
        answer = await self.call(session, rng, "cart", "POST", "/api/reservations/", body)
        if answer and answer[0] == 201:
            order_id = answer[1]["order"]["id"]
            self.ledger.cart_reserved(order_id, lines)
            mine[order_id] = "pending"

    async def adjust(
        self, session: aiohttp.ClientSession, rng: random.Random, product_id: str
    ) -> None:
        delta = rng.choice([-3, -2, -1, 2, 5, 8, 12])
        body = {"delta": delta, "reason": "fault campaign"}
        path = f"/api/products/{product_id}/adjust_stock/"
        answer = await self.call(session, rng, "adjust", "POST", path, body)
        if answer and answer[0] == 200:
            self.ledger.adjusted[product_id] += delta
            self.ledger.adjustments[product_id] += 1

    async def change(
        self,
        session: aiohttp.ClientSession,
        rng: random.Random,
        choice: str,
        mine: dict[str, str],
    ) -> None:
        if choice == "confirm":
            candidates, target = [o for o, s in mine.items() if s == "pending"], "confirmed"
        elif choice == "cancel":
            candidates = [o for o, s in mine.items() if s in ("pending", "confirmed")]
            target = "cancelled"
        else:
            candidates = [o for o, s in mine.items() if s in ("confirmed", "processing", "shipped")]
            target = ""
        if not candidates:
            return
        order_id = rng.choice(candidates)
        if not target:
            target = {"confirmed": "processing", "processing": "shipped", "shipped": "delivered"}[
                mine[order_id]
            ]
        path = f"/api/orders/{order_id}/change_status/"
        answer = await self.call(session, rng, choice, "POST", path, {"status": target})
        if answer is None:
            return
        status, payload = answer
        if status == 200:
            self.ledger.status_changed(order_id, payload["order"]["status"])
            mine[order_id] = payload["order"]["status"]
        elif status == 409:
            mine.pop(order_id)  # moved on without this client (expired): leave it be


@dataclass
class Faults:
    stack: Stack
    services: Services
    kinds: list[str]
    bootstrap: str
    log: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def note(self, text: str) -> None:
        line = f"{time.monotonic() - self.started:7.1f}s  {text}"
        self.log.append(line)
        print(line, flush=True)

    async def inject(self, kind: str, rng: random.Random) -> None:
        actions: dict[str, Callable[[random.Random], Awaitable[None]]] = {
            "worker-kill": lambda r: self._kill(r, "worker"),
            "gateway-kill": lambda r: self._kill(r, "gateway"),
            "projector-kill": lambda r: self._kill(r, "projector"),
            "worker-pause": self._pause,
            "broker-kill": self._broker,
            "postgres-stop": self._postgres,
        }
        await actions[kind](rng)

    async def _kill(self, rng: random.Random, role: str) -> None:
        slot = rng.choice(self.stack.of(role))
        self.stack.held.add(slot)
        self.stack.slots[slot].kill()
        self.note(f"kill -9 {slot}")
        await asyncio.sleep(rng.uniform(0.5, 3.0))
        self.stack.held.discard(slot)  # the supervisor starts it again

    async def _pause(self, rng: random.Random) -> None:
        slot = rng.choice(self.stack.of("worker"))
        process = self.stack.slots[slot]
        seconds = SESSION_TIMEOUT_SECONDS + rng.uniform(3.0, 8.0)
        process.popen.send_signal(signal.SIGSTOP)
        self.note(f"SIGSTOP {slot} for {seconds:.1f}s")
        await asyncio.sleep(seconds)
        if process.alive():
            process.popen.send_signal(signal.SIGCONT)
        self.note(f"SIGCONT {slot}")

    async def _broker(self, rng: random.Random) -> None:
        which = await self.services.kill_broker(rng)
        self.note(f"kill -9 broker ({which})")
        await asyncio.sleep(rng.uniform(2.0, 6.0))
        await self.services.start_broker(which, self.bootstrap)
        self.note("broker back")

    async def _postgres(self, rng: random.Random) -> None:
        await self.services.stop_postgres()
        self.note("PostgreSQL stopped (immediate)")
        await asyncio.sleep(rng.uniform(2.0, 6.0))
        await self.services.start_postgres()
        self.note("PostgreSQL back")

    async def run(self, rng: random.Random, until: float, every: float) -> Counter[str]:
        injected: Counter[str] = Counter()
        order: list[str] = []
        await asyncio.sleep(min(5.0, every))
        while time.monotonic() < until:
            if not order:
                order = list(self.kinds)
                rng.shuffle(order)
            kind = order.pop()
            await self.inject(kind, rng)
            injected[kind] += 1
            await asyncio.sleep(max(0.0, every + rng.uniform(-1.0, 1.0)))
        return injected


async def snapshots(pipeline: Pipeline) -> list[Snapshot]:
    """The worker's tables (from their changelogs) and the read models, as the checks
    want them."""
    table_products = {
        k: {n: v[n] for n in ("available", "reserved", "sold")}
        for k, v in (await pipeline.stock_table()).items()
    }
    rows = await read_compacted(
        pipeline.settings, changelog_of(pipeline.settings.app_id, ORDERS_TABLE)
    )
    table_orders = {
        k: {"status": v["status"], "lines": _lines_of_row(v)}
        for k, v in rows.items()
        if not k.startswith("\x00")
    }
    async with pipeline.engine.connect() as conn:
        p, o = products_table.c, orders_table.c
        read_products = {
            r.id: {"available": r.available, "reserved": r.reserved, "sold": r.sold}
            for r in await conn.execute(select(p.id, p.available, p.reserved, p.sold))
        }
        read_lines: dict[str, dict[str, int]] = {}
        line = order_lines_table.c
        for r in await conn.execute(select(line.order_id, line.product_id, line.quantity)):
            read_lines.setdefault(r.order_id, {})[r.product_id] = r.quantity
        read_orders = {
            r.id: {"status": r.status, "lines": read_lines.get(r.id, {})}
            for r in await conn.execute(select(o.id, o.status))
        }
    return [
        Snapshot("tables", table_products, table_orders),
        Snapshot("read models", read_products, read_orders),
    ]


def _lines_of_row(row: dict[str, Any]) -> dict[str, int]:
    """An order row's lines; a row written before carts has its one line on itself."""
    if "lines" in row:
        return {line["product_id"]: line["quantity"] for line in row["lines"]}
    return {row["product_id"]: row["quantity"]}


async def quiet(pipeline: Pipeline, ttl: float) -> list[Snapshot]:
    """Wait until every hold has had time to expire, the projections have caught up, and
    two snapshots two seconds apart agree; return the last. (The workers' own lag is no
    measure: their offsets stop short of the commit markers on the command topics.)"""
    await asyncio.sleep(ttl + 2.0)
    deadline = time.monotonic() + QUIET_WITHIN_SECONDS
    previous: list[Snapshot] | None = None
    while time.monotonic() < deadline:
        try:
            await pipeline.settled(within=60.0)
            current: list[Snapshot] | None = await snapshots(pipeline)
        except Exception as err:  # a service still coming back: ask again
            print(f"  waiting for quiet: {type(err).__name__}: {err}", flush=True)
            current = None
        if current is not None and current == previous:
            return current
        previous = current
        await asyncio.sleep(2.0)
    raise TimeoutError(f"the pipeline was not quiet within {QUIET_WITHIN_SECONDS:g} s")


async def audit_log(settings: Settings, topic: str) -> tuple[list[dict[str, Any]], dict[str, int]]:
    committed = [json.loads(r.value) for r in await read_to_end(settings, topic)]
    contents: dict[str, set[bytes]] = {}
    for record in await read_to_end(settings, topic, aborted_too=True):
        contents.setdefault(json.loads(record.value)["id"], set()).add(record.value)
    return committed, {event_id: len(c) for event_id, c in contents.items()}


def campaign_settings(seed: int, args: argparse.Namespace) -> Settings:
    base = Settings()
    run = f"{seed}x{uuid.uuid4().hex[:6]}"
    return base.model_copy(
        update={
            "topic_prefix": f"faults{run}.",
            "database_schema": f"faults_{run}",
            "partitions": args.partitions,
            "reservation_ttl_seconds": args.ttl,
            "reply_timeout_seconds": 5.0,
            # Two workers on one machine: no metrics ports to fight over.
            "worker_metrics_port": 0,
            "projector_metrics_port": 0,
            # The campaign is about faults, not keys: the derived command key and no API
            # keys (the gateway warns that auth is off).
            "environment": "development",
            "auth": "off",
        }
    )


async def run_campaign(args: argparse.Namespace) -> int:
    seed = args.seed
    rng = random.Random(seed)
    settings = campaign_settings(seed, args)
    kinds = [k for k in args.faults.split(",") if k]
    unknown = set(kinds) - set(FAULT_KINDS)
    if unknown:
        raise SystemExit(f"unknown fault kinds {sorted(unknown)}; known: {FAULT_KINDS}")
    # The broker scripts/kafka.sh runs (and so can kill and start again), as it decides.
    local_broker = settings.kafka_bootstrap_servers == "127.0.0.1:" + os.environ.get(
        "LOCAL_KAFKA_PORT", LOCAL_KAFKA.rsplit(":", 1)[1]
    )
    if "broker-kill" in kinds and not (local_broker or args.cluster_nodes):
        print("broker-kill needs the local broker of scripts/kafka.sh (or --cluster-nodes)")
        kinds.remove("broker-kill")
    print(f"fault campaign: seed {seed}, {args.duration:g} s, faults {', '.join(kinds)}")
    print(f"  topics {settings.topic_prefix}*, schema {settings.database_schema}", flush=True)
    ledger = Ledger()
    log_dir = ROOT / ".local" / "faults" / settings.topic_prefix.rstrip(".")
    await create_topics(settings)
    await wait_for_topics(settings)  # as every process does: metadata may trail creation
    async with own_schema(settings) as engine:
        group = ProcessGroup(settings, log_dir)
        stack = Stack(group, [args.port_base + i for i in range(args.gateways)])
        for i in range(args.workers):
            stack.start(f"worker-{i}")
        stack.start("projector-0")
        for i in range(args.gateways):
            stack.start(f"gateway-{i}")
        pipeline = await connect(settings, engine, group)
        stop = asyncio.Event()
        supervising = asyncio.create_task(stack.supervise(stop))
        try:
            for i in range(args.gateways):
                group.gateway_url(stack.slots[f"gateway-{i}"], timeout=120)
            started = time.monotonic()
            load_until = started + args.duration
            answer_by = load_until + ANSWER_GRACE_SECONDS
            clients = Clients(stack, ledger, lambda: answer_by)
            timeout = aiohttp.ClientTimeout(total=15)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                products = [f"fp{i}" for i in range(args.products)]
                for product_id in products:
                    stock = rng.randint(20, 60)
                    body = {
                        "id": product_id,
                        "name": "Fault widget",
                        "price": "5.00",
                        "stock": stock,
                    }
                    answer = await clients.call(
                        session, rng, "create", "POST", "/api/products/", body
                    )
                    if not answer or answer[0] != 201:
                        raise RuntimeError(f"creating {product_id}: {answer}")
                    ledger.initial[product_id] = stock
                faults = Faults(
                    stack, Services(args.cluster_nodes), kinds, settings.kafka_bootstrap_servers
                )
                injecting = asyncio.create_task(
                    faults.run(random.Random(f"{seed}-faults"), load_until, args.every)
                )
                await asyncio.gather(
                    *(
                        clients.run_one(session, n, seed, products, load_until)
                        for n in range(args.clients)
                    )
                )
                injected = await injecting
            faults.note("load stopped; waiting for quiet")
            final = await quiet(pipeline, settings.reservation_ttl_seconds)
            audit, copies = await audit_log(settings, pipeline.topic(AUDIT))
            found = violations(ledger, final, audit, copies)
            if settings.table_store == "rocksdb":
                found += await disk_violations(settings)
            elapsed = time.monotonic() - started
        finally:
            stop.set()
            await supervising
            await pipeline.bus.stop()
            await pipeline.producer.stop()
            group.stop_all()
            # Connections from before a PostgreSQL crash are dead: drop the schema on new ones.
            await engine.dispose()
    summary(seed, ledger, injected, stack, clients.sent, audit, found, elapsed, log_dir)
    return 1 if found else 0


def summary(
    seed: int,
    ledger: Ledger,
    injected: Counter[str],
    stack: Stack,
    sent: int,
    audit: list[dict[str, Any]],
    found: list[str],
    elapsed: float,
    log_dir: Any,
) -> None:
    statuses = Counter(o.acknowledged[-1] for o in ledger.orders.values())
    print(f"\nseed {seed}: {elapsed:.0f} s, {sent} requests, faults {dict(injected)}")
    print(f"  answers: {dict(sorted(ledger.answers.items()))}")
    print(f"  orders acknowledged: {len(ledger.orders)}, last told {dict(statuses)}")
    print(f"  process exits: {dict(stack.exits)}; audit events {len(audit)}")
    print(f"  logs: {log_dir}")
    if found:
        print(f"FAILED: {len(found)} violations")
        for line in found[:50]:
            print(f"  - {line}")
    else:
        print("OK: every invariant held")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=None, help="random if not given")
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of load")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between faults")
    parser.add_argument("--faults", default=",".join(FAULT_KINDS))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--gateways", type=int, default=2)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--products", type=int, default=6)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--ttl", type=float, default=8.0, help="reservation TTL, seconds")
    parser.add_argument("--port-base", type=int, default=18480, help="first gateway port")
    parser.add_argument(
        "--cluster-nodes",
        type=int,
        default=0,
        help="kill nodes of scripts/kafka.sh cluster-start instead",
    )
    args = parser.parse_args(argv)
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 1_000_000)
    return args


def main() -> None:
    args = parse(sys.argv[1:])
    code = asyncio.run(run_campaign(args))
    print(f"repeat with: make faults FAULT_SEED={args.seed}")
    sys.exit(code)


if __name__ == "__main__":
    main()
