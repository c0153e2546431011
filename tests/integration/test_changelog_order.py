"""The order of a command's changelog records, which crash recovery relies on: the
applied entry first, then the rows it produced, all in the product's partition.

The worker queues table writes and hands them to the producer itself
(agents.changelog_table.ChangelogTable); this checks the records reach Kafka in that order."""

from __future__ import annotations

import uuid

import pytest

from agents.app import APPLIED_PREFIX, reservation_key
from tests.support.pipeline import Pipeline, read_log
from topics.messages import ReserveStock, ReserveStockData

pytestmark = pytest.mark.integration


async def test_a_reservation_writes_its_entry_then_its_rows(pipeline: Pipeline) -> None:
    product_id = f"p-{uuid.uuid4().hex[:8]}"
    await pipeline.create_product(product_id, 10)
    command = ReserveStock(
        key=product_id,
        data=ReserveStockData(product_id=product_id, quantity=2, customer_id="c"),
    )
    reply = await pipeline.request(command)
    assert reply.data.ok, reply.data
    reservation_id = reply.data.result["reservation"]["id"]
    version = reply.data.result["product"]["version"]

    log = await read_log(pipeline.settings, f"{pipeline.settings.app_id}-stock-changelog")
    entry = [r for r in log if r[2] == APPLIED_PREFIX + command.id]
    row = [r for r in log if r[2] == product_id and r[3] and r[3]["version"] == version]
    held = [r for r in log if r[2] == reservation_key(product_id, reservation_id)]
    assert len(entry) == 1 and len(row) == 1 and len(held) == 1, (entry, row, held)
    (entry_partition, entry_offset, _, stored), (row_partition, row_offset, _, _) = entry[0], row[0]
    held_partition, held_offset, _, quantity = held[0]
    assert entry_partition == row_partition == held_partition
    assert entry_offset < row_offset < held_offset
    assert stored["state"]["version"] == version and quantity == 2
