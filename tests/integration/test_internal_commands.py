"""The pipeline's own commands need the pipeline's signature: an outside producer's
`reservation.release` cannot put somebody's reserved units back on sale."""

from __future__ import annotations

import pytest

from tests.support.ids import unique
from tests.support.pipeline import Pipeline, collect
from topics.messages import (
    ReleaseReservation,
    ReleaseReservationData,
    ReserveStock,
    ReserveStockData,
    encode,
)
from topics.names import INVENTORY_COMMANDS, dlq_of
from topics.signing import signature_headers

pytestmark = pytest.mark.integration


async def reserve_three(pipeline: Pipeline) -> tuple[str, str, str]:
    product_id = unique("p")
    await pipeline.create_product(product_id, 5)
    reply = await pipeline.request(
        ReserveStock(
            key=product_id,
            data=ReserveStockData(product_id=product_id, quantity=3, customer_id="c"),
        )
    )
    assert reply.data.ok, reply.data
    result = reply.data.result
    return product_id, result["reservation"]["id"], result["order"]["id"]


def release(product_id: str, reservation_id: str, order_id: str) -> bytes:
    return encode(
        ReleaseReservation(
            key=product_id,
            data=ReleaseReservationData(
                product_id=product_id,
                reservation_id=reservation_id,
                order_id=order_id,
                quantity=3,
                reason="cancelled",
            ),
        )
    )


async def test_an_unsigned_internal_command_is_dead_lettered_and_changes_nothing(
    pipeline: Pipeline,
) -> None:
    product_id, reservation_id, order_id = await reserve_three(pipeline)
    forged = release(product_id, reservation_id, order_id)
    await pipeline.send_raw(INVENTORY_COMMANDS, product_id.encode(), forged)

    records = await collect(
        pipeline.settings,
        pipeline.topic(dlq_of(INVENTORY_COMMANDS)),
        lambda recs: any(r.value == forged for r in recs),
    )
    dead = next(r for r in records if r.value == forged)
    assert dict(dead.headers)["x-error-code"] == b"unsigned_internal_command"
    # a wrong signature is no better than none
    await pipeline.send_raw(
        INVENTORY_COMMANDS, product_id.encode(), forged, [("x-inventory-signature", b"00" * 32)]
    )
    await collect(
        pipeline.settings,
        pipeline.topic(dlq_of(INVENTORY_COMMANDS)),
        lambda recs: sum(r.value == forged for r in recs) == 2,
    )
    await pipeline.create_product(f"{product_id}-after", 1)  # processed after both
    table = await pipeline.stock_table()
    assert (table[product_id]["available"], table[product_id]["reserved"]) == (2, 3)
    await pipeline.assert_invariants([product_id])


async def test_the_same_command_signed_with_the_pipeline_key_is_applied(
    pipeline: Pipeline,
) -> None:
    product_id, reservation_id, order_id = await reserve_three(pipeline)
    value = release(product_id, reservation_id, order_id)
    headers = signature_headers(pipeline.settings.command_signing_key, value)
    await pipeline.send_raw(INVENTORY_COMMANDS, product_id.encode(), value, headers)
    await pipeline.create_product(f"{product_id}-after", 1)  # processed after the release
    table = await pipeline.stock_table()
    assert (table[product_id]["available"], table[product_id]["reserved"]) == (5, 0)
    await pipeline.assert_invariants([product_id])
