"""The order list paged with OFFSET: what the benchmark holds the keyset pages of
`storage.order_queries.list_orders` against. The gateway never pages this way."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from storage.order_params import OrderListParams
from storage.order_queries import OrderPage, build_order_list_query, summaries


async def list_orders_offset(
    engine: AsyncEngine, params: OrderListParams, offset: int
) -> OrderPage:
    """`list_orders`' query, paged with OFFSET.

    `params.cursor` is ignored; `next_cursor` is always None (the caller pages by
    offset). Raises ValueError for a negative offset.
    """
    if offset < 0:
        raise ValueError(f"offset must be >= 0, not {offset}")
    query = build_order_list_query(params, None, offset=offset)
    # An engine from storage.engine, as list_orders needs (plans with the real values).
    async with engine.connect() as conn:
        rows = list((await conn.execute(query)).all())
    return OrderPage(results=await summaries(engine, rows[: params.limit]), next_cursor=None)
