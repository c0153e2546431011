"""A finished order leaves the worker's tables once its grace period ended (issue 18):
a tombstone in the changelog, the read model keeps it, and a later status change is
still answered with what the order became."""

from __future__ import annotations

import asyncio

import pytest

from inventory.settings import Settings
from tests.integration.gateway.gateway_fixtures import gateway_client
from tests.support.ids import unique
from tests.support.pipeline import Pipeline, isolated, own_pipeline, read_compacted, read_log
from topics.messages import ChangeStatus, ChangeStatusData, ReserveStock, ReserveStockData
from topics.names import ORDERS_TABLE, changelog_of

pytestmark = pytest.mark.integration

GRACE = 3.0


async def reserve_and_cancel(pipeline: Pipeline, product_id: str) -> str:
    reserved = await pipeline.request(
        ReserveStock(
            key=product_id,
            data=ReserveStockData(product_id=product_id, quantity=1, customer_id="c"),
        )
    )
    order_id: str = reserved.data.result["order"]["id"]
    cancel = ChangeStatusData(order_id=order_id, status="cancelled")
    assert (await pipeline.request(ChangeStatus(key=order_id, data=cancel))).data.ok
    return order_id


async def test_a_finished_order_leaves_the_tables_and_is_still_answered(
    settings: Settings,
) -> None:
    short = isolated(
        settings,
        "finished",
        finished_order_grace_seconds=GRACE,
        dedupe_horizon_seconds=GRACE,
        partitions=1,
    )
    async with own_pipeline(short) as pipeline:
        product_id = unique("p")
        await pipeline.create_product(product_id, 10)
        first = await reserve_and_cancel(pipeline, product_id)
        await asyncio.sleep(GRACE + 0.5)
        # The next order finishing on the partition takes the first one out.
        second = await reserve_and_cancel(pipeline, product_id)

        changelog = changelog_of(short.app_id, ORDERS_TABLE)
        rows = await read_compacted(short, changelog)
        assert first not in rows and rows[second]["status"] == "cancelled"
        log = await read_log(short, changelog)
        assert [value for _, _, key, value in log if key == first][-1] is None, "a tombstone"

        confirm = ChangeStatusData(order_id=first, status="confirmed")
        refused = await pipeline.request(ChangeStatus(key=first, data=confirm))
        assert refused.data.code == "order_not_found"  # the worker forgot it ...
        await pipeline.settled()
        async with gateway_client(short) as client:  # ... the read model did not
            response = await client.post(
                f"/api/orders/{first}/change_status/", json={"status": "confirmed"}
            )
            body = await response.json()
        assert response.status == 409, body
        assert body["error"]["code"] == "invalid_transition"
        assert body["error"]["details"] == {"from": "cancelled", "to": "confirmed", "allowed": []}

        table = await pipeline.stock_table()
        assert table[product_id]["available"] == 10 and table[product_id]["reserved"] == 0
        await pipeline.assert_invariants([product_id])
