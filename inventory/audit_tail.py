"""`inventory audit tail`: print the audit topic live, as an outside subscriber would read it.

A plain aiokafka consumer without a consumer group: it commits nothing, so any
number of tails can run beside the projector without taking partitions from it
or from each other. It assigns itself every partition of `<prefix>audit` and
starts at the end (only new events) or, with `from_beginning`, at the start.

Kafka orders events per partition (per entity id), not across partitions: two
entities' events may print in another order than they occurred. Partitions added
while a tail runs are not picked up; restart it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from dataclasses import dataclass
from typing import Any, TextIO

from aiokafka import AIOKafkaConsumer
from pydantic import ValidationError

from inventory.kafka_admin import TopicError, TopicMissing
from inventory.settings import Settings
from inventory.signals import stop_on_signals
from storage.audit import entity_of
from storage.formats import iso_utc
from topics.names import AUDIT, decoder, prefixed

POLL_MS = 200
ASSIGN_TIMEOUT = 30.0


@dataclass(frozen=True)
class TailOptions:
    """What to print and when to stop (None: no limit; Ctrl-C always stops)."""

    from_beginning: bool = False
    as_json: bool = False
    max_events: int | None = None
    idle_timeout: float | None = None


def format_event(event: Any) -> str:
    """`occurred_at type entity_type:entity_id request_id` for one decoded audit event."""
    entity_type, entity_id = entity_of(event)
    return f"{iso_utc(event.occurred_at)} {event.type} {entity_type}:{entity_id} {event.request_id}"


async def tail(
    settings: Settings,
    options: TailOptions,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    stop: asyncio.Event | None = None,
) -> int:
    """Print audit events until `stop`, SIGINT/SIGTERM, `max_events` or `idle_timeout`.

    Returns how many events were printed. Raises TopicMissing if the audit topic
    does not exist (run `inventory stream create-topics`), TopicError if its partitions
    are not assigned in time, and the broker's error
    if Kafka cannot be reached. A record that is not a valid audit event is
    reported on `err` and skipped (with `as_json` it is printed as it is).
    """
    stop = stop or stop_on_signals()
    topic = prefixed(settings.topic_prefix, AUDIT)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_list,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",  # never a fenced worker's aborted events
    )
    await consumer.start()
    printed = 0
    try:
        await assign_all(consumer, topic, options.from_beginning)
        # Positions are resolved: from here on no event is missed. Tests and scripts
        # wait for this line before producing what they expect to see.
        start = "from the beginning" if options.from_beginning else "new events only"
        print(f"tailing {topic} ({start})", file=err, flush=True)
        idle_since = time.monotonic()
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=POLL_MS)
            records = [r for tp_records in batches.values() for r in tp_records]
            if not records:
                if (
                    options.idle_timeout is not None
                    and time.monotonic() - idle_since >= options.idle_timeout
                ):
                    break
                continue
            idle_since = time.monotonic()
            for record in records:
                line = _line(record, options.as_json, err)
                if line is None:
                    continue
                try:
                    print(line, file=out, flush=True)
                except BrokenPipeError:  # `| head`: the reader has gone, nothing more to do
                    return printed
                printed += 1
                if options.max_events is not None and printed >= options.max_events:
                    return printed
    finally:
        await consumer.stop()
    return printed


async def assign_all(consumer: AIOKafkaConsumer, topic: str, from_beginning: bool) -> None:
    """Assign every partition of `topic` to a group-less consumer, at its start or end,
    with the positions resolved. Raises TopicMissing, or TopicError past 30 s."""
    # Checked before subscribing: a subscription may make the broker auto-create a topic
    # under a mistyped prefix. topics() asks the broker, not the client's cache.
    if topic not in await consumer.topics():
        raise TopicMissing(f"topic {topic!r} does not exist; run `inventory stream create-topics`")
    # Without a group, a subscription is assigned every partition, and partitions added
    # later are assigned too (from their start: they hold only new events).
    consumer.subscribe([topic])
    deadline = time.monotonic() + ASSIGN_TIMEOUT
    while not consumer.assignment():
        if time.monotonic() > deadline:
            raise TopicError(f"no partitions of {topic!r} assigned within {ASSIGN_TIMEOUT:g} s")
        await asyncio.sleep(0.05)
    partitions = sorted(consumer.assignment())
    if from_beginning:
        await consumer.seek_to_beginning(*partitions)
    else:
        await consumer.seek_to_end(*partitions)
    for tp in partitions:
        await consumer.position(tp)  # resolve "end" now, not at the first fetch


def _line(record: Any, as_json: bool, err: TextIO) -> str | None:
    raw: bytes = record.value or b""
    if as_json:
        # The record as the topic holds it. The pipeline writes compact JSON; a multi-line
        # document from an outside producer is compacted so one line stays one event.
        text = raw.decode(errors="replace")
        if "\n" in text:
            with contextlib.suppress(ValueError):
                text = json.dumps(json.loads(text), separators=(",", ":"))
        return text
    try:
        return format_event(decoder(AUDIT)(raw))
    except (ValidationError, ValueError) as exc:
        print(
            f"skipping {record.topic}[{record.partition}]@{record.offset}: not an audit event "
            f"({type(exc).__name__})",
            file=err,
            flush=True,
        )
        return None
