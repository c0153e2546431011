"""/metrics of the gateway, the worker and the projector: Prometheus text that
prometheus_client's own parser reads, with counters that move when a reservation is
made, refused and expired."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import OpsPipeline
from tests.support.ids import unique
from tests.support.keys import bearer
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(url: str, key: str | None = None) -> Samples:
    """Every sample of a /metrics page, by name and labels; fails unless it parses. The
    gateway's needs a viewer key, as Prometheus would send it (`authorization:` in the
    scrape config); the worker's and the projector's listen on loopback without one."""
    timeout = aiohttp.ClientTimeout(total=30)
    headers = bearer(key) if key else {}
    async with (
        aiohttp.ClientSession(timeout=timeout, headers=headers) as session,
        session.get(url) as response,
    ):
        assert response.status == 200, await response.text()
        assert response.headers["Content-Type"].startswith("text/plain")
        text = await response.text()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def names(samples: Samples) -> set[str]:
    return {name for name, _ in samples}


async def post(http: aiohttp.ClientSession, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    async with http.post(path, json=body) as response:
        return response.status, await response.json()


async def test_gateway_counters_move_when_a_reservation_is_made_refused_and_expired(
    ops_pipeline: OpsPipeline, ops_http: aiohttp.ClientSession
) -> None:
    url = f"{ops_pipeline.gateway_url}/metrics"
    async with aiohttp.ClientSession() as anonymous, anonymous.get(url) as response:
        assert response.status == 401  # no key, no metrics
    before = await scrape(url, ops_pipeline.viewer_key)
    product_id = unique("metrics-p")
    status, _ = await post(
        ops_http,
        "/api/products/",
        {"id": product_id, "name": "Metered", "price": "1.00", "stock": 1},
    )
    assert status == 201
    reserve = {"product_id": product_id, "quantity": 1, "customer_id": "c-metrics"}
    assert (await post(ops_http, "/api/reservations/", reserve))[0] == 201
    status, refused = await post(ops_http, "/api/reservations/", reserve)
    assert status == 409 and refused["error"]["code"] == "insufficient_stock"

    after = await scrape(url, ops_pipeline.viewer_key)
    made = ("inventory_commands_total", {"type": "stock.reserve", "outcome": "ok"})
    refusals = (
        "inventory_commands_total",
        {"type": "stock.reserve", "outcome": "insufficient_stock"},
    )
    for name, labels in (made, refusals):
        assert value(after, name, **labels) == value(before, name, **labels) + 1, labels
    timed = ("inventory_command_seconds_count", {"type": "stock.reserve"})
    assert value(after, timed[0], **timed[1]) == value(before, timed[0], **timed[1]) + 2
    assert value(after, "inventory_commands_total", type="product.create", outcome="ok") >= 1
    assert value(after, "inventory_reservations_active") >= 1

    # The hold expires (OPS_TTL_SECONDS): the expired counter moves, the active gauge falls.
    expired = value(before, "inventory_reservations_expired_total")
    await eventually(
        lambda: scrape(url, ops_pipeline.viewer_key),
        lambda s: value(s, "inventory_reservations_expired_total") >= expired + 1,
        within=90,
        interval=0.5,
        what="inventory_reservations_expired_total counting the expired hold",
    )


async def test_gateway_reports_consumer_and_projection_lag(ops_pipeline: OpsPipeline) -> None:
    settings = ops_pipeline.pipeline.settings
    await ops_pipeline.pipeline.settled()
    samples = await scrape(f"{ops_pipeline.gateway_url}/metrics", ops_pipeline.viewer_key)
    lag_groups = {
        dict(labels)["group"] for name, labels in samples if name == "inventory_consumer_lag"
    }
    assert {settings.app_id, f"{settings.topic_prefix}projector"} <= lag_groups
    for projection in ("read_models", "audit_log"):
        assert ("inventory_projection_lag_events", frozenset({("projection", projection)})) in (
            samples
        )


async def test_worker_and_projector_serve_their_own_metrics(
    ops_pipeline: OpsPipeline, ops_http: aiohttp.ClientSession
) -> None:
    product_id = unique("metrics-w")
    body = {"id": product_id, "name": "Worked", "price": "1.00", "stock": 1}
    assert (await post(ops_http, "/api/products/", body))[0] == 201

    worker = await eventually(
        lambda: scrape(ops_pipeline.worker_metrics_url),
        lambda s: (
            value(s, "inventory_worker_commands_total", type="product.create", outcome="ok") >= 1
        ),
        what="the worker counting the product it created",
    )
    # faust's own sensor: the command records its fetcher handed to the command loop
    # (agents.command_feed reports each to the sensors as faust's delivery did).
    assert "faust_messages_received_total" in names(worker), sorted(
        n for n in names(worker) if n.startswith("faust_")
    )
    projector = await eventually(
        lambda: scrape(ops_pipeline.projector_metrics_url),
        lambda s: value(s, "inventory_projected_events_total", projection="read_models") >= 1,
        what="the projector counting the events it wrote",
    )
    assert value(projector, "inventory_projected_events_total", projection="audit_log") >= 1
