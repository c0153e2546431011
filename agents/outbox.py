"""How the worker's records reach Kafka: through the app's producer, not faust's Topic.

faust's `Topic.send` wraps every message in futures, callbacks and sensor hooks; a table
write goes the same way for its changelog record. On the development machine that
cost ~0.2 ms of CPU per record, against ~0.05 ms for the producer underneath
(docs/BENCHMARKS.md, "the faust floor"), and a reservation writes a dozen records.

Both paths here keep faust's delivery guarantee. A record is handed to the producer
before the agent takes its next event (`ChangelogTable.flush_changelog`, awaited by
the agent after each record), and faust flushes the producer before it commits an
offset. A record the producer finally fails to deliver ends the process at once:
exiting without a commit makes Kafka redeliver the command, which is idempotent,
while a graceful stop would commit past the lost record.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import deque
from typing import Any, NoReturn

import faust
from faust.types import AppT

from agents import exit_codes

log = logging.getLogger(__name__)

# A process manager restarts the worker on either (docker-compose.yml: restart:
# unless-stopped; `inventory run` does too).
DELIVERY_FAILED_EXIT_CODE = exit_codes.DELIVERY_FAILED
GAVE_UP_EXIT_CODE = exit_codes.GAVE_UP


def exit_without_commit(reason: str, code: int) -> NoReturn:
    """End the process at once. No offset is committed past the record being processed,
    so Kafka redelivers it to whoever owns its partition next, and the tables are rebuilt
    from their changelogs: a graceful stop would commit past the lost work."""
    log.critical("%s; exiting without committing", reason)
    for handler in logging.getLogger().handlers:
        handler.flush()
    os._exit(code)


def _exit_on_failure(future: asyncio.Future[Any]) -> None:
    if future.cancelled():
        error: BaseException = asyncio.CancelledError()
    elif (exc := future.exception()) is None:
        return
    else:
        error = exc
    exit_without_commit(f"a record could not be delivered ({error!r})", DELIVERY_FAILED_EXIT_CODE)


async def send(
    app: AppT,
    topic: str,
    key: bytes | None,
    value: bytes | None,
    *,
    partition: int | None = None,
    headers: list[tuple[str, bytes]] | None = None,
) -> None:
    """Hand one record to the app's producer (returns once it is queued, not delivered)."""
    delivery = await app.producer.send(topic, key, value, partition, None, headers)
    delivery.add_done_callback(_exit_on_failure)  # type: ignore[attr-defined]


class ChangelogTable(faust.Table):  # type: ignore[misc]
    """A faust Table whose changelog records wait in a queue until the agent sends them.

    Reads, the in-memory store and recovery from the changelog are faust's. Only the
    write path differs: a write or delete updates the store at once and queues its
    changelog record (partition of the current event, as faust does);
    `flush_changelog()` sends the queue in order. Records of one partition therefore
    keep the order in which the agent wrote them, which the processor's crash recovery
    relies on (applied entry before the row).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._queued: deque[tuple[int, bytes | None, bytes | None]] = deque()
        self._flush_lock = asyncio.Lock()

    def on_key_set(self, key: Any, value: Any) -> None:
        partition = self.partition_for_key(key)
        raw_key, _ = self.changelog_topic.prepare_key(key, self.key_serializer)
        raw_value, _ = self.changelog_topic.prepare_value(value, self.value_serializer)
        self._queued.append((partition, raw_key, raw_value))

    def on_key_del(self, key: Any) -> None:
        partition = self.partition_for_key(key)
        raw_key, _ = self.changelog_topic.prepare_key(key, self.key_serializer)
        self._queued.append((partition, raw_key, None))

    @property
    def queued(self) -> int:
        """Changelog records written but not yet handed to the producer."""
        return len(self._queued)

    async def flush_changelog(self) -> None:
        """Hand every queued changelog record to the producer, oldest first. A record
        leaves the queue only once the producer has taken it: after a failed send the
        rest stays queued, in order, for the retry."""
        if not self._queued:
            return
        # Under the lock, so that two agents flushing at once cannot interleave records.
        async with self._flush_lock:
            topic = self.changelog_topic.get_topic_name()
            while self._queued:
                partition, key, value = self._queued[0]
                await send(self.app, topic, key, value, partition=partition)
                self._queued.popleft()
