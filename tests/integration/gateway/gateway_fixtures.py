"""Helpers for the gateway's integration tests: topics, an in-process gateway, and a
small real responder standing in for the agents (it answers each command on the
command topics with a Reply to its `reply_to`), so the tests pin the gateway's
contract, not the agents' behaviour."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from api.app import create_app
from inventory.settings import Settings
from tests.support.ids import unique
from tests.support.keys import bearer, make_key
from tests.support.pipeline import create_ready_topics
from topics.messages import (
    HistoryEntrySnapshot,
    OrderSnapshot,
    ProductSnapshot,
    Reply,
    ReplyData,
    ReservationSnapshot,
    VersionToken,
    encode,
)
from topics.names import INVENTORY_COMMANDS, ORDERS_COMMANDS, decoder, prefixed

# What the responder does with a command: a ReplyData to send, or None to stay silent.
Answer = Callable[[Any], ReplyData | None]


async def ensure_topics(settings: Settings) -> None:
    """Every pipeline topic under the settings' prefix (the reply topic included)."""
    await create_ready_topics(settings)


@contextlib.asynccontextmanager
async def gateway_client(
    settings: Settings, role: str | None = "admin"
) -> AsyncIterator[TestClient[Any, Any]]:
    """The real app on a random port, with its own command bus and engine; every request
    presents a new API key of `role` (none when `role` is None)."""
    headers = bearer(await make_key(settings, role, f"gateway_client {role}")) if role else {}
    async with TestClient(TestServer(create_app(settings)), headers=headers) as client:
        yield client


class Responder:
    """Reads the command topics from their end and answers through `answer`.

    `commands` holds every command seen (decoded), in arrival order.
    """

    def __init__(self, settings: Settings, answer: Answer | None) -> None:
        self._settings = settings
        self.answer = answer
        self.commands: list[Any] = []
        self._decoders = {
            prefixed(settings.topic_prefix, INVENTORY_COMMANDS): decoder(INVENTORY_COMMANDS),
            prefixed(settings.topic_prefix, ORDERS_COMMANDS): decoder(ORDERS_COMMANDS),
        }
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        servers = self._settings.kafka_bootstrap_list
        self._consumer = AIOKafkaConsumer(bootstrap_servers=servers, group_id=None)
        await self._consumer.start()
        partitions = [
            TopicPartition(topic, p)
            for topic in self._decoders
            for p in range(self._settings.partitions)
        ]
        self._consumer.assign(partitions)
        await self._consumer.seek_to_end(*partitions)
        for tp in partitions:  # resolved before any test command is sent
            await self._consumer.position(tp)
        self._producer = AIOKafkaProducer(bootstrap_servers=servers)
        await self._producer.start()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        assert self._consumer is not None and self._producer is not None
        async for record in self._consumer:
            command = self._decoders[record.topic](record.value)
            self.commands.append(command)
            data = self.answer(command) if self.answer else None
            if data is not None and command.reply_to:
                reply = Reply(key=command.key, request_id=command.request_id, data=data)
                await self._producer.send_and_wait(
                    command.reply_to, encode(reply), partition=command.reply_partition
                )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._producer is not None:
            await self._producer.stop()
        if self._consumer is not None:
            await self._consumer.stop()

    async def wait_for_commands(self, count: int, within: float = 10.0) -> list[Any]:
        """The commands once at least `count` arrived; AssertionError after `within` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while len(self.commands) < count:
            assert loop.time() < deadline, (
                f"expected {count} commands within {within} s, saw {len(self.commands)}"
            )
            await asyncio.sleep(0.01)
        return self.commands


@contextlib.asynccontextmanager
async def responder(settings: Settings, answer: Answer | None) -> AsyncIterator[Responder]:
    """A started Responder (answer=None: it only records commands)."""
    r = Responder(settings, answer)
    await r.start()
    try:
        yield r
    finally:
        await r.stop()


# ---------------------------------------------------------------- reply builders


def ok(
    command: Any, result: dict[str, Any], read_after: list[VersionToken] | None = None
) -> ReplyData:
    return ReplyData(
        correlation_id=command.id, ok=True, code="ok", result=result, read_after=read_after or []
    )


def refuse(command: Any, code: str, message: str, **details: Any) -> ReplyData:
    return ReplyData(
        correlation_id=command.id, ok=False, code=code, message=message, details=details
    )


def refusing(code: str, **details: Any) -> Answer:
    """An answer that refuses every command with `code` and `details`."""
    return lambda command: refuse(command, code, f"refused: {code}", **details)


def product_snapshot(
    product_id: str,
    name: str = "Widget",
    price: str = "9.90",
    available: int = 5,
    version: int = 1,
) -> ProductSnapshot:
    return ProductSnapshot(
        id=product_id,
        name=name,
        price=Decimal(price),
        initial=available,
        adjusted=0,
        available=available,
        reserved=0,
        sold=0,
        version=version,
    )


def reservation_snapshot(product_id: str, quantity: int = 1) -> ReservationSnapshot:
    return ReservationSnapshot(
        id=unique("res"),
        product_id=product_id,
        order_id=unique("ord"),
        quantity=quantity,
        status="active",
        customer_id="cust-1",
        expires_at=datetime.now(UTC) + timedelta(minutes=10),
        version=2,
    )


def order_snapshot(reservation: ReservationSnapshot, status: str = "pending") -> OrderSnapshot:
    now = datetime.now(UTC)
    return OrderSnapshot(
        id=reservation.order_id,
        status=status,
        customer_id="cust-1",  # type: ignore[arg-type]
        product_id=reservation.product_id,
        quantity=reservation.quantity,
        unit_price=Decimal("9.90"),
        total=Decimal("9.90") * reservation.quantity,
        reservation_id=reservation.id,
        expires_at=now + timedelta(minutes=10),
        created_at=now,
        updated_at=now,
        version=1,
        history=[HistoryEntrySnapshot(status="pending", at=now, request_id="r-1")],
    )
