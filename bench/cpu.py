"""Where the CPU goes during a measured phase, read from Linux's /proc.

On a small machine the broker, the database, the pipeline and the load generator all
share the same cores, so the CPU each of them burns per reservation says more about
the ceiling than latency alone. Elsewhere (no /proc) the meter reports nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of `pid` so far, None if it cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces: split after its closing parenthesis.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def machine_jiffies() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs since boot, None without /proc/stat."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    values = [int(v) for v in first[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values) - idle, sum(values)


@dataclass(frozen=True)
class CpuUsage:
    seconds: dict[str, float]  # role -> CPU seconds spent during the phase
    machine_busy: float | None  # fraction of all CPUs busy during the phase, 0..1

    def per_request_ms(self, requests: int) -> dict[str, float]:
        return {role: 1000.0 * s / requests for role, s in self.seconds.items()} if requests else {}


class CpuMeter:
    """`start()` before a phase, `stop()` after it: the CPU used in between."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._pids = pids
        self._before: dict[str, float] = {}
        self._machine: tuple[int, int] | None = None

    def start(self) -> None:
        self._before = {
            role: cpu
            for role, pid in self._pids.items()
            if (cpu := process_cpu_seconds(pid)) is not None
        }
        self._machine = machine_jiffies()

    def stop(self) -> CpuUsage:
        seconds = {}
        for role, before in self._before.items():
            after = process_cpu_seconds(self._pids[role])
            if after is not None:
                seconds[role] = after - before
        busy = None
        now = machine_jiffies()
        if self._machine and now and now[1] > self._machine[1]:
            busy = (now[0] - self._machine[0]) / (now[1] - self._machine[1])
        return CpuUsage(seconds, busy)
