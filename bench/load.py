"""A closed-loop load generator: N requests spread over C concurrent clients.

Closed loop (each client sends its next request only after the previous answer) is
what "50 concurrent clients" means for a shop front: throughput is then limited by
the system's latency under that much contention, which is the thing compared here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

# One reservation attempt: True when acknowledged (201), False when refused (409).
# Anything else (timeouts, 5xx, broker errors) is raised and counted as an error.
Attempt = Callable[[int], Awaitable[bool]]


@dataclass
class Measurement:
    """What one measured phase produced. Latencies are seconds, of acknowledged requests."""

    latencies: list[float] = field(default_factory=list)
    finished_at: list[float] = field(default_factory=list)  # seconds since the phase start
    refused: int = 0
    errors: int = 0
    elapsed: float = 0.0
    first_error: str | None = None
    stopped_early: bool = False

    @property
    def acknowledged(self) -> int:
        return len(self.latencies)

    def throughput_trend(self, slices: int = 5) -> list[float]:
        """Acknowledged per second in `slices` equal spans of the phase: a falling
        series means the system slows down as the run goes on (state growing)."""
        if self.elapsed <= 0 or not self.finished_at:
            return []
        span = self.elapsed / slices
        counts = [0] * slices
        for t in self.finished_at:
            counts[min(slices - 1, int(t / span))] += 1
        return [c / span for c in counts]


async def run_closed_loop(
    attempt: Attempt,
    *,
    requests: int,
    concurrency: int,
    request_timeout: float,
    max_seconds: float,
) -> Measurement:
    """Send `requests` attempts from `concurrency` workers and time each of them.

    Stops taking new work after `max_seconds` (then `stopped_early` is set), and no
    single attempt waits longer than `request_timeout`, so the phase always ends.
    """
    result = Measurement()
    issued = 0
    started = time.perf_counter()
    deadline = started + max_seconds

    async def client() -> None:
        nonlocal issued
        while issued < requests:
            if time.perf_counter() >= deadline:
                result.stopped_early = True
                return
            index = issued
            issued += 1  # no await between the check and the increment: no lock needed
            t0 = time.perf_counter()
            try:
                async with asyncio.timeout(request_timeout):
                    acknowledged = await attempt(index)
            except Exception as exc:  # noqa: BLE001 - a benchmark counts failures, not raises
                result.errors += 1
                if result.first_error is None:
                    result.first_error = f"{type(exc).__name__}: {exc}"[:300]
                continue
            if acknowledged:
                now = time.perf_counter()
                result.latencies.append(now - t0)
                result.finished_at.append(now - started)
            else:
                result.refused += 1

    await asyncio.gather(*(client() for _ in range(concurrency)))
    result.elapsed = time.perf_counter() - started
    return result
