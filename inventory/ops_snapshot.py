"""One reading of everything the operations views show, from the read models and the
broker: what GET /api/ops/summary answers and `inventory top` draws."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from inventory.lag_reader import LagReader, projection_groups
from inventory.ops_summary import (
    hold_view,
    lag_view,
    ordered_products,
    orders_by_status,
    rate_series,
)
from inventory.settings import Settings
from storage import ops_queries
from storage.formats import iso_utc

PRODUCTS_SHOWN = 50
HOLDS_SHOWN = 50
RATE_WINDOW = timedelta(minutes=5)
RATE_STEP_SECONDS = 5


async def read_snapshot(
    settings: Settings, engine: AsyncEngine, lags: LagReader, now: datetime | None = None
) -> dict[str, Any]:
    """The summary as JSON-ready data (times as ISO 8601 UTC strings): products (fewest
    available first), holds expiring within OPS_HOLDS_WINDOW_SECONDS, orders by status,
    reservations per second over the last 5 minutes, lag against OPS_LAG_THRESHOLD.

    Raises the driver's error when the database cannot be read; a broker that does not
    answer shows as unknown lag (None), not as an error."""
    now = now or datetime.now(UTC)
    until = now + timedelta(seconds=settings.ops_holds_window_seconds)
    stock, holds, orders, buckets, consumers = await asyncio.gather(
        ops_queries.stock_rows(engine, PRODUCTS_SHOWN),
        ops_queries.expiring_holds(engine, until, HOLDS_SHOWN),
        ops_queries.order_counts(engine),
        ops_queries.reservations_per_step(engine, now, RATE_WINDOW, RATE_STEP_SECONDS),
        lags.pipeline_lag(),
    )
    return {
        "now": iso_utc(now),
        "products": ordered_products(stock),
        "holds": [
            {**view, "expires_at": iso_utc(view["expires_at"])}
            for view in (hold_view(row, now) for row in holds)
        ],
        "holds_window_seconds": settings.ops_holds_window_seconds,
        "orders_by_status": orders_by_status(orders),
        "reservations_per_second": {
            "step_seconds": RATE_STEP_SECONDS,
            "points": rate_series(
                buckets, now.timestamp(), int(RATE_WINDOW.total_seconds()), RATE_STEP_SECONDS
            ),
        },
        "lag": lag_view(consumers, projection_groups(settings), settings.ops_lag_threshold),
    }
