"""Which partition a keyed record lands on: Kafka's default partitioner, murmur2 of the
key's bytes (aiokafka's copy of the Java client's hash), masked positive, modulo the
partition count. Pure: the agents use it to pick ids that share a partition."""

from __future__ import annotations

from aiokafka.partitioner import murmur2


def partition_for(key: str, partitions: int) -> int:
    """The partition the default partitioner gives a record keyed `key` (UTF-8)."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions
