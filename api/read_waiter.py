"""Read your writes, cheaply: one poller per gateway process checks the version tokens of
every request still waiting, with one query per round, instead of one query per request.

Under load many requests wait at once (50 clients → 50 waiters); polling each on its own
cost a query per waiter every few milliseconds, which the gateway and PostgreSQL paid in
CPU on every request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncEngine

from storage.queries import current_versions
from topics.messages import VersionToken

log = logging.getLogger(__name__)

POLL_SECONDS = 0.003


class ReadModelWaiter:
    """`await wait(tokens, deadline)` returns once every token's row has reached its
    version (True) or the loop time passes `deadline` (False)."""

    def __init__(self, engine: AsyncEngine, poll_seconds: float = POLL_SECONDS) -> None:
        self._engine = engine
        self._poll = poll_seconds
        self._waiting: dict[asyncio.Future[bool], tuple[VersionToken, ...]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="read-model-waiter")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
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
            try:
                await self._round()
            except Exception:  # the database may be down for a while: keep trying
                log.exception("checking read-model versions failed")
                await asyncio.sleep(0.5)
            await asyncio.sleep(self._poll)

    async def _round(self) -> None:
        waiting = list(self._waiting.items())
        refs = {(t.entity, t.id) for _, tokens in waiting for t in tokens}
        versions = await current_versions(self._engine, refs)
        for future, tokens in waiting:
            if future.done():
                continue
            if all(versions.get((t.entity, t.id), -1) >= t.version for t in tokens):
                future.set_result(True)
