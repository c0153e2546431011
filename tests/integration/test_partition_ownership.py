"""A command keyed correctly but posted to another partition than its key's (what a
librdkafka client does with its default partitioner) is forwarded to its own partition
and applied there once: no entity ever has its state on two partitions."""

from __future__ import annotations

import asyncio

import pytest

from inventory.settings import Settings
from tests.support.ids import unique
from tests.support.pipeline import Pipeline, isolated, own_pipeline, read_log, read_to_end
from topics.messages import ChangeStatus, ChangeStatusData, ReserveStock, ReserveStockData
from topics.names import (
    DEADLINES_TABLE,
    INVENTORY_COMMANDS,
    ORDERS_COMMANDS,
    ORDERS_TABLE,
    STOCK_TABLE,
    changelog_of,
)
from topics.partitioning import partition_for

pytestmark = pytest.mark.integration


def other_partition(key: str, partitions: int) -> int:
    return (partition_for(key, partitions) + 1) % partitions


def reserve(product_id: str, customer: str) -> ReserveStock:
    return ReserveStock(
        key=product_id,
        data=ReserveStockData(product_id=product_id, quantity=1, customer_id=customer),
    )


async def misplaced_rows(pipeline: Pipeline) -> list[tuple[str, int, str]]:
    """Entity rows of any changelog found on another partition than their key's."""
    settings = pipeline.settings
    found = []
    for table in (STOCK_TABLE, ORDERS_TABLE, DEADLINES_TABLE):
        for partition, _offset, key, _value in await read_log(
            settings, changelog_of(settings.app_id, table)
        ):
            if not key.startswith("\x00") and partition != partition_for(key, settings.partitions):
                found.append((table, partition, key))
    return found


async def test_commands_on_the_wrong_partition_of_each_topic_are_applied_once_on_their_own(
    pipeline: Pipeline,
) -> None:
    partitions = pipeline.settings.partitions
    product_id = unique("p")
    await pipeline.create_product(product_id, 5)
    command = reserve(product_id, "c")
    wrong = other_partition(product_id, partitions)
    first = await pipeline.request(command, partition=wrong)
    again = await pipeline.request(command, partition=wrong)  # a retry: answered, not re-done
    assert first.data.ok and again.data.ok, (first.data, again.data)
    assert first.data.result["order"]["id"] == again.data.result["order"]["id"]
    order_id = first.data.result["order"]["id"]

    confirm = ChangeStatus(
        key=order_id, data=ChangeStatusData(order_id=order_id, status="confirmed")
    )
    confirmed = await pipeline.request(confirm, partition=other_partition(order_id, partitions))
    assert confirmed.data.ok, confirmed.data

    table = await pipeline.stock_table()
    row = table[product_id]
    assert (row["available"], row["reserved"], row["sold"]) == (4, 0, 1), row
    assert await misplaced_rows(pipeline) == []
    # The forwarded records carry where they came from.
    forwarded = [
        record
        for topic in (INVENTORY_COMMANDS, ORDERS_COMMANDS)
        for record in await read_to_end(pipeline.settings, pipeline.topic(topic))
        if any(name == "x-forwarded-from" for name, _ in record.headers)
    ]
    assert len(forwarded) == 3  # two reserves, one confirm
    await pipeline.assert_invariants([product_id])


async def test_two_workers_and_both_partitioners_never_sell_more_than_the_stock(
    settings: Settings,
) -> None:
    mixed = isolated(settings, "mixed", reply_timeout_seconds=60.0)
    async with own_pipeline(mixed) as pipeline:
        pipeline.processes.start("worker")
        product_id = unique("p")
        stock, attempts = 5, 40
        await pipeline.create_product(product_id, stock)
        wrong = other_partition(product_id, mixed.partitions)
        replies = await asyncio.gather(
            *(
                pipeline.request(reserve(product_id, f"c{i}"), partition=wrong if i % 2 else None)
                for i in range(attempts)
            )
        )
        assert sum(r.data.ok for r in replies) == stock
        table = await pipeline.stock_table()
        row = table[product_id]
        assert (row["available"], row["reserved"]) == (0, stock), row
        assert await misplaced_rows(pipeline) == []
        await pipeline.assert_invariants([product_id])
