"""How `inventory top` draws a snapshot (inventory.top_view), rendered to plain text."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from inventory.top_view import countdown, render, stock_bar

SNAPSHOT: dict[str, Any] = {
    "now": "2026-12-03T12:00:00Z",
    "products": [
        {
            "id": "widget",
            "name": "Widget",
            "available": 3,
            "reserved": 2,
            "sold": 5,
            "total": 10,
            "shares": {"available": 0.3, "reserved": 0.2, "sold": 0.5},
        }
    ],
    "holds": [
        {
            "id": "r-1",
            "product_id": "widget",
            "order_id": "o-1",
            "quantity": 2,
            "expires_at": "2026-12-03T12:01:05Z",
            "seconds_left": 65.4,
        }
    ],
    "holds_window_seconds": 900.0,
    "orders_by_status": {"pending": 1, "confirmed": 0},
    "reservations_per_second": {
        "step_seconds": 5,
        "points": [{"at": 0, "per_second": 0.4}, {"at": 5, "per_second": 0.2}],
    },
    "lag": {
        "threshold": 100,
        "consumers": [
            {"group": "workers", "lag": 250, "over": True, "partitions": []},
            {"group": "projector", "lag": 0, "over": False, "partitions": []},
        ],
        "projections": [{"projection": "read_models", "lag": 0, "over": False}],
    },
}


def text_of(snapshot: dict[str, Any]) -> str:
    console = Console(record=True, width=140, color_system="truecolor")
    console.print(render(snapshot))
    return console.export_text()


def test_a_snapshot_shows_products_holds_orders_rate_and_lag() -> None:
    text = text_of(SNAPSHOT)
    for expected in ("widget", "r-1", "1:05", "pending 1", "now 0.20", "peak 0.40", "workers"):
        assert expected in text, expected


def test_lag_past_the_threshold_is_red_and_lag_within_it_green() -> None:
    console = Console(record=True, width=140, color_system="truecolor")
    console.print(render(SNAPSHOT))
    html = console.export_html(inline_styles=True)
    assert "250" in html
    red, green = "#800000", "#008000"
    assert red in html.split("250")[0].rsplit("<span", 1)[-1], "the lag past 100 is red"
    assert green in html.split(">0<")[0].rsplit("<span", 1)[-1], "the lag of 0 is green"


def test_no_hold_about_to_expire_says_so() -> None:
    assert "none" in text_of({**SNAPSHOT, "holds": []})


def test_a_bar_is_as_wide_as_asked_whatever_the_rounding() -> None:
    shares = {"available": 1 / 3, "reserved": 1 / 3, "sold": 1 / 3}
    assert len(stock_bar(shares, width=10).plain) == 10
    assert stock_bar({"available": 0, "reserved": 0, "sold": 0}, width=4).plain == "····"


def test_a_countdown_is_minutes_and_seconds_then_expiring() -> None:
    assert countdown(65.9) == "1:05"
    assert countdown(0) == "expiring"
