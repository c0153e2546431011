"""The gateway's own contract, with a stand-in responder instead of the agents.

These tests get their own topic prefix: the stand-in must not compete with the real
worker that the other integration tests run on the run's main topics.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from inventory.settings import Settings
from tests.integration.gateway.gateway_fixtures import ensure_topics, gateway_client


@pytest.fixture(scope="session")
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"topic_prefix": f"{settings.topic_prefix}gw."})


@pytest.fixture(scope="module")
async def client(settings: Settings, engine: AsyncEngine) -> AsyncIterator[TestClient[Any, Any]]:
    """The real gateway app in-process, on this run's gateway topics and schema."""
    await ensure_topics(settings)
    async with gateway_client(settings) as c:
        yield c
