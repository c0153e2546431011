"""The faust application object, its topics and its tables. Imports no agent.

Everything is built from Settings by `build_app`, so tests run workers with their
own topic prefix and app id, and nothing happens at import time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import faust
from faust.types import TP, TopicT

from agents import exit_codes, faust_patches, recovery_progress, state_dir
from agents.changelog_table import OWN_ROW_PREFIX, ChangelogTable
from agents.command_feed import FEED_ATTRIBUTE, CommandFeed
from agents.faults import CRASH_BEFORE_COMMIT, FaultPoints
from agents.offset_guard import KafkaOffsets, OffsetGuard
from agents.table_store import ROCKSDB_OPTIONS
from agents.transactions import PartitionTransactions
from inventory import worker_status
from inventory.settings import Settings
from topics.names import (
    DEADLINES_TABLE,
    INVENTORY_COMMANDS,
    ORDERS_COMMANDS,
    ORDERS_TABLE,
    STOCK_TABLE,
    prefixed,
)

# Rows the agents keep beside the entity rows, in the same table (so in the same
# changelog partition). Entity ids never contain control characters
# (topics.messages.EntityId), so these prefixes cannot collide with them.
APPLIED_PREFIX = OWN_ROW_PREFIX + "applied:"
RESERVATION_PREFIX = OWN_ROW_PREFIX + "reservation:"
CART_PREFIX = OWN_ROW_PREFIX + "cart:"


def cart_key(order_id: str) -> str:
    """Key of a cart's row in the orders table, beside the order it becomes."""
    return CART_PREFIX + order_id


def reservation_key(product_id: str, reservation_id: str) -> str:
    """Key of one active reservation's row in the stock table."""
    return f"{RESERVATION_PREFIX}{product_id}:{reservation_id}"


@dataclass
class Pipeline:
    """The app and the handles the agents and timers share."""

    settings: Settings
    app: faust.App
    # Both command topics, read by one loop: partition p of both is one unit of
    # ownership, with one transaction (agents.transactions).
    commands: TopicT
    # Their records, as faust's fetcher hands them over (agents.command_feed).
    feed: CommandFeed
    transactions: PartitionTransactions
    offsets: KafkaOffsets
    guard: OffsetGuard
    # product id -> agents.domain.stock.to_dict(...), and applied-command entries
    # (see agents.processor)
    stock: ChangelogTable
    # order id -> agents.domain.order_state.to_dict(...), and applied-command entries
    orders: ChangelogTable
    deadlines: ChangelogTable  # order id -> expires_at (epoch seconds) of PENDING orders only
    faults: FaultPoints  # armed only in fault tests (Settings.inject_faults)
    # Called as a batch commits, before the tables send their changelog records.
    before_commit: list[Callable[[], None]] = field(default_factory=list)

    def physical(self, logical: str) -> str:
        """The topic name of a logical topic in this pipeline (with the prefix)."""
        return prefixed(self.settings.topic_prefix, logical)

    async def commit(self) -> None:
        """Hand every table write so far to its partition's transaction, then commit all
        open transactions with their offsets."""

        async def send(
            partition: int, topic: str, key: bytes | None, value: bytes | None
        ) -> asyncio.Future[Any]:
            return await self.transactions.send(
                partition, topic, key, value, to_partition=partition
            )

        for settle in self.before_commit:
            settle()
        tables = (self.stock, self.orders, self.deadlines)
        for table in tables:
            await table.drain(send)
        if self.transactions.pending and self.faults.reached(CRASH_BEFORE_COMMIT):
            await self.transactions.abandon(f"fault injected at {CRASH_BEFORE_COMMIT!r}")
        await self.transactions.commit()
        # Only now may the batch reach a table's disk (agents.table_store).
        for table in tables:
            table.checkpoint()


def build_app(settings: Settings) -> Pipeline:
    """A configured faust App with its source topics and changelog-backed tables."""
    faust_patches.apply(settings.kafka_bootstrap_list)
    # One folder per worker process, found again by a restarted worker (agents.state_dir);
    # the memory store keeps only faust's scratch files and the recovery status there.
    datadir = state_dir.claim(worker_status.state_base(settings.app_id), settings.state_dir)
    rocksdb = settings.table_store == "rocksdb"
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{server}" for server in settings.kafka_bootstrap_list],
        # rocksdb: committed state on disk, replayed from its checkpoint on start
        # (agents.table_store); memory: rebuilt from the whole changelog on start.
        store="rocksdb://" if rocksdb else "memory://",
        Table=ChangelogTable,  # changelog writes go through agents.transactions
        datadir=str(datadir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        # Every topic, changelogs included, is created by `inventory stream create-topics`
        # and waited for before the worker starts (inventory.kafka_admin); a worker that
        # created its own changelog once wrote against a topic of "0 partitions".
        topic_allow_declare=False,
        # The leader topic serves only `on_leader` timers and the expiry sweep is not one;
        # without this faust would create that topic itself.
        topic_disable_leader=True,
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_linger_ms=1,
        # A memory store would mix a standby's rows into the active ones (one dict).
        table_standby_replicas=settings.standby_replicas if rocksdb else 0,
        stream_wait_empty=False,
        broker_commit_every=200,
        # A killed worker's partitions move to a live one only after its session expires
        # (faust's default is 60 s): keep fail-over short.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
        broker_commit_interval=1.0,
    )

    # Source topics are created by `inventory stream create-topics` with the same partition
    # count as the tables. acks=False: faust commits no offset of theirs; each command's
    # offset commits in its partition's transaction (agents.transactions).
    commands = app.topic(
        prefixed(settings.topic_prefix, INVENTORY_COMMANDS),
        prefixed(settings.topic_prefix, ORDERS_COMMANDS),
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.partitions,
        acks=False,
    )

    def table(name: str) -> ChangelogTable:
        table = app.Table(
            name,
            partitions=settings.partitions,
            key_type=str,
            value_type=None,
            options=dict(ROCKSDB_OPTIONS) if rocksdb else None,  # faust pops from it
        )
        assert isinstance(table, ChangelogTable)  # the App's Table class, set above
        return table

    offsets = KafkaOffsets(settings.kafka_bootstrap_list, settings.app_id)
    feed = CommandFeed(
        commands.topics,
        app.conf.stream_buffer_maxsize,
        on_dropped=lambda m: app.sensors.on_message_out(m.tp, m.offset, m),
    )
    setattr(app, FEED_ATTRIBUTE, feed)  # the fetcher's cue (agents.faust_patches)
    pipeline = Pipeline(
        settings=settings,
        app=app,
        commands=commands,
        feed=feed,
        transactions=PartitionTransactions(settings.kafka_bootstrap_list, settings.app_id),
        offsets=offsets,
        guard=OffsetGuard(offsets.first_record_at),
        stock=table(STOCK_TABLE),
        orders=table(ORDERS_TABLE),
        deadlines=table(DEADLINES_TABLE),
        faults=FaultPoints(settings.inject_faults),
    )
    _own_partitions_before_recovery(pipeline)
    recovery_progress.report(app, [pipeline.stock, pipeline.orders, pipeline.deadlines], datadir)
    return pipeline


def _own_partitions_before_recovery(pipeline: Pipeline) -> None:
    """Tie the transactional producers to faust's rebalances.

    Revoked: wait for the batch in hand, then commit everything open, so that nothing of
    ours is in flight when another worker takes a partition. Assigned: start the
    producers of the new partitions before faust seeks to the committed offsets and
    recovers the tables (both happen in `tables.on_rebalance`), so that the previous
    owner is fenced and its last transaction settled before we read anything it wrote;
    then read the offsets the guard expects (agents.offset_guard).
    """
    app, transactions = pipeline.app, pipeline.transactions
    command_topics = set(pipeline.commands.topics)

    @app.on_partitions_revoked.connect  # type: ignore[misc, arg-type]  # faust's stubs
    async def commit_before_revoke(sender: Any, revoked: set[TP], **_: Any) -> None:
        async with transactions.lock:
            await pipeline.commit()
            # faust has stopped the flow: records fetched but not applied yet come again
            # to whoever owns their partition after the rebalance.
            pipeline.feed.clear()

    tables = app.tables
    recover = tables.on_rebalance

    generations: list[int] = []  # the group generations this worker was a member of

    async def on_rebalance(
        assigned: set[TP], revoked: set[TP], newly_assigned: set[TP], generation_id: int = 0
    ) -> None:
        async with transactions.lock:
            await pipeline.commit()
            # faust seeks every partition it assigns to its committed offset: what was
            # fetched before comes again.
            pipeline.feed.clear()
            sources = [tp for tp in assigned if tp.topic in command_topics]
            _rejoined_after_a_gap(
                generations, generation_id, {tp.partition for tp in sources} & transactions.owned
            )
            await transactions.assign({tp.partition for tp in sources})
            pipeline.guard.reset(await pipeline.offsets.committed(sources))
        await recover(assigned, revoked, newly_assigned, generation_id)

    tables.on_rebalance = on_rebalance  # type: ignore[method-assign]  # wrapped, see above


def _rejoined_after_a_gap(generations: list[int], generation: int, kept: set[int]) -> None:
    """Exit (as fenced) when this worker keeps partitions across group generations it was
    not a member of. A worker paused past its session timeout misses the generation in
    which others took its partitions over, and rejoins: faust and the producers then take
    the partitions it is given again for ones it never lost - no recovery of tables
    another worker has written meanwhile, and a producer that worker's start has fenced.
    Seen in a CI run of tests/integration/test_fencing.py: the paused worker, idle when
    paused, rejoined, kept a partition, and applied nothing on it for minutes. A restart
    recovers the partitions as any new owner does."""
    if generation > 0 and generations and generation != generations[-1] + 1 and kept:
        exit_codes.exit_without_commit(
            f"fenced by a missed generation: rejoined the group at generation {generation} "
            f"after {generations[-1]}, and partitions {sorted(kept)} may have had another "
            "owner meanwhile",
            exit_codes.FENCED,
        )
    if generation > 0:
        generations[:] = [generation]
