"""Which topics the pipeline needs on the broker, and when their metadata makes them ready."""

from __future__ import annotations

from typing import Any

from inventory.kafka_admin import pipeline_topics, topic_configs, topic_problems
from inventory.settings import Settings

SETTINGS = Settings(topic_prefix="x.", partitions=3)


def described(name: str, partitions: int, *, leader: int = 0, error: int = 0) -> dict[str, Any]:
    return {
        "topic": name,
        "error_code": error,
        "partitions": [
            {"partition": p, "leader": leader, "error_code": 0} for p in range(partitions)
        ],
    }


def all_ready() -> list[dict[str, Any]]:
    return [described(name, 3) for name in pipeline_topics(SETTINGS)]


def test_every_table_changelog_is_a_compacted_pipeline_topic() -> None:
    topics = pipeline_topics(SETTINGS)
    changelogs = {n for n in topics if n.endswith("-changelog")}
    assert changelogs == {
        "x.inventory-stream-stock-changelog",
        "x.inventory-stream-orders-changelog",
        "x.inventory-stream-order-deadlines-changelog",
    }
    assert all(topics[n].compacted and topics[n].co_partitioned for n in changelogs)
    assert not topics["x.audit"].compacted
    assert "x.inventory.commands.dlq" in topics and "x.gateway.replies" in topics


def test_only_command_topics_are_stamped_by_the_broker() -> None:
    # The worker decides a command at its record's timestamp (agents.processor): on the
    # command topics that is the broker's append time, never a producer's clock.
    stamped = {
        name
        for name, spec in pipeline_topics(SETTINGS).items()
        if topic_configs(SETTINGS, spec).get("message.timestamp.type") == "LogAppendTime"
    }
    assert stamped == {"x.inventory.commands", "x.orders.commands"}
    assert "message.timestamp.type" not in topic_configs(
        SETTINGS, pipeline_topics(SETTINGS)["x.audit"]
    )


def test_ready_when_every_topic_is_described_with_its_partitions() -> None:
    assert topic_problems(SETTINGS, all_ready()) == []


def test_a_topic_the_broker_does_not_know_is_missing_and_worth_waiting_for() -> None:
    topics = all_ready()
    topics[0] = {"topic": topics[0]["topic"], "error_code": 3, "partitions": []}
    [problem] = topic_problems(SETTINGS, topics)
    assert problem.topic == topics[0]["topic"] and "missing" in problem.problem
    assert not problem.fatal


def test_a_changelog_with_zero_partitions_or_no_leader_is_not_ready() -> None:
    name = "x.inventory-stream-order-deadlines-changelog"
    for broken in (described(name, 0), described(name, 3, leader=-1)):
        topics = [t for t in all_ready() if t["topic"] != name] + [broken]
        [problem] = topic_problems(SETTINGS, topics)
        assert problem.topic == name and not problem.fatal


def test_a_wrong_partition_count_is_fatal_except_for_the_reply_topic() -> None:
    topics = [t for t in all_ready() if t["topic"] != "x.orders.commands"]
    [problem] = topic_problems(SETTINGS, [*topics, described("x.orders.commands", 2)])
    assert problem.fatal and "2 partitions, settings say 3" in problem.problem
    topics = [t for t in all_ready() if t["topic"] != "x.gateway.replies"]
    assert topic_problems(SETTINGS, [*topics, described("x.gateway.replies", 1)]) == []


def test_a_topic_left_out_of_the_answer_is_reported() -> None:
    [problem] = topic_problems(SETTINGS, all_ready()[1:])
    assert problem.topic == all_ready()[0]["topic"]
