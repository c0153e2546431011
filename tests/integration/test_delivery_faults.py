"""Duplicates, garbage and wrong keys on the command topics: state changes at most once,
bad records go to the DLQ with the reason, and the agent keeps going."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from tests.support.ids import unique
from tests.support.pipeline import Pipeline, collect
from topics.messages import (
    ChangeStatus,
    ChangeStatusData,
    ReserveStock,
    ReserveStockData,
    encode,
)
from topics.names import AUDIT, INVENTORY_COMMANDS, ORDERS_COMMANDS, decoder, dlq_of

pytestmark = pytest.mark.integration


def header(record: object, name: str) -> str:
    return dict(record.headers)[name].decode()  # type: ignore[attr-defined]


async def test_a_command_delivered_twice_reserves_once_and_answers_both(pipeline: Pipeline) -> None:
    product_id = unique("p")
    await pipeline.create_product(product_id, 5)
    command = ReserveStock(
        key=product_id,
        data=ReserveStockData(product_id=product_id, quantity=2, customer_id="c"),
    )
    first = await pipeline.request(command)
    second = await pipeline.request(command)  # same id: a redelivery or a client retry
    assert first.data.ok and second.data.ok
    assert first.data.result["order"]["id"] == second.data.result["order"]["id"]
    table = await pipeline.stock_table()
    assert table[product_id]["reserved"] == 2 and table[product_id]["available"] == 3
    await pipeline.assert_invariants([product_id])


async def test_concurrent_duplicates_of_a_status_change_apply_once(pipeline: Pipeline) -> None:
    product_id = unique("p")
    await pipeline.create_product(product_id, 3)
    reserved = await pipeline.request(
        ReserveStock(
            key=product_id,
            data=ReserveStockData(product_id=product_id, quantity=3, customer_id="c"),
        )
    )
    order_id = reserved.data.result["order"]["id"]
    confirm = ChangeStatus(
        key=order_id, data=ChangeStatusData(order_id=order_id, status="confirmed")
    )
    replies = await asyncio.gather(*(pipeline.request(confirm) for _ in range(5)))
    assert all(r.data.ok for r in replies)
    table = await pipeline.stock_table()
    assert table[product_id]["sold"] == 3 and table[product_id]["reserved"] == 0
    audit = await collect(
        pipeline.settings,
        pipeline.topic(AUDIT),
        lambda recs: any(
            json.loads(r.value)["type"] == "reservation.committed"
            and json.loads(r.value)["key"] == product_id
            for r in recs
        ),
    )
    changes = [
        json.loads(r.value)
        for r in audit
        if json.loads(r.value)["type"] == "order.status_changed" and r.key.decode() == order_id
    ]
    assert len(changes) == 1, "one audit event per change, however often the command came"
    assert changes[0]["request_id"] == confirm.request_id
    await pipeline.assert_invariants([product_id])


async def test_garbage_bytes_go_to_the_dlq_and_the_agent_keeps_going(pipeline: Pipeline) -> None:
    marker = unique("p")
    await pipeline.send_raw(
        INVENTORY_COMMANDS, marker.encode(), b"\xff\xfe not json " + marker.encode()
    )
    records = await collect(
        pipeline.settings,
        pipeline.topic(dlq_of(INVENTORY_COMMANDS)),
        lambda recs: any(r.key == marker.encode() for r in recs),
    )
    dead = next(r for r in records if r.key == marker.encode())
    assert dead.value == b"\xff\xfe not json " + marker.encode(), "original bytes are kept"
    assert header(dead, "x-error-code") == "invalid_message"
    assert header(dead, "x-source-topic") == pipeline.topic(INVENTORY_COMMANDS)
    assert int(header(dead, "x-source-offset")) >= 0
    audit = await collect(
        pipeline.settings,
        pipeline.topic(AUDIT),
        lambda recs: any(r.key == marker.encode() for r in recs),
    )
    rejected = decoder(AUDIT)(next(r for r in audit if r.key == marker.encode()).value)
    assert rejected.type == "command.rejected" and rejected.data.code == "invalid_message"
    # the same partition still works
    await pipeline.create_product(marker, 1)


async def test_schema_invalid_json_is_dead_lettered_with_the_field_named(
    pipeline: Pipeline,
) -> None:
    product_id = unique("p")
    good = json.loads(
        encode(
            ReserveStock(
                key=product_id,
                data=ReserveStockData(product_id=product_id, quantity=1, customer_id="c"),
            )
        )
    )
    good["data"]["quantity"] = -4
    await pipeline.send_raw(INVENTORY_COMMANDS, product_id.encode(), json.dumps(good).encode())
    records = await collect(
        pipeline.settings,
        pipeline.topic(dlq_of(INVENTORY_COMMANDS)),
        lambda recs: any(r.key == product_id.encode() for r in recs),
    )
    dead = next(r for r in records if r.key == product_id.encode())
    assert "quantity" in header(dead, "x-error")
    assert json.loads(dead.value)["data"]["quantity"] == -4


async def test_a_command_under_the_wrong_key_is_dead_lettered(pipeline: Pipeline) -> None:
    product_id = unique("p")
    await pipeline.create_product(product_id, 2)
    command = ReserveStock(
        key=product_id, data=ReserveStockData(product_id=product_id, quantity=1, customer_id="c")
    )
    wrong_key = f"not-{product_id}"
    await pipeline.send_raw(INVENTORY_COMMANDS, wrong_key.encode(), encode(command))
    records = await collect(
        pipeline.settings,
        pipeline.topic(dlq_of(INVENTORY_COMMANDS)),
        lambda recs: any(r.key == wrong_key.encode() for r in recs),
    )
    assert (
        header(next(r for r in records if r.key == wrong_key.encode()), "x-error-code")
        == "wrong_key"
    )
    table = await pipeline.stock_table()
    assert table[product_id]["reserved"] == 0, "a misrouted command must not touch the stock"


async def test_order_commands_with_garbage_go_to_their_own_dlq(pipeline: Pipeline) -> None:
    marker = unique("p")
    await pipeline.send_raw(ORDERS_COMMANDS, marker.encode(), b'{"type": "order.change_status"}')
    records = await collect(
        pipeline.settings,
        pipeline.topic(dlq_of(ORDERS_COMMANDS)),
        lambda recs: any(r.key == marker.encode() for r in recs),
    )
    assert (
        header(next(r for r in records if r.key == marker.encode()), "x-error-code")
        == "invalid_message"
    )


async def test_a_record_with_a_binary_key_is_dead_lettered_too(pipeline: Pipeline) -> None:
    key = b"\x00\xff\x01" + uuid.uuid4().bytes
    await pipeline.send_raw(INVENTORY_COMMANDS, key, b"{}")
    records = await collect(
        pipeline.settings,
        pipeline.topic(dlq_of(INVENTORY_COMMANDS)),
        lambda recs: any(r.key == key for r in recs),
    )
    assert header(next(r for r in records if r.key == key), "x-error-code") == "invalid_message"
    await pipeline.create_product(unique("p"), 1)  # the agent is still alive
