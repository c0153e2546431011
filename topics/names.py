"""The pipeline's topics, defined once: names, keys, how each is created and the codec of
its records."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter

from topics import messages

INVENTORY_COMMANDS = "inventory.commands"
INVENTORY_EVENTS = "inventory.events"
ORDERS_COMMANDS = "orders.commands"
ORDERS_EVENTS = "orders.events"
AUDIT = "audit"
GATEWAY_REPLIES = "gateway.replies"
DLQ_SUFFIX = ".dlq"

# The worker's changelog-backed tables. faust names a table's changelog topic
# `<app id>-<table>-changelog`; `changelog_of` is that rule, written once.
STOCK_TABLE = "stock"
ORDERS_TABLE = "orders"
DEADLINES_TABLE = "order-deadlines"
TABLES = (STOCK_TABLE, ORDERS_TABLE, DEADLINES_TABLE)


@dataclass(frozen=True)
class TopicSpec:
    """A topic the pipeline needs, and everything said about it: how it is created
    (inventory.kafka_admin), what its records are (`codec`: decoding for every reader,
    the JSON Schema of the public contract in topics.schemas). `co_partitioned` topics
    share the pipeline's partition count because a faust table (or a key-ordered
    consumer) depends on the same key landing on the same partition number in each."""

    name: str
    key: str
    carries: str
    co_partitioned: bool = True
    compacted: bool = False
    # The broker stamps each record as it appends it (LogAppendTime). The worker decides
    # a command at its record's timestamp, so a redelivered command yields the same
    # events; a producer's clock, wrong or made up, never sets a deadline.
    broker_timestamps: bool = False
    # The message models of its records; None where records are copies of another
    # topic's (dead letters) or a table's rows (changelogs).
    codec: TypeAdapter[Any] | None = None

    def decode(self, raw: bytes | str) -> Any:
        """Parse and validate one record's value; raises pydantic.ValidationError naming
        what is wrong."""
        if self.codec is None:
            raise TypeError(f"topic {self.name} has no message codec")
        return self.codec.validate_json(raw)


PIPELINE_TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(
        INVENTORY_COMMANDS,
        "product id",
        "create product, adjust stock, reserve, commit, release",
        broker_timestamps=True,
        codec=messages.INVENTORY_COMMAND,
    ),
    TopicSpec(
        INVENTORY_EVENTS,
        "product id",
        "what the inventory agent decided",
        codec=messages.INVENTORY_EVENT,
    ),
    TopicSpec(
        ORDERS_COMMANDS,
        "order id",
        "create order, change status, expire",
        broker_timestamps=True,
        codec=messages.ORDER_COMMAND,
    ),
    TopicSpec(
        ORDERS_EVENTS,
        "order id",
        "what became of each order (created, status changed)",
        codec=messages.ORDER_EVENT,
    ),
    TopicSpec(
        AUDIT,
        "entity id",
        "every state change and every rejected command",
        codec=messages.AUDIT_EVENT,
    ),
    TopicSpec(
        GATEWAY_REPLIES,
        "command id",
        "outcomes for synchronous callers, partition chosen by them",
        co_partitioned=False,
        codec=messages.REPLY,
    ),
    TopicSpec(
        INVENTORY_COMMANDS + DLQ_SUFFIX, "as source", "inventory commands that failed to parse"
    ),
    TopicSpec(ORDERS_COMMANDS + DLQ_SUFFIX, "as source", "order commands that failed to parse"),
    TopicSpec(INVENTORY_EVENTS + DLQ_SUFFIX, "as source", "events the projector could not read"),
    TopicSpec(ORDERS_EVENTS + DLQ_SUFFIX, "as source", "events the projector could not read"),
    TopicSpec(AUDIT + DLQ_SUFFIX, "as source", "audit events the audit log could not read"),
)


TOPICS: dict[str, TopicSpec] = {spec.name: spec for spec in PIPELINE_TOPICS}


def decoder(topic: str) -> Callable[[bytes | str], Any]:
    """The decoder of a pipeline topic's records, by its logical (unprefixed) name."""
    return TOPICS[topic].decode


def changelog_of(app_id: str, table: str) -> str:
    """The changelog topic of a worker table (faust's naming)."""
    return f"{app_id}-{table}-changelog"


def changelog_specs(app_id: str) -> tuple[TopicSpec, ...]:
    """The changelog topics of the worker's tables: compacted, and partitioned like the
    command topics, since a table row lives on its key's partition of both."""
    return tuple(
        TopicSpec(
            changelog_of(app_id, table),
            "table key",
            f"the latest value of each row of the worker's {table} table",
            compacted=True,
        )
        for table in TABLES
    )


def dlq_of(topic: str) -> str:
    """Name of the dead-letter topic of `topic`."""
    return topic + DLQ_SUFFIX


def prefixed(prefix: str, name: str) -> str:
    """The physical topic name: tests and parallel deployments share a broker through a prefix."""
    return f"{prefix}{name}"
