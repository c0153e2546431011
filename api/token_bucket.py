"""Rate limits per API key: a token bucket each, on a clock the caller passes in.

Pure (no aiohttp, no I/O), so a unit test drives it with a fake clock. A bucket holds
at most `capacity` tokens, refills at `rate` tokens a second, and a request takes one.
The buckets live in one gateway process: N gateways let a key through up to N times
its rate (the limit holds "within a factor of the number of gateways"), which needs
no shared state on the request path.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass


@dataclass
class TokenBucket:
    rate: float  # tokens per second
    capacity: float
    tokens: float
    updated: float  # the clock's time of `tokens`

    @classmethod
    def full(cls, rate: float, capacity: float, now: float) -> TokenBucket:
        return cls(rate, capacity, capacity, now)

    def take(self, now: float) -> float:
        """Take one token: 0.0 when there was one, else the seconds until there is one
        (nothing is taken then)."""
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


def retry_after_seconds(wait: float) -> int:
    """A `Retry-After` value for a wait: whole seconds, rounded up, at least 1."""
    return max(1, math.ceil(wait))


class RateLimiter:
    """One bucket per key id, made full on the key's first request.

    `limits` maps a role to (rate per second, burst seconds); the bucket holds
    rate × burst tokens, at least one. At most `max_keys` buckets are kept (the least
    recently used goes first: a key idle that long has a full bucket anyway).
    """

    def __init__(self, limits: dict[str, tuple[float, float]], max_keys: int = 10_000) -> None:
        self.limits = limits
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, key_id: str, role: str, now: float) -> float:
        """0.0 when the key may make a request now, else the seconds to wait."""
        bucket = self._buckets.get(key_id)
        if bucket is None:
            rate, burst = self.limits[role]
            bucket = TokenBucket.full(rate, max(1.0, rate * burst), now)
            self._buckets[key_id] = bucket
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key_id)
        return bucket.take(now)
