"""A gateway's memory of API keys (api.key_cache) on a fake clock: a revoked key is
refused once the cache period has passed, which AUTH_CACHE_SECONDS bounds by 2 s."""

from __future__ import annotations

import asyncio
from typing import Any

from api.key_cache import KeyCache
from storage.api_keys import ValidKey
from storage.key_material import generate_key, hash_key


class FakeKeys:
    """The database's api_keys as a dict, counting reads."""

    def __init__(self) -> None:
        self.valid: dict[bytes, ValidKey] = {}
        self.reads = 0

    async def read(self, engine: Any, digest: bytes) -> ValidKey | None:
        self.reads += 1
        await asyncio.sleep(0)  # a database read gives the loop to others
        return self.valid.get(digest)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_revoked_key_is_refused_once_the_period_has_passed() -> None:
    keys, clock = FakeKeys(), Clock()
    key = generate_key()
    keys.valid[hash_key(key)] = ValidKey("key_1", "viewer")
    cache = KeyCache(1.0, read=keys.read, clock=clock)
    assert await cache.lookup(None, key) == ValidKey("key_1", "viewer")  # type: ignore[arg-type]

    del keys.valid[hash_key(key)]  # revoked
    clock.now += 0.99
    assert await cache.lookup(None, key) is not None  # type: ignore[arg-type]
    clock.now += 0.01
    assert await cache.lookup(None, key) is None  # type: ignore[arg-type]


async def test_within_the_period_a_key_is_read_once() -> None:
    keys, clock = FakeKeys(), Clock()
    key = generate_key()
    keys.valid[hash_key(key)] = ValidKey("key_1", "admin")
    cache = KeyCache(1.0, read=keys.read, clock=clock)
    for _ in range(50):
        await cache.lookup(None, key)  # type: ignore[arg-type]
    assert keys.reads == 1


async def test_requests_arriving_together_share_one_read() -> None:
    keys, clock = FakeKeys(), Clock()
    key = generate_key()
    keys.valid[hash_key(key)] = ValidKey("key_1", "storefront")
    cache = KeyCache(1.0, read=keys.read, clock=clock)
    found = await asyncio.gather(*(cache.lookup(None, key) for _ in range(50)))  # type: ignore[arg-type]
    assert found == [ValidKey("key_1", "storefront")] * 50
    assert keys.reads == 1


async def test_an_unknown_key_is_remembered_too_and_the_cache_stays_bounded() -> None:
    keys, clock = FakeKeys(), Clock()
    cache = KeyCache(1.0, read=keys.read, clock=clock, max_entries=3)
    unknown = generate_key()
    for _ in range(5):
        assert await cache.lookup(None, unknown) is None  # type: ignore[arg-type]
    assert keys.reads == 1
    for _ in range(10):
        await cache.lookup(None, generate_key())  # type: ignore[arg-type]
    assert len(cache._entries) == 3
