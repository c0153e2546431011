"""Mode (p) of `bench.reserve`: mode (a)'s client against the plain aiokafka loop.

The client is mode (a)'s (bench.kafka_direct: ReserveStock posted to the command topic,
the outcome awaited on the reply topic); the processor is bench/plain_loop.py, the
baseline of `make bench-drain`, instead of the faust worker: one process per command
topic partition that the level's products live on (one for a single product, up to
`--partitions` with `--products N`). It runs on topics of its own (`<prefix>` of mode a
with a `p` before the dot, the same partition counts and changelogs), so (a) and (p)
answer the same load with the same rules, and their ratio is the worker's own cost.

Mode (q) puts bench/plain_gateway.py, the least an HTTP front can do, between (b)'s HTTP
client and the same plain loops: the bound of (b) on this machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.stack import (
    ROOT,
    Child,
    delete_run_topics,
    listening_url,
    settings_env,
    stop_children,
)
from inventory.kafka_admin import create_topics, wait_for_topics
from inventory.settings import Settings
from topics.names import STOCK_TABLE, changelog_of
from topics.partitioning import partition_for

READY = "plain loop ready"


class PlainLoops:
    """The plain-loop processes of one level: started for its products' partitions,
    stopped when the level's (p) is measured."""

    label = "Kafka commands, plain aiokafka loop"

    def __init__(self, settings: Settings, workdir: Path) -> None:
        self.settings = settings
        self.workdir = workdir
        self._running: list[Child] = []

    async def prepare(self) -> None:
        """Create the mode's topics (the pipeline's, changelogs included) and wait until
        the broker shows them all with leaders."""
        await create_topics(self.settings)
        await wait_for_topics(self.settings)

    def partitions_of(self, product_ids: list[str]) -> list[int]:
        """The command topic partitions the products live on, in order."""
        return sorted({partition_for(p, self.settings.partitions) for p in product_ids})

    def start(self, product_ids: list[str], phase: str) -> list[int]:
        """One `python -m bench.plain_loop --partition P` per partition of the products;
        their partitions. Logs go to <workdir>/plain-p<P>-<phase>.log."""
        partitions = self.partitions_of(product_ids)
        env = self._env()
        for partition in partitions:
            role = f"plain-p{partition}"
            log_path = self.workdir / f"{role}-{phase}.log"
            with log_path.open("wb") as log_file:
                popen = subprocess.Popen(
                    [sys.executable, "-m", "bench.plain_loop", "--partition", str(partition)],
                    cwd=self.workdir,
                    env=env,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            self._running.append(Child(role, popen, log_path))
        return partitions

    def start_gateway(self, phase: str) -> Child:
        """`python -m bench.plain_gateway` on any free port, beside the running loops;
        its log is <workdir>/plain-gateway-<phase>.log. Stopped with them."""
        log_path = self.workdir / f"plain-gateway-{phase}.log"
        with log_path.open("wb") as log_file:
            popen = subprocess.Popen(
                [sys.executable, "-m", "bench.plain_gateway", "--port", "0"],
                cwd=self.workdir,
                env=self._env(),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        child = Child("gateway-plain", popen, log_path)
        self._running.append(child)
        return child

    async def gateway_url(self, child: Child, deadline: float) -> str:
        """The URL the plain gateway printed once it answers; TimeoutError at `deadline`."""
        return await listening_url(child, deadline, self.check_alive)

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            **settings_env(self.settings),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "PYTHONUNBUFFERED": "1",
        }

    def pids(self) -> dict[str, int]:
        """Role (`plain-p<P>`) -> pid of every running plain loop."""
        return {c.role: c.popen.pid for c in self._running}

    def check_alive(self) -> None:
        """RuntimeError with the end of its log if a plain loop has exited."""
        for child in self._running:
            if not child.alive():
                raise RuntimeError(
                    f"{child.role} exited with {child.popen.returncode}:\n{child.tail()}"
                )

    async def wait_ready(self, deadline: float) -> None:
        """Return once every plain loop has recovered its changelogs and says it reads
        its partition; TimeoutError at `deadline` (time.monotonic())."""
        waiting = [c for c in self._running if c.role != "gateway-plain"]
        while waiting:
            self.check_alive()
            waiting = [c for c in waiting if READY not in _read(c.log_path)]
            if waiting and time.monotonic() >= deadline:
                names = ", ".join(c.role for c in waiting)
                raise TimeoutError(f"plain loops not ready in time: {names}")
            if waiting:
                await asyncio.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM the plain loops, SIGKILL what still runs after the grace time."""
        stop_children(self._running)
        self._running = []

    async def reserved(self, product_ids: list[str]) -> int:
        """Units reserved of the products, by their last committed rows in the stock
        changelog (the plain loop's table: it has no read model)."""
        topic = changelog_of(self.settings.app_id, STOCK_TABLE)
        tps = [TopicPartition(topic, p) for p in self.partitions_of(product_ids)]
        keys = {json.dumps(p).encode() for p in product_ids}  # faust's JSON key codec
        rows: dict[bytes, int] = {}
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap_list,
            group_id=None,
            enable_auto_commit=False,
            isolation_level="read_committed",
        )
        await consumer.start()
        try:
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            pending = {tp for tp, end in ends.items() if end > 0}
            # The end is reached by position: a commit marker takes the last offset.
            while pending:
                batches = await consumer.getmany(*pending, timeout_ms=500)
                for records in batches.values():
                    for r in records:
                        if r.key in keys:
                            rows[r.key] = json.loads(r.value)["reserved"] if r.value else 0
                for tp in list(pending):
                    if await consumer.position(tp) >= ends[tp]:
                        pending.discard(tp)
        finally:
            await consumer.stop()
        return sum(rows.values())

    async def cleanup(self) -> None:
        """Delete the mode's topics (best effort, like the pipeline's)."""
        await delete_run_topics(self.settings.kafka_bootstrap_list, self.settings.topic_prefix)


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""
