"""The read-model projector: a plain aiokafka consumer of the event topics that upserts
PostgreSQL in batches and commits offsets only after the rows are written.

Writes are idempotent (version-guarded), so a crash between the database commit and the
offset commit only replays a batch, which changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydantic import ValidationError

from inventory.settings import Settings
from storage.engine import create_engine
from storage.projection import project_events
from topics.messages import decode_inventory_event, decode_order_event
from topics.names import INVENTORY_EVENTS, ORDERS_EVENTS, dlq_of, prefixed

log = logging.getLogger(__name__)

BATCH_MAX = 500


def projector_group(settings: Settings) -> str:
    return f"{settings.topic_prefix}projector"


async def run(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Consume and project until `stop` is set (or SIGINT/SIGTERM when run as a process)."""
    stop = stop or _stop_on_signals()
    decoders = {
        prefixed(settings.topic_prefix, INVENTORY_EVENTS): decode_inventory_event,
        prefixed(settings.topic_prefix, ORDERS_EVENTS): decode_order_event,
    }
    engine = create_engine(settings)
    consumer = AIOKafkaConsumer(
        *decoders,
        bootstrap_servers=settings.kafka_bootstrap_list,
        group_id=projector_group(settings),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_list, acks="all")
    await consumer.start()
    await producer.start()
    log.info("projector consuming %s", ", ".join(decoders))
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=200, max_records=BATCH_MAX)
            if not batches:
                continue
            events: list[Any] = []
            for tp, records in batches.items():
                for record in records:
                    try:
                        events.append(decoders[tp.topic](record.value))
                    except (ValidationError, ValueError) as err:
                        await _dead_letter(producer, tp.topic, record, str(err))
            if events:
                await project_events(engine, events)
            await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()
        await engine.dispose()


async def _dead_letter(producer: AIOKafkaProducer, topic: str, record: Any, error: str) -> None:
    log.warning("dead-lettering %s[%s]@%s: %s", topic, record.partition, record.offset, error)
    await producer.send_and_wait(
        dlq_of(topic),
        key=record.key,
        value=record.value,
        headers=[
            ("x-error-code", b"invalid_message"),
            ("x-error", error[:4000].encode()),
            ("x-source-topic", topic.encode()),
            ("x-source-partition", str(record.partition).encode()),
            ("x-source-offset", str(record.offset).encode()),
        ],
    )


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop
