"""Reservations expire by themselves (TTL 3 s here), and confirm racing expiry has one winner."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from inventory.settings import Settings
from storage.queries import get_order
from tests.support.ids import unique
from tests.support.pipeline import Pipeline, isolated, own_pipeline
from tests.support.waiting import eventually
from topics.messages import ChangeStatus, ChangeStatusData, ReserveStock, ReserveStockData

pytestmark = pytest.mark.integration


async def reserve(pipeline: Pipeline, product_id: str, quantity: int = 1) -> dict:
    reply = await pipeline.request(
        ReserveStock(
            key=product_id,
            data=ReserveStockData(product_id=product_id, quantity=quantity, customer_id="c"),
        )
    )
    assert reply.data.ok, reply.data
    return reply.data.result


async def test_an_unconfirmed_reservation_expires_and_frees_its_stock(
    short_ttl_pipeline: Pipeline,
) -> None:
    pipeline = short_ttl_pipeline
    product_id = unique("p")
    await pipeline.create_product(product_id, 3)
    result = await reserve(pipeline, product_id, 2)
    order_id = result["order"]["id"]
    deadline = datetime.fromisoformat(result["reservation"]["expires_at"]).timestamp()

    order = await eventually(
        lambda: get_order(pipeline.engine, order_id),
        lambda row: row is not None and row["status"] == "cancelled",
        within=15,
        what="expired order",
    )
    assert order["cancel_reason"] == "reservation_expired"
    # The stock comes back with the reservation.release that the expiry sends on: a
    # follow-up command, applied after the order shows cancelled.
    await eventually(
        pipeline.stock_table,
        lambda t: t[product_id]["available"] == 3 and t[product_id]["reserved"] == 0,
        within=15,
        what="the stock released",
    )
    # the stock was available again within 2 s of the deadline
    expired_at = datetime.fromisoformat(order["history"][-1]["at"]).timestamp()
    assert expired_at - deadline < 2.0, f"expired {expired_at - deadline:.2f}s after the deadline"
    await pipeline.assert_invariants([product_id])


async def test_confirm_racing_expiry_has_exactly_one_winner_per_order(
    short_ttl_pipeline: Pipeline,
) -> None:
    pipeline = short_ttl_pipeline
    product_id = unique("p")
    await pipeline.create_product(product_id, 20)
    results = [await reserve(pipeline, product_id) for _ in range(10)]
    deadline = datetime.fromisoformat(results[0]["reservation"]["expires_at"]).timestamp()
    # fire the confirms around the deadline so some land before and some after
    await asyncio.sleep(max(0.0, deadline - time.time() - 0.3))
    confirms = []
    for result in results:
        order_id = result["order"]["id"]
        confirms.append(
            pipeline.request(
                ChangeStatus(
                    key=order_id, data=ChangeStatusData(order_id=order_id, status="confirmed")
                )
            )
        )
        await asyncio.sleep(0.06)
    replies = await asyncio.gather(*confirms)

    won = 0
    for result, reply in zip(results, replies, strict=True):
        order_id = result["order"]["id"]
        final = await eventually(
            lambda oid=order_id: get_order(pipeline.engine, oid),
            lambda row: row is not None and row["status"] in ("confirmed", "cancelled"),
            within=15,
            what=f"settled order {order_id}",
        )
        if reply.data.ok:
            won += 1
            assert final["status"] == "confirmed"
        else:
            assert reply.data.code == "invalid_transition"
            assert (
                final["status"] == "cancelled" and final["cancel_reason"] == "reservation_expired"
            )
    # An expired order's release reaches the inventory agent after the order is cancelled
    # (its own command, applied in a later batch).
    stock = await eventually(
        lambda: pipeline.stock_table(),
        lambda table: table[product_id]["reserved"] == 0,
        what="every hold confirmed or released",
    )
    stock = stock[product_id]
    assert stock["sold"] == won and stock["reserved"] == 0 and stock["available"] == 20 - won
    await pipeline.assert_invariants([product_id])


async def test_an_order_that_fell_due_while_the_worker_was_down_expires_after_restart(
    settings: Settings,
) -> None:
    """The restarted worker learns its pending orders from the recovered table (the
    expiry index is rebuilt then), not from commands it applies itself."""
    restart = isolated(settings, "restart", reservation_ttl_seconds=2.0)
    async with own_pipeline(restart) as pipeline:
        product_id = unique("p")
        await pipeline.create_product(product_id, 4)
        result = await reserve(pipeline, product_id, 3)
        order_id = result["order"]["id"]
        worker = next(p for p in pipeline.processes.processes if p.role == "worker")
        worker.kill()
        await asyncio.sleep(2.5)  # the deadline passes while nobody is sweeping
        pipeline.processes.start("worker")

        order = await eventually(
            lambda: get_order(pipeline.engine, order_id),
            lambda row: row is not None and row["status"] == "cancelled",
            within=60,
            what="order expired after the restart",
        )
        assert order["cancel_reason"] == "reservation_expired"
        # the release reaches the inventory agent after the order is cancelled
        await eventually(
            pipeline.stock_table,
            lambda table: (table[product_id]["available"], table[product_id]["reserved"]) == (4, 0),
            within=30,
            what="the stock released",
        )
        await pipeline.assert_invariants([product_id])


async def group_members(settings: Settings) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_list)
    await admin.start()
    try:
        [response] = await admin.describe_consumer_groups([settings.app_id])
    finally:
        await admin.close()
    [group] = response.to_object()["groups"]
    return len(group["members"])


async def test_orders_of_partitions_taken_over_from_a_dead_worker_expire(
    settings: Settings,
) -> None:
    """Two workers share the partitions; one dies. The survivor recovers its partitions'
    tables and must then expire their pending orders too."""
    takeover = isolated(settings, "takeover", reservation_ttl_seconds=3.0)
    async with own_pipeline(takeover) as pipeline:
        second = pipeline.processes.start("worker")
        await eventually(
            lambda: group_members(takeover), lambda n: n == 2, within=60, what="two workers"
        )
        products = [unique("p") for _ in range(6)]
        for product_id in products:
            await pipeline.create_product(product_id, 2)
        orders = [(await reserve(pipeline, p, 1))["order"]["id"] for p in products]
        second.kill()  # its pending orders fall due while it is gone

        async def statuses() -> list[str | None]:
            rows = [await get_order(pipeline.engine, o) for o in orders]
            return [row["status"] if row else None for row in rows]

        await eventually(
            statuses,
            lambda s: s == ["cancelled"] * len(orders),
            within=90,
            what="every order expired",
        )
        # the release reaches the inventory agent after the order is cancelled
        await eventually(
            pipeline.stock_table,
            lambda table: all(table[p]["available"] == 2 for p in products),
            within=30,
            what="the stock of every product released",
        )
        await pipeline.assert_invariants(products)
