"""Audit events for the integration tests of the audit trail: a short story told through
the real pipeline, the rows it left in audit_log, and synthetic events of our own making."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from inventory.settings import Settings
from tests.support.ids import unique
from tests.support.pipeline import Pipeline, end_offsets
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
)
from topics.names import AUDIT, prefixed


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


async def tell_story(pipeline: Pipeline) -> Story:
    """Create a product, reserve (sent twice, same id), confirm, and a refused reserve;
    returns once the audit-log projection has caught up with the whole audit topic."""
    product_id = unique("p")
    create_request, reserve_request = unique("req-create"), unique("req-reserve")
    confirm_request, refused_request = unique("req-confirm"), unique("req-refused")

    created = await pipeline.request(
        CreateProduct(
            request_id=create_request,
            key=product_id,
            data=CreateProductData(
                product_id=product_id, name="Audited", price="5.00", initial_stock=3
            ),
        )
    )
    assert created.data.ok, created.data
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

    story = Story(
        product_id,
        reservation_id,
        order_id,
        create_request,
        reserve_request,
        confirm_request,
        refused_request,
    )
    await eventually(
        lambda: logged(pipeline.engine, story.request_ids),
        lambda rows: len(rows) >= len(story.expected_events()),
        what="audit rows of the story",
    )
    # Caught up with everything on the topic: a late duplicate would be in the table now.
    await eventually(
        lambda: audit_lag(pipeline.settings), lambda lag: lag == 0, what="audit-log lag 0"
    )
    return story


async def logged(engine: AsyncEngine, request_ids: list[str]) -> list[tuple[str, ...]]:
    """(request id, type, entity type, entity id) of every audit_log row of `request_ids`,
    sorted."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT request_id, type, entity_type, entity_id FROM audit_log"
                " WHERE request_id = ANY(:ids)"
            ),
            {"ids": request_ids},
        )
        return sorted(tuple(row) for row in rows)


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


def synthetic(entity_id: str, at: datetime) -> CommandRejected:
    """An audit event of our own making (a product's rejected command at `at`), for
    paging through many rows of one entity or feeding a topic of our own."""
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
