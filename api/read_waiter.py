"""Read your writes, cheaply: one waiter per gateway process checks the version tokens of
every request still waiting, with one query per round, and runs a round when the
projector says the read models changed.

Under load many requests wait at once (50 clients → 50 waiters); polling each on its own
cost a query per waiter every few milliseconds. Polling all of them together every 3 ms
still cost ~11 ms of gateway CPU per request for a lone client, since the projector
writes only every few tens of milliseconds (settings.projector_batch_wait_ms). So the
waiter listens on the read models' PostgreSQL channel (storage.notify): a round after
each projector commit, plus a slow poll in case a notification is missed. While the
listening connection is down it polls as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from inventory.retrying import retry_forever
from storage.queries import current_versions
from topics.messages import VersionToken

log = logging.getLogger(__name__)

POLL_SECONDS = 0.003  # without a listening connection
LISTENING_POLL_SECONDS = 0.25  # with one: only a safety net
RELISTEN_SECONDS = 1.0


class ReadModelWaiter:
    """`await wait(tokens, deadline)` returns once every token's row has reached its
    version (True) or the loop time passes `deadline` (False)."""

    def __init__(
        self, engine: AsyncEngine, channel: str | None = None, poll_seconds: float = POLL_SECONDS
    ) -> None:
        self._engine = engine
        self._channel = channel
        self._poll = poll_seconds
        self._waiting: dict[asyncio.Future[bool], tuple[VersionToken, ...]] = {}
        self._wake = asyncio.Event()  # a new waiter, or the read models changed
        self._listening = False
        self._tasks: list[asyncio.Task[None]] = []
        # The database may be down for a while: a round is tried until it succeeds.
        self._retrying = retry_forever(log, "checking read-model versions failed")

    @property
    def listening(self) -> bool:
        """True while notifications arrive (so rounds follow the projector's commits)."""
        return self._listening

    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._run(), name="read-model-waiter"))
        if self._channel is not None:
            self._tasks.append(asyncio.create_task(self._listen(), name="read-model-listener"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for future in self._waiting:
            future.cancel()
        self._waiting.clear()

    async def wait(self, tokens: Sequence[VersionToken], deadline: float) -> bool:
        if not tokens:
            return True
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting[future] = tuple(tokens)
        self._wake.set()
        timeout = deadline - asyncio.get_running_loop().time()
        try:
            return await asyncio.wait_for(asyncio.shield(future), max(timeout, 0))
        except TimeoutError:
            return False
        finally:
            self._waiting.pop(future, None)

    async def _run(self) -> None:
        while True:
            if not self._waiting:
                self._wake.clear()
                await self._wake.wait()
            # Cleared before the query: a commit during it wakes the next round.
            self._wake.clear()
            await self._retrying(self._round)
            if not self._waiting:
                continue
            if self._listening:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), LISTENING_POLL_SECONDS)
            else:
                await asyncio.sleep(self._poll)

    async def _round(self) -> None:
        waiting = list(self._waiting.items())
        if not waiting:  # e.g. every request gave up while the database was away
            return
        refs = {(t.entity, t.id) for _, tokens in waiting for t in tokens}
        versions = await current_versions(self._engine, refs)
        for future, tokens in waiting:
            if future.done():
                continue
            if all(versions.get((t.entity, t.id), -1) >= t.version for t in tokens):
                future.set_result(True)

    async def _listen(self) -> None:
        """Keep one connection listening on the channel; reconnect when it drops (and
        poll meanwhile)."""
        retrying = retry_forever(
            log,
            "read-model notifications unavailable, polling",
            first=RELISTEN_SECONDS,
            most=RELISTEN_SECONDS,
        )
        await retrying(self._listen_once)

    async def _listen_once(self) -> None:
        """Listen until the connection ends; raises ConnectionError then."""
        assert self._channel is not None
        try:
            async with self._engine.connect() as conn:
                raw = await conn.get_raw_connection()
                driver: Any = raw.driver_connection  # asyncpg.Connection
                lost = asyncio.Event()
                driver.add_termination_listener(lambda _conn: lost.set())
                await driver.add_listener(self._channel, self._on_notify)
                self._listening = True
                self._wake.set()  # a change may have been missed while not listening
                log.info("read-model waiter listening on %s", self._channel)
                await lost.wait()
            raise ConnectionError("the listening connection was closed")
        finally:
            self._listening = False

    def _on_notify(self, *_args: Any) -> None:
        self._wake.set()
