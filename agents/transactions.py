"""One transactional producer per input partition: the fence, and the batch.

Everything the worker writes while it processes partition p of the command topics - the
changelog records of its tables, its events, follow-up commands, replies, dead letters -
goes through the producer whose transactional id is `<app id>-partition-<p>`, in one
transaction with the offsets of the commands consumed. A batch of commands is one
transaction per partition it touched: all of it becomes visible to read_committed
readers at once, or none of it.

The records of a transaction go to Kafka in record batches (agents.record_batches), not
one producer `send` each, which cost a reservation's nine records ~0.4 ms of CPU:
`send` appends a record to the open transaction's batch of its topic-partition and
returns a future of its metadata; a full batch is handed to the producer at once, the
rest when the transaction commits (or `abandon` gives up on it), and the commit waits
until all of it is on the broker before it adds the offsets and commits.

The fence: the worker that is assigned p starts p's producer before it reads p's
offsets or tables (`assign`, called ahead of faust's table recovery). Starting it asks
the transaction coordinator for the id's producer epoch, which aborts the previous
owner's open transaction and bumps the epoch, so a previous owner that was paused past
its session timeout cannot commit anything when it wakes: its next send or commit fails
with ProducerFenced, and it exits without a commit. Kafka's own group protocol offers no
such fence to aiokafka (its TxnOffsetCommit is v0, without the group generation), hence
a stable id per partition (KIP-447's motivation; ../shared/notes/fencing-facts.md).

Any error on the way - fenced, a failed send, a failed commit - ends the process without
a commit (agents.exit_codes): the tables in memory hold the batch's writes, which Kafka
no longer will, and a restart rebuilds them from the committed changelogs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import ProducerFenced

from agents import exit_codes
from agents.record_batches import BATCH_BYTES, RecordBatches

log = logging.getLogger(__name__)

# Kafka Streams' choice under exactly-once: long enough for a batch and its commit,
# short enough that readers stall briefly behind the open transaction of a worker that
# died without anyone taking its partitions over yet.
TRANSACTION_TIMEOUT_MS = 10_000


def transactional_id(app_id: str, partition: int) -> str:
    """The one id of partition `partition`'s writes, the same in every worker."""
    return f"{app_id}-partition-{partition}"


@dataclass
class _Open:
    """A partition's transaction in progress."""

    records: RecordBatches
    offsets: dict[TopicPartition, int] = field(default_factory=dict)
    consumed: int = 0  # commands done in this transaction


class PartitionTransactions:
    """The transactional producers of the partitions this worker owns, and their batches.

    `lock` serializes a batch against a rebalance: the agent holds it while it processes
    and commits, the revocation handler while it commits what is open.
    """

    def __init__(self, bootstrap_servers: list[str], app_id: str) -> None:
        self._bootstrap = bootstrap_servers
        self._app_id = app_id
        self._producers: dict[int, AIOKafkaProducer] = {}
        self._open: dict[int, _Open] = {}
        self.lock = asyncio.Lock()

    @property
    def owned(self) -> frozenset[int]:
        return frozenset(self._producers)

    @property
    def pending(self) -> int:
        """Commands consumed since the last commit, over every partition."""
        return sum(o.consumed for o in self._open.values())

    async def assign(self, partitions: Iterable[int]) -> None:
        """Own exactly `partitions` from now on: stop the producers of partitions lost,
        start (and so fence the previous owners of) the new ones. Call with nothing open."""
        wanted = set(partitions)
        assert not self._open, "assign() with a transaction open"
        lost = [p for p in self._producers if p not in wanted]
        for partition in lost:
            await self._producers.pop(partition).stop()
        new = sorted(wanted - set(self._producers))
        producers = {p: self._new_producer(p) for p in new}
        try:
            await asyncio.gather(*(producer.start() for producer in producers.values()))
        except Exception as err:
            self._fail(f"starting the transactional producers of partitions {new}", err)
        self._producers.update(producers)
        if new or lost:
            log.info("partitions owned: %s (new %s, lost %s)", sorted(wanted), new, lost)

    def _new_producer(self, partition: int) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            client_id=f"{self._app_id}-p{partition}",
            transactional_id=transactional_id(self._app_id, partition),
            transaction_timeout_ms=TRANSACTION_TIMEOUT_MS,
            max_batch_size=BATCH_BYTES,
            # No linger: every batch it gets is complete (agents.record_batches hands
            # over closed ones, which ship at once whatever the linger).
            linger_ms=0,
        )

    async def _transaction(self, partition: int) -> tuple[AIOKafkaProducer, _Open]:
        """Partition `partition`'s producer and its open transaction (begun on first use)."""
        producer = self._producers.get(partition)
        if producer is None:
            self._fail(f"a write for partition {partition}, which this worker does not own")
        if partition not in self._open:
            try:
                await producer.begin_transaction()
            except Exception as err:
                self._fail(
                    f"beginning partition {partition}'s transaction",
                    underlying_error(producer, err),
                )
            self._open[partition] = _Open(RecordBatches(producer))
        return producer, self._open[partition]

    async def send(
        self,
        partition: int,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        *,
        to_partition: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future[Any]:
        """Add one record to partition `partition`'s transaction, on `to_partition` of
        `topic` (by default its key's, as Kafka's default partitioner has it); returns a
        future of its RecordMetadata (its offset and timestamp), set once the broker has
        it (when the transaction commits at the latest). Records of one topic-partition
        reach it in the order of these calls."""
        batch = self._open.get(partition)
        if batch is None:
            _, batch = await self._transaction(partition)
        try:
            return await batch.records.add(
                topic, key, value, partition=to_partition, headers=headers
            )
        except Exception as err:
            self._fail(
                f"sending to {topic} in partition {partition}'s transaction",
                underlying_error(self._producers[partition], err),
            )

    async def consumed(self, topic: str, partition: int, offset: int) -> None:
        """Record that the command at `offset` is done: its offset commits with the batch."""
        _, batch = await self._transaction(partition)
        batch.offsets[TopicPartition(topic, partition)] = offset + 1
        batch.consumed += 1

    async def commit(self) -> None:
        """Commit every open transaction with its offsets (concurrently: one producer
        each). Returns once all of it is visible to read_committed readers."""
        if not self._open:
            return
        batches, self._open = self._open, {}
        await asyncio.gather(*(self._commit(p, batch) for p, batch in batches.items()))

    async def abandon(self, reason: str) -> NoReturn:
        """Wait until every record of the open transactions reached the broker, then exit
        without committing them (agents.faults: a crash between send and commit)."""
        await asyncio.gather(*(batch.records.delivered() for batch in self._open.values()))
        exit_codes.exit_without_commit(reason, exit_codes.GAVE_UP)

    async def _commit(self, partition: int, batch: _Open) -> None:
        producer = self._producers[partition]
        try:
            await batch.records.delivered()
            if batch.offsets:
                await producer.send_offsets_to_transaction(batch.offsets, self._app_id)
            await producer.commit_transaction()
        except Exception as err:
            self._fail(
                f"committing partition {partition}'s transaction", underlying_error(producer, err)
            )

    def _fail(self, what: str, error: BaseException | None = None) -> NoReturn:
        if isinstance(error, ProducerFenced):
            exit_codes.exit_without_commit(
                f"fenced while {what}: another worker owns the partition now",
                exit_codes.FENCED,
            )
        exit_codes.exit_without_commit(
            f"{what} failed ({type(error).__name__}: {error})" if error else what,
            exit_codes.DELIVERY_FAILED,
        )


def underlying_error(producer: AIOKafkaProducer, error: BaseException) -> BaseException:
    """The error that broke the producer's transaction, when `error` is only its echo.

    A fence can reach aiokafka's background sender first (a record batch or the
    partition registration answered InvalidProducerEpoch): the sender task dies with
    ProducerFenced, the transaction manager records it as fatal, and the agent's next
    send or commit fails with IllegalOperation ("not in transaction"), which says
    nothing of why. The exception the manager recorded does."""
    manager = getattr(producer, "_txn_manager", None)
    if manager is None or not manager.is_fatal_error():
        return error
    waiter = manager.wait_for_transaction_end()
    if waiter.done() and not waiter.cancelled() and waiter.exception() is not None:
        cause: BaseException = waiter.exception()
        return cause
    return error
