"""The projector: plain aiokafka consumers that write PostgreSQL in batches and commit
offsets only after the rows are written.

Two loops run in one process, each with its own consumer group:
- read models: `inventory.events` + `orders.events` → products, reservations, orders;
- audit log: `audit` → audit_log.
Writes are idempotent (version-guarded upserts, event ids), so a crash between the
database commit and the offset commit only replays a batch, which changes nothing.

What is never written:
- a record that does not decode goes to its topic's DLQ at once: decoding is pure, so
  one failure proves it malformed;
- nothing else is skipped. A database outage is waited out, the batch retried. An event
  the database refuses (a check, a value it cannot store, a bug) is found by applying
  the batch in halves; the projection stops at it, logs it at ERROR, records it in
  `stuck_projections` for GET /healthz and retries it slowly until it applies
  (inventory.apply_failures).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client import Counter
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from inventory.kafka_admin import wait_for_topics
from inventory.metrics_server import DEAD_LETTERS, serve_metrics
from inventory.projector_decode import SharedDecodes, union_members
from inventory.projector_writes import ForgetOnAssign, Pending, StuckRows, Writer
from inventory.settings import Settings
from inventory.signals import stop_on_signals
from storage.audit import record_audit_events
from storage.engine import create_engine
from storage.notify import read_models_channel
from storage.projection import project_events
from topics.dead_letters import dead_letter_headers
from topics.messages import AuditEvent, InventoryEvent, OrderEvent
from topics.names import AUDIT, INVENTORY_EVENTS, ORDERS_EVENTS, decoder, dlq_of, prefixed

log = logging.getLogger(__name__)

# The projector's metrics (inventory.metrics_server serves the process's registry).
PROJECTED = Counter(
    "inventory_projected_events",
    "Events written to a projection's tables (a replayed batch counts again).",
    ["projection"],
)

BATCH_MAX = 500
# With the broker answering a fetch as soon as any event is there, a caught-up projector
# wrote one transaction per handful of events: ~2 ms of its CPU per reservation. Waiting
# for a fuller fetch (settings.projector_batch_wait_ms at most) made it ~0.6 ms.
FETCH_MIN_BYTES = 64 * 1024
COMMIT_INTERVAL_SECONDS = 1.0

Apply = Callable[[AsyncEngine, Sequence[Any]], Awaitable[int]]


@dataclass(frozen=True, eq=False)  # hashed by identity
class Projection:
    """One consumer loop: which topics, which group, how to decode, where to write."""

    name: str
    group: str
    decoders: dict[str, Callable[[bytes], Any]]
    apply: Apply


def projections(settings: Settings, shared: SharedDecodes | None = None) -> list[Projection]:
    """The projections this pipeline runs (the gateway reports their lag). With
    `shared`, an event's bytes read by both are decoded once (inventory.projector_decode)."""
    p = settings.topic_prefix
    if shared is None:
        shared = SharedDecodes()
    return [
        Projection(
            "read_models",
            f"{p}projector",
            {
                prefixed(p, INVENTORY_EVENTS): shared.decoder(
                    decoder(INVENTORY_EVENTS), union_members(InventoryEvent)
                ),
                prefixed(p, ORDERS_EVENTS): shared.decoder(
                    decoder(ORDERS_EVENTS), union_members(OrderEvent)
                ),
            },
            partial(project_events, notify_channel=read_models_channel(settings.database_schema)),
        ),
        Projection(
            "audit_log",
            f"{p}audit-log",
            {prefixed(p, AUDIT): shared.decoder(decoder(AUDIT), union_members(AuditEvent))},
            record_audit_events,
        ),
    ]


async def run(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run every projection until `stop` is set (or SIGINT/SIGTERM in a process), once
    the broker shows every pipeline topic, as the worker and the gateway do."""
    stop = stop or stop_on_signals()
    waiting = asyncio.ensure_future(wait_for_topics(settings))
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not waiting.done():
        waiting.cancel()
        return
    waiting.result()  # a TopicMismatch ends the projector here
    serve_metrics("projector", settings.metrics_host, settings.projector_metrics_port)
    engine = create_engine(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_list, acks="all")
    await producer.start()
    shared = SharedDecodes()
    try:
        await asyncio.gather(
            *(_consume(settings, p, engine, producer, stop) for p in projections(settings, shared))
        )
    finally:
        log.info(
            "events decoded: %d, taken decoded from the other projection: %d",
            shared.decoded,
            shared.taken,
        )
        await producer.stop()
        await engine.dispose()


async def _consume(
    settings: Settings,
    projection: Projection,
    engine: AsyncEngine,
    producer: AIOKafkaProducer,
    stop: asyncio.Event,
) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_list,
        group_id=projection.group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        # Only what the worker committed: a fenced worker's writes are aborted.
        isolation_level="read_committed",
        # Kept short even so: aiokafka skips partitions with buffered records when it
        # fetches, and a long wait on the idle ones delays the busy one
        # (agents.app.WORKER_FETCH_MAX_WAIT_MS).
        fetch_max_wait_ms=settings.projector_batch_wait_ms,
        fetch_min_bytes=FETCH_MIN_BYTES,
    )
    await consumer.start()
    stuck = StuckRows(projection.name, engine)
    consumer.subscribe(list(projection.decoders), listener=ForgetOnAssign(stuck))
    log.info("projection %s consuming %s", projection.name, ", ".join(projection.decoders))
    writer = Writer(
        projection.name,
        partial(projection.apply, engine),
        consumer,
        stop,
        stuck,
        settings.projector_stuck_retry_seconds,
    )
    committed: dict[Any, int] = {}
    last_commit = time.monotonic()

    async def commit() -> None:
        nonlocal committed, last_commit
        await consumer.commit()
        committed, last_commit = await _positions(consumer), time.monotonic()
        await stuck.passed(committed)

    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=200, max_records=BATCH_MAX)
            if not batches:
                # Idle: commit the positions, so the lag /healthz reports is exact. They
                # also move with no record at all, past the commit markers of the worker's
                # transactions, which take offsets too.
                if await _positions(consumer) != committed:
                    await commit()
                continue
            pending: list[Pending] = []
            for tp, records in batches.items():
                for record in records:
                    try:
                        event = projection.decoders[tp.topic](record.value)
                    except (ValidationError, ValueError) as err:
                        # Decoding is pure (bytes in, model or error out): one failure
                        # proves the record malformed, a retry would fail the same way.
                        await _dead_letter(producer, tp.topic, record, str(err))
                        continue
                    pending.append(Pending(event, tp.topic, record.partition, record.offset))
            if not await writer.write(pending):
                break  # stopped, uncommitted: the next start applies the batch again
            PROJECTED.labels(projection.name).inc(len(pending))
            # An offset commit is a broker round trip; under load, one a second is enough
            # (a crash replays at most that much, which the idempotent writes absorb).
            if time.monotonic() - last_commit >= COMMIT_INTERVAL_SECONDS:
                await commit()
    finally:
        await consumer.stop()


async def _positions(consumer: AIOKafkaConsumer) -> dict[Any, int]:
    return {tp: await consumer.position(tp) for tp in consumer.assignment()}


async def _dead_letter(producer: AIOKafkaProducer, topic: str, record: Any, error: str) -> None:
    log.warning("dead-lettering %s[%s]@%s: %s", topic, record.partition, record.offset, error)
    await producer.send_and_wait(
        dlq_of(topic),
        key=record.key,
        value=record.value,
        headers=dead_letter_headers(
            "invalid_message", error, topic, record.partition, record.offset
        ),
    )
    DEAD_LETTERS.labels(topic, "invalid_message").inc()
