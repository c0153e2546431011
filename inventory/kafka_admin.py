"""Creates the pipeline's topics explicitly, with the configured partition counts."""

from __future__ import annotations

import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from inventory.settings import Settings
from topics.names import PIPELINE_TOPICS, prefixed

log = logging.getLogger(__name__)


class TopicMismatch(RuntimeError):
    """An existing topic has another partition count than the tables that depend on it."""


async def create_topics(settings: Settings) -> list[str]:
    """Create every missing pipeline topic; return the names created now.

    Raises TopicMismatch when an existing topic has a different partition count: a
    table co-partitioned with it would silently read the wrong rows.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_list)
    await admin.start()
    try:
        wanted = {prefixed(settings.topic_prefix, spec.name): spec for spec in PIPELINE_TOPICS}
        existing = set(await admin.list_topics())
        missing = [name for name in wanted if name not in existing]
        if missing:
            response = await admin.create_topics(
                [
                    NewTopic(name, settings.partitions, settings.replication_factor)
                    for name in missing
                ]
            )
            for name, code, *rest in response.topic_errors:
                if code not in (0, TopicAlreadyExistsError.errno):
                    raise RuntimeError(f"creating topic {name} failed: error {code} {rest}")
        present = [name for name in wanted if name in existing]
        if present:
            for description in await admin.describe_topics(present):
                count = len(description["partitions"])
                if count != settings.partitions:
                    raise TopicMismatch(
                        f"topic {description['topic']} has {count} partitions, "
                        f"settings say {settings.partitions}"
                    )
        return missing
    finally:
        await admin.close()


async def delete_topics(names: list[str], settings: Settings) -> None:
    """Best-effort deletion (a gateway's reply topic when it stops, test clean-up)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_list)
    await admin.start()
    try:
        await admin.delete_topics(names)
    except Exception as err:  # deleting is a courtesy; the broker keeps working without it
        log.warning("could not delete topics %s: %s", names, err)
    finally:
        await admin.close()
