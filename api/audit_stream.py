"""The audit topic as a live feed for the /ops page: one group-less consumer per viewer,
from the end of the topic (only new events), as `inventory audit tail` reads it.

Each event is sent as a server-sent event (`event: audit`, `data: <JSON row>`). The
page reads it with fetch() rather than EventSource, so that it can send its API key in
an Authorization header like every other request.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from typing import Any

from aiokafka import AIOKafkaConsumer
from pydantic import ValidationError

from inventory.audit_tail import assign_all
from inventory.ops_summary import product_of
from inventory.settings import Settings
from storage.audit import entity_of
from storage.formats import iso_utc
from topics.names import AUDIT, decoder, prefixed

POLL_MS = 500
# A comment line now and then: a proxy keeps the connection, a gone viewer is noticed.
KEEPALIVE_SECONDS = 15.0


def audit_row(raw: bytes) -> dict[str, Any] | None:
    """What the page shows of one audit record, or None when it is not an audit event."""
    try:
        event = decoder(AUDIT)(raw)
    except (ValidationError, ValueError):
        return None
    entity_type, entity_id = entity_of(event)
    return {
        "id": event.id,
        "type": event.type,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "product_id": product_of(event.model_dump(mode="json")),
        "request_id": event.request_id,
        "occurred_at": iso_utc(event.occurred_at),
    }


def sse(event: str, data: dict[str, Any]) -> bytes:
    """One server-sent event."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def audit_feed(
    settings: Settings, stop: asyncio.Event, product_id: str | None = None
) -> AsyncGenerator[bytes, None]:
    """Server-sent events: `ready` once the positions are resolved (nothing written after
    it is missed), then one `audit` per new event (of `product_id` only, if given), and
    a keep-alive comment when nothing happened for a while; until `stop` is set.

    Raises TopicMissing when the audit topic does not exist, and the broker's error."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_list,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",  # never a fenced worker's aborted events
    )
    await consumer.start()
    try:
        await assign_all(consumer, prefixed(settings.topic_prefix, AUDIT), from_beginning=False)
        yield sse("ready", {})
        loop = asyncio.get_running_loop()
        quiet_since = loop.time()
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=POLL_MS)
            for records in batches.values():
                for record in records:
                    row = audit_row(record.value or b"")
                    if row is not None and product_id in (None, row["product_id"]):
                        quiet_since = loop.time()
                        yield sse("audit", row)
            if loop.time() - quiet_since >= KEEPALIVE_SECONDS:
                quiet_since = loop.time()
                yield b": keep-alive\n\n"
    finally:
        await consumer.stop()
