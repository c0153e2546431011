"""partition_for agrees with the client's partitioner: ids picked to share a partition
really do."""

from __future__ import annotations

import random
import string

from aiokafka.partitioner import DefaultPartitioner, murmur2
from murmurhash2 import murmurhash2

from topics.partitioning import KAFKA_MURMUR2_SEED, partition_for


def keys() -> list[str]:
    rng = random.Random(7)
    alphabet = string.ascii_letters + string.digits + "._-é€"
    fixed = ["", "a", "ab", "abc", "abcd", "abcde", "p-1", "0d9f8c1e-5b0c-5a3e-9f57-1f0c2d1b9e7a"]
    return fixed + ["".join(rng.choices(alphabet, k=rng.randint(1, 70))) for _ in range(2000)]


def test_partition_for_matches_the_default_partitioner() -> None:
    partitioner = DefaultPartitioner()
    for partitions in (1, 2, 3, 4, 12, 256):
        available = list(range(partitions))
        for key in keys()[:300]:
            expected = partitioner(key.encode(), available, available)
            assert partition_for(key, partitions) == expected, (key, partitions)


def test_the_c_hash_is_the_clients_murmur2() -> None:
    # Hashes, not partitions: a difference in any bit would show up under some count.
    for key in keys():
        raw = key.encode()
        assert murmurhash2(raw, KAFKA_MURMUR2_SEED) & 0xFFFFFFFF == murmur2(raw) & 0xFFFFFFFF, key
