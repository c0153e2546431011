"""Carts on the real pipeline: expiry of a held cart, and a cart posted straight to Kafka
by an outside producer (its JSON Schema is docs/schemas/orders.commands.schema.json)."""

from __future__ import annotations

import json

import pytest

from storage.queries import get_order
from tests.support.carts import cart_command
from tests.support.ids import unique
from tests.support.pipeline import Pipeline, collect
from tests.support.waiting import eventually
from topics.messages import encode
from topics.names import AUDIT, ORDERS_COMMANDS

pytestmark = pytest.mark.integration


async def test_an_unconfirmed_cart_expires_once_and_every_line_comes_back(
    short_ttl_pipeline: Pipeline,
) -> None:
    pipeline = short_ttl_pipeline
    a, b = unique("p"), unique("p")
    await pipeline.create_product(a, 4)
    await pipeline.create_product(b, 4)
    reply = await pipeline.request(cart_command([(a, 3), (b, 1)]))
    assert reply.data.ok, reply.data
    order_id = reply.data.result["order"]["id"]
    reservation_id = reply.data.result["reservation"]["id"]

    order = await eventually(
        lambda: get_order(pipeline.engine, order_id),
        lambda row: row is not None and row["status"] == "cancelled",
        within=15,
        what="the expired cart's order",
    )
    assert order["cancel_reason"] == "reservation_expired"
    await eventually(
        pipeline.stock_table,
        lambda t: (
            (t[a]["available"], t[a]["reserved"], t[b]["available"], t[b]["reserved"])
            == (4, 0, 4, 0)
        ),
        within=15,
        what="both lines released",
    )

    def expired(records: list) -> list[dict]:  # type: ignore[type-arg]
        events = [json.loads(r.value) for r in records]
        return [e for e in events if e["type"] == "reservation.expired"]

    audit = await collect(
        pipeline.settings, pipeline.topic(AUDIT), lambda recs: len(expired(recs)) >= 2
    )
    # One expiry for the cart: one order change, and one event per line with the
    # cart's reservation id.
    changes = [
        json.loads(r.value)
        for r in audit
        if json.loads(r.value)["type"] == "order.status_changed" and r.key.decode() == order_id
    ]
    assert [c["data"]["to_status"] for c in changes] == ["cancelled"]
    lines = expired(audit)
    assert sorted(e["data"]["reservation"]["product_id"] for e in lines if e["key"] in (a, b)) == (
        sorted([a, b])
    )
    assert {e["data"]["reservation"]["id"] for e in lines if e["key"] in (a, b)} == {reservation_id}
    await pipeline.assert_invariants([a, b])


async def test_a_cart_posted_straight_to_kafka_is_held(pipeline: Pipeline) -> None:
    a, b = unique("p"), unique("p")
    await pipeline.create_product(a, 2)
    await pipeline.create_product(b, 2)
    command = cart_command([(a, 1), (b, 2)])
    # Unsigned, as an outside producer sends it: a public command needs no signature.
    await pipeline.send_raw(ORDERS_COMMANDS, command.key.encode(), encode(command))
    order = await eventually(
        lambda: get_order(pipeline.engine, command.data.order_id),
        lambda row: row is not None,
        within=20,
        what="the cart's order",
    )
    assert [(x["product_id"], x["quantity"]) for x in order["lines"]] == [(a, 1), (b, 2)]
    table = await pipeline.stock_table()
    assert (table[a]["reserved"], table[b]["reserved"], table[b]["available"]) == (1, 2, 0)
