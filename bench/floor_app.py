"""The faust app `bench.faust_floor` runs once per variant: an agent that consumes a
pre-filled topic and does one kind of work per record, nothing else.

Configured by environment (FLOOR_*), it prints one line `FLOOR <json>` with the CPU
seconds of its process between the first and the last record, then exits.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import faust

from agents import faust_patches
from agents.changelog_table import ChangelogTable

VARIANTS = ("consume", "topic_send", "producer_send", "faust_table", "changelog_table")


def main() -> None:
    """Build the app from FLOOR_* and run it (`python -m bench.floor_app worker`)."""
    env = os.environ
    records, variant = int(env["FLOOR_RECORDS"]), env["FLOOR_VARIANT"]
    operations = int(env.get("FLOOR_OPERATIONS", "3"))
    sink_name = env["FLOOR_SINK"]
    assert variant in VARIANTS, variant
    faust_patches.apply([env["FLOOR_BROKER"]])  # as the worker runs (agents.app)
    app = faust.App(
        env["FLOOR_APP_ID"],
        broker=f"kafka://{env['FLOOR_BROKER']}",
        store="memory://",
        Table=ChangelogTable if variant == "changelog_table" else faust.Table,
        datadir=env["FLOOR_DATADIR"],
        web_enabled=False,
        topic_partitions=1,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_linger_ms=1,
        broker_commit_every=200,
    )
    source = app.topic(
        env["FLOOR_SOURCE"], key_serializer="raw", value_serializer="raw", partitions=1
    )
    sink = app.topic(sink_name, key_serializer="raw", value_serializer="raw", internal=False)
    table = app.Table("floor", partitions=1, key_type=str, value_type=None)
    seen = {"records": 0, "cpu": 0.0, "wall": 0.0}

    async def work(event: Any) -> None:
        value = event.value
        if variant == "topic_send":
            for _ in range(operations):
                await sink.send(key=b"k", value=value)
        elif variant == "producer_send":
            for _ in range(operations):
                await app.producer.send(sink_name, b"k", value, None, None, None)
        elif variant in ("faust_table", "changelog_table"):
            for i in range(operations):
                table[f"k{i}"] = {"seen": seen["records"], "value": value.decode()}
            if isinstance(table, ChangelogTable):

                async def send(
                    partition: int, topic: str, key: bytes | None, value: bytes | None
                ) -> Any:  # the producer's delivery future
                    return await app.producer.send(topic, key, value, partition, None, None)

                await table.drain(send)

    def finish() -> None:
        result = {
            "variant": variant,
            "records": records - 1,
            "cpu_seconds": time.process_time() - seen["cpu"],
            "wall_seconds": time.monotonic() - seen["wall"],
        }
        print("FLOOR " + json.dumps(result), flush=True)
        os._exit(0)  # faust's orderly stop takes seconds and measures nothing

    @app.agent(source, concurrency=1)
    async def floor(stream: faust.StreamT[Any]) -> None:
        async for event in stream.events():
            await work(event)
            seen["records"] += 1
            if seen["records"] == 1:  # the clock starts after the first record: no start-up
                seen["cpu"], seen["wall"] = time.process_time(), time.monotonic()
            elif seen["records"] == records:
                finish()

    app.main()


if __name__ == "__main__":
    main()
