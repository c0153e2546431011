"""How a worker says "start me again": it exits without committing, and the records it had
not finished are redelivered to whoever owns their partitions next. A plain module (no
faust) so that the supervisor of `inventory run` can read it."""

from __future__ import annotations

# sysexits EX_SOFTWARE: a record the producer finally failed to deliver.
DELIVERY_FAILED = 70
# sysexits EX_TEMPFAIL: a command still failing after its retries (agents.processor).
GAVE_UP = 75

RESTART = frozenset({DELIVERY_FAILED, GAVE_UP})
