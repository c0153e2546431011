"""The worker's consumer asks aiokafka for the records of the partitions active when it
asks, never for "every partition" (agents.faust_patches; docs/RELIABILITY.md, find 6):
aiokafka reads an empty partition set as all of them, and faust dropped the standby
records drained that way after their positions had moved past them."""

from __future__ import annotations

import asyncio
from typing import Any

from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from agents import faust_patches
from agents.faust_patches import fetch_active_only

ACTIVE = TP("inventory.commands", 0)
STANDBY = TP("inventory-stream-stock-changelog", 1)


class FakeFetch:
    """aiokafka's fetched_records as far as this matters: it records what it was asked
    for, and while it waits faust pauses the partitions (empties its live set)."""

    def __init__(self, live: set[TP]) -> None:
        self.live = live
        self.asked: list[Any] = []

    async def __call__(self, consumer: Any, partitions: Any, **_: Any) -> dict[TP, list[int]]:
        self.asked.append(partitions)
        self.live.clear()  # faust pauses everything while the fetch waits
        await asyncio.sleep(0)
        # aiokafka: an empty (falsy) set means every partition with buffered records.
        tps = partitions or {ACTIVE, STANDBY}
        return {tp: [1] for tp in tps}


async def test_no_active_partition_fetches_nothing() -> None:
    fetch = FakeFetch(set())
    assert await fetch_active_only(fetch, object(), fetch.live, timeout=1.0) == {}
    assert fetch.asked == []


async def test_the_fetch_asks_for_the_partitions_active_when_it_started() -> None:
    fetch = FakeFetch({ACTIVE})
    records = await fetch_active_only(fetch, object(), fetch.live, timeout=1.0)
    # Paused during the fetch: the request still named the one partition, not "all",
    # so the standby changelog's records stayed in aiokafka's buffer, unread.
    assert fetch.asked == [frozenset({ACTIVE})]
    assert set(records) == {ACTIVE}


def test_the_worker_consumer_fetches_through_the_patch() -> None:
    faust_patches.apply(["127.0.0.1:9092"])
    fetch_records = faust_aiokafka.AIOKafkaConsumerThread._fetch_records
    assert fetch_records.__qualname__.endswith("_patch_fetch_active_only.<locals>.fetch_records")
