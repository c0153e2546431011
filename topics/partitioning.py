"""Which partition a keyed record lands on: Kafka's default partitioner, murmur2 of the
key's bytes (seeded as the Java client seeds it), masked positive, modulo the partition
count. Pure: the agents use it to pick ids that share a partition.

The hash is murmurhash2's C function, not aiokafka's pure-Python copy (about 9 µs a key
against 0.3 µs): the worker hashes a few keys per command. tests/unit/test_partitioning.py
holds the two to the same answers."""

from __future__ import annotations

from murmurhash2 import murmurhash2

# The Java client's seed (org.apache.kafka.common.utils.Utils.murmur2).
KAFKA_MURMUR2_SEED = 0x9747B28C


def partition_for(key: str, partitions: int) -> int:
    """The partition the default partitioner gives a record keyed `key` (UTF-8)."""
    return partition_of(key.encode(), partitions)


def partition_of(key: bytes, partitions: int) -> int:
    """`partition_for` of a key already in bytes."""
    return (murmurhash2(key, KAFKA_MURMUR2_SEED) & 0x7FFFFFFF) % partitions
