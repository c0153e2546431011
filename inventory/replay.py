"""`inventory replay`: rebuild the read models from the event topics, from offset zero.

The topics are the source of truth; the tables are a projection of them. Replay
builds fresh tables in a shadow schema while the live ones keep serving, then swaps
them in with one transaction and catches up on whatever arrived meanwhile. Upserts
are version-guarded and audit rows keyed by event id, so applying an event the live
projector also applied changes nothing.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from inventory.projector import BATCH_MAX, Projection, projections
from inventory.settings import Settings
from storage.engine import create_engine, quote_identifier
from storage.migrate import migrate

# The tables replay owns (idempotency keys are the gateway's, not a projection).
READ_MODEL_TABLES = ("products", "reservations", "orders", "order_lines", "audit_log")


@dataclass
class ReplayReport:
    events: int
    skipped: int
    seconds: float
    schema: str


def _progress_bar(stream: TextIO) -> Progress:
    """Replay's progress bar on `stream`: redrawn in place on a terminal; elsewhere (a
    log file) rich writes it once, as it stands when replay ends."""
    return Progress(
        TextColumn("replay"),
        BarColumn(),
        TaskProgressColumn(),
        MofNCompleteColumn(),
        TextColumn("events"),
        console=Console(file=stream),
    )


async def replay(
    settings: Settings,
    *,
    swap: bool = True,
    shadow_schema: str | None = None,
    progress_to: TextIO = sys.stderr,
) -> ReplayReport:
    """Rebuild every projection into `shadow_schema` (default `<schema>_replay`); with
    `swap`, move the rebuilt tables into the live schema and drop the shadow schema.
    The rebuild's progress is shown on `progress_to`.
    Returns what was applied. Raises the broker's or database's error; the live tables
    are untouched unless the swap itself committed."""
    started = time.monotonic()
    shadow = shadow_schema or f"{settings.database_schema}_replay"
    shadow_settings = settings.model_copy(update={"database_schema": shadow})
    shadow_engine = create_engine(shadow_settings)
    live_engine = create_engine(settings)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_list,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",  # as the live projector reads
    )
    await consumer.start()
    try:
        async with shadow_engine.begin() as conn:
            await conn.execute(text(f"DROP SCHEMA IF EXISTS {quote_identifier(shadow)} CASCADE"))
        await migrate(shadow_engine, shadow)
        plan = await _partitions(consumer, projections(settings))
        ends = await consumer.end_offsets([tp for tps in plan.values() for tp in tps])
        applied, skipped = 0, 0
        with _progress_bar(progress_to) as bar:
            task = bar.add_task("replay", total=sum(ends.values()))
            for projection, tps in plan.items():
                a, s = await _apply_range(
                    consumer,
                    projection,
                    shadow_engine,
                    {tp: 0 for tp in tps},
                    ends,
                    functools.partial(bar.advance, task),
                )
                applied, skipped = applied + a, skipped + s
        if swap:
            await _swap(live_engine, settings.database_schema, shadow)
            # Whatever the live projector wrote to the old tables since `ends`, again.
            latest = await consumer.end_offsets(list(ends))
            for projection, tps in plan.items():
                a, s = await _apply_range(
                    consumer,
                    projection,
                    live_engine,
                    {tp: ends[tp] for tp in tps},
                    latest,
                    lambda n: None,
                )
                applied, skipped = applied + a, skipped + s
            async with live_engine.begin() as conn:
                await conn.execute(
                    text(f"DROP SCHEMA IF EXISTS {quote_identifier(shadow)} CASCADE")
                )
        return ReplayReport(applied, skipped, time.monotonic() - started, shadow)
    finally:
        await consumer.stop()
        await shadow_engine.dispose()
        await live_engine.dispose()


async def _partitions(
    consumer: AIOKafkaConsumer, plan: list[Projection]
) -> dict[Projection, list[TopicPartition]]:
    out: dict[Projection, list[TopicPartition]] = {}
    for projection in plan:
        tps: list[TopicPartition] = []
        for topic in projection.decoders:
            partitions = consumer.partitions_for_topic(topic)
            if partitions is None:
                await consumer._client.force_metadata_update()  # aiokafka has no public call
                partitions = consumer.partitions_for_topic(topic) or set()
            tps.extend(TopicPartition(topic, p) for p in sorted(partitions))
        out[projection] = tps
    return out


async def _apply_range(
    consumer: AIOKafkaConsumer,
    projection: Projection,
    engine: AsyncEngine,
    starts: dict[TopicPartition, int],
    ends: dict[TopicPartition, int],
    advance: Callable[[int], Any],
) -> tuple[int, int]:
    """Apply records [starts[tp], ends[tp]) of every partition; returns (applied, skipped)."""
    pending = {tp for tp in starts if ends[tp] > starts[tp]}
    if not pending:
        return 0, 0
    consumer.assign(list(pending))
    for tp in pending:
        consumer.seek(tp, starts[tp])
    applied = skipped = 0
    while pending:
        batches = await consumer.getmany(*pending, timeout_ms=500, max_records=BATCH_MAX)
        events: list[Any] = []
        for tp, records in batches.items():
            for record in records:
                if record.offset >= ends[tp]:
                    continue
                try:
                    events.append(projection.decoders[tp.topic](record.value))
                except (ValidationError, ValueError):
                    skipped += 1  # already on the DLQ from the live projector
        # By position, not by the last record's offset: commit markers take offsets too.
        for tp in list(pending):
            if await consumer.position(tp) >= ends[tp]:
                pending.discard(tp)
        if events:
            await projection.apply(engine, events)
            applied += len(events)
        advance(sum(len(r) for r in batches.values()))
    return applied, skipped


async def _swap(engine: AsyncEngine, live: str, shadow: str) -> None:
    """Replace the live read-model tables by the rebuilt ones, atomically."""
    live_q, shadow_q = quote_identifier(live), quote_identifier(shadow)
    async with engine.begin() as conn:
        for table in READ_MODEL_TABLES:
            await conn.execute(text(f"DROP TABLE IF EXISTS {live_q}.{table}"))
            await conn.execute(text(f"ALTER TABLE {shadow_q}.{table} SET SCHEMA {live_q}"))
