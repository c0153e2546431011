"""The actor through the real worker and projector: an outside producer's claim is
kept but marked unverified, the expiry timer acts as `system`, and the audit log
keeps both (storage.audit, GET /api/audit/'s `actor` filter)."""

from __future__ import annotations

import pytest

from storage.audit_queries import AuditParams, list_audit
from storage.queries import get_order
from tests.support.ids import unique
from tests.support.pipeline import Pipeline
from tests.support.waiting import eventually
from topics.messages import (
    Actor,
    AdjustStock,
    AdjustStockData,
    ReserveStock,
    ReserveStockData,
    encode,
)
from topics.names import INVENTORY_COMMANDS

pytestmark = pytest.mark.integration


async def test_an_outside_producers_actor_is_kept_as_sent_and_marked_unverified(
    pipeline: Pipeline,
) -> None:
    product_id = unique("p")
    await pipeline.create_product(product_id, 3)
    erp = unique("erp")
    # It claims to be a verified admin: nobody vouched for that.
    command = AdjustStock(
        key=product_id,
        actor=Actor(id=erp, role="admin", verified=True),
        data=AdjustStockData(product_id=product_id, delta=2, reason="delivery"),
    )
    await pipeline.send_raw(INVENTORY_COMMANDS, product_id.encode(), encode(command))

    results, _ = await eventually(
        lambda: list_audit(pipeline.engine, AuditParams(actor=erp)),
        lambda page: len(page[0]) == 1,
        what="the outside producer's stock.adjusted in the audit log",
    )
    [row] = results
    assert row["type"] == "stock.adjusted" and row["entity_id"] == product_id
    assert row["actor"] == {"id": erp, "role": "admin", "verified": False}


async def test_an_outside_command_without_an_actor_is_filed_under_unknown(
    pipeline: Pipeline,
) -> None:
    product_id = unique("p")
    await pipeline.create_product(product_id, 3)
    command = AdjustStock(
        key=product_id, data=AdjustStockData(product_id=product_id, delta=1, reason="r")
    )
    await pipeline.send_raw(INVENTORY_COMMANDS, product_id.encode(), encode(command))
    results, _ = await eventually(
        lambda: list_audit(pipeline.engine, AuditParams(actor="unknown", entity_id=product_id)),
        lambda page: len(page[0]) == 1,
        what="the anonymous stock.adjusted in the audit log",
    )
    assert results[0]["actor"] == {"id": "unknown", "role": "unknown", "verified": False}


async def test_the_expiry_timer_acts_as_system(short_ttl_pipeline: Pipeline) -> None:
    pipeline = short_ttl_pipeline
    product_id = unique("p")
    await pipeline.create_product(product_id, 2)
    shop = Actor(id=unique("key"), role="storefront", verified=True)
    reply = await pipeline.request(
        ReserveStock(
            key=product_id,
            actor=shop,  # signed by the test's bus, as a gateway's: kept as it is
            data=ReserveStockData(product_id=product_id, quantity=1, customer_id="c"),
        )
    )
    assert reply.data.ok, reply.data
    order_id = reply.data.result["order"]["id"]
    await eventually(
        lambda: get_order(pipeline.engine, order_id),
        lambda row: row is not None and row["status"] == "cancelled",
        within=30,
        what="expired order",
    )

    results, _ = await eventually(
        lambda: list_audit(pipeline.engine, AuditParams(entity_id=order_id)),
        lambda page: len(page[0]) == 2,
        what="the order's two events",
    )
    actors = {row["type"]: row["actor"] for row in results}
    assert actors == {
        "order.created": shop.model_dump(),
        "order.status_changed": {"id": "system", "role": "system", "verified": True},
    }
    # The stock it released, by the same act (its own partition: it may come later).
    await eventually(
        lambda: list_audit(pipeline.engine, AuditParams(actor="system", entity_type="reservation")),
        lambda page: any(
            r["type"] == "reservation.expired" and r["data"]["reservation"]["order_id"] == order_id
            for r in page[0]
        ),
        what="the system's reservation.expired",
    )
