"""Applied commands are remembered for a horizon of time, within a cap per partition:
a retry inside it is answered from the stored result, its stored entry keeps only what
a retry needs, and a retry of a command older than the horizon is refused."""

from __future__ import annotations

import asyncio

import pytest

from agents.app import APPLIED_PREFIX
from inventory.settings import Settings
from tests.support.ids import unique
from tests.support.pipeline import isolated, own_pipeline, read_compacted
from topics.messages import AdjustStock, AdjustStockData
from topics.names import STOCK_TABLE, changelog_of

pytestmark = pytest.mark.integration

HORIZON = 10.0
CAP = 100


async def test_applied_commands_are_kept_for_the_horizon_within_the_cap(
    settings: Settings,
) -> None:
    short = isolated(
        settings, "horizon", dedupe_horizon_seconds=HORIZON, dedupe_max_entries=CAP, partitions=1
    )
    async with own_pipeline(short) as pipeline:
        product_id = unique("p")
        await pipeline.create_product(product_id, 0)

        def adjust(reason: str) -> AdjustStock:
            data = AdjustStockData(product_id=product_id, delta=1, reason=reason)
            return AdjustStock(key=product_id, data=data)

        commands = [adjust(f"count {i}") for i in range(CAP + 50)]
        replies = await asyncio.gather(*(pipeline.request(c) for c in commands))
        assert all(r.data.ok for r in replies)
        changelog = changelog_of(short.app_id, STOCK_TABLE)
        rows = await read_compacted(short, changelog)
        applied = {k: v for k, v in rows.items() if k.startswith(APPLIED_PREFIX)}
        # The probe product, this one's creation and 150 adjustments, well inside the
        # horizon: the cap keeps the newest 100 of the partition.
        assert len(applied) == CAP
        assert rows[product_id]["available"] == CAP + 50
        # What a later retry needs, not the events the command sent.
        assert {tuple(sorted(entry)) for entry in applied.values()} == {
            ("at", "follow_ups", "reply", "source")
        }

        kept = [c for c in commands if APPLIED_PREFIX + c.id in applied]
        again = await pipeline.request(kept[-1])
        assert again.data.ok, "a retry inside the horizon is answered as the first time"
        first = dict(zip((c.id for c in commands), replies, strict=True))[kept[-1].id]
        assert again.data.result == first.data.result

        await asyncio.sleep(HORIZON + 1)
        later = adjust("after the horizon")
        assert (await pipeline.request(later)).data.ok
        rows = await read_compacted(short, changelog)
        assert {k for k in rows if k.startswith(APPLIED_PREFIX)} == {APPLIED_PREFIX + later.id}, (
            "older entries leave the table and the changelog (tombstones)"
        )
        late = await pipeline.request(kept[-1])
        assert not late.data.ok and late.data.code == "command_expired"
        assert rows[product_id]["available"] == CAP + 51, "the late retry changed nothing"
