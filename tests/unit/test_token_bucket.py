"""Per-key rate limits (api.token_bucket) on a fake clock."""

from __future__ import annotations

import pytest

from api.token_bucket import RateLimiter, TokenBucket, retry_after_seconds


def test_a_full_bucket_lets_its_burst_through_then_asks_to_wait() -> None:
    bucket = TokenBucket.full(rate=2.0, capacity=3.0, now=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.5)  # one token at 2 a second


def test_tokens_come_back_at_the_rate_and_never_beyond_the_capacity() -> None:
    bucket = TokenBucket.full(rate=1.0, capacity=2.0, now=0.0)
    bucket.take(0.0)
    bucket.take(0.0)
    assert bucket.take(0.25) == pytest.approx(0.75)
    assert bucket.take(1.0) == 0.0
    # a long quiet spell refills to the capacity only
    assert [bucket.take(100.0) for _ in range(3)] == [0.0, 0.0, pytest.approx(1.0)]


def test_a_refused_request_takes_nothing() -> None:
    bucket = TokenBucket.full(rate=1.0, capacity=1.0, now=0.0)
    bucket.take(0.0)
    for _ in range(5):
        assert bucket.take(0.5) == pytest.approx(0.5)
    assert bucket.take(1.0) == 0.0


def test_a_clock_going_back_adds_no_tokens() -> None:
    bucket = TokenBucket.full(rate=1.0, capacity=1.0, now=10.0)
    bucket.take(10.0)
    assert bucket.take(5.0) == pytest.approx(1.0)


def test_retry_after_is_whole_seconds_rounded_up_at_least_one() -> None:
    assert retry_after_seconds(0.01) == 1
    assert retry_after_seconds(1.0) == 1
    assert retry_after_seconds(1.2) == 2


def test_each_key_has_its_own_bucket_sized_by_its_role() -> None:
    limiter = RateLimiter({"admin": (10.0, 2.0), "viewer": (1.0, 2.0)})
    assert sum(limiter.take("v1", "viewer", 0.0) == 0.0 for _ in range(10)) == 2
    assert sum(limiter.take("v2", "viewer", 0.0) == 0.0 for _ in range(10)) == 2
    assert sum(limiter.take("a", "admin", 0.0) == 0.0 for _ in range(30)) == 20


def test_a_tiny_rate_still_lets_one_request_through() -> None:
    limiter = RateLimiter({"viewer": (0.1, 2.0)})
    assert limiter.take("k", "viewer", 0.0) == 0.0
    assert limiter.take("k", "viewer", 0.0) == pytest.approx(10.0)


def test_the_least_recently_used_bucket_goes_when_there_are_too_many() -> None:
    limiter = RateLimiter({"viewer": (1.0, 1.0)}, max_keys=2)
    limiter.take("a", "viewer", 0.0)
    limiter.take("b", "viewer", 0.0)
    assert limiter.take("a", "viewer", 0.0) > 0.0  # a is used again: b is the oldest
    limiter.take("c", "viewer", 0.0)
    assert limiter.take("a", "viewer", 0.0) > 0.0  # still kept, still empty
    assert limiter.take("b", "viewer", 0.0) == 0.0  # forgotten, so full again
