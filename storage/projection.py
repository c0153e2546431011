"""The projector's writes: events in, read-model rows upserted.

Idempotent and order-tolerant: a row only moves to a higher `version`
(`ON CONFLICT ... DO UPDATE ... WHERE version < excluded.version`), so a replayed
or late event leaves the rows as they were.

A batch is one statement: an `INSERT ... SELECT FROM unnest(...)` per table, its rows
as one array per column, chained in a WITH in a fixed table order, then `pg_notify`.
One round trip, applied whole or not at all (a refused event fails the batch, and the
projector's halving search finds it), and a dozen parameters per table whatever the
batch's size, so neither SQLAlchemy nor asyncpg handles parameters row by row.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import Table, TextClause, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.engine import one_statement
from storage.formats import iso_utc
from storage.tables import order_lines, orders, products, reservations
from topics.messages import (
    AllocationChanged,
    LocationAllocation,
    LocationStock,
    OrderCreated,
    OrderSnapshot,
    OrderStatusChanged,
    ProductCreated,
    ProductSnapshot,
    ReservationCommitted,
    ReservationCreated,
    ReservationExpired,
    ReservationReleased,
    ReservationSnapshot,
    StockAdjusted,
    StockTransferred,
)

Row = dict[str, Any]

_PRODUCT_EVENTS = frozenset({ProductCreated, StockAdjusted, StockTransferred, AllocationChanged})
_RESERVATION_EVENTS = frozenset(
    {ReservationCreated, ReservationCommitted, ReservationReleased, ReservationExpired}
)
_ORDER_EVENTS = frozenset({OrderCreated, OrderStatusChanged})


@dataclass(frozen=True, eq=False)  # hashed by identity: a key of _Batch.rows
class _Upsert:
    """How one table is upserted: columns an update never touches, and columns an
    update keeps when the newer snapshot leaves them empty."""

    table: Table
    keep_on_update: tuple[str, ...] = ()
    coalesce: tuple[str, ...] = ()
    key: tuple[str, ...] = ("id",)
    # Rows that never change once written (an order's lines): inserted once, no version.
    insert_only: bool = False
    alias: str = ""  # its statement's name in the batch's one statement, and its params'


_PRODUCTS = _Upsert(products, keep_on_update=("created_at",), alias="p")
# A cart's reservation has one row per product, each versioned by its product.
_RESERVATIONS = _Upsert(
    reservations,
    keep_on_update=("created_at",),
    coalesce=("customer_id", "expires_at"),
    key=("id", "product_id"),
    alias="r",
)
_ORDERS = _Upsert(orders, alias="o")
_ORDER_LINES = _Upsert(order_lines, key=("order_id", "product_id"), insert_only=True, alias="l")
_TABLES = (_PRODUCTS, _RESERVATIONS, _ORDERS, _ORDER_LINES)


@dataclass(frozen=True, slots=True)
class _Version:
    """A versioned row, built only if the batch keeps it: a hot product is in many events
    of a batch, and only the newest snapshot (and the oldest's created_at) is written."""

    key: tuple[Any, ...]
    version: int
    build: Callable[[], Row]


@dataclass
class _Batch:
    versions: dict[_Upsert, list[_Version]] = field(default_factory=lambda: defaultdict(list))
    lines: list[Row] = field(default_factory=list)  # _ORDER_LINES: insert-only, no version

    def add(self, event: Any) -> bool:
        """Queue the rows `event` carries; False for a type the read models ignore."""
        # By exact type: isinstance on a pydantic model goes through ABCMeta, and the
        # event classes have no subclasses.
        kind = type(event)
        if kind in _PRODUCT_EVENTS:
            self._product(event.data.product, event.occurred_at)
        elif kind in _RESERVATION_EVENTS:
            self._product(event.data.product, event.occurred_at)
            r = event.data.reservation
            self.versions[_RESERVATIONS].append(
                _Version(
                    (r.id, r.product_id), r.version, partial(_reservation_row, r, event.occurred_at)
                )
            )
        elif kind in _ORDER_EVENTS:
            o = event.data.order
            self.versions[_ORDERS].append(_Version((o.id,), o.version, partial(_order_row, o)))
            if kind is OrderCreated:
                self.lines.extend(_order_line_rows(o))
        else:
            return False
        return True

    def _product(self, p: ProductSnapshot, occurred_at: datetime) -> None:
        self.versions[_PRODUCTS].append(
            _Version((p.id,), p.version, partial(_product_row, p, occurred_at))
        )

    def rows(self, spec: _Upsert) -> list[Row]:
        """The rows of `spec`'s table to write: one per key, sorted by key."""
        if spec.insert_only:
            first: dict[tuple[Any, ...], Row] = {}
            for row in self.lines:
                first.setdefault(tuple(row[k] for k in spec.key), row)
            return [first[key] for key in sorted(first)]
        return _latest_per_id(self.versions.get(spec, []), spec)


async def project_events(
    engine: AsyncEngine, events: Sequence[Any], notify_channel: str | None = None
) -> int:
    """Upsert the read-model rows carried by `events`, all in one transaction, and
    signal `notify_channel` (storage.notify) when it commits.

    `events` are decoded envelopes from topics.messages; product, stock, reservation
    and order events are applied, other types are skipped. Returns how many events
    were applied (replays and stale versions count: they are applied as no-ops).
    Raises the database error if the write fails; then nothing of the batch is kept,
    so the caller can retry the whole batch.
    """
    batch = _Batch()
    applied = sum(batch.add(event) for event in events)
    if not applied:
        return 0
    params: dict[str, Any] = {}
    for spec in _TABLES:
        params.update(_columns(spec, batch.rows(spec)))
    statement = _BATCH
    if notify_channel is not None:
        statement, params["channel"] = _BATCH_AND_NOTIFY, notify_channel
    # The whole batch is one statement (storage.engine.one_statement): one round trip,
    # all of it or nothing, and the notification goes out when it commits.
    async with one_statement(engine) as conn:
        await conn.execute(statement, params)
    return applied


_DIALECT = postgresql.dialect()


def _upsert_sql(spec: _Upsert, after: str | None) -> str:
    """`INSERT ... SELECT FROM unnest(one array per column) ON CONFLICT ...` for one table,
    its parameters named `<alias>_<column>`: the rows go in array order (sorted by key),
    a versioned row only moves to a higher version. With `after`, it starts once the
    statement named `after` has written all its rows (see _batch_statement)."""
    table, alias = spec.table, spec.alias
    names = ", ".join(c.name for c in table.c)
    arrays = ", ".join(
        f"CAST(:{alias}_{c.name} AS {c.type.compile(dialect=_DIALECT)}[])" for c in table.c
    )
    # A scalar subquery over the previous statement's rows is evaluated before the first
    # row of this one: PostgreSQL would otherwise run the statements of a WITH in an
    # unspecified order.
    wait = f"WHERE (SELECT count(*) FROM {after}) >= 0 " if after else ""
    sql = (
        f"INSERT INTO {table.name} ({names}) "
        f"SELECT {names} FROM unnest({arrays}) WITH ORDINALITY AS u({names}, ordinality) "
        f"{wait}ORDER BY ordinality ON CONFLICT ({', '.join(spec.key)}) "
    )
    if spec.insert_only:
        return sql + "DO NOTHING RETURNING 1"
    set_ = {
        c.name: f"excluded.{c.name}"
        for c in table.c
        if not c.primary_key and c.name not in spec.keep_on_update
    }
    for name in spec.coalesce:
        set_[name] = f"coalesce(excluded.{name}, {table.name}.{name})"
    assignments = ", ".join(f"{name} = {value}" for name, value in set_.items())
    return (
        sql + f"DO UPDATE SET {assignments} WHERE {table.name}.version < excluded.version "
        "RETURNING 1"
    )


def _batch_statement(notify: bool) -> TextClause:
    """Every table's upsert in one statement, in _TABLES order (concurrent projectors
    lock rows in one order), then the notification when asked."""
    ctes, after = [], None
    for spec in _TABLES:
        ctes.append(f"{spec.alias} AS ({_upsert_sql(spec, after)})")
        after = spec.alias
    last = f"SELECT count(*) FROM {after}"
    final = f"SELECT pg_notify(:channel, '') FROM ({last}) AS written" if notify else last
    return text(f"WITH {', '.join(ctes)} {final}")


def _columns(spec: _Upsert, rows: list[Row]) -> dict[str, list[Any]]:
    return {f"{spec.alias}_{c.name}": [row[c.name] for row in rows] for c in spec.table.c}


_BATCH = _batch_statement(notify=False)
_BATCH_AND_NOTIFY = _batch_statement(notify=True)


def _latest_per_id(versions: Iterable[_Version], spec: _Upsert) -> list[Row]:
    """One row per key: the rows folded in version order with the same rules the SQL
    applies, so a batch gives the rows that one-by-one application would give: the
    newest version's row (the first of equal versions), with the oldest's
    `keep_on_update` columns and, for `coalesce` columns it leaves empty, the newest
    value an older version had."""
    chains: dict[tuple[Any, ...], list[_Version]] = {}
    for v in sorted(versions, key=lambda v: v.version):  # stable: first of equal wins
        chain = chains.get(v.key)
        if chain is None:
            chains[v.key] = [v]
        elif v.version > chain[-1].version:
            chain.append(v)
    rows = []
    for key in sorted(chains):
        chain = chains[key]
        row = chain[-1].build()
        if len(chain) > 1:
            oldest = chain[0].build()
            for name in spec.keep_on_update:
                row[name] = oldest[name]
            for name in spec.coalesce:
                for older in reversed(chain[:-1]):
                    if row[name] is not None:
                        break
                    row[name] = older.build()[name]
        rows.append(row)
    return rows


def _product_row(p: ProductSnapshot, occurred_at: datetime) -> Row:
    return {
        "id": p.id,
        "name": p.name,
        "price": p.price,
        "initial": p.initial,
        "adjusted": p.adjusted,
        "available": p.available,
        "reserved": p.reserved,
        "sold": p.sold,
        "version": p.version,
        "created_at": occurred_at,
        "updated_at": occurred_at,
        "locations": _json_locations(p.locations),
        "allocation": p.allocation,
    }


def _reservation_row(r: ReservationSnapshot, occurred_at: datetime) -> Row:
    return {
        "id": r.id,
        "product_id": r.product_id,
        "order_id": r.order_id,
        "customer_id": r.customer_id,
        "quantity": r.quantity,
        "status": r.status,
        "expires_at": r.expires_at,
        "version": r.version,
        "created_at": occurred_at,
        "updated_at": occurred_at,
        "allocations": _json_allocations(r.allocations),
    }


def _order_line_rows(o: OrderSnapshot) -> list[Row]:
    if not o.lines:  # an event written before carts: its one line is on the order
        return [
            {
                "order_id": o.id,
                "position": 0,
                "product_id": o.product_id,
                "quantity": o.quantity,
                "unit_price": o.unit_price,
                "line_total": o.total,
                "allocations": _json_allocations(o.allocations),
                "created_at": o.created_at,
                "total": o.total,
            }
        ]
    return [
        {
            "order_id": o.id,
            "position": position,
            "product_id": line.product_id,
            "quantity": line.quantity,
            "unit_price": line.unit_price,
            "line_total": line.line_total,
            "allocations": _json_allocations(line.allocations),
            # The order's sort keys, for the order list's product filter.
            "created_at": o.created_at,
            "total": o.total,
        }
        for position, line in enumerate(o.lines)
    ]


def _order_row(o: OrderSnapshot) -> Row:
    return {
        "id": o.id,
        "status": o.status,
        "customer_id": o.customer_id,
        "product_id": o.product_id,
        "quantity": o.quantity,
        "unit_price": o.unit_price,
        "total": o.total,
        "reservation_id": o.reservation_id,
        "expires_at": o.expires_at,
        "cancel_reason": o.cancel_reason,
        "history": json.dumps(
            [
                {
                    "status": h.status,
                    "at": iso_utc(h.at),
                    "reason": h.reason,
                    "request_id": h.request_id,
                }
                for h in o.history
            ]
        ),
        "version": o.version,
        "created_at": o.created_at,
        "updated_at": o.updated_at,
        # Every line's, so the order list's location filter finds a cart by any line.
        "allocations": _json_allocations(
            o.allocations or [a for line in o.lines for a in line.allocations]
        ),
    }


# The JSONB columns' values as JSON text, written by pydantic in Rust: the same JSON as
# model_dump(mode="json") per item, without a Python dict per item.
_LOCATIONS = TypeAdapter(list[LocationStock])
_ALLOCATIONS = TypeAdapter(list[LocationAllocation])


def _json_locations(locations: list[LocationStock]) -> str:
    return _LOCATIONS.dump_json(locations).decode()


def _json_allocations(allocations: list[LocationAllocation]) -> str:
    return _ALLOCATIONS.dump_json(allocations).decode()
