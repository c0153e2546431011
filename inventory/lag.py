"""Consumer lag arithmetic: how many records a group has not committed, per partition.

Plain data in, plain data out (no Kafka client here): inventory.lag_reader fetches the
offsets, the gateway's /metrics, GET /api/ops/summary and `inventory top` present them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

TopicPartitionKey = tuple[str, int]


@dataclass(frozen=True)
class PartitionLag:
    """One partition of one consumer group: where the log ends, what the group committed."""

    group: str
    topic: str
    partition: int
    end: int
    committed: int | None  # None: the group never committed this partition

    @property
    def lag(self) -> int:
        """Records (and transaction markers) between the committed offset and the end.

        A partition the group never committed counts from offset 0: a group that has not
        started reading is behind by everything. Never negative: a committed offset read
        after the end offset (the two are separate requests) is not "ahead"."""
        start = self.committed if self.committed is not None and self.committed >= 0 else 0
        return max(0, self.end - start)


def partition_lags(
    group: str,
    ends: Mapping[TopicPartitionKey, int],
    committed: Mapping[TopicPartitionKey, int | None],
) -> list[PartitionLag]:
    """One PartitionLag per partition of `ends`, sorted by topic and partition."""
    return [
        PartitionLag(group, topic, partition, end, committed.get((topic, partition)))
        for (topic, partition), end in sorted(ends.items())
    ]


def total_lag(lags: Iterable[PartitionLag]) -> int:
    return sum(lag.lag for lag in lags)


def over_threshold(lag: int | None, threshold: int) -> bool:
    """Whether a lag should be shown as a problem: past the threshold, or unknown (None:
    the broker did not answer, which an operator must see as well)."""
    return lag is None or lag > threshold
