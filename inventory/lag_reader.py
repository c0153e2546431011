"""Reads the committed offsets of the pipeline's consumer groups and the ends of their
topics from the broker: the input of inventory.lag.

Which groups: the worker (faust's app id, over both command topics; its offsets commit
in its transactions) and each projection (inventory.projector.projections).
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from inventory.lag import PartitionLag, partition_lags
from inventory.projector import projections
from inventory.settings import Settings
from topics.names import INVENTORY_COMMANDS, ORDERS_COMMANDS, prefixed

TIMEOUT_SECONDS = 2.0


def watched_groups(settings: Settings) -> dict[str, list[str]]:
    """Each consumer group of the pipeline and the topics it reads."""
    p = settings.topic_prefix
    groups = {settings.app_id: [prefixed(p, INVENTORY_COMMANDS), prefixed(p, ORDERS_COMMANDS)]}
    for projection in projections(settings):
        groups[projection.group] = list(projection.decoders)
    return groups


def projection_groups(settings: Settings) -> dict[str, str]:
    """Each projection's name and its consumer group."""
    return {projection.name: projection.group for projection in projections(settings)}


class LagReader:
    """An admin client and a group-less consumer, started on first use, closed by `stop`.

    Lazy, so that a gateway built with fakes in unit tests never reaches for a broker.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._starting = asyncio.Lock()

    async def _start(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        async with self._starting:
            if self._admin is None or self._consumer is None:
                servers = self._settings.kafka_bootstrap_list
                admin = AIOKafkaAdminClient(bootstrap_servers=servers, client_id="lag-reader")
                consumer = AIOKafkaConsumer(
                    bootstrap_servers=servers,
                    group_id=None,
                    enable_auto_commit=False,
                    isolation_level="read_committed",  # ends as the groups' readers see them
                )
                await admin.start()
                try:
                    await consumer.start()
                except BaseException:
                    await admin.close()
                    raise
                self._admin, self._consumer = admin, consumer
            return self._admin, self._consumer

    async def group_lag(self, group: str, topics: list[str]) -> list[PartitionLag]:
        """Lag of `group` on every partition of `topics`. Raises KafkaError or
        TimeoutError when the broker does not answer within 2 s."""
        admin, consumer = await self._start()
        async with asyncio.timeout(TIMEOUT_SECONDS):
            described = await admin.describe_topics(topics)
            partitions = [
                TopicPartition(t["topic"], p["partition"])
                for t in described
                for p in t.get("partitions") or []
            ]
            committed = await admin.list_consumer_group_offsets(group)
            ends = await consumer.end_offsets(partitions)
        return partition_lags(
            group,
            {(tp.topic, tp.partition): end for tp, end in ends.items()},
            {
                (tp.topic, tp.partition): meta.offset
                for tp, meta in committed.items()
                if meta is not None
            },
        )

    async def pipeline_lag(self) -> dict[str, list[PartitionLag] | None]:
        """Every watched group's lag; None for a group the broker did not answer about."""
        found: dict[str, list[PartitionLag] | None] = {}
        for group, topics in watched_groups(self._settings).items():
            try:
                found[group] = await self.group_lag(group, topics)
            except (KafkaError, TimeoutError, OSError):
                found[group] = None
        return found

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
        if self._admin is not None:
            await self._admin.close()
            self._admin = None
