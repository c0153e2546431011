"""A record without a partition goes where Kafka's default partitioner puts its key
(agents.record_batches.keyed_partition), as it did when each record was a `send`."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner

from agents.record_batches import keyed_partition
from topics.partitioning import partition_for


def test_a_keyed_record_lands_on_its_keys_partition_as_the_default_partitioner_has_it() -> None:
    keys = ["p-1", "order-9f2c", "ünïcode", "", "x" * 200] + [f"id-{i}" for i in range(500)]
    for partitions in (1, 2, 4, 12):
        for key in keys:
            chosen = keyed_partition(key.encode(), partitions)
            assert chosen == partition_for(key, partitions)
            assert chosen == DefaultPartitioner()(key.encode(), list(range(partitions)), [])


def test_a_record_without_a_key_lands_on_some_partition_of_the_topic() -> None:
    assert {keyed_partition(None, 3) for _ in range(300)} == {0, 1, 2}
