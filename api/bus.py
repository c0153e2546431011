"""Request/reply over Kafka for the gateway: send a command, await the agent's reply.

All gateways share one reply topic (`<prefix>gateway.replies`, created with the others);
each process reads one partition of it, chosen at random at start, and names it in
every command it sends. Replies are matched to waiting requests by the command id they
answer. A shared, pre-created topic means an agent never sends a late reply to a topic
that has gone away with its gateway (which would stall the agent's partition).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import ConsumerStoppedError, KafkaError
from pydantic import ValidationError

from api.errors import PipelineTimeout, PipelineUnavailable
from inventory.kafka_admin import TopicMissing, describe_problems
from inventory.retrying import retry_forever
from inventory.settings import Settings
from topics.messages import (
    AdjustStock,
    ChangeStatus,
    CreateProduct,
    Reply,
    ReserveCart,
    ReserveStock,
    SetAllocation,
    TransferStock,
    encode,
)
from topics.names import GATEWAY_REPLIES, decoder, prefixed
from topics.signing import signature_headers

log = logging.getLogger(__name__)

HEALTH_TIMEOUT_SECONDS = 2.0


# The commands a synchronous caller sends; all share the envelope's id, key, request_id.
Command = (
    CreateProduct
    | AdjustStock
    | ReserveStock
    | ReserveCart
    | ChangeStatus
    | TransferStock
    | SetAllocation
)


class Bus(Protocol):
    """What the views need of a command bus: `CommandBus`, or a fake of it in unit tests.

    `request` raises PipelineTimeout or PipelineUnavailable (api.errors) as
    `CommandBus.request` does; the error middleware answers them 504 and 503.
    """

    async def request(
        self, topic: str, command: Command, *, partition: int | None = None
    ) -> Reply: ...

    async def kafka_error(self) -> str | None: ...

    async def consumer_lag(self, group: str, topics: list[str]) -> int: ...


class CommandBus:
    """Publishes commands and resolves each `request()` with the reply naming its command id.

    Lifecycle: `await start()`, any number of concurrent `request()` calls, `await stop()`.
    """

    def __init__(self, settings: Settings, instance_id: str | None = None) -> None:
        self._settings = settings
        self.instance_id = instance_id or secrets.token_hex(8)
        self.reply_topic = prefixed(settings.topic_prefix, GATEWAY_REPLIES)
        self.reply_partition = 0  # chosen in start()
        # Several requests may wait for one command id: a retry with the same
        # Idempotency-Key re-sends the stored id while the first try still waits.
        self._waiters: dict[str, set[asyncio.Future[Reply]]] = {}
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._reader: asyncio.Task[None] | None = None
        self._replies_retrying = retry_forever(
            log, f"reading replies from {self.reply_topic} failed", KafkaError
        )

    def _client_args(self, role: str) -> dict[str, Any]:
        return {
            "bootstrap_servers": self._settings.kafka_bootstrap_list,
            "client_id": f"gateway-{self.instance_id}-{role}",
        }

    async def start(self) -> None:
        """Pick a reply partition, start reading it from its end, start the producer.

        Raises aiokafka's KafkaError (or OSError) when the broker cannot be reached, and
        TopicMissing when the reply topic does not exist; whatever was started is stopped
        again first.
        """
        try:
            self._admin = AIOKafkaAdminClient(**self._client_args("admin"))
            await self._admin.start()
            self.reply_partition = await self._pick_reply_partition()

            self._consumer = AIOKafkaConsumer(
                **self._client_args("replies"),
                group_id=None,  # no group: nothing to rebalance, no offsets to commit
                enable_auto_commit=False,
                auto_offset_reset="latest",
                # A reply counts once its batch committed (agents.transactions); a
                # fenced worker's replies are aborted and never seen.
                isolation_level="read_committed",
            )
            await self._consumer.start()
            partition = TopicPartition(self.reply_topic, self.reply_partition)
            self._consumer.assign([partition])
            await self._consumer.seek_to_end(partition)
            # position() returns once the end offset is really resolved, so a reply to
            # the first command can never land before the point we read from.
            await self._consumer.position(partition)

            self._producer = AIOKafkaProducer(
                **self._client_args("commands"),
                acks="all",
                enable_idempotence=True,
                linger_ms=2,
            )
            await self._producer.start()
        except BaseException:
            await self.stop()
            raise
        self._reader = asyncio.create_task(
            self._read_replies(), name=f"gateway-replies-{self.instance_id}"
        )
        log.info("command bus started, replies on %s[%d]", self.reply_topic, self.reply_partition)

    async def _pick_reply_partition(self) -> int:
        """A random partition of the shared reply topic. Two gateways may pick the same one:
        each then skips the other's replies, whose command ids it never sent."""
        assert self._admin is not None
        [description] = await self._admin.describe_topics([self.reply_topic])
        count = len(description.get("partitions") or [])
        if description.get("error_code") or count == 0:
            raise TopicMissing(
                f"reply topic {self.reply_topic} is missing: run `inventory stream create-topics`"
            )
        return secrets.randbelow(count)

    async def _read_replies(self) -> None:
        while True:
            try:
                batches = await self._next_replies()
            except ConsumerStoppedError:
                return
            for records in batches.values():
                for record in records:
                    self._dispatch(record.value)

    async def _next_replies(self) -> dict[TopicPartition, list[ConsumerRecord[Any, Any]]]:
        """The next batch of replies; a broker error is retried with backoff (the consumer
        reconnects by itself), so the reading loop stays alive and does not spin."""
        assert self._consumer is not None
        return await self._replies_retrying(self._consumer.getmany, timeout_ms=1000)

    def _dispatch(self, raw: bytes | None) -> None:
        try:
            reply = decoder(GATEWAY_REPLIES)(raw or b"")
        except ValidationError as exc:
            log.warning(
                "ignoring undecodable message on %s: %s", self.reply_topic, exc.errors()[:3]
            )
            return
        waiters = self._waiters.pop(reply.data.correlation_id, None)
        if not waiters:
            # A late reply to a request that timed out, or a duplicate: nobody waits.
            log.debug("no waiter for reply to %s", reply.data.correlation_id)
            return
        for future in waiters:
            if not future.done():
                future.set_result(reply)

    async def request(self, topic: str, command: Command, *, partition: int | None = None) -> Reply:
        """Send `command` (with `reply_to` set to this bus's topic) and return its reply.

        `topic` is the physical topic name; `partition` overrides the key's (as a producer
        with another partitioner would send it). Raises PipelineTimeout (a TimeoutError)
        when no reply arrives within settings.reply_timeout_seconds (send included), and
        PipelineUnavailable when Kafka refuses the message.
        """
        if self._producer is None:
            raise RuntimeError("CommandBus.request() before start()")
        command = command.model_copy(
            update={"reply_to": self.reply_topic, "reply_partition": self.reply_partition}
        )
        command_id = command.id
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        # Registered before the send: the reply may arrive before send_and_wait returns.
        self._waiters.setdefault(command_id, set()).add(future)
        timeout = self._settings.reply_timeout_seconds
        try:
            async with asyncio.timeout(timeout):
                try:
                    value = encode(command)
                    # Signed, so the worker believes the actor this gateway vouches for
                    # (an unsigned command's actor counts as unverified).
                    headers = [
                        ("request_id", command.request_id.encode()),
                        *signature_headers(self._settings.command_signing_key, value),
                    ]
                    await self._producer.send_and_wait(
                        topic, value, key=command.key.encode(), partition=partition, headers=headers
                    )
                except KafkaError as exc:
                    raise PipelineUnavailable(f"{type(exc).__name__}: {exc}", command_id) from exc
                return await future
        except TimeoutError as exc:
            raise PipelineTimeout(command_id, timeout) from exc
        finally:
            waiters = self._waiters.get(command_id)
            if waiters is not None:
                waiters.discard(future)
                if not waiters:
                    del self._waiters[command_id]
            future.cancel()

    async def kafka_error(self) -> str | None:
        """None when the broker answers a metadata request within 2 s and shows every
        pipeline topic ready (inventory.kafka_admin.topic_problems, the condition the
        worker waits for before it starts); otherwise what went wrong."""
        if self._admin is None:
            return "command bus not started"
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT_SECONDS):
                problems = await describe_problems(self._admin, self._settings)
        except TimeoutError:
            return f"broker did not answer within {HEALTH_TIMEOUT_SECONDS:g} s"
        except (KafkaError, OSError) as exc:
            return f"{type(exc).__name__}: {exc}"
        if problems:
            return "topics not ready: " + "; ".join(map(str, problems[:5]))
        return None

    async def consumer_lag(self, group: str, topics: list[str]) -> int:
        """How many records of `topics` the consumer group has not committed yet.
        Raises KafkaError/TimeoutError when the broker does not answer within 2 s."""
        if self._admin is None or self._consumer is None:
            raise RuntimeError("command bus not started")
        async with asyncio.timeout(HEALTH_TIMEOUT_SECONDS):
            described = await self._admin.describe_topics(topics)
            partitions = [
                TopicPartition(t["topic"], p["partition"])
                for t in described
                for p in t.get("partitions") or []
            ]
            committed = await self._admin.list_consumer_group_offsets(group)
            ends = await self._consumer.end_offsets(partitions)
        lag = 0
        for tp, end in ends.items():
            meta = committed.get(tp)
            lag += end - (meta.offset if meta is not None and meta.offset >= 0 else 0)
        return lag

    async def stop(self) -> None:
        """Stop reading and sending; requests still waiting are cancelled."""
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
            self._reader = None
        for waiters in self._waiters.values():
            for future in waiters:
                future.cancel()
        self._waiters.clear()
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
        if self._admin is not None:
            await self._admin.close()
            self._admin = None
