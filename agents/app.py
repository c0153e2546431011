"""The faust application object, its topics and its tables. Imports no agent.

Everything is built from Settings by `build_app`, so tests run workers with their
own topic prefix and app id, and nothing happens at import time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TopicT

from agents.outbox import ChangelogTable
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
APPLIED_PREFIX = "\x00applied:"
RESERVATION_PREFIX = "\x00reservation:"


def reservation_key(product_id: str, reservation_id: str) -> str:
    """Key of one active reservation's row in the stock table."""
    return f"{RESERVATION_PREFIX}{product_id}:{reservation_id}"


@dataclass
class Pipeline:
    """The app and the handles the agents and timers share."""

    settings: Settings
    app: faust.App
    inventory_commands: TopicT
    orders_commands: TopicT
    # product id -> agents.domain.stock.to_dict(...), and applied-command entries
    # (see agents.processor)
    stock: ChangelogTable
    # order id -> agents.domain.order_state.to_dict(...), and applied-command entries
    orders: ChangelogTable
    deadlines: ChangelogTable  # order id -> expires_at (epoch seconds) of PENDING orders only

    def physical(self, logical: str) -> str:
        """The topic name of a logical topic in this pipeline (with the prefix)."""
        return prefixed(self.settings.topic_prefix, logical)

    async def flush_changelogs(self) -> None:
        """Hand the changelog records of every table write so far to the producer."""
        for table in (self.stock, self.orders, self.deadlines):
            await table.flush_changelog()


# faust creates its worker consumer with fetch_max_wait_ms=1500, fixed. aiokafka does not
# fetch a partition again while records of it are still buffered, so a fetch for the
# other, idle partitions sits at the broker for up to that long while new commands
# for the busy partition wait behind it: the whole pipeline stalled ~1.6 s at a time
# (commands reached the agent 1.6 s after they were produced). A short wait keeps the
# busy partition fetched; idle partitions cost a cheap empty fetch every 100 ms.
WORKER_FETCH_MAX_WAIT_MS = 100


def use_short_fetch_wait() -> None:
    """Make every faust worker consumer created from now on fetch with
    WORKER_FETCH_MAX_WAIT_MS (patches faust's factory once; calling again is a no-op)."""
    thread_cls = faust_aiokafka.AIOKafkaConsumerThread
    if getattr(thread_cls, "_inventory_patched", False):
        return
    create = thread_cls._create_worker_consumer

    def create_worker_consumer(self: Any, transport: Any) -> Any:
        consumer = create(self, transport)
        consumer._fetch_max_wait_ms = WORKER_FETCH_MAX_WAIT_MS  # read at consumer.start()
        return consumer

    thread_cls._create_worker_consumer = create_worker_consumer
    thread_cls._inventory_patched = True


def build_app(settings: Settings) -> Pipeline:
    """A configured faust App with its source topics and changelog-backed tables."""
    use_short_fetch_wait()
    datadir = Path(".local") / "faust" / settings.app_id
    datadir.parent.mkdir(parents=True, exist_ok=True)  # faust creates only the last level
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{server}" for server in settings.kafka_bootstrap_list],
        store="memory://",  # tables are rebuilt from their changelog topics on start
        Table=ChangelogTable,  # cheaper changelog writes: see agents.outbox
        # faust makes a data folder even for memory tables; keep it out of the source tree.
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
        table_standby_replicas=0,
        stream_wait_empty=False,
        broker_commit_every=200,
        # A killed worker's partitions move to a live one only after its session expires
        # (faust's default is 60 s): keep fail-over short.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
        broker_commit_interval=1.0,
    )

    def source(logical: str) -> TopicT:
        # Source topics are created by `inventory stream create-topics` with the same partition
        # count as the tables; declaring them here again would only hide a mismatch.
        return app.topic(
            prefixed(settings.topic_prefix, logical),
            key_serializer="raw",
            value_serializer="raw",
            partitions=settings.partitions,
        )

    def table(name: str) -> ChangelogTable:
        table = app.Table(name, partitions=settings.partitions, key_type=str, value_type=None)
        assert isinstance(table, ChangelogTable)  # the App's Table class, set above
        return table

    pipeline = Pipeline(
        settings=settings,
        app=app,
        inventory_commands=source(INVENTORY_COMMANDS),
        orders_commands=source(ORDERS_COMMANDS),
        stock=table(STOCK_TABLE),
        orders=table(ORDERS_TABLE),
        deadlines=table(DEADLINES_TABLE),
    )
    return pipeline
