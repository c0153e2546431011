"""A process's CPU time as a time series, so a window can be cut out of it afterwards.

`make bench-drain` measures a processor from its first reply to its last, and the first
reply's time is known only once the reply is read (its record timestamp). A thread
reads /proc/<pid>/stat every few milliseconds with the wall clock, and `at(t)`
interpolates the CPU seconds the process had used at any wall time t in between: the
process's start-up (imports, joining the group, recovering its tables) falls before
the window and is left out.
"""

from __future__ import annotations

import bisect
import threading
import time

from bench.cpu import process_cpu_seconds

INTERVAL_SECONDS = 0.01  # /proc counts in clock ticks of 10 ms: finer gains nothing


class CpuSampler:
    """`start()`, ..., `stop()`; then `at(wall_time)` and `last()`."""

    def __init__(self, pid: int, interval: float = INTERVAL_SECONDS) -> None:
        self.pid = pid
        self.interval = interval
        self._times: list[float] = []
        self._cpu: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"cpu-{pid}", daemon=True)

    def start(self) -> None:
        self._sample()
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling, with one last sample now (if the process still exists)."""
        self._stop.set()
        self._thread.join()
        self._sample()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        cpu = process_cpu_seconds(self.pid)
        if cpu is not None:
            self._times.append(time.time())
            self._cpu.append(cpu)

    def last(self) -> tuple[float, float]:
        """(wall time, CPU seconds) of the latest sample."""
        return self._times[-1], self._cpu[-1]

    def first(self) -> tuple[float, float]:
        return self._times[0], self._cpu[0]

    def at(self, wall_time: float) -> float:
        """CPU seconds used by `wall_time`, interpolated between the samples around it."""
        times, cpu = self._times, self._cpu
        if not times:
            raise ValueError(f"no CPU samples of pid {self.pid}")
        i = bisect.bisect_left(times, wall_time)
        if i == 0:
            return cpu[0]
        if i >= len(times):
            return cpu[-1]
        t0, t1 = times[i - 1], times[i]
        share = (wall_time - t0) / (t1 - t0) if t1 > t0 else 1.0
        return cpu[i - 1] + share * (cpu[i] - cpu[i - 1])
