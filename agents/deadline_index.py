"""Pending orders by deadline, soonest first: what the expiry sweep looks at.

The deadlines table holds one entry per pending order; with the default ten-minute TTL
and a few hundred reservations a second that is well over 100,000 entries. Scanning
them all twice a second blocked the worker's event loop for tens of milliseconds each
time. The index is a heap beside the table: the sweep pops only what is due, and
checks each entry against the table, which stays the truth (an order confirmed or
cancelled since is simply dropped). No faust, no I/O.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping


class DeadlineIndex:
    def __init__(self) -> None:
        # (when to look, the deadline the table had, order id)
        self._heap: list[tuple[float, float, str]] = []
        self._stale = True

    def __len__(self) -> int:
        return len(self._heap)

    def invalidate(self) -> None:
        """The table changed behind the agent's back (recovery, rebalance): rebuild it from
        the table at the next sweep."""
        self._stale = True

    def add(self, order_id: str, deadline: float) -> None:
        """The agent set `order_id`'s deadline."""
        heapq.heappush(self._heap, (deadline, deadline, order_id))

    def due(
        self,
        now: float,
        deadlines: Mapping[str, float | None],
        recheck_after: float,
    ) -> list[str]:
        """Orders whose deadline in `deadlines` has passed, each once; each is looked at
        again `recheck_after` seconds later if it is still pending then (its expire
        command may have been lost). Reads all of `deadlines` only after `invalidate()`."""
        if self._stale:
            self._heap = [(d, d, oid) for oid, d in deadlines.items() if d is not None]
            heapq.heapify(self._heap)
            self._stale = False
        found: list[str] = []
        seen: set[str] = set()
        while self._heap and self._heap[0][0] <= now:
            _, deadline, order_id = heapq.heappop(self._heap)
            if order_id in seen or deadlines.get(order_id) != deadline:
                continue  # a duplicate, or no longer pending with that deadline
            seen.add(order_id)
            found.append(order_id)
        for order_id in found:
            pending = deadlines.get(order_id)
            assert pending is not None
            heapq.heappush(self._heap, (now + recheck_after, pending, order_id))
        return found
