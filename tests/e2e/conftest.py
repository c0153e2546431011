"""E2E layer: HTTP through a real gateway process, worker and projector."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest

from inventory.settings import Settings
from tests.support.keys import bearer, make_key
from tests.support.pipeline import Pipeline, isolated, own_pipeline
from tests.support.ports import free_ports

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


# Long enough for a hold to be seen before it expires, short enough to watch it go.
OPS_TTL_SECONDS = 8.0


@dataclass
class OpsPipeline:
    """A pipeline of its own whose reservations expire in OPS_TTL_SECONDS, with its
    gateway and the worker's and the projector's metrics servers."""

    pipeline: Pipeline
    gateway_url: str
    worker_metrics_url: str
    projector_metrics_url: str
    admin_key: str  # for the API calls the tests make
    viewer_key: str  # what the page and a Prometheus scraper need


@pytest.fixture(scope="session")
async def ops_pipeline(settings: Settings) -> AsyncIterator[OpsPipeline]:
    worker_port, projector_port = free_ports(2)
    own = isolated(
        settings,
        "ops",
        reservation_ttl_seconds=OPS_TTL_SECONDS,
        worker_metrics_port=worker_port,
        projector_metrics_port=projector_port,
    )
    async with own_pipeline(own) as running:
        gateway = running.processes.start("gateway")
        yield OpsPipeline(
            running,
            running.processes.gateway_url(gateway),
            f"http://{own.metrics_host}:{worker_port}/metrics",
            f"http://{own.metrics_host}:{projector_port}/metrics",
            await make_key(own, "admin", "ops tests"),
            await make_key(own, "viewer", "ops page"),
        )


@pytest.fixture(scope="session")
async def ops_http(ops_pipeline: OpsPipeline) -> AsyncIterator[aiohttp.ClientSession]:
    """A session to the ops pipeline's gateway that presents its admin key."""
    async with aiohttp.ClientSession(
        base_url=ops_pipeline.gateway_url,
        timeout=aiohttp.ClientTimeout(total=30),
        headers=bearer(ops_pipeline.admin_key),
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
