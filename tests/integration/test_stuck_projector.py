"""A stuck projector says why: a well-formed event the database refuses stops its
projection at that event (nothing after it is written, nothing is dead-lettered), the
log and GET /healthz name the event and the error, and once the cause is gone the
projector goes on by itself. A record that does not decode still goes to the DLQ.

A real projector process on topics and a schema of its own; the events are produced
straight to `inventory.events`, as the worker would write them."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from inventory.settings import Settings
from storage.queries import get_product
from storage.stuck import StuckAt, list_stuck, record_stuck
from tests.integration.gateway.gateway_fixtures import gateway_client
from tests.support.pipeline import create_ready_topics, isolated, own_schema, read_to_end
from tests.support.processes import ROOT, Process, ProcessGroup
from tests.support.waiting import eventually
from topics.messages import (
    ProductCreated,
    ProductCreatedData,
    ProductSnapshot,
    StockAdjusted,
    StockAdjustedData,
    encode,
)
from topics.names import INVENTORY_EVENTS, dlq_of, prefixed

pytestmark = pytest.mark.integration


def snapshot(pid: str, version: int, reserved: int = 0, adjusted: int = 0) -> ProductSnapshot:
    return ProductSnapshot(
        id=pid,
        name=pid,
        price=Decimal("5.00"),
        initial=10,
        adjusted=adjusted,
        available=10 + adjusted - reserved,
        reserved=reserved,
        sold=0,
        version=version,
    )


def created(pid: str) -> ProductCreated:
    return ProductCreated(key=pid, data=ProductCreatedData(product=snapshot(pid, 1)))


def adjusted(snap: ProductSnapshot, delta: int) -> StockAdjusted:
    return StockAdjusted(
        key=snap.id, data=StockAdjustedData(product=snap, delta=delta, reason="recount")
    )


async def health(client: TestClient[Any, Any]) -> tuple[int, dict[str, Any]]:
    resp = await client.get("/healthz")
    return resp.status, await resp.json()


async def version_of(engine: AsyncEngine, pid: str) -> int | None:
    row = await get_product(engine, pid)
    return None if row is None else int(row["version"])


def log_of(process: Process) -> str:
    return process.log_path.read_text(errors="replace")


async def test_a_refused_event_stops_its_projection_until_the_cause_is_gone(
    settings: Settings,
) -> None:
    own = isolated(settings, "stuckproj", projector_stuck_retry_seconds=0.5)
    await create_ready_topics(own)
    events_topic = prefixed(own.topic_prefix, INVENTORY_EVENTS)
    dlq = prefixed(own.topic_prefix, dlq_of(INVENTORY_EVENTS))
    # The worker never writes `reserved` below 0 (a bug somewhere could): the event is
    # well-formed, the database's `reserved >= 0` check refuses it.
    first = created("widget")
    refused = adjusted(snapshot("widget", 2, reserved=-1), delta=1)
    other = created("gadget")  # another product, after it on the same partition
    later = adjusted(snapshot("widget", 3, adjusted=1), delta=1)

    producer = AIOKafkaProducer(bootstrap_servers=own.kafka_bootstrap_list, acks="all")
    await producer.start()
    async with own_schema(own) as engine:

        async def send(event: Any) -> None:
            await producer.send_and_wait(
                events_topic, encode(event), key=event.key.encode(), partition=0
            )

        # Written before the projector starts, so that its first batch holds them all and
        # it has to find the refused one inside it. (Not `later` yet: a batch writes the
        # newest version of each row only, and widget's version 3 is fine.)
        for event in (first, refused, other):
            await send(event)
        group = ProcessGroup(own, ROOT / ".local" / "test-logs" / "stuck-projector")
        projector = group.start("projector")
        try:
            async with gateway_client(own) as client:
                status, body = await eventually(
                    lambda: health(client),
                    lambda answer: (
                        "stuck" in answer[1].get("projections", {}).get("read_models", {})
                    ),
                    within=60,
                    what="healthz naming the stopped projection",
                )
                assert status == 503, body
                assert body["status"] == "degraded"
                assert body["checks"]["kafka"] == {"ok": True}
                assert body["checks"]["database"] == {"ok": True}
                assert body["checks"]["projections"]["ok"] is False
                assert refused.id in body["checks"]["projections"]["error"]
                [stuck] = body["projections"]["read_models"]["stuck"]
                assert stuck["event_id"] == refused.id
                assert stuck["event_type"] == "stock.adjusted"
                assert (stuck["topic"], stuck["partition"], stuck["offset"]) == (
                    events_topic,
                    0,
                    1,
                )
                assert "products_reserved_check" in stuck["error"]
                assert "CheckViolationError" in stuck["error"]
                assert "stuck" not in body["projections"]["audit_log"]
                await send(later)

                # It keeps trying, and writes nothing after the event meanwhile: the
                # event before it is there, the ones after it are not.
                rows = await eventually(
                    lambda: list_stuck(engine),
                    lambda rows: len(rows) == 1 and rows[0].attempts >= 3,
                    what="three attempts at the refused event",
                )
                assert rows[0].event_id == refused.id
                assert (rows[0].source_offset, await version_of(engine, "widget")) == (1, 1)
                assert await version_of(engine, "gadget") is None
                assert await read_to_end(own, dlq) == []
                log = log_of(projector)
                errors = [line for line in log.splitlines() if " ERROR " in line]
                assert len(errors) == 1, errors  # once per event, not once per attempt
                assert re.search(
                    rf"read_models: stopped at {re.escape(events_topic)}\[0\]@1, "
                    rf"event {refused.id} \(stock\.adjusted\).*products_reserved_check",
                    errors[0],
                ), errors[0]
                assert projector.alive()

                # The cause goes away (here: the check): the event applies, and so does
                # everything after it, in order.
                async with engine.begin() as conn:
                    await conn.execute(
                        text("ALTER TABLE products DROP CONSTRAINT products_reserved_check")
                    )
                await eventually(
                    lambda: version_of(engine, "widget"), lambda v: v == 3, what="widget v3"
                )
                assert await version_of(engine, "gadget") == 1
                status, body = await eventually(
                    lambda: health(client),
                    lambda answer: answer[0] == 200,
                    what="healthz healthy again",
                )
                assert body["checks"]["projections"] == {"ok": True}
                assert "stuck" not in body["projections"]["read_models"]
                assert await list_stuck(engine) == []
                assert await read_to_end(own, dlq) == []
                assert f"event {refused.id} at {events_topic}[0]@1 applied" in log_of(projector)

                # A record that does not decode is proven malformed at once: to the DLQ
                # with its reason, and the projection goes on with the next event.
                await producer.send_and_wait(events_topic, b"{not json", key=b"x", partition=0)
                after = created("after-garbage")
                await producer.send_and_wait(
                    events_topic, encode(after), key=after.key.encode(), partition=0
                )
                await eventually(
                    lambda: version_of(engine, "after-garbage"),
                    lambda v: v == 1,
                    what="the event after the malformed record",
                )
                [dead] = await read_to_end(own, dlq)
                headers = dict(dead.headers)
                assert dead.value == b"{not json"
                assert headers["x-error-code"] == b"invalid_message"
                assert b"json" in headers["x-error"].lower()
                assert headers["x-source-topic"] == events_topic.encode()
                assert (headers["x-source-partition"], headers["x-source-offset"]) == (
                    b"0",
                    b"4",
                )
                status, body = await health(client)
                assert status == 200, body
        finally:
            group.stop_all()
            await producer.stop()


async def test_a_row_left_by_a_projector_gone_is_cleared_once_the_offsets_are_past_it(
    settings: Settings,
) -> None:
    """A projector stopped at an event, then gone (killed, scaled down); the one that
    takes its partition over finds the event applies now: the row must not stay."""
    own = isolated(settings, "stuckleft")
    await create_ready_topics(own)
    events_topic = prefixed(own.topic_prefix, INVENTORY_EVENTS)
    event = created("left")
    producer = AIOKafkaProducer(bootstrap_servers=own.kafka_bootstrap_list, acks="all")
    await producer.start()
    async with own_schema(own) as engine:
        await producer.send_and_wait(
            events_topic, encode(event), key=event.key.encode(), partition=1
        )
        now = datetime.now(UTC)
        await record_stuck(
            engine,
            StuckAt(
                "read_models", events_topic, 1, 0, event.id, event.type, "was refused", now, 9, now
            ),
        )
        group = ProcessGroup(own, ROOT / ".local" / "test-logs" / "stuck-left")
        group.start("projector")
        try:
            await eventually(lambda: version_of(engine, "left"), lambda v: v == 1, what="applied")
            await eventually(lambda: list_stuck(engine), lambda rows: rows == [], what="cleared")
        finally:
            group.stop_all()
            await producer.stop()
