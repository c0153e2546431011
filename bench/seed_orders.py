"""Fills a schema's `orders` table with N synthetic orders, fast, for `bench.queries`.

Server-side `INSERT ... SELECT generate_series` in chunks (nothing crosses the wire,
and a chunk per progress step), with the secondary indexes dropped during the load
and rebuilt afterwards: a btree built by one sort is several times faster than 1M
random inserts into eight indexes. The index definitions are read back from the
catalog, so whatever the migrations declare is exactly what gets rebuilt.

The data, deterministic for a given N (setseed):
* created_at uniform over 2024 (366 days), microsecond resolution;
* statuses skewed like a shop's year: delivered 60 %, cancelled 15 %, shipped 10 %,
  processing 6 %, confirmed 5 %, pending 4 % (independent of time: a simplification,
  in a live shop the in-flight ones are the recent ones);
* ~1k products with a log-uniform price of 1..2000 and ~10k customers, both with a
  long tail (index = floor(n * random()^2)): the busiest product has ~3 % of all
  orders, the busiest customer ~1 %, the median customer ~70 orders;
* quantity 1..5 (mostly 1), total = price * quantity, so 1..10000 with 2 decimals;
* ids are UUID strings, like the pipeline's, so id order is unrelated to time.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TextIO

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

YEAR_START = datetime(2024, 1, 1, tzinfo=UTC)
N_CUSTOMERS = 10_000
N_PRODUCTS = 1_000
CHUNK = 50_000  # rows per INSERT: ~20 progress steps at 1M, each a second or so

_PRICES = text(
    """
    CREATE TEMP TABLE bench_prices ON COMMIT DROP AS
    SELECT p, round(exp(random() * ln(2000))::numeric, 2) AS price
    FROM generate_series(0, :products - 1) AS p
    """
)
# OFFSET 0 * g ties the LATERAL subquery to g: one set of random values per row.
_INSERT = text(
    """
    INSERT INTO orders (id, status, customer_id, product_id, quantity, unit_price, total,
                        reservation_id, expires_at, cancel_reason, history, version,
                        created_at, updated_at)
    SELECT md5('bench-order-' || g)::uuid::text,
           CASE WHEN r.s < 0.04 THEN 'pending'    WHEN r.s < 0.09 THEN 'confirmed'
                WHEN r.s < 0.15 THEN 'processing' WHEN r.s < 0.25 THEN 'shipped'
                WHEN r.s < 0.85 THEN 'delivered'  ELSE 'cancelled' END,
           'customer-' || r.c, 'product-' || r.p, r.q, pr.price, pr.price * r.q,
           md5('bench-reservation-' || g)::uuid::text, r.at + interval '10 minutes',
           CASE WHEN r.s >= 0.85 THEN 'changed my mind' END,
           '[]'::jsonb, 4, r.at, r.at + interval '3 days'
    FROM generate_series(CAST(:first AS int), CAST(:last AS int)) AS g,
         LATERAL (SELECT random() AS s,
                         floor(:customers * random() ^ 2)::int AS c,
                         floor(:products * random() ^ 2)::int AS p,
                         CASE WHEN random() < 0.6 THEN 1 ELSE 2 + floor(random() * 4)::int END
                             AS q,
                         CAST(:year AS timestamptz) + random() * interval '366 days' AS at
                  OFFSET 0 * g) AS r
    JOIN bench_prices AS pr ON pr.p = r.p
    """
)
# Every seeded order has one line, as the projector writes it (the product filter of the
# order list reads order_lines, migrations/009).
_LINES = text(
    """
    INSERT INTO order_lines (order_id, position, product_id, quantity, unit_price, line_total,
                             created_at, total)
    SELECT id, 0, product_id, quantity, unit_price, total, created_at, total FROM orders
    """
)
_SECONDARY_INDEXES = text(
    """
    SELECT i.indexname, i.indexdef
    FROM pg_indexes AS i
    JOIN pg_class AS c ON c.relname = i.indexname
    JOIN pg_index AS x ON x.indexrelid = c.oid
    JOIN pg_namespace AS n ON n.oid = c.relnamespace AND n.nspname = i.schemaname
    WHERE i.schemaname = current_schema() AND i.tablename = 'orders' AND NOT x.indisprimary
    ORDER BY i.indexname
    """
)


@dataclass(frozen=True)
class SeedReport:
    """What the table holds after `seed_orders` (or what was found there)."""

    orders: int
    seconds: float  # 0 when an already seeded table was reused
    busiest_customer: str
    busiest_customer_orders: int
    busiest_product: str
    busiest_product_orders: int


class ProgressBar:
    """One line on stderr, redrawn in place on a terminal, a line per step otherwise."""

    def __init__(self, label: str, total: int, stream: TextIO = sys.stderr) -> None:
        self.label, self.total, self.stream = label, max(total, 1), stream
        self.done = 0
        self.started = time.monotonic()

    def advance(self, n: int, note: str = "") -> None:
        self.done += n
        share = min(1.0, self.done / self.total)
        elapsed = time.monotonic() - self.started
        line = (
            f"[bench] {self.label} [{'#' * int(share * 30):<30}] {share:6.1%} "
            f"{self.done:,}/{self.total:,} {elapsed:5.1f}s {note}"
        )
        tty = self.stream.isatty()
        end = "\r" if tty and self.done < self.total else "\n"
        self.stream.write(("\x1b[2K" if tty else "") + line + end)
        self.stream.flush()


async def count_orders(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM orders"))).scalar_one())


async def seed_orders(engine: AsyncEngine, n: int, *, seed: float = 0.4242) -> SeedReport:
    """Insert `n` orders, one line each, into the (empty, migrated) `orders` and
    `order_lines` tables of the engine's schema, rebuild the orders' indexes and
    VACUUM ANALYZE both. Returns what is there.
    Raises the database's error; a failed load leaves a partly filled table."""
    started = time.perf_counter()
    async with engine.connect() as conn:
        async with conn.begin():
            indexes = (await conn.execute(_SECONDARY_INDEXES)).all()
            for name, _ in indexes:
                await conn.execute(text(f'DROP INDEX "{name}"'))
            await conn.execute(text("SELECT setseed(:seed)"), {"seed": seed})
            await conn.execute(_PRICES, {"products": N_PRODUCTS})
            bar = ProgressBar("seeding orders", n)
            for first in range(1, n + 1, CHUNK):
                last = min(n, first + CHUNK - 1)
                await conn.execute(
                    _INSERT,
                    {
                        "first": first,
                        "last": last,
                        "customers": N_CUSTOMERS,
                        "products": N_PRODUCTS,
                        "year": YEAR_START,
                    },
                )
                bar.advance(last - first + 1)
            await conn.execute(_LINES)
        await _rebuild_indexes(conn, [definition for _, definition in indexes])
    await _vacuum_analyze(engine)
    report = await describe_orders(engine)
    return SeedReport(
        orders=report.orders,
        seconds=time.perf_counter() - started,
        busiest_customer=report.busiest_customer,
        busiest_customer_orders=report.busiest_customer_orders,
        busiest_product=report.busiest_product,
        busiest_product_orders=report.busiest_product_orders,
    )


async def _rebuild_indexes(conn: AsyncConnection, definitions: list[str]) -> None:
    bar = ProgressBar("building indexes", len(definitions))
    async with conn.begin():
        # A bigger sort budget keeps each build in memory (the server default is 64 MB).
        await conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
        for definition in definitions:
            await conn.execute(text(definition))
            bar.advance(1, definition.split(" ON ", 1)[0].removeprefix("CREATE INDEX "))


async def _vacuum_analyze(engine: AsyncEngine) -> None:
    # VACUUM sets hint bits and the visibility map as autovacuum would on a live table,
    # so the first measured reads do not pay for writing them; ANALYZE gives the
    # planner the seeded distribution. VACUUM refuses to run inside a transaction.
    progress = ProgressBar("vacuum analyze", 1)
    async with engine.connect() as conn:
        autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text("VACUUM (ANALYZE) orders"))
        await autocommit.execute(text("VACUUM (ANALYZE) order_lines"))
    progress.advance(1)


async def describe_orders(engine: AsyncEngine) -> SeedReport:
    """Count the orders and find the busiest customer and product (the ones whose lists
    are long enough for a deep page). For a reused schema, this is all that runs."""
    async with engine.connect() as conn:
        total = int((await conn.execute(text("SELECT count(*) FROM orders"))).scalar_one())
        busiest = {}
        for column in ("customer_id", "product_id"):
            row = (
                await conn.execute(
                    text(
                        f"SELECT {column}, count(*) FROM orders GROUP BY 1 "
                        "ORDER BY 2 DESC, 1 LIMIT 1"
                    )
                )
            ).one_or_none()
            busiest[column] = (row[0], int(row[1])) if row else ("none", 0)
    return SeedReport(
        orders=total,
        seconds=0.0,
        busiest_customer=busiest["customer_id"][0],
        busiest_customer_orders=busiest["customer_id"][1],
        busiest_product=busiest["product_id"][0],
        busiest_product_orders=busiest["product_id"][1],
    )
