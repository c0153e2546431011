"""CommandBus on the real broker: reply partitions, correlation, bad replies."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from api.bus import CommandBus
from inventory.settings import Settings
from tests.integration.gateway.gateway_fixtures import ensure_topics, ok, responder
from tests.support.ids import unique
from topics.messages import CreateProduct, CreateProductData, ReplyData
from topics.names import INVENTORY_COMMANDS, prefixed

pytestmark = pytest.mark.integration


def create(product_id: str) -> CreateProduct:
    data = CreateProductData(product_id=product_id, name="n", price=1, initial_stock=1)
    return CreateProduct(key=product_id, data=data)


def echo(command: Any) -> ReplyData:
    # The result names the reply partition it was sent to, so each caller can check it.
    return ok(command, {"product_id": command.key, "reply_partition": command.reply_partition})


async def test_two_gateways_at_once_each_get_their_own_replies(settings: Settings) -> None:
    await ensure_topics(settings)
    topic = prefixed(settings.topic_prefix, INVENTORY_COMMANDS)
    first, second = CommandBus(settings), CommandBus(settings)
    await asyncio.gather(first.start(), second.start())
    try:
        async with responder(settings, echo):
            calls = [(bus, create(unique("p"))) for _ in range(10) for bus in (first, second)]
            replies = await asyncio.gather(*(bus.request(topic, cmd) for bus, cmd in calls))
        for (bus, command), reply in zip(calls, replies, strict=True):
            assert reply.data.correlation_id == command.id
            assert reply.data.result == {
                "product_id": command.key,
                "reply_partition": bus.reply_partition,
            }
    finally:
        await asyncio.gather(first.stop(), second.stop())


async def test_garbage_on_the_reply_topic_is_skipped(settings: Settings) -> None:
    await ensure_topics(settings)
    topic = prefixed(settings.topic_prefix, INVENTORY_COMMANDS)
    bus = CommandBus(settings)
    await bus.start()
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_list)
    await producer.start()
    try:
        partition = bus.reply_partition
        await producer.send_and_wait(bus.reply_topic, b"not json", partition=partition)
        await producer.send_and_wait(bus.reply_topic, b'{"type": "reply"}', partition=partition)
        async with responder(settings, echo):
            reply = await bus.request(topic, create(unique("p")))
        assert reply.data.ok
        assert await bus.kafka_error() is None
    finally:
        await producer.stop()
        await bus.stop()


async def test_a_request_without_reply_times_out_and_forgets_its_waiter(
    settings: Settings,
) -> None:
    await ensure_topics(settings)
    quick = settings.model_copy(update={"reply_timeout_seconds": 0.3})
    bus = CommandBus(quick)
    await bus.start()
    try:
        with pytest.raises(asyncio.TimeoutError):
            await bus.request(prefixed(quick.topic_prefix, INVENTORY_COMMANDS), create("p"))
        assert not bus._waiters
    finally:
        await bus.stop()
