"""`inventory audit tail` as a separate process: it prints the audit topic as an outside
subscriber reads it, from the beginning or new events only, as text or JSON."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from inventory.settings import Settings
from tests.support.audit_events import Story, synthetic
from tests.support.ids import unique
from tests.support.pipeline import Pipeline, read_to_end
from tests.support.processes import ROOT, settings_env
from topics.messages import encode
from topics.names import AUDIT, prefixed

pytestmark = pytest.mark.integration


def run_tail(
    settings: Settings, *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`inventory audit tail ARGS` as a separate process, on `settings`' topics."""
    env = {**os.environ, **settings_env(settings), "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "inventory.cli", "audit", "tail", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


async def own_audit_topic(settings: Settings, name: str, partitions: int) -> tuple[Settings, str]:
    """Settings on a fresh topic prefix (`name` and a random suffix) and its audit topic,
    created empty with `partitions` partitions: no pipeline writes to it."""
    own = settings.model_copy(update={"topic_prefix": f"{settings.topic_prefix}{unique(name)}."})
    topic = prefixed(own.topic_prefix, AUDIT)
    admin = AIOKafkaAdminClient(bootstrap_servers=own.kafka_bootstrap_list)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(topic, num_partitions=partitions, replication_factor=1)]
        )
    finally:
        await admin.close()
    return own, topic


async def topic_size(settings: Settings) -> int:
    """How many records the run's audit topic holds (it is neither compacted nor trimmed)."""
    return len(await read_to_end(settings, prefixed(settings.topic_prefix, AUDIT)))


async def test_tail_from_the_beginning_prints_the_storys_events(
    pipeline: Pipeline, story: Story
) -> None:
    total = await topic_size(pipeline.settings)
    done = await asyncio.to_thread(
        run_tail, pipeline.settings, "--from-beginning", "--max", str(total), "--timeout", "15"
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == total, done.stderr
    printed = sorted(
        (request_id, event_type, *entity.split(":", 1))
        for _, event_type, entity, request_id in (line.split(" ") for line in lines)
        if request_id in story.request_ids
    )
    # The topic may hold an event twice (a redelivered command sends its outputs again).
    assert sorted(set(printed)) == story.expected_events()


async def test_tail_prints_the_events_of_a_topic_in_order_and_as_json(
    settings: Settings,
) -> None:
    own, topic = await own_audit_topic(settings, "tail", partitions=1)
    base = datetime(2025, 3, 1, 12, tzinfo=UTC)
    events = [synthetic(unique("p-tail"), base + timedelta(seconds=i)) for i in range(5)]
    producer = AIOKafkaProducer(bootstrap_servers=own.kafka_bootstrap_list)
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(topic, key=event.key.encode(), value=encode(event))
        await producer.send_and_wait(topic, key=b"x", value=b"not json")  # skipped, reported
    finally:
        await producer.stop()

    plain = await asyncio.to_thread(run_tail, own, "--from-beginning", "--max", "5")
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.splitlines() == [
        f"2025-03-01T12:00:0{i}Z command.rejected product:{e.key} {e.request_id}"
        for i, e in enumerate(events)
    ]
    as_json = await asyncio.to_thread(run_tail, own, "--from-beginning", "--json", "--max", "3")
    assert [json.loads(line)["id"] for line in as_json.stdout.splitlines()] == [
        e.id for e in events[:3]
    ]
    # Idle timeout: the bad record is reported on stderr, then the tail stops by itself.
    idle = await asyncio.to_thread(run_tail, own, "--from-beginning", "--timeout", "2")
    assert idle.returncode == 0 and len(idle.stdout.splitlines()) == 5
    assert "not an audit event" in idle.stderr


async def test_tail_without_from_beginning_prints_only_new_events(settings: Settings) -> None:
    own, topic = await own_audit_topic(settings, "live", partitions=2)
    old, new = synthetic("p-old", datetime.now(UTC)), synthetic("p-new", datetime.now(UTC))
    producer = AIOKafkaProducer(bootstrap_servers=own.kafka_bootstrap_list)
    await producer.start()
    await producer.send_and_wait(topic, key=old.key.encode(), value=encode(old))
    env = {**os.environ, **settings_env(own), "PYTHONUNBUFFERED": "1"}
    tail = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "inventory.cli", "audit", "tail", "--max", "1", "--timeout", "30"),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert tail.stderr is not None
        ready = b""
        while b"tailing" not in ready:  # log lines may come first
            ready = await asyncio.wait_for(tail.stderr.readline(), 30)
            assert ready, "the tail exited before it was ready"
        assert b"new events only" in ready, ready
        await producer.send_and_wait(topic, key=new.key.encode(), value=encode(new))
        stdout, _ = await asyncio.wait_for(tail.communicate(), 30)
    finally:
        await producer.stop()
        if tail.returncode is None:
            tail.kill()
            await tail.wait()
    assert tail.returncode == 0
    assert stdout.decode().split()[1:] == ["command.rejected", "product:p-new", new.request_id]
