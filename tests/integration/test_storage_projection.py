"""The projector's writes and the queries on them, against real PostgreSQL."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.projection import project_events
from storage.queries import (
    current_versions,
    get_order,
    get_product,
    get_reservation,
    stock_invariant_violations,
)
from storage.tables import orders, products, reservations
from tests.support.ids import unique
from topics.messages import (
    CommandRejected,
    CommandRejectedData,
    HistoryEntrySnapshot,
    OrderCreated,
    OrderCreatedData,
    OrderLineSnapshot,
    OrderSnapshot,
    OrderStatusChanged,
    OrderStatusChangedData,
    ProductCreated,
    ProductCreatedData,
    ProductSnapshot,
    ReservationChangedData,
    ReservationCommitted,
    ReservationCreated,
    ReservationExpired,
    ReservationReleased,
    ReservationSnapshot,
    StockAdjusted,
    StockAdjustedData,
)

pytestmark = pytest.mark.integration

T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def product(pid: str, version: int, **counters: Any) -> ProductSnapshot:
    values: dict[str, Any] = {"initial": 10, "adjusted": 0, "reserved": 0, "sold": 0}
    values.update(counters)
    values.setdefault(
        "available", values["initial"] + values["adjusted"] - values["reserved"] - values["sold"]
    )
    return ProductSnapshot(id=pid, name="Widget", price=Decimal("19.99"), version=version, **values)


def created(snap: ProductSnapshot, at: datetime = T0) -> ProductCreated:
    return ProductCreated(key=snap.id, occurred_at=at, data=ProductCreatedData(product=snap))


def adjusted(snap: ProductSnapshot, delta: int, at: datetime = T0) -> StockAdjusted:
    return StockAdjusted(
        key=snap.id,
        occurred_at=at,
        data=StockAdjustedData(product=snap, delta=delta, reason="recount"),
    )


def reservation(
    rid: str, snap: ProductSnapshot, status: str = "active", **extra: Any
) -> ReservationSnapshot:
    values: dict[str, Any] = {"order_id": f"order-of-{rid}", "quantity": 2}
    values.update(extra)
    return ReservationSnapshot(
        id=rid, product_id=snap.id, status=status, version=snap.version, **values
    )


def reservation_event(
    cls: type[Any], snap: ProductSnapshot, res: ReservationSnapshot, at: datetime = T0
) -> Any:
    return cls(
        key=snap.id, occurred_at=at, data=ReservationChangedData(product=snap, reservation=res)
    )


def order(oid: str, version: int, status: str = "pending", **extra: Any) -> OrderSnapshot:
    history = [HistoryEntrySnapshot(status="pending", at=T0, request_id="req-1")]
    if status != "pending":
        history.append(
            HistoryEntrySnapshot(
                status=status, at=T0 + timedelta(minutes=1), reason=extra.get("cancel_reason")
            )
        )
    values: dict[str, Any] = {
        "customer_id": "cust-1",
        "product_id": "p-1",
        "quantity": 3,
        "unit_price": Decimal("19.99"),
        "total": Decimal("59.97"),
        "reservation_id": f"res-of-{oid}",
        "expires_at": T0 + timedelta(minutes=10),
        "created_at": T0,
        "updated_at": T0 + timedelta(minutes=version),
        "history": history,
    }
    values.update(extra)
    return OrderSnapshot(id=oid, status=status, version=version, **values)


def order_created(snap: OrderSnapshot) -> OrderCreated:
    return OrderCreated(key=snap.id, data=OrderCreatedData(order=snap))


def status_changed(snap: OrderSnapshot, from_status: str) -> OrderStatusChanged:
    return OrderStatusChanged(
        key=snap.id,
        data=OrderStatusChangedData(order=snap, from_status=from_status, to_status=snap.status),
    )


Rows = dict[str, list[dict[str, Any]]]


async def raw_rows(engine: AsyncEngine, *ids: str) -> Rows:
    """Every column of every row with these ids, to compare states exactly."""
    out: Rows = {}
    async with engine.connect() as conn:
        for table in (products, reservations, orders):
            query = select(table).where(table.c.id.in_(ids)).order_by(table.c.id)
            out[table.name] = [dict(r._mapping) for r in (await conn.execute(query)).all()]
    return out


async def test_product_created_gives_a_product_with_money_as_a_string(engine: AsyncEngine) -> None:
    pid = unique("p")
    assert await project_events(engine, [created(product(pid, 1))]) == 1

    assert await get_product(engine, pid) == {
        "id": pid,
        "name": "Widget",
        "price": "19.99",
        "available": 10,
        "reserved": 0,
        "sold": 0,
        "initial": 10,
        "adjusted": 0,
        "version": 1,
        # An event from before locations (none in its snapshot): all of it at main.
        "locations": [{"location_id": "main", "available": 10, "reserved": 0, "sold": 0}],
        "allocation": "priority",
    }


async def test_unknown_product_is_none(engine: AsyncEngine) -> None:
    assert await get_product(engine, unique("p")) is None
    assert await get_reservation(engine, unique("r")) is None
    assert await get_order(engine, unique("o")) is None


async def test_stock_adjusted_updates_the_counters_and_keeps_created_at(
    engine: AsyncEngine,
) -> None:
    pid = unique("p")
    later = T0 + timedelta(hours=1)
    await project_events(engine, [created(product(pid, 1))])
    await project_events(engine, [adjusted(product(pid, 2, adjusted=-3), -3, at=later)])

    got = await get_product(engine, pid)
    assert got is not None
    assert (got["adjusted"], got["available"], got["version"]) == (-3, 7, 2)
    async with engine.connect() as conn:
        row = (await conn.execute(select(products).where(products.c.id == pid))).one()
    assert (row.created_at, row.updated_at) == (T0, later)


async def test_reservation_lifecycle_projects_reservation_and_product(
    engine: AsyncEngine,
) -> None:
    pid, rid = unique("p"), unique("r")
    expires = T0 + timedelta(minutes=10)
    p1, p2, p3 = product(pid, 1), product(pid, 2, reserved=2), product(pid, 3, sold=2)
    await project_events(
        engine,
        [
            created(p1),
            reservation_event(
                ReservationCreated,
                p2,
                reservation(rid, p2, customer_id="cust-9", expires_at=expires),
            ),
        ],
    )
    assert await get_reservation(engine, rid) == {
        "id": rid,
        "product_id": pid,
        "order_id": f"order-of-{rid}",
        "customer_id": "cust-9",
        "quantity": 2,
        "status": "active",
        "expires_at": "2025-01-02T03:14:05Z",
        "version": 2,
        "allocations": [{"location_id": "main", "quantity": 2}],  # from before locations
        "lines": [
            {
                "product_id": pid,
                "quantity": 2,
                "allocations": [{"location_id": "main", "quantity": 2}],
            }
        ],
    }

    await project_events(
        engine, [reservation_event(ReservationCommitted, p3, reservation(rid, p3, "committed"))]
    )
    res = await get_reservation(engine, rid)
    assert res is not None
    # the commit snapshot carries no customer or expiry: the projected ones stay
    assert (res["status"], res["customer_id"], res["expires_at"], res["version"]) == (
        "committed",
        "cust-9",
        "2025-01-02T03:14:05Z",
        3,
    )
    prod = await get_product(engine, pid)
    assert prod is not None
    assert (prod["available"], prod["reserved"], prod["sold"]) == (8, 0, 2)


@pytest.mark.parametrize(
    ("event_class", "status"),
    [(ReservationReleased, "released"), (ReservationExpired, "expired")],
)
async def test_released_and_expired_reservations_return_the_stock(
    engine: AsyncEngine, event_class: type[Any], status: str
) -> None:
    pid, rid = unique("p"), unique("r")
    p2, p3 = product(pid, 2, reserved=2), product(pid, 3)
    await project_events(
        engine,
        [
            created(product(pid, 1)),
            reservation_event(ReservationCreated, p2, reservation(rid, p2, customer_id="c")),
            reservation_event(event_class, p3, reservation(rid, p3, status)),
        ],
    )
    res = await get_reservation(engine, rid)
    prod = await get_product(engine, pid)
    assert res is not None and prod is not None
    assert (res["status"], res["customer_id"], res["version"]) == (status, "c", 3)
    assert (prod["available"], prod["reserved"], prod["version"]) == (10, 0, 3)


async def test_a_carts_reservation_and_order_keep_every_line(engine: AsyncEngine) -> None:
    a, b, rid, oid = unique("p"), unique("p"), unique("r"), unique("o")
    a2, b2 = product(a, 2, reserved=2), product(b, 2, reserved=1)
    await project_events(
        engine,
        [
            created(product(a, 1)),
            created(product(b, 1)),
            # One reservation id on both products: a row each, versioned by its product.
            reservation_event(ReservationCreated, a2, reservation(rid, a2, quantity=2)),
            reservation_event(ReservationCreated, b2, reservation(rid, b2, quantity=1)),
            order_created(
                order(
                    oid,
                    1,
                    product_id=None,
                    quantity=None,
                    unit_price=None,
                    total=Decimal("59.97"),
                    lines=[
                        OrderLineSnapshot(
                            product_id=b,
                            quantity=2,
                            unit_price=Decimal("19.99"),
                            line_total=Decimal("39.98"),
                        ),
                        OrderLineSnapshot(
                            product_id=a,
                            quantity=1,
                            unit_price=Decimal("19.99"),
                            line_total=Decimal("19.99"),
                        ),
                    ],
                )
            ),
        ],
    )
    held = await get_reservation(engine, rid)
    assert held is not None
    assert (held["product_id"], held["quantity"]) == (None, None)
    assert sorted((x["product_id"], x["quantity"]) for x in held["lines"]) == sorted(
        [(a, 2), (b, 1)]
    )
    got = await get_order(engine, oid)
    assert got is not None and got["product_id"] is None and got["unit_price"] is None
    # The lines in the order's own order, not sorted by product.
    assert [(x["product_id"], x["line_total"]) for x in got["lines"]] == [
        (b, "39.98"),
        (a, "19.99"),
    ]
    # An order.created seen again (a replay) adds no line twice.
    await project_events(engine, [order_created(order(oid, 1, lines=[], product_id=a))])
    again = await get_order(engine, oid)
    assert again is not None and len(again["lines"]) == 2


async def test_order_created_and_status_changed(engine: AsyncEngine) -> None:
    oid = unique("o")
    await project_events(engine, [order_created(order(oid, 1))])
    got = await get_order(engine, oid)
    assert got == {
        "id": oid,
        "status": "pending",
        "total": "59.97",
        "unit_price": "19.99",
        "customer_id": "cust-1",
        "product_id": "p-1",
        "quantity": 3,
        "created_at": "2025-01-02T03:04:05Z",
        "updated_at": "2025-01-02T03:05:05Z",
        "reservation_id": f"res-of-{oid}",
        "expires_at": "2025-01-02T03:14:05Z",
        "cancel_reason": None,
        # An event written before carts has no lines: its one line is the order's own.
        "lines": [
            {
                "product_id": "p-1",
                "quantity": 3,
                "unit_price": "19.99",
                "line_total": "59.97",
                "allocations": [{"location_id": "main", "quantity": 3}],  # before locations
            }
        ],
        "history": [
            {
                "status": "pending",
                "at": "2025-01-02T03:04:05Z",
                "reason": None,
                "request_id": "req-1",
            }
        ],
        "version": 1,
        "allocations": [{"location_id": "main", "quantity": 3}],  # from before locations
    }

    cancelled = order(oid, 2, "cancelled", cancel_reason="expired")
    await project_events(engine, [status_changed(cancelled, "pending")])
    got = await get_order(engine, oid)
    assert got is not None
    assert (got["status"], got["cancel_reason"], got["version"]) == ("cancelled", "expired", 2)
    assert got["updated_at"] == "2025-01-02T03:06:05Z"
    assert got["history"][-1] == {
        "status": "cancelled",
        "at": "2025-01-02T03:05:05Z",
        "reason": "expired",
        "request_id": None,
    }


async def test_history_times_are_stored_in_utc(engine: AsyncEngine) -> None:
    oid = unique("o")
    plus_two = datetime(2025, 1, 2, 7, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    snap = order(oid, 1, history=[HistoryEntrySnapshot(status="pending", at=plus_two)])
    await project_events(engine, [order_created(snap)])
    got = await get_order(engine, oid)
    assert got is not None
    assert got["history"][0]["at"] == "2025-01-02T05:04:05Z"


def lifecycle(pid: str, rid: str, oid: str) -> list[Any]:
    """A product's and an order's whole story, in the order it happened."""
    p2, p3 = product(pid, 2, reserved=2), product(pid, 3, sold=2)
    p4 = product(pid, 4, adjusted=5, sold=2)
    return [
        created(product(pid, 1)),
        reservation_event(
            ReservationCreated,
            p2,
            reservation(rid, p2, customer_id="c", expires_at=T0 + timedelta(minutes=10)),
            at=T0 + timedelta(seconds=1),
        ),
        reservation_event(
            ReservationCommitted, p3, reservation(rid, p3, "committed"), T0 + timedelta(seconds=2)
        ),
        adjusted(p4, 5, at=T0 + timedelta(seconds=3)),
        order_created(order(oid, 1)),
        status_changed(order(oid, 2, "confirmed"), "pending"),
        status_changed(order(oid, 3, "processing"), "confirmed"),
    ]


async def test_applying_the_same_batch_twice_leaves_the_same_rows(engine: AsyncEngine) -> None:
    pid, rid, oid = unique("p"), unique("r"), unique("o")
    events = lifecycle(pid, rid, oid)
    assert await project_events(engine, events) == len(events)
    first = await raw_rows(engine, pid, rid, oid)

    assert await project_events(engine, events) == len(events)

    assert await raw_rows(engine, pid, rid, oid) == first
    assert all(len(rows) == 1 for rows in first.values())


async def test_older_events_after_newer_ones_change_nothing(engine: AsyncEngine) -> None:
    pid, rid, oid = unique("p"), unique("r"), unique("o")
    events = lifecycle(pid, rid, oid)
    for event in events:
        await project_events(engine, [event])
    in_order = await raw_rows(engine, pid, rid, oid)

    for event in reversed(events[:-1]):
        await project_events(engine, [event])

    assert await raw_rows(engine, pid, rid, oid) == in_order
    prod, res, ordr = (
        await get_product(engine, pid),
        await get_reservation(engine, rid),
        await get_order(engine, oid),
    )
    assert prod is not None and res is not None and ordr is not None
    assert (prod["version"], res["status"], ordr["status"]) == (4, "committed", "processing")


async def test_one_batch_with_every_version_equals_one_event_at_a_time(
    engine: AsyncEngine,
) -> None:
    one_by_one = unique("p"), unique("r"), unique("o")
    for event in lifecycle(*one_by_one):
        await project_events(engine, [event])

    batched = unique("p"), unique("r"), unique("o")
    shuffled = lifecycle(*batched)
    random.Random(7).shuffle(shuffled)
    await project_events(engine, shuffled)

    def without_ids(rows: Rows) -> Rows:
        # the two stories differ only in their ids
        ids = {"id", "product_id", "order_id", "reservation_id"}
        return {
            name: [{k: v for k, v in row.items() if k not in ids} for row in table_rows]
            for name, table_rows in rows.items()
        }

    assert without_ids(await raw_rows(engine, *batched)) == without_ids(
        await raw_rows(engine, *one_by_one)
    )
    res = await get_reservation(engine, batched[1])
    assert res is not None
    assert (res["status"], res["customer_id"], res["version"]) == ("committed", "c", 3)


async def test_a_large_batch_is_applied_in_one_call(engine: AsyncEngine) -> None:
    pids = [unique("p") for _ in range(300)]
    events: list[Any] = [created(product(pid, 1)) for pid in pids]
    events += [adjusted(product(pid, 2, adjusted=1), 1) for pid in pids]
    random.Random(3).shuffle(events)

    assert await project_events(engine, events) == 600

    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(products.c.version, products.c.available).where(products.c.id.in_(pids))
            )
        ).all()
    assert sorted(set(rows)) == [(2, 11)] and len(rows) == 300


async def test_other_event_types_are_skipped(engine: AsyncEngine) -> None:
    pid = unique("p")
    rejected = CommandRejected(
        key=pid,
        data=CommandRejectedData(source_topic="inventory.commands", code="bad", message="no"),
    )
    assert await project_events(engine, [rejected, object()]) == 0
    assert await project_events(engine, [rejected, created(product(pid, 1))]) == 1
    assert await project_events(engine, []) == 0


async def test_current_versions_names_each_row_that_exists(engine: AsyncEngine) -> None:
    pid, rid, oid = unique("p"), unique("r"), unique("o")
    await project_events(engine, lifecycle(pid, rid, oid))

    versions = await current_versions(
        engine,
        # An unknown id, and an id of one kind asked as another, are not answered.
        {
            ("product", pid),
            ("reservation", rid),
            ("order", oid),
            ("reservation", unique("r")),
            ("order", pid),
        },
    )

    assert versions == {("product", pid): 4, ("reservation", rid): 3, ("order", oid): 3}
    assert await current_versions(engine, []) == {}


async def test_invariant_check_names_a_broken_product(engine: AsyncEngine) -> None:
    pid = unique("p")
    await project_events(engine, [created(product(pid, 1))])
    assert not [v for v in await stock_invariant_violations(engine) if pid in v]

    async with engine.begin() as conn:
        await conn.execute(text("UPDATE products SET available = 9 WHERE id = :id"), {"id": pid})
    try:
        found = [v for v in await stock_invariant_violations(engine) if pid in v]
        assert len(found) == 1
        assert "available 9" in found[0]
    finally:
        # the schema is shared by the whole run: leave no broken product behind
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM products WHERE id = :id"), {"id": pid})


async def test_the_database_refuses_negative_counters(engine: AsyncEngine) -> None:
    pid = unique("p")
    bad = ProductSnapshot(
        id=pid,
        name="W",
        price=Decimal("1"),
        initial=1,
        adjusted=0,
        available=-1,
        reserved=2,
        sold=0,
        version=1,
    )
    with pytest.raises(IntegrityError, match="products_available_check"):
        await project_events(engine, [created(bad)])
    assert await get_product(engine, pid) is None
