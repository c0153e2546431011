"""The audit trail against the real pipeline: every change lands in audit_log once, with
the request that caused it; the list behind GET /api/audit/ filters and pages by keyset;
`inventory audit tail` prints the topic as an outside subscriber reads it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from inventory.settings import Settings
from storage.audit import record_audit_events
from storage.audit_queries import AuditParams, CursorMismatch, list_audit
from tests.support.ids import unique
from tests.support.pipeline import Pipeline, end_offsets, read_to_end
from tests.support.processes import ROOT, settings_env
from tests.support.waiting import eventually
from topics.messages import (
    ChangeStatus,
    ChangeStatusData,
    CommandRejected,
    CommandRejectedData,
    CreateProduct,
    CreateProductData,
    ReserveStock,
    ReserveStockData,
    encode,
)
from topics.names import AUDIT, prefixed

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Story:
    """A product's short life through the pipeline, and who asked for each step."""

    product_id: str
    reservation_id: str
    order_id: str
    create_request: str
    reserve_request: str
    confirm_request: str
    refused_request: str

    @property
    def request_ids(self) -> list[str]:
        return [
            self.create_request,
            self.reserve_request,
            self.confirm_request,
            self.refused_request,
        ]

    def expected_events(self) -> list[tuple[str, str, str, str]]:
        """(request id, type, entity type, entity id): one per change, sorted."""
        return sorted(
            [
                (self.create_request, "product.created", "product", self.product_id),
                (self.reserve_request, "reservation.created", "reservation", self.reservation_id),
                (self.reserve_request, "order.created", "order", self.order_id),
                (self.confirm_request, "order.status_changed", "order", self.order_id),
                (self.confirm_request, "reservation.committed", "reservation", self.reservation_id),
                (self.refused_request, "command.rejected", "product", self.product_id),
            ]
        )


async def audit_lag(settings: Settings) -> int:
    """Records of the audit topic the projector's audit-log group has not committed yet."""
    topic = prefixed(settings.topic_prefix, AUDIT)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_list)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(f"{settings.topic_prefix}audit-log")
    finally:
        await admin.close()
    ends = await end_offsets(settings, topic)
    assert ends, f"no partitions of {topic}"
    lag = 0
    for tp, end in ends.items():
        meta = committed.get(tp)
        lag += end - (meta.offset if meta is not None and meta.offset >= 0 else 0)
    return lag


async def logged(engine: AsyncEngine, request_ids: list[str]) -> list[tuple[str, ...]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT request_id, type, entity_type, entity_id FROM audit_log"
                " WHERE request_id = ANY(:ids)"
            ),
            {"ids": request_ids},
        )
        return sorted(tuple(row) for row in rows)


@pytest.fixture(scope="module")
async def story(pipeline: Pipeline) -> Story:
    """Create a product, reserve (sent twice, same id), confirm, and a refused reserve;
    returns once the audit-log projection has caught up with the whole audit topic."""
    product_id = unique("p")
    create_request, reserve_request = unique("req-create"), unique("req-reserve")
    confirm_request, refused_request = unique("req-confirm"), unique("req-refused")

    await _create_product(pipeline, product_id, create_request)
    reserve = ReserveStock(
        request_id=reserve_request,
        key=product_id,
        data=ReserveStockData(product_id=product_id, quantity=2, customer_id="c-audit"),
    )
    reserved = await pipeline.request(reserve)
    again = await pipeline.request(reserve)  # a client retry: same command id
    assert reserved.data.ok and again.data.ok, (reserved.data, again.data)
    order_id = reserved.data.result["order"]["id"]
    reservation_id = reserved.data.result["reservation"]["id"]
    assert again.data.result["order"]["id"] == order_id

    confirmed = await pipeline.request(
        ChangeStatus(
            request_id=confirm_request,
            key=order_id,
            data=ChangeStatusData(order_id=order_id, status="confirmed"),
        )
    )
    assert confirmed.data.ok, confirmed.data
    refused = await pipeline.request(
        ReserveStock(
            request_id=refused_request,
            key=product_id,
            data=ReserveStockData(product_id=product_id, quantity=99, customer_id="c-audit"),
        )
    )
    assert not refused.data.ok and refused.data.code == "insufficient_stock"

    result = Story(
        product_id,
        reservation_id,
        order_id,
        create_request,
        reserve_request,
        confirm_request,
        refused_request,
    )
    await eventually(
        lambda: logged(pipeline.engine, result.request_ids),
        lambda rows: len(rows) >= len(result.expected_events()),
        what="audit rows of the story",
    )
    # Caught up with everything on the topic: a late duplicate would be in the table now.
    await eventually(
        lambda: audit_lag(pipeline.settings), lambda lag: lag == 0, what="audit-log lag 0"
    )
    return result


async def _create_product(pipeline: Pipeline, product_id: str, request_id: str) -> None:
    reply = await pipeline.request(
        CreateProduct(
            request_id=request_id,
            key=product_id,
            data=CreateProductData(
                product_id=product_id, name="Audited", price="5.00", initial_stock=3
            ),
        )
    )
    assert reply.data.ok, reply.data


# ---------------------------------------------------------------- the projection


async def test_every_change_is_logged_once_with_the_request_that_caused_it(
    pipeline: Pipeline, story: Story
) -> None:
    assert await logged(pipeline.engine, story.request_ids) == story.expected_events()


async def test_each_row_keeps_the_event_and_what_caused_it(
    pipeline: Pipeline, story: Story
) -> None:
    rows, _ = await list_audit(pipeline.engine, AuditParams(request_id=story.refused_request))
    assert len(rows) == 1
    rejected = rows[0]
    assert rejected["type"] == "command.rejected"
    assert rejected["data"]["code"] == "insufficient_stock"
    assert rejected["causation_id"] == rejected["data"]["command_id"]
    assert rejected["occurred_at"].endswith("Z")


# ---------------------------------------------------------------- list_audit


async def test_an_orders_history_comes_newest_first_with_its_requests(
    pipeline: Pipeline, story: Story
) -> None:
    rows, next_cursor = await list_audit(
        pipeline.engine, AuditParams(entity_type="order", entity_id=story.order_id)
    )
    assert [(r["type"], r["request_id"]) for r in rows] == [
        ("order.status_changed", story.confirm_request),
        ("order.created", story.reserve_request),
    ]
    assert rows[0]["data"]["order"]["status"] == "confirmed"
    assert next_cursor is None


async def test_filters_combine(pipeline: Pipeline, story: Story) -> None:
    by_type, _ = await list_audit(
        pipeline.engine,
        AuditParams(type="reservation.committed", entity_id=story.reservation_id),
    )
    assert [r["request_id"] for r in by_type] == [story.confirm_request]
    by_request, _ = await list_audit(pipeline.engine, AuditParams(request_id=story.reserve_request))
    assert sorted(r["type"] for r in by_request) == ["order.created", "reservation.created"]
    nothing, _ = await list_audit(
        pipeline.engine, AuditParams(entity_type="product", entity_id=story.order_id)
    )
    assert nothing == []


async def test_since_is_inclusive_and_until_exclusive(pipeline: Pipeline, story: Story) -> None:
    order = AuditParams(entity_type="order", entity_id=story.order_id)
    rows, _ = await list_audit(pipeline.engine, order)
    confirmed_at = datetime.fromisoformat(rows[0]["occurred_at"])

    since, _ = await list_audit(pipeline.engine, replace(order, since=confirmed_at))
    assert [r["type"] for r in since] == ["order.status_changed"]
    until, _ = await list_audit(pipeline.engine, replace(order, until=confirmed_at))
    assert [r["type"] for r in until] == ["order.created"]


def synthetic(entity_id: str, at: datetime) -> CommandRejected:
    """An audit event of our own making, for paging through many rows of one entity."""
    return CommandRejected(
        request_id=unique("req-page"),
        key=entity_id,
        occurred_at=at,
        data=CommandRejectedData(
            source_topic="test",
            entity_type="product",
            entity_id=entity_id,
            code="test",
            message="paging",
        ),
    )


async def walk(engine: AsyncEngine, params: AuditParams, between_pages: Any = None) -> list[Any]:
    """Every page of `params` in turn; `between_pages()` runs after each page."""
    seen: list[Any] = []
    cursor: str | None = None
    for _ in range(1000):
        rows, cursor = await list_audit(engine, replace(params, cursor=cursor))
        seen.extend(rows)
        if between_pages is not None:
            await between_pages()
        if cursor is None:
            return seen
    raise AssertionError("the walk did not end")


async def test_walking_every_page_returns_each_event_once_newest_first(
    engine: AsyncEngine,
) -> None:
    entity_id = unique("p-paged")
    base = datetime(2025, 1, 1, tzinfo=UTC)
    # Ties on occurred_at on purpose: the event id must break them and keep the walk exact.
    events = [synthetic(entity_id, base + timedelta(seconds=i // 3)) for i in range(23)]
    assert await record_audit_events(engine, events) == 23
    params = AuditParams(entity_type="product", entity_id=entity_id, limit=4)

    seen = await walk(engine, params)
    expected = sorted(events, key=lambda e: (e.occurred_at, e.id), reverse=True)
    assert [r["id"] for r in seen] == [e.id for e in expected]


async def test_new_events_arriving_during_a_walk_neither_repeat_nor_hide_any(
    engine: AsyncEngine,
) -> None:
    entity_id = unique("p-live")
    start = datetime.now(UTC) - timedelta(hours=1)
    old = [synthetic(entity_id, start + timedelta(seconds=i)) for i in range(10)]
    await record_audit_events(engine, old)

    async def more_arrive() -> None:
        await record_audit_events(engine, [synthetic(entity_id, datetime.now(UTC))])

    seen = await walk(engine, AuditParams(entity_id=entity_id, limit=3), more_arrive)
    ids = [r["id"] for r in seen]
    assert len(ids) == len(set(ids)), "an event came twice"
    assert {e.id for e in old} <= set(ids), "an event that was there all along was skipped"


async def test_a_cursor_used_with_other_filters_is_refused(engine: AsyncEngine) -> None:
    entity_id = unique("p-cursor")
    base = datetime(2025, 2, 1, tzinfo=UTC)
    await record_audit_events(
        engine, [synthetic(entity_id, base + timedelta(seconds=i)) for i in range(3)]
    )
    params = AuditParams(entity_id=entity_id, limit=1)
    _, cursor = await list_audit(engine, params)
    assert cursor is not None
    with pytest.raises(CursorMismatch):
        await list_audit(engine, AuditParams(entity_id=unique("other"), limit=1, cursor=cursor))


# ---------------------------------------------------------------- inventory audit tail


def run_tail(
    settings: Settings, *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`inventory audit tail ARGS` as a separate process, on `settings`' topics."""
    env = {**os.environ, **settings_env(settings), "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "inventory.cli", "audit", "tail", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


async def topic_size(settings: Settings) -> int:
    """How many records the run's audit topic holds (it is neither compacted nor trimmed)."""
    return len(await read_to_end(settings, prefixed(settings.topic_prefix, AUDIT)))


async def test_tail_from_the_beginning_prints_the_storys_events(
    pipeline: Pipeline, story: Story
) -> None:
    total = await topic_size(pipeline.settings)
    done = await asyncio.to_thread(
        run_tail, pipeline.settings, "--from-beginning", "--max", str(total), "--timeout", "15"
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == total, done.stderr
    printed = sorted(
        (request_id, event_type, *entity.split(":", 1))
        for _, event_type, entity, request_id in (line.split(" ") for line in lines)
        if request_id in story.request_ids
    )
    # The topic may hold an event twice (a redelivered command sends its outputs again).
    assert sorted(set(printed)) == story.expected_events()


async def test_tail_prints_the_events_of_a_topic_in_order_and_as_json(
    settings: Settings,
) -> None:
    own = settings.model_copy(update={"topic_prefix": f"{settings.topic_prefix}{unique('tail')}."})
    topic = prefixed(own.topic_prefix, AUDIT)
    admin = AIOKafkaAdminClient(bootstrap_servers=own.kafka_bootstrap_list)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    base = datetime(2025, 3, 1, 12, tzinfo=UTC)
    events = [synthetic(unique("p-tail"), base + timedelta(seconds=i)) for i in range(5)]
    producer = AIOKafkaProducer(bootstrap_servers=own.kafka_bootstrap_list)
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(topic, key=event.key.encode(), value=encode(event))
        await producer.send_and_wait(topic, key=b"x", value=b"not json")  # skipped, reported
    finally:
        await producer.stop()

    plain = await asyncio.to_thread(run_tail, own, "--from-beginning", "--max", "5")
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.splitlines() == [
        f"2025-03-01T12:00:0{i}Z command.rejected product:{e.key} {e.request_id}"
        for i, e in enumerate(events)
    ]
    as_json = await asyncio.to_thread(run_tail, own, "--from-beginning", "--json", "--max", "3")
    assert [json.loads(line)["id"] for line in as_json.stdout.splitlines()] == [
        e.id for e in events[:3]
    ]
    # Idle timeout: the bad record is reported on stderr, then the tail stops by itself.
    idle = await asyncio.to_thread(run_tail, own, "--from-beginning", "--timeout", "2")
    assert idle.returncode == 0 and len(idle.stdout.splitlines()) == 5
    assert "not an audit event" in idle.stderr


async def test_tail_without_from_beginning_prints_only_new_events(settings: Settings) -> None:
    own = settings.model_copy(update={"topic_prefix": f"{settings.topic_prefix}{unique('live')}."})
    topic = prefixed(own.topic_prefix, AUDIT)
    admin = AIOKafkaAdminClient(bootstrap_servers=own.kafka_bootstrap_list)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    finally:
        await admin.close()
    old, new = synthetic("p-old", datetime.now(UTC)), synthetic("p-new", datetime.now(UTC))
    producer = AIOKafkaProducer(bootstrap_servers=own.kafka_bootstrap_list)
    await producer.start()
    await producer.send_and_wait(topic, key=old.key.encode(), value=encode(old))
    env = {**os.environ, **settings_env(own), "PYTHONUNBUFFERED": "1"}
    tail = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "inventory.cli", "audit", "tail", "--max", "1", "--timeout", "30"),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert tail.stderr is not None
        ready = b""
        while b"tailing" not in ready:  # log lines may come first
            ready = await asyncio.wait_for(tail.stderr.readline(), 30)
            assert ready, "the tail exited before it was ready"
        assert b"new events only" in ready, ready
        await producer.send_and_wait(topic, key=new.key.encode(), value=encode(new))
        stdout, _ = await asyncio.wait_for(tail.communicate(), 30)
    finally:
        await producer.stop()
        if tail.returncode is None:
            tail.kill()
            await tail.wait()
    assert tail.returncode == 0
    assert stdout.decode().split()[1:] == ["command.rejected", "product:p-new", new.request_id]
