"""The pipeline under test: topics, schema and the worker, projector and gateway as
child processes with the run's settings in their environment.

Every run has its own topic prefix and schema, so a bench never reads another run's
(or a developer's) messages, and `cleanup()` can delete exactly what it made.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import text

from inventory.kafka_admin import create_topics
from inventory.settings import Settings
from storage.engine import create_engine, quote_identifier
from storage.migrate import migrate

ROOT = Path(__file__).resolve().parent.parent
LISTENING = re.compile(r"gateway listening on (http://\S+)")
STOP_GRACE_SECONDS = 20.0


def settings_env(settings: Settings) -> dict[str, str]:
    """Environment variables that make a child read exactly `settings`, as a local
    benchmark stack runs: the derived command key, and no API keys unless the caller's
    environment asks for them (AUTH=on)."""
    env = settings.child_environment()
    env["ENVIRONMENT"] = "development"
    env["AUTH"] = os.environ.get("AUTH", "off")
    return env


@dataclass
class Child:
    role: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class Stack:
    def __init__(self, settings: Settings, workdir: Path) -> None:
        self.settings = settings
        self.workdir = workdir
        self.children: list[Child] = []

    async def prepare(self) -> None:
        """Create the run's topics and migrate its schema (both idempotent)."""
        await create_topics(self.settings)
        engine = create_engine(self.settings)
        try:
            await migrate(engine, self.settings.database_schema)
        finally:
            await engine.dispose()

    def start(self, role: str) -> Child:
        """Start `inventory <role>`, output to <workdir>/<role>.log (<role>-2.log for the
        second process of a role, and so on: two writers of one file garble it)."""
        started = sum(1 for c in self.children if c.role == role)
        log_path = self.workdir / (f"{role}-{started + 1}.log" if started else f"{role}.log")
        env = {
            **os.environ,
            **settings_env(self.settings),
            # The children import the project from this checkout even when it is not
            # installed, and run in the work dir so faust's data dir lands there.
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "PYTHONUNBUFFERED": "1",
        }
        with log_path.open("wb") as log_file:
            popen = subprocess.Popen(
                [sys.executable, "-m", "inventory.cli", role],
                cwd=self.workdir,
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        child = Child(role, popen, log_path)
        self.children.append(child)
        return child

    def pids(self) -> dict[str, int]:
        """Role -> pid of every child, and of this process as `bench` (the load generator).
        A role started more than once is named per process (`worker-1`, `worker-2`), so
        each of them is metered."""
        starts = Counter(c.role for c in self.children)
        seen: Counter[str] = Counter()
        found = {"bench": os.getpid()}
        for child in self.children:
            seen[child.role] += 1
            name = child.role if starts[child.role] == 1 else f"{child.role}-{seen[child.role]}"
            found[name] = child.popen.pid
        return found

    def check_alive(self) -> None:
        """RuntimeError with the end of its log if a child has exited."""
        for child in self.children:
            if not child.alive():
                raise RuntimeError(
                    f"{child.role} exited with {child.popen.returncode}:\n{child.tail()}"
                )

    async def gateway_url(self, gateway: Child, deadline: float) -> str:
        """The base URL from the gateway's `gateway listening on` line."""
        return await listening_url(gateway, deadline, self.check_alive)

    async def wait_reserved(self, product_ids: list[str], expected: int, seconds: float) -> str:
        """Poll the read model until the products show `expected` reserved units between
        them; a line saying whether the projected state matches what the client saw
        acknowledged."""
        engine = create_engine(self.settings)
        deadline = time.monotonic() + seconds
        query = text("SELECT coalesce(sum(reserved), 0) FROM products WHERE id = ANY(:ids)")
        try:
            while True:
                async with engine.connect() as conn:
                    reserved = (await conn.execute(query, {"ids": product_ids})).scalar_one()
                if reserved == expected:
                    return f"ok, read model shows {reserved} reserved = {expected} acknowledged"
                if time.monotonic() >= deadline:
                    return (
                        f"MISMATCH after {seconds:g}s: read model shows {reserved} reserved, "
                        f"client saw {expected} acknowledged"
                    )
                await asyncio.sleep(0.2)
        finally:
            await engine.dispose()

    def stop(self) -> None:
        """SIGTERM every child, then SIGKILL what is still running after the grace time."""
        stop_children(self.children)

    async def cleanup(self) -> None:
        """Delete the run's topics (faust's changelogs included: they share the prefix)
        and drop its schema. Best effort: leftovers are only clutter, never wrong data."""
        await delete_run_topics(self.settings.kafka_bootstrap_list, self.settings.topic_prefix)
        engine = create_engine(self.settings)
        try:
            async with engine.begin() as conn:
                schema = quote_identifier(self.settings.database_schema)
                await conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        finally:
            await engine.dispose()


async def listening_url(child: Child, deadline: float, check_alive: Callable[[], None]) -> str:
    """The base URL from a gateway's `gateway listening on` line (the project's, or
    bench/plain_gateway.py's); `check_alive` raises if a process it watches exited."""
    while time.monotonic() < deadline:
        match = LISTENING.search(child.log_path.read_text(errors="replace"))
        if match:
            return match.group(1)
        check_alive()
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{child.role} did not print its address:\n{child.tail()}")


def stop_children(children: list[Child]) -> None:
    """SIGTERM every child, then SIGKILL what is still running after the grace time."""
    for child in children:
        if child.alive():
            child.popen.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for child in children:
        try:
            child.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.popen.kill()
            child.popen.wait()


async def delete_run_topics(bootstrap: list[str], prefix: str) -> None:
    """Delete every topic under a benchmark run's prefix (faust's changelogs included:
    they share it). An empty prefix deletes nothing: it would name every topic."""
    if not prefix:
        return
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        ours = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if ours:
            await admin.delete_topics(ours)
    finally:
        await admin.close()
