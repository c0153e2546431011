"""Delivered and cancelled orders by when they finished, per partition, oldest first:
which of them may leave the worker's tables.

An order that can no longer change is history, and history belongs to the read models
and the audit topic. Kept in the tables for good, every order ever taken cost memory
and restart time in every worker (about 3 KB and 1 ms each). So a finished order stays
for a grace period (Settings.finished_order_grace_seconds, at least the dedupe horizon)
and then leaves, with a tombstone in the changelog.

The index is rebuilt from the table when first needed after a start or a rebalance
(`invalidate`); removals are asked for while an order of the same partition finishes,
because a table row may only be written while a record of its partition is processed.
No faust, no I/O.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable


class FinishedOrders:
    def __init__(self, grace_seconds: float) -> None:
        self._grace = grace_seconds
        # partition -> (finished at, epoch seconds; order id), oldest first
        self._by_partition: dict[int, deque[tuple[float, str]]] | None = None

    @property
    def loaded(self) -> bool:
        return self._by_partition is not None

    def invalidate(self) -> None:
        """The table changed behind the agent's back (recovery, rebalance)."""
        self._by_partition = None

    def load(self, finished: Iterable[tuple[int, float, str]]) -> None:
        """(partition, finished at, order id) of every finished order in the table."""
        by_partition: dict[int, list[tuple[float, str]]] = {}
        for partition, at, order_id in finished:
            by_partition.setdefault(partition, []).append((at, order_id))
        self._by_partition = {p: deque(sorted(rows)) for p, rows in by_partition.items()}

    def finished(self, partition: int, order_id: str, at: float) -> list[str]:
        """Note that `order_id` finished at `at` (the deciding record's time) and return
        the orders of its partition whose grace ended by then, oldest first."""
        if self._by_partition is None:
            raise RuntimeError("load() the finished orders of the table first")
        rows = self._by_partition.setdefault(partition, deque())
        leaving = []
        while rows and rows[0][0] <= at - self._grace:
            leaving.append(rows.popleft()[1])
        rows.append((at, order_id))
        return leaving

    def __len__(self) -> int:
        return sum(len(rows) for rows in (self._by_partition or {}).values())
