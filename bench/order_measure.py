"""Measures one filter/sort combination: first page and deep page over HTTP, the same
deep page through `list_orders` and through `list_orders_offset` directly.

Every loop has a round limit and a time limit, so a combination that turns out slow
ends its phase early (and says so) instead of stretching the run.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.offset_pages import list_orders_offset
from bench.order_combos import Combo
from bench.orders_http import OrdersApi
from storage.order_queries import build_order_list_query, list_orders

Call = Callable[[], Awaitable[object]]
WARMUP_MAX_SECONDS = 5.0


@dataclass(frozen=True)
class Limits:
    limit: int  # page size
    depth: int  # the deep page's number (1-based)
    rounds: int  # timed rounds of first page / deep page / direct deep page
    offset_rounds: int  # timed OFFSET queries (each may take 10-100x a keyset page)
    warmup: int  # untimed rounds first
    walk_seconds: float
    rounds_seconds: float
    offset_seconds: float
    request_timeout: float


@dataclass(frozen=True)
class DeepPage:
    number: int  # 1-based; lower than asked when the result has fewer pages
    cursor: str | None  # None only when the deep page is page 1
    skipped: int  # rows before it: the OFFSET of the same page


@dataclass
class ComboResult:
    combo: Combo
    matching: int | None = None
    deep: DeepPage | None = None
    first_http: list[float] = field(default_factory=list)  # seconds
    deep_http: list[float] = field(default_factory=list)
    deep_direct: list[float] = field(default_factory=list)
    offset_direct: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # early stops, short results
    error: str | None = None


async def count_matching(engine: AsyncEngine, combo: Combo) -> int:
    """How many orders the combination's filters match, counted over the very query the
    API pages through (the builder's, with an unbounded limit)."""
    unbounded = replace(combo.params(1), limit=10**9)
    query = select(func.count()).select_from(build_order_list_query(unbounded, None).subquery())
    async with engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def walk_to(api: OrdersApi, combo: Combo, limits: Limits) -> DeepPage:
    """Follow `next_cursor` from page 1 towards page `limits.depth` over HTTP; stops at
    the last page or at the walk's time limit, whichever comes first."""
    deadline = time.monotonic() + limits.walk_seconds
    cursor: str | None = None
    number = 1
    while number < limits.depth and time.monotonic() < deadline:
        page = await api.page(combo.query(limits.limit, cursor))
        if page["next_cursor"] is None:
            break
        cursor = page["next_cursor"]
        number += 1
    return DeepPage(number, cursor, (number - 1) * limits.limit)


async def time_rounds(
    calls: Sequence[Call], rounds: int, max_seconds: float, call_seconds: float
) -> tuple[list[list[float]], bool]:
    """Run `calls` round-robin up to `rounds` times; each call's latencies in seconds and
    whether the time limit cut the rounds short. Round-robin, so a burst of load from
    another process on this shared machine hits every call alike, not one phase."""
    samples: list[list[float]] = [[] for _ in calls]
    deadline = time.perf_counter() + max_seconds
    # A collection pause in the load generator would be billed to the server.
    gc.collect()
    gc.disable()
    try:
        for _ in range(rounds):
            if time.perf_counter() >= deadline:
                return samples, True
            for call, latencies in zip(calls, samples, strict=True):
                started = time.perf_counter()
                async with asyncio.timeout(call_seconds):
                    await call()
                latencies.append(time.perf_counter() - started)
    finally:
        gc.enable()
    return samples, False


async def measure_combo(
    api: OrdersApi, engine: AsyncEngine, combo: Combo, limits: Limits
) -> ComboResult:
    """All four timings of one combination. Raises what the gateway or database raise
    (HTTP errors as RuntimeError) and RuntimeError when the three ways to the deep page
    disagree on its rows."""
    result = ComboResult(combo, matching=await count_matching(engine, combo))
    deep = result.deep = await walk_to(api, combo, limits)
    if deep.number < limits.depth:
        result.notes.append(f"result ends at page {deep.number}, measured that one as deep")

    first_query = combo.query(limits.limit)
    deep_query = combo.query(limits.limit, deep.cursor)
    deep_params = combo.params(limits.limit, deep.cursor)
    offset_params = combo.params(limits.limit)
    await check_same_rows(api, engine, combo, deep, limits.limit)

    calls: list[Call] = [
        lambda: api.raw(first_query),
        lambda: api.raw(deep_query),
        lambda: list_orders(engine, deep_params),
    ]
    warmup_seconds = min(limits.rounds_seconds, WARMUP_MAX_SECONDS)
    await time_rounds(calls, limits.warmup, warmup_seconds, limits.request_timeout)
    (result.first_http, result.deep_http, result.deep_direct), cut = await time_rounds(
        calls, limits.rounds, limits.rounds_seconds, limits.request_timeout
    )
    if cut:
        result.notes.append(f"keyset rounds stopped at the {limits.rounds_seconds:g}s limit")

    offset_call: Call = lambda: list_orders_offset(engine, offset_params, deep.skipped)  # noqa: E731
    (result.offset_direct,), cut = await time_rounds(
        [offset_call], limits.offset_rounds, limits.offset_seconds, limits.request_timeout
    )
    if cut:
        result.notes.append(
            f"OFFSET stopped at the {limits.offset_seconds:g}s limit "
            f"after {len(result.offset_direct)} queries"
        )
    return result


async def check_same_rows(
    api: OrdersApi, engine: AsyncEngine, combo: Combo, deep: DeepPage, limit: int
) -> None:
    """The deep page over HTTP, through `list_orders` and with OFFSET must be the same
    rows, or the comparison would compare different work."""
    over_http = [r["id"] for r in (await api.page(combo.query(limit, deep.cursor)))["results"]]
    keyset = await list_orders(engine, combo.params(limit, deep.cursor))
    direct = [r["id"] for r in keyset.results]
    offset = await list_orders_offset(engine, combo.params(limit), deep.skipped)
    by_offset = [r["id"] for r in offset.results]
    if not over_http == direct == by_offset:
        raise RuntimeError(
            f"{combo.label}: page {deep.number} differs: HTTP {over_http[:2]}..., "
            f"list_orders {direct[:2]}..., OFFSET {by_offset[:2]}..."
        )
