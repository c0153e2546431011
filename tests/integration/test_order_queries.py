"""The order list of GET /api/orders/ against 200k real orders: plans, pages, cursors.

One module-scoped seed (~200k rows, a few seconds) serves every test here. Its
customer and product ids carry a prefix of their own, so the rows other tests
put in the shared `orders` table change no expectation below (the reference
query of each walk runs the same filters over the same table), and the
teardown deletes exactly the seeded rows.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.offset_pages import list_orders_offset
from storage.cursors import CursorMismatch, InvalidCursor
from storage.order_params import (
    SORTS,
    OrderListParams,
    SortName,
    decode_cursor,
    encode_cursor,
    parse_order_list_params,
    sorts_by_value,
)
from storage.order_queries import OrderPage, build_order_list_query, list_orders
from storage.tables import orders
from tests.support.cursors import with_fields
from tests.support.explain import explain, index_problems, plan_shape

pytestmark = pytest.mark.integration

N_ORDERS = 200_000
N_CUSTOMERS = 1_000
N_PRODUCTS = 500
N_TIES = 300
YEAR = datetime(2024, 1, 1, tzinfo=UTC)
TIE_AT = datetime(2024, 6, 15, 12, tzinfo=UTC)
TIE_TOTAL = Decimal("500.00")

# Skewed like a live shop: most orders are finished, few are in flight. A rare status
# is where a status index pays off and a common one where it does not; both must plan.
_SEED = text(
    """
    INSERT INTO orders (id, status, customer_id, product_id, quantity, unit_price, total,
                        reservation_id, expires_at, cancel_reason, history, version,
                        created_at, updated_at)
    SELECT :prefix || 'o' || lpad(g::text, 7, '0'),
           CASE WHEN r.s < 0.04 THEN 'pending'   WHEN r.s < 0.10 THEN 'confirmed'
                WHEN r.s < 0.15 THEN 'processing' WHEN r.s < 0.25 THEN 'shipped'
                WHEN r.s < 0.75 THEN 'delivered' ELSE 'cancelled' END,
           :prefix || 'c' || floor(random() * :customers)::int,
           :prefix || 'p' || floor(random() * :products)::int,
           1, r.total, r.total, :prefix || 'r' || g, r.at + interval '10 minutes',
           NULL, '[]'::jsonb, 1, r.at, r.at
    FROM generate_series(1, :n) AS g,
         -- OFFSET 0 * g ties the subquery to g: one set of random values per row
         LATERAL (SELECT random() AS s,
                         round((1 + random() * 9999)::numeric, 2) AS total,
                         date_trunc('second', CAST(:year AS timestamptz)
                                    + random() * interval '366 days') AS at
                  OFFSET 0 * g) AS r
    """
)
# Rows equal in both sort keys: only the id orders them, on every sort.
_SEED_TIES = text(
    """
    INSERT INTO orders (id, status, customer_id, product_id, quantity, unit_price, total,
                        reservation_id, expires_at, cancel_reason, history, version,
                        created_at, updated_at)
    SELECT :prefix || 't' || lpad(g::text, 4, '0'), 'confirmed', :prefix || 'ctie',
           :prefix || 'ptie', 1, :total, :total, :prefix || 'rt' || g,
           CAST(:at AS timestamptz) + interval '10 minutes', NULL, '[]'::jsonb, 1, :at, :at
    FROM generate_series(1, :n) AS g
    """
)


@dataclass(frozen=True)
class Seeded:
    """What the seed put in: ids to filter on."""

    prefix: str
    seconds: float

    def customer(self, i: int) -> str:
        return f"{self.prefix}c{i}"

    def product(self, i: int) -> str:
        return f"{self.prefix}p{i}"

    @property
    def tie_customer(self) -> str:
        return f"{self.prefix}ctie"


@pytest.fixture(scope="module")
async def seeded(engine: AsyncEngine) -> AsyncIterator[Seeded]:
    prefix = f"oq{uuid.uuid4().hex[:8]}-"  # no '_' or '%': safe in the LIKE below
    started = time.perf_counter()
    async with engine.begin() as conn:
        await conn.execute(text("SELECT setseed(0.4242)"))
        await conn.execute(
            _SEED,
            {
                "prefix": prefix,
                "n": N_ORDERS,
                "customers": N_CUSTOMERS,
                "products": N_PRODUCTS,
                "year": YEAR,
            },
        )
        await conn.execute(
            _SEED_TIES, {"prefix": prefix, "n": N_TIES, "total": TIE_TOTAL, "at": TIE_AT}
        )
        # Every order's line, as the projector writes it (the product filter reads these).
        await conn.execute(
            text(
                "INSERT INTO order_lines (order_id, position, product_id, quantity, unit_price,"
                " line_total, created_at, total) SELECT id, 0, product_id, quantity,"
                " unit_price, total, created_at, total FROM orders WHERE id LIKE :pattern"
            ),
            {"pattern": prefix + "%"},
        )
        # Fresh statistics, or the planner plans for the table as it was before the seed.
        await conn.execute(text("ANALYZE orders"))
        await conn.execute(text("ANALYZE order_lines"))
    seconds = time.perf_counter() - started
    print(f"\nseeded {N_ORDERS + N_TIES} orders and analyzed in {seconds:.1f} s")
    yield Seeded(prefix=prefix, seconds=seconds)
    async with engine.begin() as conn:
        await conn.execute(
            text("DELETE FROM orders WHERE customer_id LIKE :pattern"), {"pattern": prefix + "%"}
        )
        await conn.execute(
            text("DELETE FROM order_lines WHERE order_id LIKE :pattern"), {"pattern": prefix + "%"}
        )


# --- EXPLAIN ---------------------------------------------------------------------------


def filter_matrix(seeded: Seeded, wide: bool) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every combination of the API's filters: each filter absent, half-given or given."""
    one: tuple[str, ...]
    several: tuple[str, ...]
    if wide:  # ~a quarter of the year, ~a fifth of the totals
        t_from, t_to = datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 6, 1, tzinfo=UTC)
        v_min, v_max = Decimal("2000"), Decimal("4000")
        one, several = ("delivered",), ("confirmed", "shipped", "cancelled")
    else:  # a day, a few euros, rare statuses
        t_from, t_to = datetime(2024, 9, 10, tzinfo=UTC), datetime(2024, 9, 11, tzinfo=UTC)
        v_min, v_max = Decimal("100"), Decimal("150")
        one, several = ("pending",), ("pending", "processing")
    dates: dict[str, dict[str, Any]] = {
        "": {},
        "from": {"created_from": t_from},
        "to": {"created_to": t_to},
        "from+to": {"created_from": t_from, "created_to": t_to},
    }
    statuses: dict[str, dict[str, Any]] = {
        "": {},
        "status": {"statuses": one},
        "statuses": {"statuses": several},
    }
    totals: dict[str, dict[str, Any]] = {
        "": {},
        "min": {"min_total": v_min},
        "max": {"max_total": v_max},
        "min+max": {"min_total": v_min, "max_total": v_max},
    }
    customers: dict[str, dict[str, Any]] = {
        "": {},
        "customer": {"customer_id": seeded.customer(17)},
    }
    products: dict[str, dict[str, Any]] = {"": {}, "product": {"product_id": seeded.product(42)}}
    for parts in itertools.product(
        dates.items(), statuses.items(), totals.items(), customers.items(), products.items()
    ):
        label = ",".join(name for name, _ in parts if name) or "no filter"
        filters: dict[str, Any] = {}
        for _, values in parts:
            filters.update(values)
        yield label, filters


def row_key(sort: str, row: dict[str, Any]) -> datetime | Decimal:
    """The sort key of a result row, parsed back from its JSON form."""
    if sorts_by_value(sort):
        return Decimal(row["total"])
    return datetime.fromisoformat(row["created_at"])


async def second_page_cursor(engine: AsyncEngine, params: OrderListParams) -> str:
    """The cursor a client would send for page 2 (made up mid-table if page 1 is all)."""
    page = await list_orders(engine, params)
    if page.next_cursor is not None:
        return page.next_cursor
    if len(page.results) >= 2:  # what a smaller limit would have handed out
        row = page.results[len(page.results) // 2]
        return encode_cursor(params, row_key(params.sort, row), row["id"])
    middle: datetime | Decimal = (
        Decimal("5000") if sorts_by_value(params.sort) else datetime(2024, 7, 1, tzinfo=UTC)
    )
    return encode_cursor(params, middle, "m")


@pytest.mark.parametrize("wide", [True, False], ids=["wide-ranges", "narrow-ranges"])
async def test_every_filter_and_sort_combination_plans_with_an_index_and_no_seq_scan(
    engine: AsyncEngine, seeded: Seeded, wide: bool
) -> None:
    started = time.perf_counter()
    failures: list[str] = []
    shapes: dict[str, int] = {}
    count = 0
    async with engine.connect() as conn:
        for label, filters in filter_matrix(seeded, wide):
            for sort in SORTS:
                params = OrderListParams(sort=sort, **filters)  # type: ignore[arg-type]
                cursor = await second_page_cursor(engine, params)
                pages = (
                    ("page 1", None),
                    ("page 2", decode_cursor(replace(params, cursor=cursor))),
                )
                for page, keyset in pages:
                    plan = await explain(conn, build_order_list_query(params, keyset))
                    count += 1
                    shape = plan_shape(plan)
                    shapes[shape] = shapes.get(shape, 0) + 1
                    for problem in index_problems(plan, "orders"):
                        failures.append(f"{label} / {sort} / {page}: {problem}: {shape}")
    seconds = time.perf_counter() - started
    print(f"\n{count} plans in {seconds:.1f} s; shapes:")
    for shape, n in sorted(shapes.items(), key=lambda item: -item[1])[:20]:
        print(f"  {n:4}  {shape}")
    assert count == 4 * 3 * 4 * 2 * 2 * len(SORTS) * 2
    assert not failures, "\n".join(failures[:40])


# --- walking the pages -------------------------------------------------------------------


def reference_query(params: OrderListParams) -> Any:
    """The plain ORDER BY of the same filters, written independently of the builder."""
    c = orders.c
    key = c.total if sorts_by_value(params.sort) else c.created_at
    query = select(c.id)
    if params.created_from is not None:
        query = query.where(c.created_at >= params.created_from)
    if params.created_to is not None:
        query = query.where(c.created_at < params.created_to)
    if params.statuses:
        query = query.where(c.status.in_(params.statuses))
    if params.min_total is not None:
        query = query.where(c.total >= params.min_total)
    if params.max_total is not None:
        query = query.where(c.total <= params.max_total)
    if params.customer_id is not None:
        query = query.where(c.customer_id == params.customer_id)
    if params.product_id is not None:
        query = query.where(c.product_id == params.product_id)
    if params.sort in ("newest", "highest_value"):
        return query.order_by(key.desc(), c.id.desc())
    return query.order_by(key, c.id)


async def expected_ids(engine: AsyncEngine, params: OrderListParams) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.execute(reference_query(params))).scalars())


async def walk(
    engine: AsyncEngine, params: OrderListParams, between_pages: Any = None
) -> tuple[list[dict[str, Any]], int]:
    """Every row of every page, following next_cursor; and the number of pages."""
    rows: list[dict[str, Any]] = []
    pages = 0
    while True:
        page = await list_orders(engine, params)
        pages += 1
        assert len(page.results) <= params.limit
        if page.next_cursor is not None:
            assert len(page.results) == params.limit, "a short page must be the last"
        rows.extend(page.results)
        if page.next_cursor is None:
            return rows, pages
        assert pages < 10_000, "the walk does not end"
        if between_pages is not None:
            await between_pages(pages)
        params = replace(params, cursor=page.next_cursor)


def walk_cases(seeded: Seeded) -> Iterator[tuple[str, OrderListParams]]:
    """Each query shape of the builder: status branches, a scoped query, ties."""
    for sort in SORTS:
        s: SortName = sort  # type: ignore[assignment]
        yield (
            f"statuses+dates+totals/{sort}",  # one UNION ALL branch per status
            OrderListParams(
                sort=s,
                statuses=("confirmed", "shipped"),
                created_from=datetime(2024, 4, 1, tzinfo=UTC),
                created_to=datetime(2024, 7, 1, tzinfo=UTC),
                min_total=Decimal("1000"),
                max_total=Decimal("6000"),
                limit=200,
            ),
        )
        yield (
            f"product+statuses+dates+totals/{sort}",  # scoped: `status IN`, filters hidden
            OrderListParams(
                sort=s,
                product_id=seeded.product(7),
                statuses=("delivered", "cancelled"),
                created_from=datetime(2024, 2, 1, tzinfo=UTC),
                max_total=Decimal("8000"),
                limit=10,
            ),
        )
        yield f"ties/{sort}", OrderListParams(sort=s, customer_id=seeded.tie_customer, limit=7)
        yield f"product/{sort}", OrderListParams(sort=s, product_id=seeded.product(7), limit=50)


async def test_walking_every_page_returns_each_matching_order_once_in_order(
    engine: AsyncEngine, seeded: Seeded
) -> None:
    for label, params in walk_cases(seeded):
        expected = await expected_ids(engine, params)
        assert len(expected) > 2 * params.limit, f"{label}: the case needs several pages"
        rows, pages = await walk(engine, params)
        assert [r["id"] for r in rows] == expected, label
        # limit + 1 rows are fetched, so a last page that is exactly full has no successor
        assert pages == -(-len(expected) // params.limit), label


async def test_the_ties_are_ordered_by_id_alone(engine: AsyncEngine, seeded: Seeded) -> None:
    params = OrderListParams(sort="oldest", customer_id=seeded.tie_customer, limit=11)
    rows, _ = await walk(engine, params)
    assert len(rows) == N_TIES
    assert {r["created_at"] for r in rows} == {"2024-06-15T12:00:00Z"}
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)


@pytest.mark.parametrize("sort", SORTS)
async def test_walking_while_orders_arrive_returns_every_earlier_order_exactly_once(
    engine: AsyncEngine, seeded: Seeded, sort: SortName
) -> None:
    customer = seeded.customer(311)
    params = OrderListParams(sort=sort, customer_id=customer, limit=20)
    before = await expected_ids(engine, params)
    inserted: list[str] = []

    async def insert_orders(page: int) -> None:
        # Around every position: earlier and later in time, cheaper and dearer, now.
        at = [YEAR + timedelta(days=d) for d in (5, 180, 360)] + [datetime.now(UTC)]
        totals = [Decimal("1.00"), Decimal("5000.00"), Decimal("9999.99"), Decimal("42.42")]
        async with engine.begin() as conn:
            for i, (created, total) in enumerate(zip(at, totals, strict=True)):
                order_id = f"{seeded.prefix}new-{sort}-{page}-{i}"
                inserted.append(order_id)
                await conn.execute(
                    orders.insert().values(
                        id=order_id,
                        status="pending",
                        customer_id=customer,
                        product_id=seeded.product(1),
                        quantity=1,
                        unit_price=total,
                        total=total,
                        reservation_id=f"r-{order_id}",
                        expires_at=created + timedelta(minutes=10),
                        history=[],
                        version=1,
                        created_at=created,
                        updated_at=created,
                    )
                )

    rows, pages = await walk(engine, params, between_pages=insert_orders)
    ids = [r["id"] for r in rows]
    assert pages > 3 and inserted
    assert len(ids) == len(set(ids)), "an order came twice"
    assert set(before) <= set(ids), "an order that existed before the walk was skipped"
    assert set(ids) <= set(before) | set(inserted)
    keys = [(row_key(sort, r), r["id"]) for r in rows]
    descending = sort in ("newest", "highest_value")
    assert keys == sorted(keys, reverse=descending), "the pages are not in sort order"


async def test_offset_pages_equal_keyset_pages_on_a_quiet_table(
    engine: AsyncEngine, seeded: Seeded
) -> None:
    params = OrderListParams(sort="highest_value", statuses=("pending", "shipped"), limit=25)
    params = replace(params, created_from=datetime(2024, 2, 1, tzinfo=UTC))
    keyset_page = await list_orders(engine, params)
    for n in range(1, 4):
        keyset_page = await list_orders(engine, replace(params, cursor=keyset_page.next_cursor))
        offset_page = await list_orders_offset(engine, params, offset=n * params.limit)
        assert offset_page.results == keyset_page.results
        assert offset_page.next_cursor is None


# --- what a page looks like ------------------------------------------------------------


async def test_a_page_is_json_ready_with_money_as_strings_and_utc_times(
    engine: AsyncEngine, seeded: Seeded
) -> None:
    page = await list_orders(
        engine, OrderListParams(customer_id=seeded.tie_customer, sort="lowest_value", limit=3)
    )
    assert isinstance(page, OrderPage)
    json.dumps(page.results)
    row = page.results[0]
    assert set(row) == {
        "id",
        "status",
        "total",
        "unit_price",
        "customer_id",
        "product_id",
        "quantity",
        "created_at",
        "updated_at",
        "reservation_id",
        "expires_at",
        "cancel_reason",
        "version",
        "lines",
        "allocations",
    }
    assert row["total"] == "500.00" and row["created_at"] == "2024-06-15T12:00:00Z"
    assert row["lines"] == [
        {
            "product_id": row["product_id"],
            "quantity": 1,
            "unit_price": "500.00",
            "line_total": "500.00",
            "allocations": [{"location_id": "main", "quantity": 1}],  # from before locations
        }
    ]
    assert page.next_cursor is not None


async def test_the_last_page_has_no_next_cursor(engine: AsyncEngine, seeded: Seeded) -> None:
    params = OrderListParams(customer_id=seeded.tie_customer, limit=N_TIES)
    page = await list_orders(engine, params)
    assert len(page.results) == N_TIES and page.next_cursor is None
    assert (await list_orders(engine, replace(params, limit=N_TIES - 1))).next_cursor


async def test_no_match_is_an_empty_last_page(engine: AsyncEngine, seeded: Seeded) -> None:
    page = await list_orders(engine, OrderListParams(customer_id=f"{seeded.prefix}nobody"))
    assert page == OrderPage(results=[], next_cursor=None)


async def test_a_total_bound_is_compared_exactly_not_rounded_to_cents(
    engine: AsyncEngine, seeded: Seeded
) -> None:
    tie = seeded.tie_customer
    below = OrderListParams(customer_id=tie, max_total=Decimal("499.995"))
    above = OrderListParams(customer_id=tie, min_total=Decimal("500.001"))
    huge = OrderListParams(customer_id=tie, max_total=Decimal("1" * 30))
    assert (await list_orders(engine, below)).results == []
    assert (await list_orders(engine, above)).results == []
    assert len((await list_orders(engine, huge)).results) == 50


# --- cursors that do not belong ----------------------------------------------------------


async def test_a_cursor_from_another_sort_or_filter_set_is_refused(
    engine: AsyncEngine, seeded: Seeded
) -> None:
    params = OrderListParams(customer_id=seeded.customer(5), sort="newest", limit=5)
    cursor = (await list_orders(engine, params)).next_cursor
    assert cursor is not None
    others = [
        replace(params, sort="oldest"),
        replace(params, customer_id=seeded.customer(6)),
        replace(params, statuses=("pending",)),
        replace(params, min_total=Decimal("1")),
        replace(params, created_to=datetime(2025, 1, 1, tzinfo=UTC)),
    ]
    for other in others:
        with pytest.raises(CursorMismatch):
            await list_orders(engine, replace(other, cursor=cursor))
    # the same filters with another page size are the same query
    assert (await list_orders(engine, replace(params, limit=9, cursor=cursor))).results


async def test_a_tampered_cursor_is_refused(engine: AsyncEngine, seeded: Seeded) -> None:
    params = OrderListParams(customer_id=seeded.customer(5), sort="oldest", limit=5)
    cursor = (await list_orders(engine, params)).next_cursor
    assert cursor is not None
    forged = with_fields(cursor, k="2020-01-01T00:00:00.000000+00:00")  # skip ahead
    for bad in (forged, cursor[:-2], cursor + "x", "bm90IGEgY3Vyc29y"):
        with pytest.raises(InvalidCursor) as info:
            await list_orders(engine, replace(params, cursor=bad))
        assert not isinstance(info.value, CursorMismatch)
        assert info.value.name == "cursor"


async def test_parsed_query_strings_page_through_the_database(
    engine: AsyncEngine, seeded: Seeded
) -> None:
    query = {"customer_id": seeded.customer(9), "sort": "lowest_value", "limit": "10"}
    first = await list_orders(engine, parse_order_list_params(query))
    second = await list_orders(
        engine, parse_order_list_params({**query, "cursor": first.next_cursor or ""})
    )
    assert Decimal(first.results[-1]["total"]) <= Decimal(second.results[0]["total"])
    assert not {r["id"] for r in first.results} & {r["id"] for r in second.results}
