"""E2E layer: HTTP through a real gateway process, worker and projector."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.support.keys import bearer
from tests.support.pipeline import Pipeline

# Lines a test wants shown at the end of the run, whatever pytest's verbosity.
RUN_NOTES = pytest.StashKey[list[str]]()


@pytest.fixture(scope="session")
def gateway_url(pipeline: Pipeline) -> str:
    """Base URL of a gateway process on this run's topics and schema."""
    process = pipeline.processes.start("gateway")
    return pipeline.processes.gateway_url(process)


@pytest.fixture(scope="session")
async def http(gateway_url: str, admin_key: str) -> AsyncIterator[aiohttp.ClientSession]:
    """A session to the gateway that presents the run's admin key."""
    async with aiohttp.ClientSession(
        base_url=gateway_url, timeout=aiohttp.ClientTimeout(total=30), headers=bearer(admin_key)
    ) as session:
        yield session


@pytest.fixture
def run_notes(request: pytest.FixtureRequest) -> list[str]:
    """Append a line to print it in the terminal summary."""
    return request.config.stash.setdefault(RUN_NOTES, [])


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    for line in config.stash.get(RUN_NOTES, []):
        terminalreporter.write_line(line)
