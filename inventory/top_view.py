"""How `inventory top` draws one snapshot (inventory.ops_snapshot) in the terminal.

Only rich: the data comes in as the same JSON-ready dict GET /api/ops/summary answers.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

BAR_WIDTH = 24
SHOWN = 15


def stock_bar(shares: dict[str, float], width: int = BAR_WIDTH) -> Text:
    """A bar of `width` cells: available green, reserved yellow, sold blue."""
    bar = Text()
    used = 0
    for field, style in (("available", "green"), ("reserved", "yellow"), ("sold", "blue")):
        cells = round(shares[field] * width)
        cells = min(cells, width - used)
        bar.append("█" * cells, style=style)
        used += cells
    bar.append("·" * (width - used), style="dim")
    return bar


def countdown(seconds: float) -> str:
    """m:ss, or "expiring" once the time is up (the expiry timer has yet to act)."""
    if seconds <= 0:
        return "expiring"
    whole = int(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def _lag_text(lag: int | None, over: bool) -> Text:
    return Text("unknown" if lag is None else str(lag), style="bold red" if over else "green")


def render(snapshot: dict[str, Any], title: str = "inventory-stream") -> RenderableType:
    """Products, holds about to expire, orders by status, reservations per second and
    lag (red past the threshold), as rich tables."""
    products = Table(title="stock (fewest available first)", expand=True)
    for column in ("product", "available", "reserved", "sold"):
        products.add_column(column, justify="left" if column == "product" else "right")
    products.add_column("", no_wrap=True)
    for p in snapshot["products"][:SHOWN]:
        products.add_row(
            p["id"], str(p["available"]), str(p["reserved"]), str(p["sold"]), stock_bar(p["shares"])
        )

    window = int(snapshot["holds_window_seconds"] // 60)
    holds = Table(title=f"holds expiring in the next {window} min", expand=True)
    for column in ("reservation", "product", "qty", "left"):
        holds.add_column(column, justify="right" if column in ("qty", "left") else "left")
    for h in snapshot["holds"][:SHOWN]:
        left = countdown(h["seconds_left"])
        holds.add_row(h["id"], h["product_id"], str(h["quantity"]), left)
    if not snapshot["holds"]:
        holds.add_row("none", "", "", "")

    lag = snapshot["lag"]
    lags = Table(title=f"lag (red past {lag['threshold']})", expand=True)
    for column in ("consumer group / projection", "lag"):
        lags.add_column(column, justify="right" if column == "lag" else "left")
    for group in lag["consumers"]:
        lags.add_row(group["group"], _lag_text(group["lag"], group["over"]))
    for projection in lag["projections"]:
        lags.add_row(
            f"projection {projection['projection']}",
            _lag_text(projection["lag"], projection["over"]),
        )

    orders = "  ".join(f"{status} {n}" for status, n in snapshot["orders_by_status"].items())
    points = snapshot["reservations_per_second"]["points"]
    now_rate = points[-1]["per_second"] if points else 0.0
    peak = max((p["per_second"] for p in points), default=0.0)
    header = Text.assemble(
        (title, "bold"),
        f"  {snapshot['now']}  reservations/s now {now_rate:.2f}, 5 min peak {peak:.2f}\n",
        ("orders: ", "bold"),
        orders,
    )
    return Group(header, products, holds, lags)
