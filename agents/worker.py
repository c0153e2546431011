"""The faust worker: one command loop for both command topics, and the expiry timer.

One loop, one command at a time: partition p of both command topics is one unit of
ownership, written in one transaction per batch (agents.transactions). Its records
come from faust's fetcher a fetch at a time (agents.command_feed), not through a faust
agent's stream. Duplicates are handled by command ids, not by faust's exactly_once mode.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import faust
from aiokafka import TopicPartition
from faust.types import TP

from agents import cart_rules, exit_codes, inventory_rules, order_rules
from agents.app import Pipeline, build_app, cart_key, reservation_key
from agents.command_feed import CommandRecord
from agents.deadline_index import DeadlineIndex
from agents.effects import TableEffects
from agents.finished_orders import FinishedOrders
from agents.metrics import install_faust_sensor
from agents.order_rules import signed_expiry
from agents.processor import CommandProcessor
from inventory.gc_tuning import tune_garbage_collector
from inventory.kafka_admin import wait_for_topics
from inventory.metrics_server import serve_metrics
from inventory.settings import Settings
from topics.messages import CartLineAnswered, ReserveCart, ReserveStock
from topics.names import INVENTORY_COMMANDS, ORDERS_COMMANDS, decoder

log = logging.getLogger(__name__)

# An ExpireOrder still unanswered after this long is sent again (its id stays the same).
EXPIRE_RESEND_SECONDS = 5.0
# How often the offset guard looks for a partition stuck before a record faust dropped.
GUARD_INTERVAL_SECONDS = 1.0


def register(pipeline: Pipeline) -> None:
    """Attach the command loop and the timers to the pipeline's app."""
    app, settings = pipeline.app, pipeline.settings
    ttl = timedelta(seconds=settings.reservation_ttl_seconds)

    def reservation_lookup(command: Any) -> list[str]:
        reservation_id = inventory_rules.reservation_id_of(command)
        if reservation_id is None:
            return []
        return [reservation_key(command.data.product_id, reservation_id)]

    faults = pipeline.faults
    due = DeadlineIndex()
    finished = FinishedOrders(settings.finished_order_grace_seconds)
    # Recovery fills the tables without the command loop: the indexes are rebuilt from them then.
    pipeline.deadlines.on_recover(_async(due.invalidate))
    pipeline.orders.on_recover(_async(finished.invalidate))
    effects = TableEffects(pipeline, due, finished)

    def chosen_order(command: Any) -> dict[str, Any] | None:
        """The row of the order a reservation names itself, if that order exists."""
        order_id = getattr(command.data, "order_id", None)
        if not isinstance(command, ReserveStock) or not order_id:
            return None
        return pipeline.orders.get(order_id)

    inventory = CommandProcessor(
        pipeline,
        source_topic=INVENTORY_COMMANDS,
        table=pipeline.stock,
        decode=decoder(INVENTORY_COMMANDS),
        entity_key=lambda c: c.data.product_id,
        decide=lambda row, cmd, now, extras, partition: inventory_rules.decide(
            row,
            cmd,
            now,
            ttl,
            next(iter(extras.values()), None),
            inventory_rules.Placement(partition, settings.partitions),
            chosen_order(cmd),
        ),
        lookups=reservation_lookup,
        on_effect=effects.apply,
        faults=faults,
    )

    orders = CommandProcessor(
        pipeline,
        source_topic=ORDERS_COMMANDS,
        table=pipeline.orders,
        decode=decoder(ORDERS_COMMANDS),
        entity_key=lambda c: c.data.order_id,
        decide=lambda row, cmd, now, extras, _partition: (
            cart_rules.decide(row, extras.get(cart_key(cmd.data.order_id)), cmd, now, ttl)
            if isinstance(cmd, ReserveCart | CartLineAnswered)
            else order_rules.decide(row, cmd, now)
        ),
        lookups=lambda cmd: (
            [cart_key(cmd.data.order_id)] if isinstance(cmd, ReserveCart | CartLineAnswered) else []
        ),
        on_effect=effects.apply,
        faults=faults,
    )

    processors = {
        pipeline.physical(INVENTORY_COMMANDS): inventory,
        pipeline.physical(ORDERS_COMMANDS): orders,
    }
    pipeline.before_commit.extend(p.settle for p in processors.values())
    transactions = pipeline.transactions
    max_batch = settings.max_batch

    async def seek(tp: TopicPartition, offset: int) -> None:
        await app.consumer.seek(TP(tp.topic, tp.partition), offset)

    feed = pipeline.feed
    sensors = app.sensors
    # faust's consumer subscribes to the topics its conductor lists; no agent iterates
    # these (the command loop takes their records from the feed), so list them here.
    app.topics.add(pipeline.commands)

    @app.task
    async def command_loop() -> None:
        # Commands are applied one at a time in the order of their partition; a batch
        # ends, and its transactions commit, when no further command is waiting or the
        # batch is full. An idle pipeline thus commits every command at once, a busy one
        # hundreds per transaction. The lock is taken per command, so a rebalance can
        # commit and reassign between two of them (and then clears the feed).
        try:
            while True:
                generation, records = await feed.take()
                for i, message in enumerate(records):
                    record = CommandRecord(message)
                    async with transactions.lock:
                        if feed.generation != generation:
                            feed.dropped(records[i:])
                            break  # a rebalance since: faust delivers them again
                        await apply(record)
                        if transactions.pending >= max_batch:
                            await pipeline.commit()
                    sensors.on_message_out(message.tp, message.offset, message)
                async with transactions.lock:
                    if not await feed.more_coming():
                        await pipeline.commit()
        except Exception as err:  # every command's own failure is handled in process()
            log.exception("the command loop failed")
            exit_codes.exit_without_commit(
                f"the command loop failed ({type(err).__name__}: {err})", exit_codes.GAVE_UP
            )

    async def apply(record: CommandRecord) -> None:
        message = record.message
        if message.partition not in transactions.owned:
            return  # fetched before a rebalance took it: its new owner applies it
        if not await pipeline.guard.admit(message.topic, message.partition, message.offset, seek):
            return
        record.make_current()  # the tables write in the record's partition
        await processors[message.topic].process(record)
        await transactions.consumed(message.topic, message.partition, message.offset)

    async def position(tp: TopicPartition) -> int | None:
        """How far the consumer knows the partition to go: its fetch position, or the end
        offset its last fetch reported when that is further (a consumer sent back that
        stopped fetching stays at the expected offset, and would look idle). A partition
        the consumer has not fetched at all yet is asked of the broker: a successor once
        sat 107 s on a queue of commands without fetching them, seen by nothing (a CI
        run of tests/integration/test_fencing.py)."""
        try:
            faust_tp = TP(tp.topic, tp.partition)
            fetched = await app.consumer.position(faust_tp)
            seen_end = app.consumer.highwater(faust_tp)
            if seen_end is None:
                seen_end = await pipeline.offsets.end_offset(tp)
        except Exception:  # not (or no longer) assigned mid-rebalance: nothing to check
            return None
        if fetched is None:
            return None
        return max(fetched, seen_end or 0)

    @app.timer(interval=GUARD_INTERVAL_SECONDS, name="dropped-record-check")
    async def dropped_record_check() -> None:
        # Not under the loop's lock: the check reads from Kafka, and the loop must not
        # wait for it; a seek racing the loop only brings records the guard drops.
        # Rebalancing or recovering, faust delivers nothing: no record is late. (Its
        # Consumer has the flag; the ConsumerT interface does not declare it.)
        if not app.consumer.flow_active:  # type: ignore[attr-defined]
            pipeline.guard.flow_stopped()
            return
        await pipeline.guard.check_stalled(position, seek)

    @app.timer(interval=settings.expiry_interval_seconds, name="expiry-sweep")
    async def expiry_sweep() -> None:
        # A timer may not write a table, so it only asks: the command loop decides. Not in
        # a transaction: a lost or doubled request is harmless, the sweep asks again
        # after EXPIRE_RESEND_SECONDS and the loop applies an expiry once.
        commands = pipeline.physical(ORDERS_COMMANDS)
        for order_id in due.due(time.time(), pipeline.deadlines, EXPIRE_RESEND_SECONDS):
            key, value, headers = signed_expiry(order_id, settings.command_signing_key)
            await app.producer.send(commands, key, value, None, None, headers)


def _async(callback: Callable[[], None]) -> Callable[[], Awaitable[None]]:
    async def call() -> None:
        callback()

    return call


def run(settings: Settings) -> None:
    """Run the worker in the foreground until SIGINT/SIGTERM, once every topic it uses is
    on the broker with its partition count (it creates none itself: agents.app)."""
    settings.require_own_command_key("worker")
    # faust runs on the thread's current loop: wait on that same loop.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    log.info("worker %s waiting for its topics", settings.app_id)
    loop.run_until_complete(wait_for_topics(settings))
    pipeline = build_app(settings)
    register(pipeline)
    # faust's sensor does work on every message: only when someone can read it.
    if serve_metrics("worker", settings.metrics_host, settings.worker_metrics_port):
        install_faust_sensor(pipeline.app)
    worker = faust.Worker(
        pipeline.app,
        loglevel=settings.log_level,
        quiet=True,
    )
    tune_garbage_collector()
    log.info("worker %s starting at %s", settings.app_id, datetime.now(UTC).isoformat())
    worker.execute_from_commandline()
