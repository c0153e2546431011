"""Runs the pipeline's real processes (worker, projector, gateway) for a test session.

Each process gets the test run's settings through its environment, logs to a file
under .local/test-logs/<run>/, and is stopped at the end of the session. A test that
fails while waiting for one prints the end of its log.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from inventory.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
LISTENING = re.compile(r"gateway listening on (http://\S+)")


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a child process read exactly these settings."""
    return settings.child_environment()


@dataclass
class Process:
    role: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 20.0) -> None:
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def kill(self) -> None:
        """SIGKILL: a crash, no clean shutdown."""
        if self.alive():
            self.popen.kill()
            self.popen.wait()


@dataclass
class ProcessGroup:
    settings: Settings
    log_dir: Path
    processes: list[Process] = field(default_factory=list)

    def start(self, role: str, **overrides: str) -> Process:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        count = sum(1 for p in self.processes if p.role == role)
        log_path = self.log_dir / f"{role}-{count}.log"
        env = {**os.environ, **settings_env(self.settings), **overrides, "PYTHONUNBUFFERED": "1"}
        with log_path.open("wb") as log_file:
            popen = subprocess.Popen(
                [sys.executable, "-m", "inventory.cli", role],
                cwd=ROOT,
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        process = Process(role, popen, log_path)
        self.processes.append(process)
        return process

    def gateway_url(self, process: Process, timeout: float = 60.0) -> str:
        """Wait for the gateway's `listening on` line and return its base URL."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = LISTENING.search(process.log_path.read_text(errors="replace"))
            if match:
                return match.group(1)
            if not process.alive():
                raise RuntimeError(f"gateway exited early:\n{process.tail()}")
            time.sleep(0.1)
        raise TimeoutError(f"gateway did not listen within {timeout}s:\n{process.tail()}")

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            process.stop()
