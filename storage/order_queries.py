"""The order list behind `GET /api/orders/`: filters, four sorts, keyset pagination.

Query shapes (the indexes of `migrations/002_order_query_indexes.sql` are made
for them; docs/QUERIES.md shows the plans):

* Sort `newest`/`oldest` is `ORDER BY created_at, id` (both DESC or both ASC),
  `highest_value`/`lowest_value` is `ORDER BY total, id`. The id breaks ties, so
  the order is total and a row value `(key, id)` names one position.
* The next page is `WHERE (key, id) < (last key, last id)` (`>` when ascending):
  a row comparison that a btree on `(..., key, id)` answers as an index
  condition, so page 10,000 starts as fast as page 1. Never OFFSET.
* Several statuses become one branch per status, each ordered and limited,
  glued with UNION ALL and merged: PostgreSQL 15 cannot read `(status, key, id)`
  in key order for `status IN (...)`, but it can for `status = $1` in every
  branch (a Merge Append of short index scans instead of sorting every row of
  those statuses). Not when a customer or product is given: their indexes pick
  fewer rows, and one scan with `status IN (...)` reads them once.
* With a customer or product, the other filters are written so that no index
  can serve them (`total + 0`, ...): the planner otherwise ANDs huge bitmaps
  with the customer's small one.
* `limit + 1` rows are fetched: the extra one only says whether a next page exists.

Rows come out without `history` (it grows with every change and a list does not
need it; `storage.queries.get_order` has it): id, status, total, unit_price,
customer_id, product_id, quantity, created_at, updated_at, reservation_id,
expires_at, cancel_reason, version, allocations. Money as decimal strings, times ISO
8601 UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Numeric,
    Row,
    Select,
    literal,
    literal_column,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.order_params import (
    Keyset,
    OrderListParams,
    decode_cursor,
    encode_cursor,
    sorts_by_value,
)
from storage.queries import lines_of, order_summary
from storage.tables import order_lines, orders

# Every column but `history`, in the order the rows are built.
_COLUMNS = [c for c in orders.c if c.name != "history"]
# Bound totals as plain numeric: the column's numeric(14, 2) would round a bound like
# 10.005 (changing `<=`'s meaning) and overflow on a huge one instead of matching nothing.
_ANY_DECIMAL = Numeric(asdecimal=True)


@dataclass(frozen=True, slots=True)
class OrderPage:
    """One page of orders: JSON-ready rows and the cursor of the next page (None: last page)."""

    results: list[dict[str, Any]]
    next_cursor: str | None


async def list_orders(engine: AsyncEngine, params: OrderListParams) -> OrderPage:
    """The page of orders that `params` asks for, continuing after `params.cursor`.

    Raises `storage.order_params.InvalidCursor` (a ValueError) for a cursor that
    was altered or is malformed, and its subclass `CursorMismatch` for a cursor
    made for another sort or filter set. Database errors pass through.
    """
    keyset = decode_cursor(params)
    query = build_order_list_query(params, keyset)
    rows = await _fetch(engine, query)
    page = rows[: params.limit]
    next_cursor = None
    if len(rows) > params.limit:
        last = page[-1]
        next_cursor = encode_cursor(params, _sort_value(params, last), last.id)
    return OrderPage(results=await summaries(engine, page), next_cursor=next_cursor)


async def summaries(engine: AsyncEngine, rows: Sequence[Row[Any]]) -> list[dict[str, Any]]:
    """The page's rows as the list shows them, each with its lines (one more query)."""
    lines = await lines_of(engine, [r.id for r in rows])
    return [{**order_summary(r), "lines": lines[r.id]} for r in rows]


def build_order_list_query(
    params: OrderListParams, keyset: Keyset | None, *, offset: int = 0
) -> Select[Any]:
    """The SELECT for one page: `params.limit + 1` rows after `keyset`, skipping `offset`.

    Public so tests and benchmarks can EXPLAIN exactly what `list_orders` runs.
    """
    by_value = sorts_by_value(params.sort)
    key: ColumnElement[Any] = orders.c.total if by_value else orders.c.created_at
    key_type = _ANY_DECIMAL if by_value else orders.c.created_at.type
    order_id: ColumnElement[Any] = orders.c.id
    source: Any = orders
    if params.product_id is not None:
        # Any line of the order (a cart's products are in order_lines only). The line
        # keeps its order's created_at and total (neither ever changes), so its
        # (product_id, key, order_id) index reads the product's orders in page order;
        # a filter `id IN (lines of the product)` made PostgreSQL walk the whole
        # (total, id) index hoping to meet them: 2.4 s for a first page at 1M orders.
        lines = order_lines.c
        key = lines.total if by_value else lines.created_at
        order_id = lines.order_id
        source = orders.join(order_lines, lines.order_id == orders.c.id)
    descending = params.sort in ("newest", "highest_value")
    fetch = params.limit + 1

    created_at: ColumnElement[Any] = orders.c.created_at
    total: ColumnElement[Any] = orders.c.total
    status: ColumnElement[Any] = orders.c.status
    if params.customer_id is not None or params.product_id is not None:
        # The customer or product index picks a few hundred or thousand rows; the
        # other filters only thin them out. Left indexable, PostgreSQL ANDs a bitmap of,
        # say, every delivered order under 4000 (200k index entries at 1M rows) with
        # the customer's bitmap to save a few hundred heap fetches: 20-95 ms instead of
        # 1-3 ms. `+ 0` and `|| ''` keep the values and hide the indexes.
        created_at = created_at + literal_column("interval '0'")
        total = total + literal_column("0")
        status = status.concat(literal_column("''"))
    conditions: list[ColumnElement[bool]] = []
    if params.created_from is not None:
        conditions.append(created_at >= params.created_from)
    if params.created_to is not None:
        conditions.append(created_at < params.created_to)
    if params.min_total is not None:
        conditions.append(total >= literal(params.min_total, _ANY_DECIMAL))
    if params.max_total is not None:
        conditions.append(total <= literal(params.max_total, _ANY_DECIMAL))
    if params.customer_id is not None:
        conditions.append(orders.c.customer_id == params.customer_id)
    if params.product_id is not None:
        conditions.append(order_lines.c.product_id == params.product_id)
    if params.location_id is not None:
        # Orders holding units there, on any line (migrations/008's GIN index on
        # allocations; a cart's row lists every line's).
        conditions.append(orders.c.allocations.contains([{"location_id": params.location_id}]))
    if keyset is not None:
        after = tuple_(literal(keyset.value, key_type), literal(keyset.order_id, orders.c.id.type))
        position = tuple_(key, order_id)
        conditions.append(position < after if descending else position > after)

    def ordered(query: Select[Any], columns: Sequence[Any]) -> Select[Any]:
        if descending:
            return query.order_by(*(c.desc() for c in columns))
        return query.order_by(*columns)

    statuses = params.statuses
    # A customer or product narrows the rows more than any status does, and its index
    # already reads them in created_at order: there one scan filtering `status IN (...)`
    # beats a branch per status, each re-reading that customer's rows.
    by_status_branches = (
        len(statuses) > 1 and params.customer_id is None and params.product_id is None
    )
    if not by_status_branches:
        if len(statuses) == 1:
            conditions.append(status == statuses[0])
        elif statuses:
            conditions.append(status.in_(statuses))
        query = ordered(select(*_COLUMNS).select_from(source).where(*conditions), [key, order_id])
        return query.offset(offset or None).limit(fetch)

    # One branch per status; each branch needs at most offset + fetch rows.
    branches = [
        ordered(
            select(*_COLUMNS).where(orders.c.status == name, *conditions),
            [key, orders.c.id],
        )
        .limit(offset + fetch)
        .subquery(f"status_{i}")
        for i, name in enumerate(statuses)
    ]
    merged = union_all(*(select(*b.c) for b in branches)).subquery("merged")
    query = ordered(select(merged), [merged.c[key.name], merged.c.id])
    return query.offset(offset or None).limit(fetch)


def _sort_value(params: OrderListParams, row: Row[Any]) -> datetime | Decimal:
    return row.total if sorts_by_value(params.sort) else row.created_at


async def _fetch(engine: AsyncEngine, query: Select[Any]) -> list[Row[Any]]:
    # Engines from storage.engine plan every statement with its real values
    # (plan_cache_mode = force_custom_plan, see there), which these queries need.
    async with engine.connect() as conn:
        return list((await conn.execute(query)).all())
