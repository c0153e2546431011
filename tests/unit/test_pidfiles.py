"""`make stop` stops what this checkout's `inventory run` recorded, and nothing else."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from inventory import pidfiles

IGNORES_SIGTERM = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ready', flush=True); time.sleep(60)"
)


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; killed at the end whatever happened."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.kill()
        process.wait()


def sleeper(processes: list[subprocess.Popen[bytes]], *args: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-c", args[0]] if args else ["sleep", "60"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE)
    if args:  # wait until the handler is in place
        assert process.stdout is not None and process.stdout.readline() == b"ready\n"
    processes.append(process)
    return process


def running(process: subprocess.Popen[bytes]) -> bool:
    return process.poll() is None


def test_recorded_processes_are_stopped_and_others_left_alone(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    supervisor, worker, elsewhere = (sleeper(processes) for _ in range(3))
    pidfiles.record("run", supervisor.pid, tmp_path)
    pidfiles.record("worker", worker.pid, tmp_path)

    stopped = pidfiles.stop_recorded(tmp_path, say=lambda _: None)

    assert {(p.role, p.pid) for p in stopped} == {("run", supervisor.pid), ("worker", worker.pid)}
    assert supervisor.wait(5) == -15 and worker.wait(5) == -15
    assert running(elsewhere)
    assert list(tmp_path.iterdir()) == []


def test_a_pid_given_to_another_process_since_is_left_alone(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    other = sleeper(processes)
    # A record of `other`'s pid from a process that started at another time.
    (tmp_path / f"gateway.{other.pid}.pid").write_text(f"{other.pid} 1\n")

    assert pidfiles.stop_recorded(tmp_path, say=lambda _: None) == []
    assert running(other)
    assert list(tmp_path.iterdir()) == []


def test_a_process_that_ignores_sigterm_is_killed_after_its_grace(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    stubborn = sleeper(processes, IGNORES_SIGTERM)
    pidfiles.record("projector", stubborn.pid, tmp_path)
    said: list[str] = []

    started = time.monotonic()
    pidfiles.stop_recorded(tmp_path, child_grace=0.5, say=said.append)

    assert stubborn.wait(5) == -9
    assert time.monotonic() - started >= 0.5
    assert said[-1].endswith("still running after 0.5 s: killing it")


def test_nothing_recorded_is_nothing_to_stop(tmp_path: Path) -> None:
    assert pidfiles.stop_recorded(tmp_path / "never-made", say=lambda _: None) == []
