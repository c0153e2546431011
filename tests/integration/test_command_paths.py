"""Each command path through the real worker: Kafka in, table + events + reply out."""

from __future__ import annotations

import uuid

import pytest

from storage.queries import get_order, get_product, get_reservation
from tests.support.ids import unique
from tests.support.pipeline import Pipeline
from tests.support.waiting import eventually
from topics.messages import (
    AdjustStock,
    AdjustStockData,
    ChangeStatus,
    ChangeStatusData,
    CreateProduct,
    CreateProductData,
    ReserveStock,
    ReserveStockData,
)
from topics.partitioning import partition_for

pytestmark = pytest.mark.integration


def reserve(product_id: str, quantity: int = 1, **ids: str) -> ReserveStock:
    return ReserveStock(
        key=product_id,
        data=ReserveStockData(product_id=product_id, quantity=quantity, customer_id="c-1", **ids),
    )


def change(order_id: str, status: str) -> ChangeStatus:
    return ChangeStatus(key=order_id, data=ChangeStatusData(order_id=order_id, status=status))


async def test_created_product_is_answered_and_projected(pipeline: Pipeline) -> None:
    product_id = unique("p")
    reply = await pipeline.create_product(product_id, 7, price="2.50")
    assert reply.data.result["product"]["available"] == 7
    row = await eventually(
        lambda: get_product(pipeline.engine, product_id), lambda r: r is not None
    )
    assert row["price"] == "2.50" and row["available"] == 7
    await pipeline.assert_invariants([product_id])


async def test_creating_an_existing_product_is_refused(pipeline: Pipeline) -> None:
    product_id = unique("p")
    await pipeline.create_product(product_id, 1)
    again = await pipeline.request(
        CreateProduct(
            key=product_id,
            data=CreateProductData(product_id=product_id, name="x", price="1", initial_stock=9),
        )
    )
    assert not again.data.ok and again.data.code == "product_exists"
    await pipeline.assert_invariants([product_id])


async def test_adjusting_below_zero_is_refused_and_changes_nothing(pipeline: Pipeline) -> None:
    product_id = unique("p")
    await pipeline.create_product(product_id, 3)
    up = await pipeline.request(
        AdjustStock(
            key=product_id, data=AdjustStockData(product_id=product_id, delta=4, reason="restock")
        )
    )
    assert up.data.ok and up.data.result["product"]["available"] == 7
    down = await pipeline.request(
        AdjustStock(
            key=product_id, data=AdjustStockData(product_id=product_id, delta=-8, reason="loss")
        )
    )
    assert not down.data.ok and down.data.code == "negative_stock"
    table = await pipeline.stock_table()
    assert table[product_id]["available"] == 7
    await pipeline.assert_invariants([product_id])


async def test_reservation_creates_a_pending_order_and_holds_stock(pipeline: Pipeline) -> None:
    product_id = unique("p")
    await pipeline.create_product(product_id, 5, price="3.10")
    reply = await pipeline.request(reserve(product_id, 2))
    assert reply.data.ok, reply.data
    order = reply.data.result["order"]
    reservation = reply.data.result["reservation"]
    assert order["status"] == "pending" and order["total"] == "6.20"
    assert reservation["status"] == "active" and reservation["order_id"] == order["id"]
    # read-your-writes tokens cover product, reservation and order
    assert {t.entity for t in reply.data.read_after} == {"product", "reservation", "order"}
    await eventually(
        lambda: get_order(pipeline.engine, order["id"]), lambda r: r is not None, what="order row"
    )
    # each read model is its own projection: the order row says nothing of the reservation's
    await eventually(
        lambda: get_reservation(pipeline.engine, reservation["id"]),
        lambda r: r is not None and r["status"] == "active",
        what="active reservation row",
    )
    product = await eventually(
        lambda: get_product(pipeline.engine, product_id),
        lambda r: r is not None and r["reserved"] == 2,
    )
    assert product["available"] == 3
    await pipeline.assert_invariants([product_id])


def order_id_for(pipeline: Pipeline, product_id: str, same_partition: bool) -> str:
    """A fresh order id on the product's partition, or on another one."""
    partitions = pipeline.settings.partitions
    home = partition_for(product_id, partitions)
    return next(
        candidate
        for candidate in (f"o-{uuid.uuid4().hex}" for _ in range(10_000))
        if (partition_for(candidate, partitions) == home) == same_partition
    )


@pytest.mark.parametrize("same_partition", [True, False])
async def test_a_caller_chosen_order_id_works_on_any_partition(
    pipeline: Pipeline, same_partition: bool
) -> None:
    """An order id sharing the product's partition is created by the inventory agent in
    the same step; any other is created by the order agent. Both then behave alike."""
    product_id = unique("p")
    await pipeline.create_product(product_id, 5)
    order_id = order_id_for(pipeline, product_id, same_partition)
    command = ReserveStock(
        key=product_id,
        data=ReserveStockData(
            product_id=product_id, quantity=1, customer_id="c", order_id=order_id
        ),
    )
    reply = await pipeline.request(command)
    assert reply.data.ok, reply.data
    assert reply.data.result["order"]["id"] == order_id
    confirmed = await pipeline.request(
        ChangeStatus(key=order_id, data=ChangeStatusData(order_id=order_id, status="confirmed"))
    )
    assert confirmed.data.ok, confirmed.data
    table = await pipeline.stock_table()
    assert (table[product_id]["reserved"], table[product_id]["sold"]) == (0, 1)
    await pipeline.assert_invariants([product_id])


@pytest.mark.parametrize("same_partition", [True, False])
async def test_a_taken_order_id_is_refused_and_leaves_no_stock_held(
    pipeline: Pipeline, same_partition: bool
) -> None:
    """A second reservation naming an existing order is refused to its caller, and the
    units end up available again on either path (refused up front, or released)."""
    product_id = unique("p")
    await pipeline.create_product(product_id, 5)
    order_id = order_id_for(pipeline, product_id, same_partition)

    def reserve_as(quantity: int) -> ReserveStock:
        return ReserveStock(
            key=product_id,
            data=ReserveStockData(
                product_id=product_id, quantity=quantity, customer_id="c", order_id=order_id
            ),
        )

    first = await pipeline.request(reserve_as(1))
    assert first.data.ok, first.data
    second = await pipeline.request(reserve_as(2))
    assert not second.data.ok and second.data.code == "order_exists", second.data
    table = await eventually(
        pipeline.stock_table,
        lambda t: (t[product_id]["available"], t[product_id]["reserved"]) == (4, 1),
        what="only the first reservation holds stock",
    )
    assert table[product_id]["sold"] == 0
    await pipeline.assert_invariants([product_id])


async def test_reserving_more_than_available_is_refused_with_the_quantity(
    pipeline: Pipeline,
) -> None:
    product_id = unique("p")
    await pipeline.create_product(product_id, 2)
    reply = await pipeline.request(reserve(product_id, 3))
    assert not reply.data.ok
    assert reply.data.code == "insufficient_stock"
    assert reply.data.details["available"] == 2
    await pipeline.assert_invariants([product_id])


async def test_reserving_an_unknown_product_is_refused(pipeline: Pipeline) -> None:
    reply = await pipeline.request(reserve(unique("p"), 1))
    assert not reply.data.ok and reply.data.code == "product_not_found"


async def test_confirm_moves_units_to_sold_and_cancel_returns_them(pipeline: Pipeline) -> None:
    product_id = unique("p")
    await pipeline.create_product(product_id, 4)
    first = (await pipeline.request(reserve(product_id, 1))).data.result["order"]["id"]
    second = (await pipeline.request(reserve(product_id, 2))).data.result["order"]["id"]

    confirmed = await pipeline.request(change(first, "confirmed"))
    assert confirmed.data.ok and confirmed.data.result["order"]["status"] == "confirmed"
    assert confirmed.data.result["product"]["sold"] == 1

    cancelled = await pipeline.request(change(second, "cancelled"))
    assert cancelled.data.ok
    assert cancelled.data.result["product"]["reserved"] == 0
    assert cancelled.data.result["product"]["available"] == 3

    # cancelling the confirmed order gives its unit back from sold
    back = await pipeline.request(change(first, "cancelled"))
    assert back.data.ok
    assert back.data.result["product"] == {
        **back.data.result["product"],
        "available": 4,
        "reserved": 0,
        "sold": 0,
    }
    await pipeline.assert_invariants([product_id])


async def test_order_walks_the_state_machine_and_refuses_illegal_moves(pipeline: Pipeline) -> None:
    product_id = unique("p")
    await pipeline.create_product(product_id, 1)
    order_id = (await pipeline.request(reserve(product_id))).data.result["order"]["id"]
    illegal = await pipeline.request(change(order_id, "shipped"))
    assert not illegal.data.ok and illegal.data.code == "invalid_transition"
    assert illegal.data.details == {
        "from": "pending",
        "to": "shipped",
        "allowed": ["cancelled", "confirmed"],
    }
    for status in ("confirmed", "processing", "shipped"):
        assert (await pipeline.request(change(order_id, status))).data.ok, status
    no_cancel = await pipeline.request(change(order_id, "cancelled"))
    assert not no_cancel.data.ok and no_cancel.data.details["from"] == "shipped"
    done = await pipeline.request(change(order_id, "delivered"))
    assert done.data.ok
    history = [h["status"] for h in done.data.result["order"]["history"]]
    assert history == ["pending", "confirmed", "processing", "shipped", "delivered"]
    await pipeline.assert_invariants([product_id])


async def test_unknown_order_is_refused(pipeline: Pipeline) -> None:
    reply = await pipeline.request(change(str(uuid.uuid4()), "confirmed"))
    assert not reply.data.ok and reply.data.code == "order_not_found"
