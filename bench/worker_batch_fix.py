"""`python -m bench.worker_batch_fix`: `inventory worker` with its batch limit working, for
`make bench-drain --variants worker-fix` until the worker itself has the fix.

The agent ends a batch (and commits its transaction) when its queue is empty or
`transactions.pending >= MAX_BATCH` (500, agents.worker). `PartitionTransactions.pending`
counts the entries of each open transaction's offsets dict, which is keyed by
TopicPartition: one per partition, however many commands were consumed, so the limit
never triggers. Draining a queue, the agent's queue is never empty, the transaction
stays open until the broker aborts it at its timeout (10 s), and the worker exits
fenced (69) without having committed anything: `bench-drain` with the worker as it is
cannot drain 20,000 reservations.

This module counts the commands consumed per open transaction and makes `pending`
their sum (what its docstring says it is), then runs the worker unchanged otherwise.
The fix belongs in agents/transactions.py; this is only the bench's way to measure the
worker as it will be.
"""

from __future__ import annotations

import sys
from typing import Any

from agents.transactions import PartitionTransactions

_consumed = PartitionTransactions.consumed


async def _counting_consumed(self: Any, topic: str, partition: int, offset: int) -> None:
    await _consumed(self, topic, partition, offset)
    batch = self._open[partition]
    batch.commands = getattr(batch, "commands", 0) + 1


def _pending(self: Any) -> int:
    """Commands consumed since the last commit, over every partition."""
    return sum(getattr(batch, "commands", 0) for batch in self._open.values())


def apply() -> None:
    PartitionTransactions.consumed = _counting_consumed  # type: ignore[method-assign]
    PartitionTransactions.pending = property(_pending)  # type: ignore[assignment,method-assign]


if __name__ == "__main__":
    from inventory.cli import main

    apply()
    sys.exit(main(["worker"]))
