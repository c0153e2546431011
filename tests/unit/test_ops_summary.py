"""What the operations views show, shaped from plain rows (inventory.ops_summary)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from inventory.lag import PartitionLag
from inventory.ops_summary import (
    hold_view,
    lag_view,
    ordered_products,
    orders_by_status,
    product_of,
    rate_series,
    stock_bar,
)

NOW = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)


def product(pid: str, available: int, reserved: int = 0, sold: int = 0) -> dict[str, object]:
    return {
        "id": pid,
        "name": pid.upper(),
        "available": available,
        "reserved": reserved,
        "sold": sold,
    }


def test_a_stock_bar_splits_the_total_into_shares() -> None:
    bar = stock_bar(product("p", available=6, reserved=3, sold=1))
    assert bar["total"] == 10
    assert bar["shares"] == {"available": 0.6, "reserved": 0.3, "sold": 0.1}


def test_a_product_without_stock_has_empty_shares_not_a_division_by_zero() -> None:
    assert stock_bar(product("p", 0))["shares"] == {"available": 0, "reserved": 0, "sold": 0}


def test_products_about_to_run_out_come_first() -> None:
    rows = [product("b", 5), product("a", 5), product("c", 1)]
    assert [p["id"] for p in ordered_products(rows)] == ["c", "a", "b"]


def hold(expires_in: float) -> dict[str, object]:
    return {
        "id": "r",
        "product_id": "p",
        "order_id": "o",
        "quantity": 2,
        "expires_at": NOW + timedelta(seconds=expires_in),
    }


def test_a_hold_shows_the_seconds_until_it_expires() -> None:
    assert hold_view(hold(90.5), NOW)["seconds_left"] == 90.5


def test_an_overdue_hold_shows_zero_until_the_timer_expires_it() -> None:
    assert hold_view(hold(-3), NOW)["seconds_left"] == 0


def test_every_order_status_is_listed_in_state_machine_order() -> None:
    counts = orders_by_status({"shipped": 2, "pending": 5})
    assert list(counts) == [
        "pending",
        "confirmed",
        "processing",
        "shipped",
        "delivered",
        "cancelled",
    ]
    assert counts["pending"] == 5 and counts["shipped"] == 2 and counts["confirmed"] == 0


def test_a_status_the_views_do_not_know_is_still_shown() -> None:
    assert orders_by_status({"lost": 1})["lost"] == 1


def test_the_rate_series_fills_quiet_steps_with_zero_and_divides_by_the_step() -> None:
    now = 1_000_007.0  # within the step starting at 1_000_005
    series = rate_series({1_000_005: 10, 999_995: 5}, now, window_seconds=20, step_seconds=5)
    assert series == [
        {"at": 999_990, "per_second": 0.0},
        {"at": 999_995, "per_second": 1.0},
        {"at": 1_000_000, "per_second": 0.0},
        {"at": 1_000_005, "per_second": 2.0},
    ]


def test_a_window_shorter_than_its_step_is_refused() -> None:
    with pytest.raises(ValueError):
        rate_series({}, 0.0, window_seconds=4, step_seconds=5)


def lags(group: str, *values: int) -> list[PartitionLag]:
    return [PartitionLag(group, "t", i, end=v, committed=0) for i, v in enumerate(values)]


def test_lag_view_marks_groups_and_partitions_past_the_threshold() -> None:
    view = lag_view({"workers": lags("workers", 5, 200)}, {}, threshold=100)
    [group] = view["consumers"]
    assert group["lag"] == 205 and group["over"]
    assert [(p["partition"], p["lag"], p["over"]) for p in group["partitions"]] == [
        (0, 5, False),
        (1, 200, True),
    ]


def test_projection_lag_is_its_groups_lag() -> None:
    view = lag_view(
        {"projector": lags("projector", 3, 4), "audit-log": lags("audit-log", 0)},
        {"read_models": "projector", "audit_log": "audit-log"},
        threshold=5,
    )
    assert view["projections"] == [
        {"projection": "read_models", "lag": 7, "over": True},
        {"projection": "audit_log", "lag": 0, "over": False},
    ]


def test_a_group_the_broker_did_not_answer_about_shows_unknown_and_red() -> None:
    view = lag_view({"projector": None}, {"read_models": "projector"}, threshold=5)
    assert view["consumers"][0] == {
        "group": "projector",
        "lag": None,
        "over": True,
        "partitions": [],
    }
    assert view["projections"][0] == {"projection": "read_models", "lag": None, "over": True}


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"data": {"product": {"id": "p1"}, "reservation": {"product_id": "p1"}}}, "p1"),
        ({"data": {"order": {"id": "o1", "product_id": "p2"}}}, "p2"),
        ({"data": {"entity_type": "product", "entity_id": "p3", "code": "x"}}, "p3"),
        ({"data": {"entity_type": "order", "entity_id": "o4", "code": "x"}}, None),
        ({"data": {}}, None),
    ],
)
def test_the_product_an_audit_event_concerns(
    event: dict[str, object], expected: str | None
) -> None:
    assert product_of(event) == expected
