"""How a worker says "start me again": it exits at once without committing, and the
records it had not finished are redelivered to whoever owns their partitions next. A
plain module (no faust) so that the supervisor of `inventory run` can read it."""

from __future__ import annotations

import logging
import os
from typing import NoReturn

log = logging.getLogger(__name__)

# sysexits EX_SOFTWARE: a record or a transaction the producer failed to deliver.
DELIVERY_FAILED = 70
# sysexits EX_TEMPFAIL: a command still failing after its retries (agents.processor).
GAVE_UP = 75
# sysexits EX_UNAVAILABLE: another worker took a partition over (agents.transactions).
FENCED = 69

RESTART = frozenset({DELIVERY_FAILED, GAVE_UP, FENCED})


def exit_without_commit(reason: str, code: int) -> NoReturn:
    """End the process at once. Nothing past the last committed transaction becomes
    visible, so Kafka redelivers the unfinished records and the tables are rebuilt from
    their changelogs: a graceful stop would try to commit past the lost work."""
    log.critical("%s; exiting without committing", reason)
    for handler in logging.getLogger().handlers:
        handler.flush()
    os._exit(code)
