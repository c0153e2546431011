"""The projector's bulk writes (one statement per table, a column per array; the audit
log likewise), against real PostgreSQL: what goes in is what the events carry, once."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.audit import record_audit_events
from storage.formats import iso_utc
from storage.projection import project_events
from storage.tables import audit_log, order_lines
from tests.integration.test_storage_projection import (
    order,
    order_created,
    product,
    raw_rows,
    reservation,
    reservation_event,
)
from tests.support.ids import unique
from topics.messages import (
    LocationAllocation,
    LocationStock,
    OrderLineSnapshot,
    ReservationCreated,
)

pytestmark = pytest.mark.integration


def cart_events(pid_a: str, pid_b: str, rid: str, oid: str) -> list[Any]:
    """A cart of two products held at two locations, and its order of two lines."""
    here, there = (
        LocationAllocation(location_id="main", quantity=1),
        LocationAllocation(location_id="east", quantity=1),
    )
    a = product(
        pid_a,
        2,
        reserved=2,
        locations=[
            LocationStock(location_id="main", available=4, reserved=1, sold=0),
            LocationStock(location_id="east", available=4, reserved=1, sold=0),
        ],
    )
    b = product(pid_b, 2, reserved=1)
    lines = [
        OrderLineSnapshot(
            product_id=pid_a,
            quantity=2,
            unit_price=Decimal("19.99"),
            line_total=Decimal("39.98"),
            allocations=[here, there],
        ),
        OrderLineSnapshot(
            product_id=pid_b,
            quantity=1,
            unit_price=Decimal("5.00"),
            line_total=Decimal("5.00"),
            allocations=[here],
        ),
    ]
    return [
        reservation_event(
            ReservationCreated, a, reservation(rid, a, quantity=2, allocations=[here, there])
        ),
        reservation_event(
            ReservationCreated, b, reservation(rid, b, quantity=1, allocations=[here])
        ),
        order_created(
            order(
                oid,
                1,
                product_id=None,
                quantity=None,
                unit_price=None,
                total=Decimal("44.98"),
                lines=lines,
            )
        ),
    ]


async def lines_of(engine: AsyncEngine, oid: str) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        query = (
            select(order_lines)
            .where(order_lines.c.order_id == oid)
            .order_by(order_lines.c.position)
        )
        return [dict(r._mapping) for r in (await conn.execute(query)).all()]


async def test_the_json_columns_hold_what_the_events_carry(engine: AsyncEngine) -> None:
    a, b, rid, oid = unique("p"), unique("p"), unique("r"), unique("o")
    events = cart_events(a, b, rid, oid)
    await project_events(engine, events)

    rows = await raw_rows(engine, a, rid, oid)
    snap = events[0].data.product
    assert rows["products"][0]["locations"] == [
        loc.model_dump(mode="json") for loc in snap.locations
    ]
    held = {r["product_id"]: r["allocations"] for r in rows["reservations"]}
    assert held[a] == [
        {"location_id": "main", "quantity": 1},
        {"location_id": "east", "quantity": 1},
    ]
    placed = events[2].data.order
    (order_row,) = rows["orders"]
    # Every line's allocations, so the order list's location filter finds the cart.
    assert order_row["allocations"] == [
        {"location_id": "main", "quantity": 1},
        {"location_id": "east", "quantity": 1},
        {"location_id": "main", "quantity": 1},
    ]
    assert order_row["history"] == [
        {"status": h.status, "at": iso_utc(h.at), "reason": h.reason, "request_id": h.request_id}
        for h in placed.history
    ]
    async with engine.connect() as conn:
        kinds = (
            await conn.execute(
                text(
                    "SELECT jsonb_typeof(history), jsonb_typeof(allocations) FROM orders "
                    "WHERE id = :id"
                ),
                {"id": oid},
            )
        ).one()
    assert tuple(kinds) == ("array", "array")  # JSON, not a string holding JSON


async def test_a_carts_lines_keep_their_order_and_are_written_once(engine: AsyncEngine) -> None:
    a, b, rid, oid = unique("p"), unique("p"), unique("r"), unique("o")
    events = cart_events(a, b, rid, oid)
    await project_events(engine, events)
    first = await lines_of(engine, oid)

    await project_events(engine, events)
    await project_events(engine, list(reversed(events)))

    assert await lines_of(engine, oid) == first
    assert [(r["position"], r["product_id"], r["line_total"]) for r in first] == [
        (0, a, Decimal("39.98")),
        (1, b, Decimal("5.00")),
    ]
    assert first[0]["allocations"] == [
        {"location_id": "main", "quantity": 1},
        {"location_id": "east", "quantity": 1},
    ]


async def test_a_batch_with_an_event_twice_writes_its_rows_once(engine: AsyncEngine) -> None:
    a, b, rid, oid = unique("p"), unique("p"), unique("r"), unique("o")
    events = cart_events(a, b, rid, oid)
    twice = [events[0], *events, events[2]]

    assert await project_events(engine, twice) == len(twice)

    rows = await raw_rows(engine, a, b, rid, oid)
    assert [len(rows[t]) for t in ("products", "reservations", "orders")] == [2, 2, 1]
    assert len(await lines_of(engine, oid)) == 2


async def test_the_same_events_projected_twice_give_the_same_rows(engine: AsyncEngine) -> None:
    a, b, rid, oid = unique("p"), unique("p"), unique("r"), unique("o")
    events = cart_events(a, b, rid, oid)
    await project_events(engine, events)
    await record_audit_events(engine, events)
    first = await raw_rows(engine, a, b, rid, oid), await logged_rows(engine, events)

    await project_events(engine, events)
    assert await record_audit_events(engine, events) == 0

    assert (await raw_rows(engine, a, b, rid, oid), await logged_rows(engine, events)) == first


async def logged_rows(engine: AsyncEngine, events: list[Any]) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        query = (
            select(audit_log)
            .where(audit_log.c.id.in_([e.id for e in events]))
            .order_by(audit_log.c.id)
        )
        return [dict(r._mapping) for r in (await conn.execute(query)).all()]


async def test_an_audit_batch_with_an_event_id_twice_logs_it_once(engine: AsyncEngine) -> None:
    a, b, rid, oid = unique("p"), unique("p"), unique("r"), unique("o")
    events = cart_events(a, b, rid, oid)

    assert await record_audit_events(engine, [events[0], *events, events[0]]) == 3

    rows = await logged_rows(engine, events)
    assert len(rows) == 3
    by_id = {r["id"]: r for r in rows}
    for event in events:
        row = by_id[event.id]
        # The event as the audit topic carried it, as JSON.
        assert row["payload"] == event.model_dump(mode="json")
        assert (row["type"], row["request_id"]) == (event.type, event.request_id)
    assert by_id[events[0].id]["location_ids"] == ["main", "east"]
    assert by_id[events[2].id]["entity_id"] == oid


async def test_a_batch_the_database_refuses_writes_none_of_its_rows(engine: AsyncEngine) -> None:
    a, b, rid, oid = unique("p"), unique("p"), unique("r"), unique("o")
    events = cart_events(a, b, rid, oid)
    # Order lines are written last: refusing one undoes the products, reservations and
    # orders written before it in the same statement. (A line of 0 units never decodes;
    # model_copy skips the validation, as a bug in our code would.)
    line = OrderLineSnapshot(
        product_id=a, quantity=1, unit_price=Decimal("1.00"), line_total=Decimal("1.00")
    ).model_copy(update={"quantity": 0})
    broken = order_created(order(unique("o"), 1, product_id=None, lines=[line]))

    with pytest.raises(IntegrityError):
        await project_events(engine, [*events, broken])

    rows = await raw_rows(engine, a, b, rid, oid)
    assert rows == {"products": [], "reservations": [], "orders": []}
    assert await lines_of(engine, oid) == []
