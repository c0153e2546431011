"""The gateway's own contract, with a stand-in responder instead of the agents.

These tests get their own topic prefix: the stand-in must not compete with the real
worker that the other integration tests run on the run's main topics.
"""

from __future__ import annotations

import pytest

from inventory.settings import Settings


@pytest.fixture(scope="session")
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"topic_prefix": f"{settings.topic_prefix}gw."})
