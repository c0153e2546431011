"""`inventory run`: the whole pipeline in the foreground, one child process per role.

Ctrl-C (or SIGTERM) stops every child. A worker that exits on purpose without
committing (agents.exit_codes: a record it could not deliver, fenced, or a command still failing
after its retries) is started again, as docker-compose's restart policy would: Kafka
then redelivers what it had not finished. Any other child that dies stops the others,
so a half-running pipeline never pretends to be healthy.

The supervisor and every child it starts are recorded in the checkout's `.local/pids/`
(inventory.pidfiles) while they run: `make stop` stops exactly those.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

from agents import exit_codes
from inventory import pidfiles
from inventory.kafka_admin import create_topics
from inventory.settings import Settings

log = logging.getLogger(__name__)

ROLES = ("worker", "projector", "gateway")
STOP_GRACE_SECONDS = 20.0
RESTART_EXIT_CODES = {"worker": exit_codes.RESTART}
RESTART_DELAY_SECONDS = 1.0


def _migrate(settings: Settings) -> None:
    from storage.engine import create_engine
    from storage.migrate import migrate

    async def go() -> None:
        engine = create_engine(settings)
        try:
            await migrate(engine, settings.database_schema)
        finally:
            await engine.dispose()

    asyncio.run(go())


def start_role(role: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start `inventory <role>` as a child process with this interpreter."""
    return subprocess.Popen(
        [sys.executable, "-m", "inventory.cli", role],
        env={**os.environ, **(env or {})},
    )


def stop_all(children: dict[str, subprocess.Popen[bytes]]) -> None:
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for role, child in children.items():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop in %.0fs, killing it", role, STOP_GRACE_SECONDS)
            child.kill()
            child.wait()


def run_all(settings: Settings) -> int:
    """Prepare topics and schema, run every role until interrupted; exit code of the run."""
    asyncio.run(create_topics(settings))
    _migrate(settings)
    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    # What `make stop` stops (inventory.pidfiles): this process and each live child.
    records = {pidfiles.SUPERVISOR: pidfiles.record(pidfiles.SUPERVISOR, os.getpid())}
    children: dict[str, subprocess.Popen[bytes]] = {}

    def start(role: str) -> None:
        if role in records:  # a restart: the exited child's record goes
            pidfiles.forget(records[role])
        children[role] = start_role(role)
        records[role] = pidfiles.record(role, children[role].pid)

    try:
        for role in ROLES:
            start(role)
        return _supervise(settings, children, start, lambda: stopping)
    finally:
        stop_all(children)
        for path in records.values():
            pidfiles.forget(path)


def _metrics_url(settings: Settings, port: int) -> str:
    return f"http://{settings.metrics_host}:{port}/metrics" if port else "off"


def _supervise(
    settings: Settings,
    children: dict[str, subprocess.Popen[bytes]],
    start: Callable[[str], None],
    stopping: Callable[[], bool],
) -> int:
    """Watch the children until told to stop or one dies; the run's exit code."""
    gateway = f"http://{settings.gateway_host}:{settings.gateway_port}"
    print(
        f"pipeline running: worker, projector, gateway on {gateway} (Ctrl-C stops it)\n"
        f"  operations page {gateway}/ops, metrics {gateway}/metrics, "
        f"{_metrics_url(settings, settings.worker_metrics_port)} (worker), "
        f"{_metrics_url(settings, settings.projector_metrics_port)} (projector)",
        flush=True,
    )
    while not stopping():
        dead = {r: c.returncode for r, c in children.items() if c.poll() is not None}
        for role, returncode in list(dead.items()):
            if returncode in RESTART_EXIT_CODES.get(role, ()):
                log.warning("%s exited with %s; starting it again", role, returncode)
                time.sleep(RESTART_DELAY_SECONDS)
                start(role)
                del dead[role]
        if dead:
            log.error("stopping the pipeline: %s exited", dead)
            return 1
        time.sleep(0.2)
    return 0
