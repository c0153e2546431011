"""`python -m bench.plain_loop --partition P`: the inventory agent's work on one partition
as a plain aiokafka loop, the baseline of `make bench-drain` (bench/drain.py).

It reads partition P of `<prefix>inventory.commands` (read_committed) and, per `getmany`
batch, does what the worker does for each command, without faust: decode and validate
the command, check its keys and partition, look up its applied entry, decide it with
the project's rules (`agents.inventory_rules.decide`, with the order created in the same
step, docs/ARCHITECTURE.md "One step for a reservation"), keep the rows in dicts, and
send the same records the worker sends: the events (each also on `audit`), the reply,
and one changelog record per table key touched in the batch (applied entry, product
row, reservation row, order row, deadline; tombstones for applied entries that leave
the dedupe window), to the run's own changelog topics. A batch commits in one Kafka
transaction with its offsets, like the worker's, and its records go to Kafka the way the
worker's do: appended to record batches and handed over whole (agents.record_batches).
With `--no-transactions` the records are sent by an idempotent producer and the offsets
committed by the consumer after every record was acknowledged: what the transaction
costs.

On start it reads its changelogs back into the dicts and resumes at its group's committed
offset, so it can be stopped and started around a queue like the worker. It applies the
inventory command topic only (no order agent, no expiry timer, no dead letters: a record
the worker would dead-letter is counted and skipped). Settings come from the environment,
as for `inventory worker`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord
from pydantic import ValidationError

from agents import inventory_rules
from agents.outcome import Effect, OrderPlaced, ReservationHeld, ReservationSettled
from agents.record_batches import BATCH_BYTES, RecordBatches
from inventory.settings import Settings
from topics.messages import (
    Reply,
    ReplyData,
    ReserveStock,
    derived_id,
    encode,
)
from topics.names import (
    DEADLINES_TABLE,
    GATEWAY_REPLIES,
    INVENTORY_COMMANDS,
    ORDERS_COMMANDS,
    ORDERS_TABLE,
    STOCK_TABLE,
    changelog_of,
    decoder,
    prefixed,
)
from topics.partitioning import partition_for
from topics.signing import INTERNAL_COMMAND_TYPES, signature_headers

# The worker's own row keys (agents.app), spelled out so that this loop imports no faust;
# the same keys make the same changelog records.
APPLIED_PREFIX = "\x00applied:"
RESERVATION_PREFIX = "\x00reservation:"
# Commands per transaction at most: the worker's MAX_BATCH (agents.worker).
MAX_BATCH = 500
# As the worker's consumer (agents.app lowers faust's fixed 1500 ms to 100).
FETCH_MAX_WAIT_MS = 100
TRANSACTION_TIMEOUT_MS = 10_000  # agents.transactions
COMMAND_TOPICS = frozenset({INVENTORY_COMMANDS, ORDERS_COMMANDS})

log = logging.getLogger("bench.plain_loop")


def _json(value: Any) -> bytes:
    # faust's table codec: json.dumps with compact separators (faust.utils.json).
    return json.dumps(value, separators=(",", ":")).encode()


class Table:
    """A dict of rows and the keys written since the last batch: each key becomes one
    changelog record per batch, its value at the end of the batch (ChangelogTable's rule)."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.rows: dict[str, Any] = {}
        self._dirty: dict[str, None] = {}

    def get(self, key: str) -> Any:
        return self.rows.get(key)

    def __contains__(self, key: str) -> bool:
        return key in self.rows

    def set(self, key: str, value: Any) -> None:
        self.rows[key] = value
        self._dirty[key] = None

    def delete(self, key: str) -> None:
        self.rows.pop(key, None)
        self._dirty[key] = None

    def load(self, key: str, value: Any) -> None:
        """A record read back from the changelog (None: a tombstone)."""
        if value is None:
            self.rows.pop(key, None)
        else:
            self.rows[key] = value

    def changelog(self) -> Iterator[tuple[bytes, bytes | None]]:
        """(key, value or tombstone) of every key written since the last call."""
        dirty, self._dirty = self._dirty, {}
        for key in dirty:
            yield _json(key), (_json(self.rows[key]) if key in self.rows else None)


@dataclass(frozen=True)
class Out:
    """One record to send (physical topic)."""

    topic: str
    key: bytes
    value: bytes
    partition: int | None = None
    headers: list[tuple[str, bytes]] | None = None


class InventoryLoop:
    """The inventory agent's decisions and table writes for one partition, no I/O."""

    def __init__(self, settings: Settings, partition: int) -> None:
        self.settings = settings
        self.partition = partition
        self.partitions = settings.partitions
        self.ttl = timedelta(seconds=settings.reservation_ttl_seconds)
        self.replies_topic = prefixed(settings.topic_prefix, GATEWAY_REPLIES)
        self.signing_key = settings.command_signing_key
        self.stock = Table(changelog_of(settings.app_id, STOCK_TABLE))
        self.orders = Table(changelog_of(settings.app_id, ORDERS_TABLE))
        self.deadlines = Table(changelog_of(settings.app_id, DEADLINES_TABLE))
        self.skipped = 0
        self._recent: deque[tuple[float, str]] | None = None  # (at, applied key), oldest first

    @property
    def tables(self) -> tuple[Table, ...]:
        return (self.stock, self.orders, self.deadlines)

    def apply(self, record: ConsumerRecord[bytes, bytes]) -> list[Out]:
        """What one command record yields: the records to send in its batch."""
        raw = record.value or b""
        try:
            command = decoder(INVENTORY_COMMANDS)(raw)
        except (ValidationError, ValueError, UnicodeDecodeError):
            return self._skip(record, "invalid_message")
        entity = command.data.product_id
        key = record.key.decode(errors="replace") if record.key else None
        if key != entity or command.key != entity:
            return self._skip(record, "wrong_key")
        if partition_for(entity, self.partitions) != record.partition:
            return self._skip(record, "another partition's key")
        if command.type in INTERNAL_COMMAND_TYPES:
            return self._skip(record, "internal command")  # this loop sends none
        entry = self.stock.get(APPLIED_PREFIX + command.id)
        if entry is not None:
            # Another record with an applied id: its outputs were delivered, the reply again.
            stored = entry["reply"]
            return self._reply(command, ReplyData.model_validate_json(stored)) if stored else []
        return self._decide(command, entity, record)

    def _skip(self, record: ConsumerRecord[bytes, bytes], why: str) -> list[Out]:
        log.warning("skipping %s@%s: %s", record.partition, record.offset, why)
        self.skipped += 1
        return []

    def _decide(self, command: Any, entity: str, record: ConsumerRecord[bytes, bytes]) -> list[Out]:
        # Decided at the record's broker timestamp, as the worker does (LogAppendTime).
        at = datetime.fromtimestamp(record.timestamp / 1000, UTC)
        reservation_id = inventory_rules.reservation_id_of(command)
        active = (
            self.stock.get(f"{RESERVATION_PREFIX}{entity}:{reservation_id}")
            if reservation_id is not None
            else None
        )
        chosen = None
        if isinstance(command, ReserveStock) and command.data.order_id:
            chosen = self.orders.get(command.data.order_id)
        outcome = inventory_rules.decide(
            self.stock.get(entity),
            command,
            at,
            self.ttl,
            active,
            inventory_rules.Placement(record.partition, self.partitions),
            chosen,
        )
        reply = outcome.reply.model_dump_json() if outcome.reply else None
        # The entry as the worker stores it once its batch commits (agents.processor).
        self._remember(
            command.id,
            {
                "at": at.timestamp(),
                "source": [record.partition, record.offset],
                "reply": reply,
                "follow_ups": [
                    [m.topic, m.key, m.value.decode()]
                    for m in outcome.messages
                    if m.topic in COMMAND_TOPICS
                ],
            },
        )
        if outcome.state is not None:
            self.stock.set(entity, outcome.state)
        for effect in outcome.effects:
            self._effect(entity, effect)
        outs = []
        for message in outcome.messages:
            headers = None
            if message.topic in COMMAND_TOPICS:
                headers = signature_headers(self.signing_key, message.value)
            topic = prefixed(self.settings.topic_prefix, message.topic)
            outs.append(Out(topic, message.key.encode(), message.value, headers=headers))
        if outcome.reply is not None:
            outs.extend(self._reply(command, outcome.reply))
        return outs

    def _effect(self, product_id: str, effect: Effect) -> None:
        """The rows beside the product's that the worker writes (agents.effects)."""
        match effect:
            case ReservationHeld(reservation_id, allocation):
                self.stock.set(f"{RESERVATION_PREFIX}{product_id}:{reservation_id}", allocation)
            case ReservationSettled(reservation_id):
                self.stock.delete(f"{RESERVATION_PREFIX}{product_id}:{reservation_id}")
            case OrderPlaced(order_id, state, deadline):
                current = self.orders.get(order_id)
                if current is None or current["version"] < state["version"]:
                    self.orders.set(order_id, state)
                    current = state
                if current["version"] == state["version"] and order_id not in self.deadlines:
                    self.deadlines.set(order_id, deadline)

    def _reply(self, command: Any, reply: ReplyData) -> list[Out]:
        """The reply record, as the worker builds it (agents.processor)."""
        if command.reply_to != self.replies_topic:
            return []
        partition = command.reply_partition
        if partition is not None and partition >= self.partitions:
            return []
        message = Reply(
            id=derived_id(reply.correlation_id, "reply"),
            request_id=command.request_id,
            key=reply.correlation_id,
            causation_id=reply.correlation_id,
            data=reply,
        )
        return [Out(self.replies_topic, reply.correlation_id.encode(), encode(message), partition)]

    def _remember(self, command_id: str, entry: dict[str, Any]) -> None:
        """The applied entry, and tombstones for those past the horizon or the cap."""
        if self._recent is None:
            restored = sorted(
                (v.get("at", 0.0), k)
                for k, v in self.stock.rows.items()
                if k.startswith(APPLIED_PREFIX)
            )
            self._recent = deque(restored)
        key = APPLIED_PREFIX + command_id
        self.stock.set(key, entry)
        self._recent.append((entry["at"], key))
        horizon = self.settings.dedupe_horizon_seconds
        while self._recent and self._recent[0][0] < entry["at"] - horizon:
            self.stock.delete(self._recent.popleft()[1])
        while len(self._recent) > self.settings.dedupe_max_entries:
            self.stock.delete(self._recent.popleft()[1])


async def recover(loop: InventoryLoop, bootstrap: list[str]) -> int:
    """Read the partition's changelogs back into the tables; the records read."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        by_tp = {TopicPartition(t.topic, loop.partition): t for t in loop.tables}
        consumer.assign(list(by_tp))
        await consumer.seek_to_beginning(*by_tp)
        ends = await consumer.end_offsets(list(by_tp))
        pending = {tp for tp, end in ends.items() if end > 0}
        count = 0
        # The end is reached by position: a commit marker takes the last offset.
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=500)
            for tp, records in batches.items():
                for r in records:
                    by_tp[tp].load(
                        json.loads(r.key), None if r.value is None else json.loads(r.value)
                    )
                count += len(records)
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
        return count
    finally:
        await consumer.stop()


async def run(
    settings: Settings, partition: int, transactional: bool, max_batch: int
) -> dict[str, Any]:
    bootstrap = settings.kafka_bootstrap_list
    group = settings.app_id
    loop = InventoryLoop(settings, partition)
    recovered = await recover(loop, bootstrap)
    source = TopicPartition(prefixed(settings.topic_prefix, INVENTORY_COMMANDS), partition)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,  # for the committed offset only: the partition is assigned, no rebalance
        client_id=f"{group}-plain-consumer",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
    )
    if transactional:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            client_id=f"{group}-plain-p{partition}",
            transactional_id=f"{group}-plain-partition-{partition}",
            transaction_timeout_ms=TRANSACTION_TIMEOUT_MS,
            max_batch_size=BATCH_BYTES,
        )
    else:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            client_id=f"{group}-plain-p{partition}",
            acks="all",
            enable_idempotence=True,
            max_batch_size=BATCH_BYTES,
        )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await producer.start()
    await consumer.start()
    consumer.assign([source])
    print(
        f"plain loop ready on {source.topic}[{partition}] at offset "
        f"{await consumer.position(source)}, {recovered} changelog records recovered, "
        f"transactions {'on' if transactional else 'off'}",
        flush=True,
    )
    batches = commands = 0
    try:
        while not stop.is_set():
            fetched = await consumer.getmany(source, timeout_ms=100, max_records=max_batch)
            records = fetched.get(source)
            if not records:
                continue
            if transactional:
                await producer.begin_transaction()
            sent = RecordBatches(producer)
            for record in records:
                for out in loop.apply(record):
                    await sent.add(
                        out.topic, out.key, out.value, partition=out.partition, headers=out.headers
                    )
            for table in loop.tables:
                for key, value in table.changelog():
                    await sent.add(table.topic, key, value, partition=partition)
            await sent.delivered()
            offsets = {source: records[-1].offset + 1}
            if transactional:
                await producer.send_offsets_to_transaction(offsets, group)
                await producer.commit_transaction()
            else:
                await consumer.commit(offsets)
            batches += 1
            commands += len(records)
    finally:
        await consumer.stop()
        await producer.stop()
    return {"batches": batches, "commands": commands, "skipped": loop.skipped}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.plain_loop", description=__doc__)
    parser.add_argument("--partition", type=int, required=True, help="command topic partition")
    parser.add_argument(
        "--no-transactions", action="store_true", help="idempotent producer, consumer commits"
    )
    parser.add_argument(
        "--max-batch", type=int, default=MAX_BATCH, help="commands per getmany and transaction"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    settings = Settings()
    done = asyncio.run(run(settings, args.partition, not args.no_transactions, args.max_batch))
    print(f"PLAIN {json.dumps(done)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
