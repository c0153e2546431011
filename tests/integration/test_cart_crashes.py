"""A worker that dies at any step of a cart's saga: after a restart each cart ends whole
or not at all, answered as the first time, never with a line held and nobody to give it
back (agents.cart_rules).

Each round starts a worker armed with `crash_before_commit=N` (agents.faults): the N-th
batch it commits is sent whole and abandoned, as by a kill between the sends and the
commit. One cart that can be held and one that cannot are sent together, so the crash
falls on some step of each (start, holds, answers, releases, release answers) as N grows;
a new worker then takes the partitions over and the caller, retrying with the same
command id, gets the answer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agents import exit_codes
from agents.app import CART_PREFIX
from inventory.settings import Settings
from tests.support.carts import cart_command
from tests.support.ids import unique
from tests.support.pipeline import Pipeline, isolated, own_pipeline, read_compacted
from tests.support.waiting import eventually
from topics.names import ORDERS_TABLE, changelog_of

pytestmark = pytest.mark.integration

# Batches a round's carts take: start, holds, answers, releases, release answers and
# spares; beyond them the armed worker never reaches its crash and is stopped.
ROUNDS = range(1, 7)


async def cart_rows(settings: Settings) -> dict[str, Any]:
    rows = await read_compacted(settings, changelog_of(settings.app_id, ORDERS_TABLE))
    return {k: v for k, v in rows.items() if k.startswith(CART_PREFIX) and v is not None}


async def test_a_cart_killed_at_any_step_ends_whole_or_empty(settings: Settings) -> None:
    crashing = isolated(settings, "cartcrash", reply_timeout_seconds=3.0)
    async with own_pipeline(crashing) as pipeline:
        crashed_in = []
        for n in ROUNDS:
            crashed_in.append(await _round(pipeline, n))
        # The rounds reached a crash at several steps, not only at the first.
        assert crashed_in.count(True) >= 4, crashed_in
        assert await cart_rows(crashing) == {}, "a cart's row outlived its answer"


async def _round(pipeline: Pipeline, n: int) -> bool:
    a, b, c = (unique("p") for _ in range(3))
    await pipeline.create_product(a, 5)
    await pipeline.create_product(b, 5)
    await pipeline.create_product(c, 1)
    for process in [p for p in pipeline.processes.processes if p.role == "worker"]:
        process.stop()
    armed = pipeline.processes.start("worker", INJECT_FAULTS=f"crash_before_commit={n}")
    whole = cart_command([(a, 2), (b, 1)])
    short = cart_command([(b, 1), (a, 1), (c, 2)])  # c has 1: refused after a and b are held
    answers = [
        asyncio.ensure_future(pipeline.request_until_answered(x, attempts=60))
        for x in (whole, short)
    ]
    done, _ = await asyncio.wait(
        [asyncio.ensure_future(_died(armed)), asyncio.gather(*answers)],
        return_when=asyncio.FIRST_COMPLETED,
        timeout=120,
    )
    crashed = not armed.alive()
    if crashed:
        assert armed.popen.returncode == exit_codes.GAVE_UP, armed.tail()
    else:
        armed.stop()
    pipeline.processes.start("worker")
    held, refused = await asyncio.gather(*answers)

    assert held.data.ok, (n, held.data)
    order = held.data.result["order"]
    assert [(x["product_id"], x["quantity"]) for x in order["lines"]] == [(a, 2), (b, 1)]
    assert not refused.data.ok and refused.data.code == "insufficient_stock", (n, refused.data)
    assert refused.data.details["lines"] == [{"product_id": c, "requested": 2, "available": 1}]

    table = await pipeline.stock_table()
    reservation = held.data.result["reservation"]["id"]
    assert table[a]["active"] == {reservation: {"main": 2}}, (n, table[a])
    assert table[b]["active"] == {reservation: {"main": 1}}, (n, table[b])
    assert (table[a]["available"], table[a]["reserved"]) == (3, 2)
    assert (table[b]["available"], table[b]["reserved"]) == (4, 1)
    assert (table[c]["available"], table[c]["reserved"]) == (1, 0)
    await pipeline.assert_invariants([a, b, c])
    return crashed


async def _died(process: Any) -> None:
    await eventually(process.alive, lambda alive: not alive, within=120, what="the crash")
