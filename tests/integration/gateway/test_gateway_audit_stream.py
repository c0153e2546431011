"""GET /api/ops/audit/stream on the real gateway app: the audit topic as server-sent
events, filtered by product, and ended cleanly when the gateway shuts down."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient
from aiokafka import AIOKafkaProducer

from inventory.settings import Settings
from tests.integration.gateway.gateway_fixtures import ensure_topics, gateway_client
from tests.support.ids import unique
from topics.messages import ProductCreated, ProductCreatedData, ProductSnapshot, encode
from topics.names import AUDIT, prefixed


def product_created(product_id: str) -> ProductCreated:
    snapshot = ProductSnapshot(
        id=product_id,
        name="Streamed",
        price="1.00",
        initial=1,
        adjusted=0,
        available=1,
        reserved=0,
        sold=0,
        version=1,
    )
    return ProductCreated(key=product_id, data=ProductCreatedData(product=snapshot))


async def publish(settings: Settings, *events: ProductCreated) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_list, acks="all")
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(
                prefixed(settings.topic_prefix, AUDIT), encode(event), key=event.key.encode()
            )
    finally:
        await producer.stop()


async def next_event(response: aiohttp.ClientResponse) -> tuple[str, dict[str, Any]]:
    """The next server-sent event (keep-alive comments skipped): (event, data)."""
    name, data = "message", ""
    while True:
        line = (await response.content.readline()).decode()
        assert line, "the stream ended"
        line = line.rstrip("\n")
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data += line[5:].strip()
        elif line == "" and data:
            return name, json.loads(data)


async def test_new_audit_events_of_the_chosen_product_are_streamed(
    client: TestClient[Any, Any], settings: Settings
) -> None:
    wanted, other = unique("stream-p"), unique("stream-q")
    response = await client.get("/api/ops/audit/stream", params={"product_id": wanted})
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/event-stream"
    assert await next_event(response) == ("ready", {})

    await publish(settings, product_created(other), product_created(wanted))

    name, row = await next_event(response)
    assert name == "audit"
    assert (row["type"], row["entity_type"], row["entity_id"], row["product_id"]) == (
        "product.created",
        "product",
        wanted,
        wanted,
    )
    response.close()


async def test_an_open_stream_ends_cleanly_when_the_gateway_shuts_down(
    settings: Settings,
) -> None:
    await ensure_topics(settings)
    async with gateway_client(settings) as client:
        response = await client.get("/api/ops/audit/stream")
        assert await next_event(response) == ("ready", {})
        await client.server.close()  # what SIGTERM does: shutdown, then cleanup
        # The handler returned (the chunked body is terminated), rather than being
        # cut off once aiohttp's shutdown timeout had passed.
        rest = await response.content.read()
        assert b"event: audit" not in rest
        assert response.content.at_eof()
