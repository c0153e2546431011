"""Reads behind the operations views (GET /api/ops/summary, /metrics, `inventory top`).

Plain rows out, shaped by inventory.ops_summary. Each is one statement; the rate reads
orders (one per reservation) through their created_at index, not a scan.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.tables import orders, products, reservations

ACTIVE = "active"
EXPIRED = "expired"


async def stock_rows(engine: AsyncEngine, limit: int) -> list[dict[str, Any]]:
    """Up to `limit` products, fewest available first: id, name, available, reserved, sold."""
    p = products.c
    query = (
        select(p.id, p.name, p.available, p.reserved, p.sold)
        .order_by(p.available, p.id)
        .limit(limit)
    )
    async with engine.connect() as conn:
        return [dict(row._mapping) for row in await conn.execute(query)]


async def expiring_holds(engine: AsyncEngine, until: datetime, limit: int) -> list[dict[str, Any]]:
    """Active reservations that expire before `until`, soonest first (overdue ones too)."""
    r = reservations.c
    query = (
        select(r.id, r.product_id, r.order_id, r.quantity, r.expires_at)
        .where(r.status == ACTIVE, r.expires_at.is_not(None), r.expires_at < until)
        .order_by(r.expires_at, r.id)
        .limit(limit)
    )
    async with engine.connect() as conn:
        return [dict(row._mapping) for row in await conn.execute(query)]


async def order_counts(engine: AsyncEngine) -> dict[str, int]:
    """How many orders are in each status (statuses without any are left out)."""
    query = select(orders.c.status, func.count()).group_by(orders.c.status)
    async with engine.connect() as conn:
        return {status: count for status, count in await conn.execute(query)}


async def reservation_counts(engine: AsyncEngine) -> dict[str, int]:
    """How many reservations are in each status (active, committed, released, expired)."""
    query = select(reservations.c.status, func.count()).group_by(reservations.c.status)
    async with engine.connect() as conn:
        return {status: count for status, count in await conn.execute(query)}


async def reservations_per_step(
    engine: AsyncEngine, now: datetime, window: timedelta, step_seconds: int
) -> dict[int, int]:
    """Reservations made since `now - window`, counted per step: {step start (epoch
    seconds, a multiple of `step_seconds`): count}. Every reservation creates one order,
    so the orders' created_at (indexed) is the reservation's time."""
    created = orders.c.created_at
    bucket = (func.floor(func.extract("epoch", created) / step_seconds) * step_seconds).label(
        "bucket"
    )
    query = (
        select(bucket, func.count())
        .where(created >= now - window - timedelta(seconds=step_seconds))
        .group_by(bucket)
    )
    async with engine.connect() as conn:
        return {int(start): count for start, count in await conn.execute(query)}
