"""The pipeline's topics on the broker: created explicitly, and checked before use.

Every topic the pipeline touches - command and event topics, the reply topic, the audit
topic, the DLQs and the worker tables' changelogs - is created here, by
`inventory stream create-topics`, with its partition count and compaction. The worker
never creates a topic itself (agents.app): a topic created by whoever needs it first
comes up with whatever settings that client chose, and faust creating a changelog and
reading its metadata 50 ms later found it "missing" and wrote every row against a
changelog of 0 partitions. So the worker waits, before it joins its group, until the
broker's metadata shows every topic with the right partition count (`wait_for_topics`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, replace
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from inventory.errors import InventoryError
from inventory.settings import Settings
from topics.names import PIPELINE_TOPICS, TopicSpec, changelog_specs, prefixed

log = logging.getLogger(__name__)

# How often `wait_for_topics` asks the broker again, and says what it still waits for.
WAIT_POLL_SECONDS = 0.5
WAIT_LOG_SECONDS = 5.0


class TopicError(InventoryError):
    """A pipeline topic cannot be used: the broker would not create it, or it cannot be read."""


class TopicMissing(TopicError):
    """A topic the pipeline needs does not exist (`inventory stream create-topics` makes it)."""


class TopicMismatch(TopicError):
    """An existing topic has another partition count than the tables that depend on it."""


@dataclass(frozen=True)
class TopicProblem:
    """Why one topic is not usable yet; `fatal` when waiting cannot mend it."""

    topic: str
    problem: str
    fatal: bool = False

    def __str__(self) -> str:
        return f"{self.topic}: {self.problem}"


def pipeline_topics(settings: Settings) -> dict[str, TopicSpec]:
    """Every topic of this pipeline by its physical name (prefix and app id applied)."""
    specs = [replace(s, name=prefixed(settings.topic_prefix, s.name)) for s in PIPELINE_TOPICS]
    specs.extend(changelog_specs(settings.app_id))
    return {spec.name: spec for spec in specs}


def topic_problems(settings: Settings, described: list[dict[str, Any]]) -> list[TopicProblem]:
    """What keeps the described topics from being usable, one line each ([] when ready).

    `described` is aiokafka's `describe_topics` answer for every pipeline topic. A topic
    is ready when it exists, every partition has a leader, and a co-partitioned topic has
    the configured partition count.
    """
    wanted = pipeline_topics(settings)
    problems = []
    seen = set()
    for topic in described:
        name = topic["topic"]
        seen.add(name)
        spec = wanted.get(name)
        partitions = topic.get("partitions") or []
        if topic.get("error_code") or not partitions:
            problems.append(TopicProblem(name, "missing (run `inventory stream create-topics`)"))
        elif spec is not None and spec.co_partitioned and len(partitions) != settings.partitions:
            problems.append(
                TopicProblem(
                    name,
                    f"{len(partitions)} partitions, settings say {settings.partitions}",
                    fatal=True,
                )
            )
        elif any(p.get("error_code") or p.get("leader", -1) < 0 for p in partitions):
            problems.append(TopicProblem(name, "some partitions have no leader yet"))
    problems.extend(
        TopicProblem(name, "not described by the broker") for name in wanted if name not in seen
    )
    return problems


def topic_configs(settings: Settings, spec: TopicSpec) -> dict[str, str]:
    """The configs a pipeline topic is created with. min.insync.replicas is set on each
    topic rather than left to the broker's default, so that what an acks=all write
    promises does not depend on how the broker happens to be configured."""
    configs = {"min.insync.replicas": str(settings.topic_min_insync_replicas)}
    if spec.compacted:
        configs["cleanup.policy"] = "compact"
    if spec.broker_timestamps:
        configs["message.timestamp.type"] = "LogAppendTime"
    return configs


async def _admin(settings: Settings) -> AIOKafkaAdminClient:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_list)
    await admin.start()
    return admin


async def describe_problems(admin: AIOKafkaAdminClient, settings: Settings) -> list[TopicProblem]:
    """`topic_problems` of the broker's current metadata (one metadata request)."""
    return topic_problems(settings, await admin.describe_topics(list(pipeline_topics(settings))))


async def create_topics(settings: Settings) -> list[str]:
    """Create every missing pipeline topic; return the names created now.

    Raises TopicMismatch when an existing co-partitioned topic has a different partition
    count: a table co-partitioned with it would silently read the wrong rows; TopicError
    when the broker refuses to create one.
    """
    admin = await _admin(settings)
    try:
        wanted = pipeline_topics(settings)
        existing = set(await admin.list_topics())
        missing = [spec for name, spec in wanted.items() if name not in existing]
        if missing:
            response = await admin.create_topics(
                [
                    NewTopic(
                        spec.name,
                        settings.partitions,
                        settings.replication_factor,
                        topic_configs=topic_configs(settings, spec),
                    )
                    for spec in missing
                ]
            )
            for name, code, *rest in response.topic_errors:
                if code not in (0, TopicAlreadyExistsError.errno):
                    raise TopicError(f"creating topic {name} failed: error {code} {rest}")
        present = [name for name in wanted if name in existing and wanted[name].co_partitioned]
        if present:
            for description in await admin.describe_topics(present):
                count = len(description["partitions"])
                if count != settings.partitions:
                    raise TopicMismatch(
                        f"topic {description['topic']} has {count} partitions, "
                        f"settings say {settings.partitions}"
                    )
        return [spec.name for spec in missing]
    finally:
        await admin.close()


async def wait_for_topics(settings: Settings) -> None:
    """Return once the broker's metadata shows every pipeline topic ready (see
    `topic_problems`), saying every few seconds what it still waits for; a broker that
    does not answer yet is waited for like a missing topic. Raises TopicMismatch at once
    for a wrong partition count, which waiting cannot mend."""
    next_log = time.monotonic() + WAIT_LOG_SECONDS
    admin: AIOKafkaAdminClient | None = None
    try:
        while True:
            try:
                if admin is None:
                    admin = await _admin(settings)
                problems = await describe_problems(admin, settings)
            except (KafkaError, OSError) as err:
                problems = [TopicProblem("(broker)", f"{type(err).__name__}: {err}")]
            if not problems:
                return
            fatal = [str(p) for p in problems if p.fatal]
            if fatal:
                raise TopicMismatch("; ".join(fatal))
            now = time.monotonic()
            if now >= next_log:
                log.warning(
                    "waiting for the pipeline's topics: %s", "; ".join(map(str, problems[:5]))
                )
                next_log = now + WAIT_LOG_SECONDS
            await asyncio.sleep(WAIT_POLL_SECONDS)
    finally:
        if admin is not None:
            await admin.close()
