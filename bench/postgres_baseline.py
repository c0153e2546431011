"""Modes (c) and (e), the seed's approach: one PostgreSQL transaction per reservation.

SELECT ... FOR UPDATE locks the product row, then the stock is decremented and a
reservation row and an order row are inserted, then COMMIT. A cart (mode e) locks its
products' rows in id order (so two carts cannot deadlock), checks every one, and writes
a reservation and an order row per line. Every reservation of one
product therefore waits for the previous one's commit (and its WAL flush): this is
the serialization the stream pipeline replaces with one partition owner.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from storage.engine import quote_identifier

# Shaped like the seed's models (a Django-style products/reservations/orders trio with
# foreign keys and their indexes), so the baseline pays what the seed paid per write.
_DDL = (
    """CREATE TABLE products (
        id text PRIMARY KEY,
        name text NOT NULL,
        price numeric(14, 2) NOT NULL,
        stock integer NOT NULL CHECK (stock >= 0),
        reserved integer NOT NULL DEFAULT 0 CHECK (reserved >= 0))""",
    """CREATE TABLE reservations (
        id text PRIMARY KEY,
        product_id text NOT NULL REFERENCES products (id),
        customer_id text NOT NULL,
        quantity integer NOT NULL CHECK (quantity > 0),
        status text NOT NULL,
        expires_at timestamptz NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now())""",
    "CREATE INDEX ON reservations (product_id)",
    """CREATE TABLE orders (
        id text PRIMARY KEY,
        reservation_id text NOT NULL REFERENCES reservations (id),
        product_id text NOT NULL REFERENCES products (id),
        customer_id text NOT NULL,
        quantity integer NOT NULL,
        total numeric(14, 2) NOT NULL,
        status text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now())""",
    "CREATE INDEX ON orders (reservation_id)",
    "CREATE INDEX ON orders (product_id)",
)

_LOCK = text("SELECT stock, price FROM products WHERE id = :id FOR UPDATE")
_LOCK_CART = text(
    "SELECT id, stock, price FROM products WHERE id = ANY(:ids) ORDER BY id FOR UPDATE"
)
_TAKE = text("UPDATE products SET stock = stock - :q, reserved = reserved + :q WHERE id = :id")
_RESERVATION = text(
    "INSERT INTO reservations (id, product_id, customer_id, quantity, status, expires_at)"
    " VALUES (:id, :product_id, :customer_id, :q, 'active', now() + interval '10 minutes')"
)
_ORDER = text(
    "INSERT INTO orders (id, reservation_id, product_id, customer_id, quantity, total, status)"
    " VALUES (:id, :reservation_id, :product_id, :customer_id, :q, :total, 'pending')"
)


MAX_POOL = 150


class PostgresBaseline:
    """Owns its schema: `setup()` creates it with one product, `close()` drops it."""

    def __init__(
        self,
        database_url: str,
        schema: str,
        product_ids: list[str],
        concurrency: int,
        lines: int = 1,
    ) -> None:
        self.label = (
            "PostgreSQL SELECT FOR UPDATE"
            if lines == 1
            else f"PostgreSQL FOR UPDATE, carts of {lines} (rows locked in id order)"
        )
        self.lines = lines
        self.schema = schema
        self.product_ids = product_ids
        self.acknowledged = 0
        # One connection per client, as a web server with a pool of that size would have;
        # a smaller pool would measure queueing in the pool instead of the row lock. Up to
        # MAX_POOL: the local server allows 200 connections, and the pipeline holds some;
        # more clients than that wait for a connection, as behind any real pool.
        self.pool_size = min(concurrency, MAX_POOL)
        self._engine: AsyncEngine = create_async_engine(
            database_url,
            pool_size=self.pool_size,
            max_overflow=0,
            connect_args={"server_settings": {"search_path": quote_identifier(schema)}},
        )

    async def setup(self, stock: int) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                text(f"DROP SCHEMA IF EXISTS {quote_identifier(self.schema)} CASCADE")
            )
            await conn.execute(text(f"CREATE SCHEMA {quote_identifier(self.schema)}"))
            await conn.execute(
                text("SELECT set_config('search_path', :path, true)"),
                {"path": quote_identifier(self.schema)},
            )
            for statement in _DDL:
                await conn.execute(text(statement))
            await conn.execute(
                text("INSERT INTO products (id, name, price, stock) VALUES (:id, 'bench', 1, :s)"),
                [{"id": product_id, "s": stock} for product_id in self.product_ids],
            )

    async def reserve(self, index: int) -> bool:
        """One reservation of one unit in one transaction; False when out of stock."""
        if self.lines > 1:
            return await self.reserve_cart(index)
        # Products in turn: a uniform load over all of them.
        product_id = self.product_ids[index % len(self.product_ids)]
        async with self._engine.begin() as conn:
            row = (await conn.execute(_LOCK, {"id": product_id})).one()
            if row.stock < 1:
                return False
            reservation_id = str(uuid.uuid4())
            customer_id = f"customer-{index % 1000}"
            await conn.execute(_TAKE, {"id": product_id, "q": 1})
            await conn.execute(
                _RESERVATION,
                {
                    "id": reservation_id,
                    "product_id": product_id,
                    "customer_id": customer_id,
                    "q": 1,
                },
            )
            await conn.execute(
                _ORDER,
                {
                    "id": str(uuid.uuid4()),
                    "reservation_id": reservation_id,
                    "product_id": product_id,
                    "customer_id": customer_id,
                    "q": 1,
                    "total": Decimal(row.price),
                },
            )
        self.acknowledged += 1
        return True

    async def reserve_cart(self, index: int) -> bool:
        """A cart of `lines` products (in turn), one unit each, all in one transaction."""
        count = len(self.product_ids)
        wanted = sorted(
            {self.product_ids[(index * self.lines + k) % count] for k in range(self.lines)}
        )
        customer_id = f"customer-{index % 1000}"
        async with self._engine.begin() as conn:
            rows = (await conn.execute(_LOCK_CART, {"ids": wanted})).all()
            if any(row.stock < 1 for row in rows):
                return False
            for row in rows:
                reservation_id = str(uuid.uuid4())
                await conn.execute(_TAKE, {"id": row.id, "q": 1})
                await conn.execute(
                    _RESERVATION,
                    {
                        "id": reservation_id,
                        "product_id": row.id,
                        "customer_id": customer_id,
                        "q": 1,
                    },
                )
                await conn.execute(
                    _ORDER,
                    {
                        "id": str(uuid.uuid4()),
                        "reservation_id": reservation_id,
                        "product_id": row.id,
                        "customer_id": customer_id,
                        "q": 1,
                        "total": Decimal(row.price),
                    },
                )
        self.acknowledged += 1
        return True

    async def reserved_units(self) -> int:
        async with self._engine.connect() as conn:
            result = await conn.execute(text("SELECT coalesce(sum(reserved), 0) FROM products"))
            return int(result.scalar_one())

    async def close(self, drop_schema: bool = True) -> None:
        """Drop the schema (unless told to keep it for a look) and close the pool."""
        try:
            if drop_schema:
                async with self._engine.begin() as conn:
                    await conn.execute(
                        text(f"DROP SCHEMA IF EXISTS {quote_identifier(self.schema)} CASCADE")
                    )
        finally:
            await self._engine.dispose()
