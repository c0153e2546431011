"""What a gateway remembers of the API keys it was shown, for a short while."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from storage.api_keys import ValidKey, use_key
from storage.key_material import hash_key

# What reads a key by its hash (storage.api_keys.use_key; a fake in unit tests).
Read = Callable[[AsyncEngine, bytes], Awaitable[ValidKey | None]]


@dataclass
class _Cached:
    key: ValidKey | None  # None: unknown or revoked
    read_at: float


class KeyCache:
    """Presented keys (by hash) → what the database said of them, for `ttl` seconds.

    Unknown keys are remembered too, so a client retrying a bad key costs one query per
    period; at most `max_entries` are kept, least recently used out first."""

    def __init__(
        self,
        ttl: float,
        *,
        read: Read = use_key,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 10_000,
    ) -> None:
        self.ttl = ttl
        self.read = read
        self.clock = clock
        self.max_entries = max_entries
        self._entries: OrderedDict[bytes, _Cached] = OrderedDict()
        self._reading: dict[bytes, asyncio.Future[ValidKey | None]] = {}

    async def lookup(self, engine: AsyncEngine, key: str) -> ValidKey | None:
        """The key's id and role, or None when it is unknown or revoked (as read at
        most `ttl` seconds ago)."""
        digest = hash_key(key)
        now = self.clock()
        cached = self._entries.get(digest)
        if cached is not None and now - cached.read_at < self.ttl:
            self._entries.move_to_end(digest)
            return cached.key
        # Requests that arrive together with a key not (or no longer) cached share one
        # read: fifty parallel reservations make one UPDATE of the key's row, not fifty.
        pending = self._reading.get(digest)
        if pending is None:
            pending = asyncio.ensure_future(self.read(engine, digest))
            self._reading[digest] = pending
            pending.add_done_callback(lambda _: self._reading.pop(digest, None))
        found = await asyncio.shield(pending)
        self._entries[digest] = _Cached(found, now)
        self._entries.move_to_end(digest)
        if len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return found
