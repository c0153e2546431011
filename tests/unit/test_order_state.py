"""The order state machine and the order record: agents.domain.order_state."""

from __future__ import annotations

import itertools
import json
import random
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from agents.domain import order_state as orders
from agents.domain.errors import InvalidQuantity, InvalidTransition, InvalidValue
from agents.domain.order_state import HistoryEntry, Order, OrderStatus
from agents.domain.validation import MAX_QUANTITY

NOW = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
STATUSES = ["pending", "confirmed", "processing", "shipped", "delivered", "cancelled"]
# Written out independently of TRANSITIONS, straight from DESIGN.md.
ALLOWED = {
    ("pending", "confirmed"),
    ("pending", "cancelled"),
    ("confirmed", "processing"),
    ("confirmed", "cancelled"),
    ("processing", "shipped"),
    ("shipped", "delivered"),
}


def make_order(
    quantity: int = 2, unit_price: str = "9.99", now: datetime = NOW, request_id: str = "req-1"
) -> Order:
    return orders.create_order(
        order_id="o-1",
        customer_id="c-1",
        product_id="SKU-1",
        quantity=quantity,
        unit_price=Decimal(unit_price),
        reservation_id="r-1",
        expires_at=now + timedelta(minutes=10),
        now=now,
        request_id=request_id,
    )


def order_in(status: str) -> Order:
    """An order walked along the state machine to `status`."""
    paths = {
        "pending": [],
        "confirmed": ["confirmed"],
        "processing": ["confirmed", "processing"],
        "shipped": ["confirmed", "processing", "shipped"],
        "delivered": ["confirmed", "processing", "shipped", "delivered"],
        "cancelled": ["cancelled"],
    }
    order = make_order()
    for step, target in enumerate(paths[status], start=1):
        order = orders.change_status(order, OrderStatus(target), NOW + timedelta(seconds=step))
    return order


# ------------------------------------------------------------------ the state machine


@pytest.mark.parametrize(
    ("source", "target"),
    list(itertools.product(STATUSES, STATUSES)),
    ids=[f"{a}->{b}" for a, b in itertools.product(STATUSES, STATUSES)],
)
def test_every_pair_of_statuses_is_allowed_or_refused_as_the_design_says(
    source: str, target: str
) -> None:
    order = order_in(source)

    if (source, target) in ALLOWED:
        orders.check_transition(OrderStatus(source), OrderStatus(target))
        assert orders.change_status(order, OrderStatus(target), NOW).status == target
    else:
        with pytest.raises(InvalidTransition) as caught:
            orders.check_transition(OrderStatus(source), OrderStatus(target))
        assert caught.value.details["from"] == source
        assert caught.value.details["to"] == target
        with pytest.raises(InvalidTransition):
            orders.change_status(order, OrderStatus(target), NOW)


def test_the_transitions_table_is_the_design_table() -> None:
    pairs = {(a.value, b.value) for a, targets in orders.TRANSITIONS.items() for b in targets}

    assert pairs == ALLOWED
    assert set(orders.TRANSITIONS) == set(OrderStatus)


def test_cannot_cancel_after_shipped() -> None:
    with pytest.raises(InvalidTransition) as caught:
        orders.change_status(order_in("shipped"), OrderStatus.CANCELLED, NOW)

    assert caught.value.code == "invalid_transition"
    assert caught.value.details == {"from": "shipped", "to": "cancelled", "allowed": ["delivered"]}
    assert "'shipped' to 'cancelled'" in caught.value.message


def test_a_refusal_from_a_final_status_says_it_is_final() -> None:
    with pytest.raises(InvalidTransition) as caught:
        orders.check_transition(OrderStatus.DELIVERED, OrderStatus.CANCELLED)

    assert caught.value.details["allowed"] == []
    assert "'delivered' is final" in caught.value.message


@pytest.mark.parametrize("status", STATUSES)
def test_changing_to_the_same_status_is_refused(status: str) -> None:
    with pytest.raises(InvalidTransition):
        orders.check_transition(OrderStatus(status), OrderStatus(status))


@pytest.mark.parametrize(
    ("status", "final"),
    [(s, s in ("delivered", "cancelled")) for s in STATUSES],
)
def test_only_delivered_and_cancelled_are_final(status: str, final: bool) -> None:
    assert orders.is_final(OrderStatus(status)) is final


def test_allowed_targets_are_sorted_wire_values() -> None:
    assert orders.allowed_targets(OrderStatus.PENDING) == ["cancelled", "confirmed"]
    assert orders.allowed_targets(OrderStatus.CONFIRMED) == ["cancelled", "processing"]
    assert orders.allowed_targets(OrderStatus.SHIPPED) == ["delivered"]
    assert orders.allowed_targets(OrderStatus.CANCELLED) == []


def test_the_rules_also_accept_wire_strings() -> None:
    orders.check_transition("pending", "confirmed")  # type: ignore[arg-type]

    assert orders.allowed_targets("processing") == ["shipped"]  # type: ignore[arg-type]
    with pytest.raises(InvalidValue):
        orders.check_transition("pending", "teleported")  # type: ignore[arg-type]


@pytest.mark.parametrize("text", STATUSES)
def test_parse_status_knows_every_wire_value(text: str) -> None:
    assert orders.parse_status(text).value == text


@pytest.mark.parametrize("text", ["", "Pending", "PENDING", " pending", "paid"])
def test_parse_status_refuses_unknown_text_with_the_list_of_known_ones(text: str) -> None:
    with pytest.raises(ValueError, match="expected one of: cancelled, confirmed, delivered"):
        orders.parse_status(text)


def test_a_status_is_its_wire_string() -> None:
    wire: str = "pending"
    assert wire == OrderStatus.PENDING
    assert str(OrderStatus.SHIPPED) == "shipped"
    assert json.dumps(OrderStatus.CANCELLED) == '"cancelled"'


@pytest.mark.parametrize("seed", range(50))
def test_random_walks_only_ever_follow_the_state_machine(seed: int) -> None:
    rng = random.Random(seed)
    order = make_order()

    for step in range(12):
        target = rng.choice(STATUSES)
        try:
            order = orders.change_status(order, OrderStatus(target), NOW + timedelta(seconds=step))
        except InvalidTransition:
            assert (order.status.value, target) not in ALLOWED
        else:
            assert order.status == target

    statuses = [entry.status.value for entry in order.history]
    assert statuses[0] == "pending"
    assert all(pair in ALLOWED for pair in itertools.pairwise(statuses))
    assert order.version == len(order.history)


# ------------------------------------------------------------------ create_order


def test_a_new_order_is_pending_at_version_one_with_one_history_entry() -> None:
    order = make_order()

    assert order.status is OrderStatus.PENDING
    assert order.version == 1
    assert order.total == Decimal("19.98")
    assert order.created_at == order.updated_at == NOW
    assert order.expires_at == NOW + timedelta(minutes=10)
    assert order.history == (HistoryEntry(OrderStatus.PENDING, NOW, None, "req-1"),)
    assert order.cancel_reason is None


@pytest.mark.parametrize(
    ("quantity", "unit_price", "total"),
    [(1, "0", "0.00"), (3, "0.1", "0.30"), (7, "1.05", "7.35"), (MAX_QUANTITY, "0.01", "100.00")],
)
def test_the_total_is_quantity_times_unit_price_to_the_cent(
    quantity: int, unit_price: str, total: str
) -> None:
    order = make_order(quantity=quantity, unit_price=unit_price)

    assert str(order.total) == total


@pytest.mark.parametrize("quantity", [0, -1, MAX_QUANTITY + 1, True, 2.0])
def test_an_order_needs_a_whole_number_of_units_within_the_limit(quantity: object) -> None:
    with pytest.raises(InvalidQuantity):
        make_order(quantity=quantity)  # type: ignore[arg-type]


def test_an_order_refuses_a_sub_cent_price() -> None:
    with pytest.raises(InvalidValue, match="unit_price"):
        make_order(unit_price="1.001")


def test_an_order_refuses_naive_times() -> None:
    with pytest.raises(InvalidValue, match="timezone-aware"):
        make_order(now=datetime(2025, 3, 1, 12, 0))


def test_an_order_keeps_its_times_in_utc() -> None:
    paris = timezone(timedelta(hours=1))

    order = make_order(now=datetime(2025, 3, 1, 13, 0, tzinfo=paris))

    assert order.created_at.tzinfo is UTC
    assert order.created_at == datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    assert order.expires_at.tzinfo is UTC


@pytest.mark.parametrize(
    ("field", "value"),
    [("order_id", ""), ("customer_id", " "), ("product_id", "bad id"), ("reservation_id", "")],
)
def test_an_order_needs_proper_ids(field: str, value: str) -> None:
    arguments: dict[str, object] = {
        "order_id": "o-1",
        "customer_id": "c-1",
        "product_id": "SKU-1",
        "quantity": 1,
        "unit_price": Decimal("1"),
        "reservation_id": "r-1",
        "expires_at": NOW,
        "now": NOW,
        "request_id": None,
    }
    arguments[field] = value

    with pytest.raises(InvalidValue, match=field):
        orders.create_order(**arguments)  # type: ignore[arg-type]


# ------------------------------------------------------------------ change_status


def test_a_status_change_appends_history_and_bumps_the_version() -> None:
    order = make_order()
    later = NOW + timedelta(minutes=1)

    confirmed = orders.change_status(order, OrderStatus.CONFIRMED, later, request_id="req-2")

    assert confirmed.status is OrderStatus.CONFIRMED
    assert confirmed.version == 2
    assert confirmed.updated_at == later
    assert confirmed.created_at == NOW
    assert confirmed.history[-1] == HistoryEntry(OrderStatus.CONFIRMED, later, None, "req-2")
    assert order.status is OrderStatus.PENDING and len(order.history) == 1


def test_cancelling_records_the_reason() -> None:
    order = orders.change_status(
        order_in("confirmed"), OrderStatus.CANCELLED, NOW, reason="expired"
    )

    assert order.cancel_reason == "expired"
    assert order.history[-1].reason == "expired"


def test_the_whole_happy_path_ends_delivered_and_final() -> None:
    order = order_in("delivered")

    assert [e.status.value for e in order.history] == [
        "pending",
        "confirmed",
        "processing",
        "shipped",
        "delivered",
    ]
    assert order.version == 5
    assert orders.is_final(order.status)


def test_a_status_change_refuses_a_naive_time() -> None:
    with pytest.raises(InvalidValue):
        orders.change_status(make_order(), OrderStatus.CONFIRMED, datetime(2025, 3, 1))


# ------------------------------------------------------------------ expiry


def test_a_pending_order_expires_exactly_at_expires_at_and_not_before() -> None:
    order = make_order()

    assert not orders.is_expired(order, order.expires_at - timedelta(microseconds=1))
    assert orders.is_expired(order, order.expires_at)
    assert orders.is_expired(order, order.expires_at + timedelta(days=1))


@pytest.mark.parametrize("status", ["confirmed", "processing", "cancelled", "delivered"])
def test_only_pending_orders_expire(status: str) -> None:
    order = order_in(status)

    assert not orders.is_expired(order, order.expires_at + timedelta(days=1))


def test_expiry_compares_instants_not_wall_clocks() -> None:
    order = make_order()
    tokyo = timezone(timedelta(hours=9))

    assert orders.is_expired(order, order.expires_at.astimezone(tokyo))


# ------------------------------------------------------------------ to_dict / from_dict


def test_to_dict_gives_json_types_with_utc_iso_times_and_money_as_strings() -> None:
    order = orders.change_status(make_order(), OrderStatus.CANCELLED, NOW, reason="customer asked")

    data = orders.to_dict(order)

    assert json.loads(json.dumps(data)) == data
    assert data["status"] == "cancelled"
    assert data["unit_price"] == "9.99"
    assert data["total"] == "19.98"
    assert data["created_at"] == "2025-03-01T12:00:00.123456Z"
    assert data["expires_at"] == "2025-03-01T12:10:00.123456Z"
    assert data["cancel_reason"] == "customer asked"
    assert data["history"][0] == {
        "status": "pending",
        "at": "2025-03-01T12:00:00.123456Z",
        "reason": None,
        "request_id": "req-1",
    }


@pytest.mark.parametrize("status", STATUSES)
def test_from_dict_reverses_to_dict_exactly(status: str) -> None:
    order = order_in(status)

    restored = orders.from_dict(json.loads(json.dumps(orders.to_dict(order))))

    assert restored == order
    assert restored.status is order.status
    assert restored.expires_at.tzinfo is UTC


def test_from_dict_accepts_offset_times_and_converts_them_to_utc() -> None:
    data = orders.to_dict(make_order()) | {"created_at": "2025-03-01T13:00:00.123456+01:00"}

    assert orders.from_dict(data).created_at == NOW


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("status", "paid", "unknown order status"),
        ("created_at", "yesterday", "not an ISO 8601 time"),
        ("created_at", "2025-03-01T12:00:00", "timezone-aware"),
        ("total", 19.98, "total"),
        ("quantity", "2", "quantity"),
        ("history", [{"status": "pending"}], "order.history"),
        ("history", ["pending"], "order.history"),
    ],
)
def test_from_dict_refuses_malformed_data(key: str, value: object, match: str) -> None:
    data = orders.to_dict(make_order()) | {key: value}

    with pytest.raises(ValueError, match=match):
        orders.from_dict(data)


def test_from_dict_refuses_a_missing_field() -> None:
    data = orders.to_dict(make_order())
    del data["reservation_id"]

    with pytest.raises(InvalidValue, match="order.reservation_id: is missing"):
        orders.from_dict(data)


def test_an_order_keeps_its_allocations_through_its_row() -> None:
    order = orders.create_order(
        order_id="o-1",
        customer_id="c-1",
        product_id="SKU-1",
        quantity=3,
        unit_price=Decimal("1.00"),
        reservation_id="r-1",
        expires_at=NOW + timedelta(minutes=10),
        now=NOW,
        request_id=None,
        allocations={"east": 1, "main": 2},
    )

    restored = orders.from_dict(json.loads(json.dumps(orders.to_dict(order))))

    assert restored == order
    assert list(restored.allocations.items()) == [("east", 1), ("main", 2)]


def test_an_order_row_from_before_locations_has_no_allocations() -> None:
    row = orders.to_dict(make_order())
    del row["lines"][0]["allocations"]

    assert orders.from_dict(row).allocations == {}


def test_an_order_row_from_before_carts_keeps_its_lines_allocations() -> None:
    row = orders.to_dict(make_order())
    del row["lines"]
    row["allocations"] = {"east": 2}

    order = orders.from_dict(row)
    assert [line.allocations for line in order.lines] == [{"east": 2}]


def test_an_order_row_with_malformed_allocations_is_refused() -> None:
    row = orders.to_dict(make_order())
    row["lines"][0]["allocations"] = {"east": "2"}

    with pytest.raises(InvalidValue, match="allocations"):
        orders.from_dict(row)
