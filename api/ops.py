"""The operations views: the /ops page and its assets, its data (summary, audit feed),
and /metrics. Data routes are ordinary GET routes of api.routes, like any other read."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.audit_stream import audit_feed
from api.errors import ApiError
from api.keys import ENGINE, LAG_READER, METRICS, SETTINGS, STOPPING
from api.middleware import REQUEST_ID_HEADER, current_request_id, json_response
from inventory.lag_reader import projection_groups
from inventory.ops_snapshot import read_snapshot
from storage import ops_queries

STATIC = Path(__file__).resolve().parent / "static"
ASSETS = {"ops.js": "text/javascript", "ops.css": "text/css"}
SCRAPE_TIMEOUT_SECONDS = 2.0


async def ops_page(request: web.Request) -> web.Response:
    """GET /ops → the operations page (HTML; it reads its data from /api/ops/...)."""
    return web.Response(body=(STATIC / "ops.html").read_bytes(), content_type="text/html")


async def ops_asset(request: web.Request) -> web.Response:
    """GET /ops/assets/{name} → the page's script or style sheet; 404 for any other name."""
    name = request.match_info["name"]
    if name not in ASSETS:
        raise ApiError(404, "not_found", f"no asset {name!r}", {"name": name})
    return web.Response(
        body=(STATIC / name).read_bytes(),
        content_type=ASSETS[name],
        headers={"Cache-Control": "no-cache"},
    )


async def ops_summary(request: web.Request) -> web.Response:
    """GET /api/ops/summary → stock per product, holds about to expire, orders by status,
    reservations per second over the last minutes, consumer and projection lag
    (inventory.ops_snapshot)."""
    app = request.app
    return json_response(await read_snapshot(app[SETTINGS], app[ENGINE], app[LAG_READER]))


async def ops_audit_stream(request: web.Request) -> web.StreamResponse:
    """GET /api/ops/audit/stream[?product_id=] → server-sent events of the audit topic
    (api.audit_stream), until the viewer leaves or the gateway stops."""
    product_id = request.query.get("product_id") or None
    feed = audit_feed(request.app[SETTINGS], request.app[STOPPING], product_id)
    # The first event (`ready`) comes once the consumer is in place: a broker error
    # before it is answered like any other error, as JSON.
    first = await anext(feed)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            REQUEST_ID_HEADER: current_request_id() or "",
        }
    )
    await response.prepare(request)
    try:
        await response.write(first)
        async for chunk in feed:
            await response.write(chunk)
    except ConnectionResetError:
        pass  # the viewer left
    finally:
        await feed.aclose()
    return response


async def metrics(request: web.Request) -> web.Response:
    """GET /metrics → the gateway's metrics in Prometheus' text format, with the read
    models and the consumer offsets read now (what could not be read keeps its last
    value, and counts in inventory_gateway_scrape_errors_total)."""
    app_metrics, settings = request.app[METRICS], request.app[SETTINGS]
    engine = request.app[ENGINE]
    try:
        async with asyncio.timeout(SCRAPE_TIMEOUT_SECONDS):
            reservations, orders = await asyncio.gather(
                ops_queries.reservation_counts(engine), ops_queries.order_counts(engine)
            )
        app_metrics.set_read_models(reservations, orders)
    except Exception:  # a scrape still answers: Prometheus records the rest
        app_metrics.scrape_errors.labels("database").inc()
    consumers = await request.app[LAG_READER].pipeline_lag()
    if any(lags is None for lags in consumers.values()):
        app_metrics.scrape_errors.labels("kafka").inc()
    app_metrics.set_lag(consumers, projection_groups(settings))
    return web.Response(
        body=generate_latest(app_metrics.registry),
        headers={"Content-Type": CONTENT_TYPE_LATEST},
    )
