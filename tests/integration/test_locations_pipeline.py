"""Locations through the real worker (Kafka in, table + events + reply out), and state
written by a worker from before locations recovered and used by this one."""

from __future__ import annotations

import json

import pytest
from aiokafka import AIOKafkaProducer

from agents.app import STOCK_TABLE, reservation_key
from inventory.settings import Settings
from storage.queries import get_order, get_product
from tests.support.ids import unique
from tests.support.pipeline import (
    Pipeline,
    create_ready_topics,
    isolated,
    own_schema,
    start_pipeline,
    stop_pipeline,
)
from tests.support.waiting import eventually
from topics.messages import (
    AdjustStock,
    AdjustStockData,
    ReleaseReservation,
    ReleaseReservationData,
    ReserveStock,
    ReserveStockData,
    TransferStock,
    TransferStockData,
)
from topics.names import changelog_of
from topics.partitioning import partition_for

pytestmark = pytest.mark.integration


def adjust(product_id: str, delta: int, location_id: str, priority: int | None) -> AdjustStock:
    return AdjustStock(
        key=product_id,
        data=AdjustStockData(
            product_id=product_id,
            delta=delta,
            reason="delivery",
            location_id=location_id,
            location_priority=priority,
        ),
    )


def reserve(product_id: str, quantity: int, location_id: str | None = None) -> ReserveStock:
    return ReserveStock(
        key=product_id,
        data=ReserveStockData(
            product_id=product_id, quantity=quantity, customer_id="c-1", location_id=location_id
        ),
    )


async def test_a_new_location_without_its_priority_is_refused(pipeline: Pipeline) -> None:
    product_id = unique("p")
    await pipeline.create_product(product_id, 0)

    reply = await pipeline.request(adjust(product_id, 3, "east", None))

    assert (reply.data.ok, reply.data.code) == (False, "location_not_found")
    await pipeline.assert_invariants([product_id])


async def test_a_split_reservation_is_held_where_its_allocation_says(pipeline: Pipeline) -> None:
    product_id = unique("p")
    await pipeline.create_product(product_id, 1)
    assert (await pipeline.request(adjust(product_id, 4, "east", 5))).data.ok

    reply = await pipeline.request(reserve(product_id, 3))

    assert reply.data.ok, reply.data
    split = [{"location_id": "main", "quantity": 1}, {"location_id": "east", "quantity": 2}]
    assert reply.data.result["reservation"]["allocations"] == split
    table = await pipeline.stock_table()
    reservation_id = reply.data.result["reservation"]["id"]
    assert table[product_id]["active"][reservation_id] == {"main": 1, "east": 2}
    assert {loc: v["reserved"] for loc, v in table[product_id]["locations"].items()} == {
        "main": 1,
        "east": 2,
    }
    order_id = reply.data.result["order"]["id"]
    order = await eventually(
        lambda: get_order(pipeline.engine, order_id), lambda row: row is not None
    )
    assert order["allocations"] == split
    await pipeline.assert_invariants([product_id])


async def test_a_transfer_is_one_event_and_one_row(pipeline: Pipeline) -> None:
    product_id = unique("p")
    await pipeline.create_product(product_id, 5)

    reply = await pipeline.request(
        TransferStock(
            key=product_id,
            data=TransferStockData(
                product_id=product_id,
                from_location_id="main",
                to_location_id="east",
                quantity=2,
                reason="rebalance",
                to_location_priority=3,
            ),
        )
    )

    assert reply.data.ok, reply.data
    assert reply.data.result["product"]["locations"] == [
        {"location_id": "main", "available": 3, "reserved": 0, "sold": 0},
        {"location_id": "east", "available": 2, "reserved": 0, "sold": 0},
    ]
    row = await eventually(
        lambda: get_product(pipeline.engine, product_id),
        lambda r: r is not None and len(r["locations"]) == 2,
    )
    assert (row["available"], row["adjusted"]) == (5, 0)
    await pipeline.assert_invariants([product_id])


async def test_rows_written_before_locations_are_recovered_as_stock_at_main(
    settings: Settings,
) -> None:
    own = isolated(settings, "legacyrows")
    product_id = "legacy-product"
    # What a worker from before locations left in its changelog: the product's row
    # without `locations`, and an active reservation's row holding a bare quantity.
    old_row = {
        "product_id": product_id,
        "name": "Old",
        "price": "3.00",
        "initial": 6,
        "adjusted": 0,
        "available": 3,
        "reserved": 2,
        "sold": 1,
        "version": 5,
        "active": {},
    }
    async with own_schema(own) as engine:
        await create_ready_topics(own)
        producer = AIOKafkaProducer(bootstrap_servers=own.kafka_bootstrap_list, acks="all")
        await producer.start()
        try:
            partition = partition_for(product_id, own.partitions)
            changelog = changelog_of(own.app_id, STOCK_TABLE)
            for key, value in (
                (product_id, old_row),
                (reservation_key(product_id, "r-old"), 2),
            ):
                await producer.send_and_wait(
                    changelog,
                    key=json.dumps(key).encode(),
                    value=json.dumps(value).encode(),
                    partition=partition,
                )
        finally:
            await producer.stop()

        running = await start_pipeline(own, engine, "legacyrows")
        try:
            released = await running.request(
                ReleaseReservation(
                    key=product_id,
                    data=ReleaseReservationData(
                        product_id=product_id,
                        reservation_id="r-old",
                        order_id="o-old",
                        quantity=2,
                        reason="expired",
                    ),
                )
            )
            assert released.data.ok, released.data
            assert released.data.result["product"]["locations"] == [
                {"location_id": "main", "available": 5, "reserved": 0, "sold": 1}
            ]
            # A confirmed order from before locations carries no allocations: main.
            returned = await running.request(
                ReleaseReservation(
                    key=product_id,
                    data=ReleaseReservationData(
                        product_id=product_id,
                        reservation_id="r-sold",
                        order_id="o-sold",
                        quantity=1,
                        was_committed=True,
                        reason="cancelled",
                    ),
                )
            )
            assert returned.data.ok, returned.data
            assert returned.data.result["product"]["available"] == 6
            reply = await running.request(reserve(product_id, 2))
            assert reply.data.result["reservation"]["allocations"] == [
                {"location_id": "main", "quantity": 2}
            ]
            await running.assert_invariants([product_id])
        finally:
            await stop_pipeline(running)


async def test_an_expired_split_reservation_frees_each_location_it_held(
    short_ttl_pipeline: Pipeline,
) -> None:
    pipeline = short_ttl_pipeline
    product_id = unique("p")
    await pipeline.create_product(product_id, 1)
    assert (await pipeline.request(adjust(product_id, 2, "east", 7))).data.ok
    reply = await pipeline.request(reserve(product_id, 3))
    assert reply.data.ok, reply.data
    held = {
        (loc, v["reserved"])
        for loc, v in (await pipeline.stock_table())[product_id]["locations"].items()
    }
    assert held == {("main", 1), ("east", 2)}

    table = await eventually(
        pipeline.stock_table,
        lambda t: t[product_id]["reserved"] == 0,
        within=15,
        what="the split reservation expired",
    )
    places = table[product_id]["locations"]
    assert (places["main"]["available"], places["east"]["available"]) == (1, 2)
    assert (places["main"]["reserved"], places["east"]["reserved"]) == (0, 0)
    await pipeline.assert_invariants([product_id])
