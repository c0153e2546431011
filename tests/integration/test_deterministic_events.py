"""A command decided twice yields the same events (issue 8, "events are deterministic").

A worker that dies between sending a batch and committing it leaves the batch's records
on the broker in an aborted transaction; its successor decides the same commands again.
Readers never see the aborted copies (read_committed), but an outside consumer that
reads uncommitted, or one that compares an event it cached, must find the same content
under the same id: so a command is decided at its record's timestamp, which the broker
set when it appended the record, not at the moment a worker happens to apply it.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from datetime import datetime, timedelta

import pytest

from agents import exit_codes
from inventory.settings import Settings
from tests.support.ids import unique
from tests.support.pipeline import isolated, own_pipeline, read_to_end
from tests.support.waiting import eventually
from topics.messages import ReserveStock, ReserveStockData
from topics.names import AUDIT

pytestmark = pytest.mark.integration


async def test_a_batch_decided_again_after_a_crash_yields_identical_events(
    settings: Settings,
) -> None:
    replayed = isolated(settings, "determinism", reply_timeout_seconds=3.0)
    async with own_pipeline(replayed) as pipeline:
        product_id = unique("p")
        await pipeline.create_product(product_id, 100)
        first = next(p for p in pipeline.processes.processes if p.role == "worker")
        first.stop()
        crashing = pipeline.processes.start("worker", INJECT_FAULTS="crash_before_commit=1")
        commands = [
            ReserveStock(
                key=product_id,
                data=ReserveStockData(product_id=product_id, quantity=1, customer_id=f"c{i}"),
            )
            for i in range(20)
        ]
        answers = [
            asyncio.ensure_future(pipeline.request_until_answered(c, attempts=40)) for c in commands
        ]
        await eventually(
            crashing.alive, lambda alive: not alive, within=90, what="the crash before commit"
        )
        assert crashing.popen.returncode == exit_codes.GAVE_UP, crashing.tail()
        pipeline.processes.start("worker")
        replies = await asyncio.gather(*answers)
        assert all(r.data.ok for r in replies), [r.data.code for r in replies if not r.data.ok]

        copies: dict[str, set[bytes]] = defaultdict(set)
        count: dict[str, int] = defaultdict(int)
        for record in await read_to_end(replayed, pipeline.topic(AUDIT), aborted_too=True):
            event_id = json.loads(record.value)["id"]
            copies[event_id].add(record.value)
            count[event_id] += 1
        decided_twice = [event_id for event_id, n in count.items() if n > 1]
        # The aborted batch held at least one reservation: its events are there twice.
        assert decided_twice, "the crashed batch's events should be on the log, aborted"
        assert {e: len(copies[e]) for e in decided_twice} == dict.fromkeys(decided_twice, 1)

        committed = [
            json.loads(r.value) for r in await read_to_end(replayed, pipeline.topic(AUDIT))
        ]
        ids = [event["id"] for event in committed]
        assert len(ids) == len(set(ids)), "each event committed once"

        # The hold's ten minutes start when the broker logged the request: its deadline
        # is the decision time of its event plus the TTL, whoever applied it.
        created = {
            e["data"]["reservation"]["id"]: e
            for e in committed
            if e["type"] == "reservation.created"
        }
        ttl = timedelta(seconds=replayed.reservation_ttl_seconds)
        for reply in replies:
            reservation = reply.data.result["reservation"]
            event = created[reservation["id"]]
            occurred = datetime.fromisoformat(event["occurred_at"])
            assert datetime.fromisoformat(reservation["expires_at"]) == occurred + ttl
