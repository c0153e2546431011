"""The gateway's read-your-writes waiter hears the projector's commits (LISTEN/NOTIFY)
instead of polling, and still answers when it cannot listen."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from api import read_waiter
from api.read_waiter import ReadModelWaiter
from inventory.settings import Settings
from storage.notify import read_models_channel
from storage.projection import project_events
from tests.integration.test_storage_projection import created, product
from tests.support.ids import unique
from tests.support.waiting import eventually
from topics.messages import VersionToken

pytestmark = pytest.mark.integration


async def test_a_projector_commit_wakes_the_waiter_at_once(
    engine: AsyncEngine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The safety-net poll is pushed far out: only the notification can end the wait.
    monkeypatch.setattr(read_waiter, "LISTENING_POLL_SECONDS", 60.0)
    channel = read_models_channel(settings.database_schema)
    waiter = ReadModelWaiter(engine, channel)
    waiter.start()
    try:
        await eventually(lambda: waiter.listening, bool, within=10, what="listening")
        pid = unique("p")
        loop = asyncio.get_running_loop()
        waiting = asyncio.create_task(
            waiter.wait([VersionToken(entity="product", id=pid, version=1)], loop.time() + 30)
        )
        await asyncio.sleep(0.3)  # the first round has found nothing: now it sleeps
        assert not waiting.done()
        started = loop.time()
        await project_events(engine, [created(product(pid, 1))], notify_channel=channel)
        assert await asyncio.wait_for(waiting, 10) is True
        assert loop.time() - started < 10  # not the 60 s poll
    finally:
        await waiter.stop()


async def test_without_a_channel_the_waiter_polls(engine: AsyncEngine) -> None:
    waiter = ReadModelWaiter(engine)  # no notifications: the 3 ms poll does the work
    waiter.start()
    try:
        pid = unique("p")
        loop = asyncio.get_running_loop()
        waiting = asyncio.create_task(
            waiter.wait([VersionToken(entity="product", id=pid, version=1)], loop.time() + 30)
        )
        await asyncio.sleep(0.1)
        await project_events(engine, [created(product(pid, 1))])  # no notification sent
        assert await asyncio.wait_for(waiting, 10) is True
        assert not waiter.listening
    finally:
        await waiter.stop()


async def test_a_deadline_passing_answers_false(engine: AsyncEngine, settings: Settings) -> None:
    waiter = ReadModelWaiter(engine, read_models_channel(settings.database_schema))
    waiter.start()
    try:
        loop = asyncio.get_running_loop()
        token = VersionToken(entity="order", id=unique("o"), version=1)
        assert await waiter.wait([token], loop.time() + 0.5) is False
    finally:
        await waiter.stop()
