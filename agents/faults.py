"""Faults injected on purpose, for the fault tests: `Settings.inject_faults`
("apply=3,crash_before_commit=2") arms named points of the worker.

- `apply=N` raises `InjectedFault` the first N times the point is reached. The worker
  treats it like any error it did not classify (a broker hiccup, a timeout, a bug): it
  retries the record, and gives up by exiting without a commit.
- `crash_before_commit=N`: the N-th batch the process commits is delivered to the broker
  whole and then abandoned, as by a worker killed between its last send and its commit;
  a redelivery then decides the same commands again, beside their aborted first copies.

Left empty, as in production, every point is a no-op.
"""

from __future__ import annotations

# Points the worker passes through; a name outside this set is refused at start.
# After a command's applied entry and row are written (or restored from the entry on a
# retry), before its side effects and messages: where a metadata error once struck.
APPLY = "apply"
# Before a batch's transactions commit, once every record of the batch was sent.
CRASH_BEFORE_COMMIT = "crash_before_commit"
POINTS = frozenset({APPLY, CRASH_BEFORE_COMMIT})


class InjectedFault(RuntimeError):
    """Raised at an armed fault point."""


class FaultPoints:
    """The armed points of one process and how many faults each has left."""

    def __init__(self, spec: str = "") -> None:
        self._left: dict[str, int] = {}
        for item in filter(None, (part.strip() for part in spec.split(","))):
            name, _, count = item.partition("=")
            if name not in POINTS or not count.isdigit():
                raise ValueError(f"inject_faults: {item!r} is not POINT=COUNT, POINT in {POINTS}")
            self._left[name] = int(count)

    def hit(self, point: str) -> None:
        """Raise InjectedFault if `point` still has faults left (and count one down)."""
        left = self._left.get(point, 0)
        if left > 0:
            self._left[point] = left - 1
            raise InjectedFault(f"fault injected at {point!r} ({left - 1} left)")

    def reached(self, point: str) -> bool:
        """Count one passage of `point`; True on the passage that its count names."""
        left = self._left.get(point, 0)
        if left > 0:
            self._left[point] = left - 1
        return left == 1
