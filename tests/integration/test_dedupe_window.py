"""The applied-command entries are a bounded window: the oldest are deleted (from the
table and, by tombstones, from its changelog) once a partition holds more."""

from __future__ import annotations

import uuid

import pytest

from agents.app import APPLIED_PREFIX
from inventory.settings import Settings
from tests.support.pipeline import isolated, own_pipeline, read_compacted
from topics.messages import AdjustStock, AdjustStockData
from topics.names import STOCK_TABLE, changelog_of

pytestmark = pytest.mark.integration

WINDOW = 100


async def test_applied_entries_are_pruned_to_the_window(settings: Settings) -> None:
    small = isolated(settings, "d", dedupe_window=WINDOW, partitions=1)
    async with own_pipeline(small) as pipeline:
        product_id = f"p-{uuid.uuid4().hex[:8]}"
        await pipeline.create_product(product_id, 0)
        commands = [
            AdjustStock(
                key=product_id,
                data=AdjustStockData(product_id=product_id, delta=1, reason=f"count {i}"),
            )
            for i in range(WINDOW + 50)
        ]
        for command in commands:
            assert (await pipeline.request(command)).data.ok
        rows = await read_compacted(small, changelog_of(small.app_id, STOCK_TABLE))
        applied = {k for k in rows if k.startswith(APPLIED_PREFIX)}
        assert len(applied) == WINDOW, "one partition keeps exactly the window"
        assert APPLIED_PREFIX + commands[-1].id in applied, "the newest are kept"
        assert APPLIED_PREFIX + commands[0].id not in applied, "the oldest are gone"
        assert rows[product_id]["available"] == WINDOW + 50
        # a retry inside the window is still recognised: it changes nothing
        again = await pipeline.request(commands[-1])
        assert again.data.ok and again.data.result["product"]["available"] == WINDOW + 50
