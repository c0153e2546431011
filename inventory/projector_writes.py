"""The projector's writes: a batch of decoded events into the database, in order,
through outages and refusals (inventory.apply_failures decides which is which).

- Outage: the batch waits (1 s doubling to 10 s) and is retried; a warning when it
  starts, one a minute while it lasts, a line when it is over.
- Refusal: the refused event is found by applying the batch in halves (everything
  before it is written), logged at ERROR once, recorded in `stuck_projections` for GET
  /healthz, and retried alone, slowly, until it applies. Nothing after it is written
  meanwhile, and it is never skipped nor dead-lettered: it decoded, so it is a valid
  event the read models need, and the database or the code must change to take it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from sqlalchemy.ext.asyncio import AsyncEngine

from inventory.apply_failures import Failure, apply_in_order, backoff, classify, describe
from storage.stuck import StuckAt, clear_stuck, list_stuck, record_stuck

log = logging.getLogger("inventory.projector")

# Waiting out an outage: 1 s doubling to 10 s, one warning a minute.
OUTAGE_RETRY_FIRST_SECONDS = 1.0
OUTAGE_RETRY_MAX_SECONDS = 10.0
OUTAGE_LOG_EVERY_SECONDS = 60.0
# An event the database refuses waits for a person to change the data, the schema or
# the code: 5 s doubling to settings.projector_stuck_retry_seconds.
STUCK_RETRY_FIRST_SECONDS = 5.0
POLL_SLICE_SECONDS = 0.5  # how soon a wait notices `stop`

# One transaction: all of the events written, or none.
WriteEvents = Callable[[Sequence[Any]], Awaitable[object]]


@dataclass(frozen=True)
class Pending:
    """A decoded event and the record it came from."""

    event: Any
    topic: str
    partition: int
    offset: int

    def where(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


class Writer:
    """Writes a batch of events to the database: waits out outages, and stops at an
    event the database refuses until it applies (inventory.apply_failures)."""

    def __init__(
        self,
        projection: str,
        apply: WriteEvents,
        consumer: AIOKafkaConsumer,
        stop: asyncio.Event,
        stuck: StuckRows,
        stuck_retry_seconds: float,
    ) -> None:
        self._projection = projection
        self._write_events = apply
        self._consumer = consumer
        self._stop = stop
        self._stuck = stuck
        self._stuck_ceiling = stuck_retry_seconds
        self._outage = OutageLog(projection)

    async def write(self, items: list[Pending]) -> bool:
        """Apply `items` in order; True once all are written, False if stopped first."""
        while items:
            if self._stop.is_set():
                return False
            outcome = await apply_in_order(self._apply, items)
            items = items[outcome.applied :]
            if outcome.error is None:
                break
            if classify(outcome.error) is Failure.OUTAGE:
                await self._hold(self._outage.failed(outcome.error, len(items)))
                continue
            self._outage.recovered()  # it answered, with a refusal
            if not await self._stopped_at(items[0], outcome.error):
                return False
            items = items[1:]
        self._outage.recovered()
        return True

    async def _apply(self, items: Sequence[Pending]) -> None:
        await self._write_events([item.event for item in items])

    async def _stopped_at(self, item: Pending, error: BaseException) -> bool:
        """Retry `item`, refused by the database, alone and slowly until it applies
        (True) or the projector stops (False). Nothing after it is written meanwhile:
        the read models stay at the state just before it, which is consistent; skipping
        it would make them silently wrong from here on."""
        name, event = self._projection, item.event
        since, attempts, reason = datetime.now(UTC), 1, describe(error)
        log.error(
            "%s: stopped at %s, event %s (%s), which cannot be written: %s. Nothing after "
            "it is written until it is; retrying it, never skipping it.",
            name,
            item.where(),
            event.id,
            event.type,
            reason,
            exc_info=error,
        )
        await self._stuck.record(item, reason, since, attempts)
        first = min(STUCK_RETRY_FIRST_SECONDS, self._stuck_ceiling)
        while True:
            await self._hold(backoff(attempts, first, self._stuck_ceiling))
            if self._stop.is_set():
                return False  # still stopped there: the row stays for /healthz
            attempts += 1
            try:
                await self._apply([item])
            except Exception as err:
                # During an outage the row cannot be written either: it stays as it was.
                if classify(err) is Failure.REFUSED:
                    if describe(err) != reason:
                        reason = describe(err)
                        log.error("%s: still stopped at %s, now: %s", name, item.where(), reason)
                    await self._stuck.record(item, reason, since, attempts)
                continue
            log.info(
                "%s: event %s at %s applied after %d attempts, %.0f s stopped; going on",
                name,
                event.id,
                item.where(),
                attempts,
                (datetime.now(UTC) - since).total_seconds(),
            )
            await self._stuck.clear(item)
            return True

    async def _hold(self, seconds: float) -> None:
        """Wait `seconds` (less if stopped) without reading on. The consumer is polled
        meanwhile, its partitions paused: aiokafka leaves the group when getmany is not
        called for max_poll_interval_ms (5 min), and a stopped projector may wait hours."""
        consumer = self._consumer
        consumer.pause(*consumer.assignment())
        try:
            deadline = time.monotonic() + seconds
            while not self._stop.is_set() and (left := deadline - time.monotonic()) > 0:
                slice_ms = max(1, int(min(left, POLL_SLICE_SECONDS) * 1000))
                fetched = await consumer.getmany(timeout_ms=slice_ms)
                # Only partitions assigned during the wait (a rebalance) are not paused:
                # back to their first record, and paused too.
                for tp, records in fetched.items():
                    consumer.seek(tp, records[0].offset)
                    consumer.pause(tp)
        finally:
            consumer.resume(*consumer.paused())


class OutageLog:
    """Backoff and logging while the database cannot take writes: one warning when it
    starts, one a minute while it lasts, one line when it is over."""

    def __init__(self, projection: str) -> None:
        self._projection = projection
        self._attempts = 0
        self._started = self._logged = 0.0

    def failed(self, error: BaseException, events: int) -> float:
        """Note a failed attempt; returns the seconds to wait before the next."""
        now = time.monotonic()
        self._attempts += 1
        if self._attempts == 1:
            self._started = now
        if self._attempts == 1 or now - self._logged >= OUTAGE_LOG_EVERY_SECONDS:
            self._logged = now
            log.warning(
                "%s: the database cannot take writes (%d attempts in %.0f s), retrying "
                "%d events: %s",
                self._projection,
                self._attempts,
                now - self._started,
                events,
                describe(error),
            )
        return backoff(self._attempts, OUTAGE_RETRY_FIRST_SECONDS, OUTAGE_RETRY_MAX_SECONDS)

    def recovered(self) -> None:
        if self._attempts:
            log.info(
                "%s: the database takes writes again after %.0f s (%d failed attempts)",
                self._projection,
                time.monotonic() - self._started,
                self._attempts,
            )
            self._attempts = 0


class StuckRows:
    """This projection's rows in `stuck_projections` (storage.stuck): written when it
    stops at an event, deleted once the committed offsets are past it. Rows another
    process wrote (a projector stopped, then gone) are read again after an assignment.
    Best effort: a failed write is logged, the projector goes on retrying."""

    def __init__(self, projection: str, engine: AsyncEngine) -> None:
        self._projection = projection
        self._engine = engine
        # (topic, partition) -> offset of the rows known; None: to be read again
        self._known: dict[tuple[str, int], int] | None = None

    def forget(self) -> None:
        self._known = None

    async def record(self, item: Pending, reason: str, since: datetime, attempts: int) -> None:
        row = StuckAt(
            self._projection,
            item.topic,
            item.partition,
            item.offset,
            item.event.id,
            item.event.type,
            reason,
            since,
            attempts,
            datetime.now(UTC),
        )
        try:
            await record_stuck(self._engine, row)
        except Exception as err:
            log.warning(
                "%s: could not record where it is stopped (GET /healthz will not show it): %s",
                self._projection,
                describe(err),
            )
            return
        if self._known is not None:
            self._known[(item.topic, item.partition)] = item.offset

    async def clear(self, item: Pending) -> None:
        await self._delete([(item.topic, item.partition)])

    async def passed(self, positions: dict[TopicPartition, int]) -> None:
        """Delete the rows the committed `positions` are past."""
        if self._known is None:
            try:
                rows = await list_stuck(self._engine, self._projection)
            except Exception as err:
                # Tried again at the next commit; the projector's writes matter more.
                log.debug("%s: could not read stuck_projections: %s", self._projection, err)
                return
            self._known = {(r.source_topic, r.source_partition): r.source_offset for r in rows}
        passed = [
            (topic, partition)
            for (topic, partition), offset in self._known.items()
            if positions.get(TopicPartition(topic, partition), -1) > offset
        ]
        await self._delete(passed)

    async def _delete(self, partitions: list[tuple[str, int]]) -> None:
        if not partitions:
            return
        try:
            await clear_stuck(self._engine, self._projection, partitions)
        except Exception as err:
            log.warning("%s: could not clear stuck_projections: %s", self._projection, err)
            return
        if self._known is not None:
            for key in partitions:
                self._known.pop(key, None)


class ForgetOnAssign(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, stuck: StuckRows) -> None:
        self._stuck = stuck

    async def on_partitions_revoked(self, revoked: Any) -> None:
        pass

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self._stuck.forget()
