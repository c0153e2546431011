"""A broker dies under load and nothing acknowledged is lost: a fault check against the
three-node cluster (`scripts/kafka.sh cluster-start`, or `make kafka-cluster`).

Too heavy for `make test` (three JVMs beside the pipeline on two cores), so it is a
script, run by hand:

    scripts/kafka.sh cluster-start
    .venv/bin/python scripts/cluster_check.py [--rounds 2] [--per-phase 40] [--clients 4]
                                              [--node N] [--two-down]
    scripts/kafka.sh cluster-stop

It creates the pipeline's topics with replication 3 under a prefix of its own, starts a
worker, a projector and a gateway on them (its own database schema, dropped afterwards),
creates a few products and reserves one unit at a time over HTTP. Each round kills a
broker (`node-kill`, SIGKILL) - by default the leader of the first inventory command
partition - keeps reserving while it is down, starts it again, waits until every
partition has all three replicas in sync, and reserves some more. Every reservation
carries an Idempotency-Key and is retried with it after a 503/504 until it has a final
answer, so each one is counted exactly once. Then the worker is replaced by a fresh
one, which rebuilds its tables from the changelogs that lived through the kills, and
one more reservation per product is made. `--two-down` adds, before that, two brokers
killed for 30 s at once (beyond what min ISR 2 of 3 covers): nothing may be
acknowledged until they are back, and everything after.

It passes when, per product, the read model (GET /api/products/{id}) and the stock
changelog show reserved = the 201s and available + reserved = the initial stock, every
reservation answered 201 can be read back, and no process died other than a worker
exiting to be restarted (which the check does, as `inventory run` and docker-compose
would). Exit code 0 when it passes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.support is not an installed package

import aiohttp  # noqa: E402
from aiokafka.admin import AIOKafkaAdminClient  # noqa: E402
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType  # noqa: E402

from agents import exit_codes  # noqa: E402
from agents.app import RESERVATION_PREFIX  # noqa: E402
from inventory.kafka_admin import create_topics, pipeline_topics  # noqa: E402
from inventory.settings import Settings  # noqa: E402
from tests.support.pipeline import own_schema, read_compacted  # noqa: E402
from tests.support.processes import ProcessGroup  # noqa: E402
from topics.names import INVENTORY_COMMANDS, STOCK_TABLE, changelog_of, prefixed  # noqa: E402

KAFKA_SH = ROOT / "scripts" / "kafka.sh"
# How long one reservation may take, retries included, before the check gives up on it.
ANSWER_WITHIN_SECONDS = 180.0
RETRY_PAUSE_SECONDS = 0.5
RETRIED_STATUSES = {503, 504}
TWO_DOWN_SECONDS = 30.0


def default_bootstrap() -> str:
    base = int(os.environ.get("LOCAL_KAFKA_CLUSTER_PORT", "19192"))
    return ",".join(f"127.0.0.1:{base + 2 * n}" for n in range(3))


@dataclass
class Outcome:
    """One reservation, from its first try to its final answer."""

    phase: str
    product_id: str
    status: int = 0
    first_status: int | str = 0
    tries: int = 0
    seconds: float = 0.0
    answered_at: float = 0.0  # time.monotonic() of the final answer
    reservation_id: str | None = None


@dataclass
class Check:
    settings: Settings
    group: ProcessGroup
    url: str = ""
    products: dict[str, int] = field(default_factory=dict)  # id -> initial stock
    outcomes: list[Outcome] = field(default_factory=list)
    worker_restarts: list[int] = field(default_factory=list)  # exit codes
    failures: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    # pids of processes whose end was seen, or that the check itself stops
    dead: set[int] = field(default_factory=set)
    stopping: set[int] = field(default_factory=set)

    def note(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {message}", flush=True)

    # ---------------------------------------------------------------- HTTP

    async def reserve(self, http: aiohttp.ClientSession, phase: str, product_id: str) -> None:
        outcome = Outcome(phase, product_id)
        key = f"cc-{uuid.uuid4().hex}"
        body = {"product_id": product_id, "quantity": 1, "customer_id": "cluster-check"}
        began = time.monotonic()
        while True:
            outcome.tries += 1
            try:
                async with http.post(
                    "/api/reservations/", json=body, headers={"Idempotency-Key": key}
                ) as response:
                    status, answer = response.status, await response.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError) as exc:
                status, answer = 0, {"error": type(exc).__name__}
            if outcome.tries == 1:
                outcome.first_status = status or str(answer.get("error"))
            if status not in RETRIED_STATUSES and status != 0:
                break
            if time.monotonic() - began > ANSWER_WITHIN_SECONDS:
                break
            await asyncio.sleep(RETRY_PAUSE_SECONDS)
        outcome.status = status
        outcome.answered_at = time.monotonic()
        outcome.seconds = outcome.answered_at - began
        if status == 201:
            outcome.reservation_id = answer["reservation"]["id"]
        else:
            self.failures.append(f"{phase}: reservation of {product_id} ended {status} {answer}")
        self.outcomes.append(outcome)

    async def phase(self, http: aiohttp.ClientSession, name: str, count: int, clients: int) -> None:
        """`count` reservations spread over the products, `clients` at a time."""
        ids = list(self.products)
        queue: asyncio.Queue[str] = asyncio.Queue()
        for n in range(count):
            queue.put_nowait(ids[n % len(ids)])

        async def client() -> None:
            while not queue.empty():
                await self.reserve(http, name, queue.get_nowait())

        began = time.monotonic()
        await asyncio.gather(*(client() for _ in range(clients)))
        mine = [o for o in self.outcomes if o.phase == name]
        first = Counter(str(o.first_status) for o in mine)
        self.note(
            f"phase {name}: {count} reservations in {time.monotonic() - began:.1f}s, "
            f"final {dict(Counter(o.status for o in mine))}, first try {dict(first)}, "
            f"retried {sum(o.tries > 1 for o in mine)}, "
            f"slowest {max(o.seconds for o in mine):.1f}s"
        )

    async def create_products(self, http: aiohttp.ClientSession, count: int, stock: int) -> None:
        deadline = time.monotonic() + 180
        for n in range(count):
            product_id = f"cc-{n}-{uuid.uuid4().hex[:6]}"
            body = {"id": product_id, "name": product_id, "price": "1.00", "stock": stock}
            key = f"cc-product-{product_id}"
            while True:  # the worker may still be joining its group
                async with http.post(
                    "/api/products/", json=body, headers={"Idempotency-Key": key}
                ) as response:
                    if response.status == 201:
                        break
                    if response.status not in RETRIED_STATUSES or time.monotonic() > deadline:
                        raise RuntimeError(f"creating {product_id}: {response.status}")
                await asyncio.sleep(RETRY_PAUSE_SECONDS)
            self.products[product_id] = stock

    # ---------------------------------------------------------------- processes and brokers

    async def supervise(self) -> None:
        """Start a worker again when it exits to be restarted (as `inventory run` does);
        any other death is a failure."""
        while True:
            for process in list(self.group.processes):
                if process.alive() or process.popen.pid in self.dead:
                    continue
                self.dead.add(process.popen.pid)
                code = process.popen.returncode
                if process.role == "worker" and code in exit_codes.RESTART:
                    self.worker_restarts.append(code)
                    self.note(f"worker exited {code}; starting another ({process.log_path})")
                    self.group.start("worker")
                elif process.popen.pid not in self.stopping:
                    self.failures.append(f"{process.role} died with {code}: {process.tail(15)}")
                    self.note(f"{process.role} died with {code} ({process.log_path})")
            await asyncio.sleep(0.5)

    async def kafka_sh(self, *args: str) -> None:
        began = time.monotonic()
        result = await asyncio.to_thread(
            subprocess.run, [str(KAFKA_SH), *args], capture_output=True, text=True
        )
        if result.returncode != 0:
            raise RuntimeError(f"kafka.sh {' '.join(args)} failed:\n{result.stderr}")
        self.note(f"kafka.sh {' '.join(args)} ({time.monotonic() - began:.1f}s)")

    async def describe(self) -> list[dict[str, Any]]:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap_list)
        await admin.start()
        try:
            return await admin.describe_topics(list(pipeline_topics(self.settings)))
        finally:
            await admin.close()

    async def leader_of_first_command_partition(self) -> int:
        topic = prefixed(self.settings.topic_prefix, INVENTORY_COMMANDS)
        for described in await self.describe():
            if described["topic"] == topic:
                for partition in described["partitions"]:
                    if partition["partition"] == 0:
                        return int(partition["leader"])  # kafka.sh's node N is broker N
        raise RuntimeError(f"{topic}[0] has no leader")

    async def wait_in_sync(self, replicas: int, within: float = 180.0) -> float:
        """Seconds until every partition of every pipeline topic has `replicas` in sync."""
        began = time.monotonic()
        while True:
            short = [
                f"{t['topic']}[{p['partition']}] isr {p['isr']}"
                for t in await self.describe()
                for p in t["partitions"]
                if len(p["isr"]) < replicas
            ]
            if not short:
                return time.monotonic() - began
            if time.monotonic() - began > within:
                raise RuntimeError(f"not in sync after {within:.0f}s: {short[:5]}")
            await asyncio.sleep(1.0)

    async def verify_topics(self) -> None:
        """Every pipeline topic: three replicas per partition, min.insync.replicas=2."""
        for described in await self.describe():
            for partition in described["partitions"]:
                if len(partition["replicas"]) != self.settings.replication_factor:
                    self.failures.append(f"{described['topic']}: replicas {partition}")
        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap_list)
        await admin.start()
        try:
            names = list(pipeline_topics(self.settings))
            responses = await admin.describe_configs(
                [
                    ConfigResource(ConfigResourceType.TOPIC, n, {"min.insync.replicas": None})
                    for n in names
                ]
            )
        finally:
            await admin.close()
        isr = {
            resource[3]: entry[1]
            for response in responses
            for resource in response.resources
            for entry in resource[4]
            if entry[0] == "min.insync.replicas"
        }
        wanted = str(self.settings.topic_min_insync_replicas)
        wrong = {name: isr.get(name) for name in names if isr.get(name) != wanted}
        if wrong:
            self.failures.append(f"min.insync.replicas not {wanted}: {wrong}")
        self.note(
            f"{len(names)} topics, {self.settings.partitions} partitions each, "
            f"replication {self.settings.replication_factor}, min.insync.replicas "
            f"{sorted(set(isr.values()))}"
        )

    # ---------------------------------------------------------------- the verdict

    async def verify_state(self, http: aiohttp.ClientSession) -> None:
        """Read model and changelog against the 201s."""
        won = Counter(o.product_id for o in self.outcomes if o.status == 201)
        changelog = await read_compacted(
            self.settings, changelog_of(self.settings.app_id, STOCK_TABLE)
        )
        for product_id, initial in self.products.items():
            expected = won[product_id]
            async with http.get(f"/api/products/{product_id}") as response:
                product = (await response.json())["product"]
            row = changelog[product_id]
            active = sum(
                1 for key in changelog if key.startswith(f"{RESERVATION_PREFIX}{product_id}:")
            )
            self.note(
                f"{product_id}: 201s {expected}, read model reserved {product['reserved']} "
                f"available {product['available']}, changelog reserved {row['reserved']} "
                f"available {row['available']} active rows {active}"
            )
            for where, reserved, available in (
                ("read model", product["reserved"], product["available"]),
                ("changelog", row["reserved"], row["available"]),
            ):
                if reserved != expected or reserved + available != initial:
                    self.failures.append(
                        f"{product_id} {where}: reserved {reserved}, available {available}; "
                        f"expected reserved {expected} of {initial}"
                    )
            if active != expected:
                self.failures.append(f"{product_id}: {active} active reservation rows")
        missing = []
        for outcome in self.outcomes:
            if outcome.reservation_id is None:
                continue
            async with http.get(f"/api/reservations/{outcome.reservation_id}") as response:
                if response.status != 200:
                    missing.append(outcome.reservation_id)
        if missing:
            self.failures.append(f"{len(missing)} reservations answered 201 not found: {missing}")

    async def two_down(self, http: aiohttp.ClientSession, clients: int) -> None:
        """Beyond what replication 3 / min ISR 2 promises: two brokers down (and with
        them the controller quorum) for TWO_DOWN_SECONDS while reservations keep coming.
        None may be acknowledged then; all must be, once the brokers are back."""
        leader = await self.leader_of_first_command_partition()
        nodes = [leader, leader % 3 + 1]
        for node in nodes:
            await self.kafka_sh("node-kill", str(node))

        back_at = float("inf")

        async def restart_later() -> None:
            nonlocal back_at
            await asyncio.sleep(TWO_DOWN_SECONDS)
            back_at = time.monotonic()
            # Both at once; either would bring back the quorum with the survivor.
            await asyncio.gather(*(self.kafka_sh("node-start", str(n)) for n in nodes))

        restart = asyncio.create_task(restart_later())
        name = f"nodes {nodes[0]} and {nodes[1]} down {TWO_DOWN_SECONDS:.0f}s"
        await self.phase(http, name, 4 * clients, clients)
        await restart
        mine = [o for o in self.outcomes if o.phase == name]
        early = [o for o in mine if o.status == 201 and o.answered_at < back_at]
        if early:
            self.failures.append(f"{len(early)} reservations acknowledged with two brokers down")
        self.note(
            f"{name}: first answer {min(o.answered_at for o in mine) - back_at:.1f}s after "
            "the restart began"
        )
        self.note(f"all replicas in sync {await self.wait_in_sync(3):.1f}s after both were back")

    async def restart_worker(self, http: aiohttp.ClientSession) -> None:
        """A fresh worker rebuilds its tables from the changelogs; one more reservation
        per product then proves it recovered what was acknowledged."""
        for process in self.group.processes:
            if process.role == "worker" and process.alive():
                self.stopping.add(process.popen.pid)
                await asyncio.to_thread(process.stop)
        began = time.monotonic()
        self.group.start("worker")
        for product_id in self.products:
            await self.reserve(http, "fresh worker", product_id)
        self.note(
            f"fresh worker answered every product {time.monotonic() - began:.1f}s after start"
        )


async def run(args: argparse.Namespace) -> int:
    run_id = uuid.uuid4().hex[:8]
    settings = Settings(
        kafka_bootstrap_servers=args.bootstrap,
        topic_prefix=f"cc{run_id}.",
        database_schema=f"cluster_check_{run_id}",
        partitions=args.partitions,
        replication_factor=3,
        reservation_ttl_seconds=3600.0,  # nothing expires during the check
        gateway_port=0,
        # A check of broker failover on a development machine: the derived command key,
        # no API keys.
        environment="development",
        auth="off",
    )
    print(f"cluster check {run_id} on {args.bootstrap}", flush=True)
    await create_topics(settings)
    group = ProcessGroup(settings, ROOT / ".local" / "test-logs" / f"cluster-check-{run_id}")
    check = Check(settings, group)
    await check.verify_topics()
    async with own_schema(settings):
        for role in ("worker", "projector", "gateway"):
            group.start(role)
        gateway = next(p for p in group.processes if p.role == "gateway")
        supervisor = asyncio.create_task(check.supervise())
        try:
            check.url = await asyncio.to_thread(group.gateway_url, gateway)
            timeout = aiohttp.ClientTimeout(total=60)
            async with aiohttp.ClientSession(base_url=check.url, timeout=timeout) as http:
                await check.create_products(http, args.products, args.stock)
                check.note(f"{args.products} products of {args.stock} units on {check.url}")
                await check.phase(http, "warm-up", args.per_phase, args.clients)
                for round_ in range(1, args.rounds + 1):
                    node = args.node or await check.leader_of_first_command_partition()
                    await check.kafka_sh("node-kill", str(node))
                    await check.phase(http, f"{round_}: node {node} down", args.down, args.clients)
                    await check.kafka_sh("node-start", str(node))
                    check.note(f"all replicas in sync {await check.wait_in_sync(3):.1f}s later")
                    await check.phase(
                        http, f"{round_}: node {node} back", args.per_phase, args.clients
                    )
                if args.two_down:
                    await check.two_down(http, args.clients)
                await check.restart_worker(http)
                await check.verify_state(http)
        finally:
            supervisor.cancel()
            check.stopping.update(p.popen.pid for p in group.processes)
            group.stop_all()
    outcomes = check.outcomes
    print(
        f"\n{len(outcomes)} reservations, {sum(o.status == 201 for o in outcomes)} answered 201, "
        f"{sum(o.tries > 1 for o in outcomes)} of them retried after a 503/504 or no answer; "
        f"worker restarts: {check.worker_restarts or 'none'}; logs in {group.log_dir}"
    )
    if check.failures:
        print("FAILED:\n  " + "\n  ".join(check.failures))
        return 1
    print("OK: nothing acknowledged was lost")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bootstrap", default=default_bootstrap())
    parser.add_argument("--rounds", type=int, default=2, help="brokers killed, one at a time")
    parser.add_argument("--node", type=int, choices=(1, 2, 3), help="always kill this node")
    parser.add_argument("--products", type=int, default=4)
    parser.add_argument("--stock", type=int, default=10_000)
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--per-phase", type=int, default=40, help="reservations per phase")
    parser.add_argument("--down", type=int, default=80, help="reservations while a node is down")
    parser.add_argument("--clients", type=int, default=4, help="reservations at a time")
    parser.add_argument(
        "--two-down",
        action="store_true",
        help=f"then also two brokers down for {TWO_DOWN_SECONDS:.0f}s (writes must wait)",
    )
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
