"""What every topic is created with: its replicas' quorum for acks=all, and compaction."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from inventory.kafka_admin import pipeline_topics, topic_configs
from inventory.settings import Settings


def configs(settings: Settings) -> dict[str, dict[str, str]]:
    return {name: topic_configs(settings, spec) for name, spec in pipeline_topics(settings).items()}


def test_three_replicas_acknowledge_a_write_once_two_have_it() -> None:
    created = configs(Settings(replication_factor=3))
    assert {c["min.insync.replicas"] for c in created.values()} == {"2"}


@pytest.mark.parametrize(("replicas", "isr"), [(1, "1"), (2, "2"), (5, "2")])
def test_the_default_quorum_is_two_replicas_or_all_there_are(replicas: int, isr: str) -> None:
    assert Settings(replication_factor=replicas).topic_min_insync_replicas == int(isr)
    created = configs(Settings(replication_factor=replicas))
    assert {c["min.insync.replicas"] for c in created.values()} == {isr}


def test_an_explicit_quorum_is_kept_and_may_not_exceed_the_replicas() -> None:
    assert Settings(replication_factor=5, min_insync_replicas=3).topic_min_insync_replicas == 3
    with pytest.raises(ValidationError, match="above replication_factor"):
        Settings(replication_factor=3, min_insync_replicas=4)


def test_only_changelogs_are_compacted() -> None:
    created = configs(Settings(topic_prefix="x."))
    compacted = {name for name, c in created.items() if c.get("cleanup.policy") == "compact"}
    assert compacted == {name for name in created if name.endswith("-changelog")}
