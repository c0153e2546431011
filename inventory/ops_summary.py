"""What the operations views show (GET /api/ops/summary, the /ops page, `inventory top`),
shaped from plain rows: stock bars, holds with their time left, orders by status,
reservations per second, lag against its threshold.

Pure: the rows come from storage.ops_queries, the offsets from inventory.lag_reader.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from inventory.lag import PartitionLag, over_threshold, total_lag

ORDER_STATUSES = ("pending", "confirmed", "processing", "shipped", "delivered", "cancelled")


def stock_bar(row: Mapping[str, Any]) -> dict[str, Any]:
    """A product's counters and the share of each in its total (0 to 1), for a bar."""
    available, reserved, sold = int(row["available"]), int(row["reserved"]), int(row["sold"])
    total = available + reserved + sold
    share = (lambda n: n / total) if total else (lambda n: 0.0)
    return {
        "id": row["id"],
        "name": row["name"],
        "available": available,
        "reserved": reserved,
        "sold": sold,
        "total": total,
        "shares": {"available": share(available), "reserved": share(reserved), "sold": share(sold)},
    }


def hold_view(row: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """An active reservation with the seconds until it expires (0 once overdue: the expiry
    timer has not reached it yet)."""
    expires_at: datetime = row["expires_at"]
    return {
        "id": row["id"],
        "product_id": row["product_id"],
        "order_id": row["order_id"],
        "quantity": int(row["quantity"]),
        "expires_at": expires_at,
        "seconds_left": max(0.0, (expires_at - now).total_seconds()),
    }


def orders_by_status(counts: Mapping[str, int]) -> dict[str, int]:
    """Every status of the order state machine, in its order, with 0 for none."""
    known = {status: int(counts.get(status, 0)) for status in ORDER_STATUSES}
    others = {status: int(n) for status, n in counts.items() if status not in known}
    return {**known, **dict(sorted(others.items()))}


def rate_series(
    buckets: Mapping[int, int], now_epoch: float, window_seconds: int, step_seconds: int
) -> list[dict[str, float]]:
    """Reservations per second over the last `window_seconds`, one point per step.

    `buckets` maps the epoch second a step starts at (a multiple of `step_seconds`) to
    the reservations made in it; steps without any are 0. The step in progress is
    included (its rate still climbs), the oldest step is the first of the window.
    """
    if step_seconds <= 0 or window_seconds < step_seconds:
        raise ValueError("window_seconds must be at least step_seconds > 0")
    last = int(now_epoch) // step_seconds * step_seconds
    steps = window_seconds // step_seconds
    starts = [last - step_seconds * i for i in range(steps - 1, -1, -1)]
    return [{"at": start, "per_second": buckets.get(start, 0) / step_seconds} for start in starts]


def lag_view(
    consumers: Mapping[str, list[PartitionLag] | None],
    projections: Mapping[str, str],
    threshold: int,
) -> dict[str, Any]:
    """Consumer lag per group and partition, and projection lag per projection.

    `consumers` maps each group to its partitions' lag (None: the broker did not answer);
    `projections` maps each projection's name to its group. Every row says whether it is
    past the threshold (`over`), which the views show in red.
    """
    groups: list[dict[str, Any]] = []
    for group, lags in consumers.items():
        total = None if lags is None else total_lag(lags)
        groups.append(
            {
                "group": group,
                "lag": total,
                "over": over_threshold(total, threshold),
                "partitions": [
                    {
                        "topic": p.topic,
                        "partition": p.partition,
                        "lag": p.lag,
                        "over": over_threshold(p.lag, threshold),
                    }
                    for p in lags or []
                ],
            }
        )
    by_group = {g["group"]: g["lag"] for g in groups}
    return {
        "threshold": threshold,
        "consumers": groups,
        "projections": [
            {
                "projection": name,
                "lag": by_group.get(group),
                "over": over_threshold(by_group.get(group), threshold),
            }
            for name, group in projections.items()
        ],
    }


def product_of(event: Mapping[str, Any]) -> str | None:
    """The product an audit event (as JSON) concerns, if any: what the page filters on.

    Products, stock and reservations name it in their data; orders in the order;
    a rejected command only if its entity is a product.
    """
    data = event.get("data") or {}
    for holder in ("product", "reservation", "order"):
        inner = data.get(holder)
        if isinstance(inner, Mapping):
            found = inner.get("id") if holder == "product" else inner.get("product_id")
            if isinstance(found, str):
                return found
    if data.get("entity_type") == "product" and isinstance(data.get("entity_id"), str):
        return str(data["entity_id"])
    product_id = data.get("product_id")
    return product_id if isinstance(product_id, str) else None


def ordered_products(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Stock bars, lowest available first: the products about to run out lead."""
    return sorted((stock_bar(r) for r in rows), key=lambda b: (b["available"], b["id"]))
