"""Reads behind the gateway and the tests: plain JSON-ready dicts, never ORM objects.

Money comes out as a decimal string ("19.99"), times as ISO 8601 UTC strings.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Row, or_, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.formats import iso_utc, iso_utc_or_none, money
from storage.tables import order_lines, orders, products, reservations


# One fixed statement whatever the tokens, so asyncpg prepares it once per connection.
async def get_product(engine: AsyncEngine, product_id: str) -> dict[str, Any] | None:
    """The product's read model, or None when it is not (yet) projected."""
    row = await _one(engine, select(products).where(products.c.id == product_id))
    if row is None:
        return None
    return {
        "id": row.id,
        "name": row.name,
        "price": money(row.price),
        "available": row.available,
        "reserved": row.reserved,
        "sold": row.sold,
        "initial": row.initial,
        "adjusted": row.adjusted,
        "version": row.version,
        # Rows projected before locations hold everything at `main`.
        "locations": row.locations
        or [
            {
                "location_id": "main",
                "available": row.available,
                "reserved": row.reserved,
                "sold": row.sold,
            }
        ],
        "allocation": row.allocation,
    }


async def get_reservation(engine: AsyncEngine, reservation_id: str) -> dict[str, Any] | None:
    """The reservation's read model, or None when it is not (yet) projected.

    A cart's reservation has a row per product: `lines` lists each product and quantity,
    and `product_id` and `quantity` are set for a one-product reservation only. Its
    status is the rows' one (they move together: held, committed or released as one)."""
    query = (
        select(reservations)
        .where(reservations.c.id == reservation_id)
        .order_by(reservations.c.product_id)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    if not rows:
        return None
    first, only = rows[0], len(rows) == 1
    return {
        "id": first.id,
        "product_id": first.product_id if only else None,
        "order_id": first.order_id,
        "customer_id": first.customer_id,
        "quantity": first.quantity if only else None,
        "status": first.status,
        "expires_at": iso_utc_or_none(first.expires_at),
        "version": first.version,
        "allocations": _allocations(first.allocations, first.quantity) if only else [],
        "lines": [
            {
                "product_id": r.product_id,
                "quantity": r.quantity,
                "allocations": _allocations(r.allocations, r.quantity),
            }
            for r in rows
        ],
    }


async def lines_of(engine: AsyncEngine, order_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Each order's lines, in the order's own order, in one query."""
    if not order_ids:
        return {}
    l = order_lines.c  # noqa: E741
    query = select(order_lines).where(l.order_id.in_(order_ids)).order_by(l.order_id, l.position)
    found: dict[str, list[dict[str, Any]]] = {order_id: [] for order_id in order_ids}
    async with engine.connect() as conn:
        for row in await conn.execute(query):
            found[row.order_id].append(
                {
                    "product_id": row.product_id,
                    "quantity": row.quantity,
                    "unit_price": money(row.unit_price),
                    "line_total": money(row.line_total),
                    "allocations": _allocations(row.allocations, row.quantity),
                }
            )
    return found


async def get_order(engine: AsyncEngine, order_id: str) -> dict[str, Any] | None:
    """The order's read model, or None when it is not (yet) projected.

    `history` is a list of {"status", "at", "reason", "request_id"}, oldest first.
    """
    row = await _one(engine, select(orders).where(orders.c.id == order_id))
    if row is None:
        return None
    return {
        **order_summary(row),
        "lines": (await lines_of(engine, [order_id]))[order_id],
        "history": [
            {
                "status": h["status"],
                "at": h["at"],
                "reason": h.get("reason"),
                "request_id": h.get("request_id"),
            }
            for h in row.history
        ],
    }


def order_summary(row: Row[Any]) -> dict[str, Any]:
    """One order as a JSON-ready dict without its history (what the order list shows)."""
    return {
        "id": row.id,
        "status": row.status,
        "total": money(row.total),
        "unit_price": None if row.unit_price is None else money(row.unit_price),
        "customer_id": row.customer_id,
        "product_id": row.product_id,
        "quantity": row.quantity,
        "created_at": iso_utc(row.created_at),
        "updated_at": iso_utc(row.updated_at),
        "reservation_id": row.reservation_id,
        "expires_at": iso_utc(row.expires_at),
        "cancel_reason": row.cancel_reason,
        "version": row.version,
        # A one-line order's; the column lists every line's of a cart (for the location
        # filter), shown on its lines instead.
        "allocations": (
            _allocations(row.allocations, row.quantity) if row.quantity is not None else []
        ),
    }


def _allocations(stored: list[dict[str, Any]], quantity: int) -> list[dict[str, Any]]:
    """A row's allocations; a row from before locations held all of it at `main`."""
    return stored or [{"location_id": "main", "quantity": quantity}]


_CURRENT_VERSIONS = text(
    """
    SELECT 'product', r.id, r.version FROM products AS r
     WHERE r.id = ANY(CAST(:product_ids AS text[]))
    UNION ALL
    SELECT 'reservation', r.id, r.version FROM reservations AS r
     WHERE r.id = ANY(CAST(:reservation_ids AS text[]))
    UNION ALL
    SELECT 'order', r.id, r.version FROM orders AS r
     WHERE r.id = ANY(CAST(:order_ids AS text[]))
    """
)


async def current_versions(
    engine: AsyncEngine, refs: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """Version of each (entity, id) row that exists, in one query; entities are
    "product", "reservation" and "order"."""
    params: dict[str, list[str]] = {"product_ids": [], "reservation_ids": [], "order_ids": []}
    for entity, entity_id in refs:
        params[f"{entity}_ids"].append(entity_id)
    async with engine.connect() as conn:
        rows = await conn.execute(_CURRENT_VERSIONS, params)
        return {(entity, entity_id): version for entity, entity_id, version in rows}


async def stock_invariant_violations(engine: AsyncEngine) -> list[str]:
    """One message per product breaking `initial + adjusted = available + reserved + sold`,
    holding a negative counter (in total or at a location), or whose totals are not the
    sums over its locations; an empty list when every product is sound."""
    p = products.c
    query = (
        select(p.id, p.initial, p.adjusted, p.available, p.reserved, p.sold)
        .where(
            or_(
                p.initial + p.adjusted != p.available + p.reserved + p.sold,
                p.initial < 0,
                p.available < 0,
                p.reserved < 0,
                p.sold < 0,
            )
        )
        .order_by(p.id)
    )
    located = select(p.id, p.available, p.reserved, p.sold, p.locations).where(
        p.locations != text("'[]'::jsonb")
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
        by_location = (await conn.execute(located.order_by(p.id))).all()
    problems = [
        f"product {r.id!r}: initial {r.initial} + adjusted {r.adjusted} "
        f"vs available {r.available} + reserved {r.reserved} + sold {r.sold}"
        for r in rows
    ]
    for r in by_location:
        sums = tuple(sum(loc[k] for loc in r.locations) for k in ("available", "reserved", "sold"))
        negative = any(loc[k] < 0 for loc in r.locations for k in ("available", "reserved", "sold"))
        if sums != (r.available, r.reserved, r.sold) or negative:
            problems.append(
                f"product {r.id!r}: locations {r.locations} vs available {r.available}, "
                f"reserved {r.reserved}, sold {r.sold}"
            )
    return problems


async def _one(engine: AsyncEngine, query: Any) -> Row[Any] | None:
    async with engine.connect() as conn:
        return (await conn.execute(query)).first()
