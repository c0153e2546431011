"""The filter/sort combinations `bench.queries` measures, as `GET /api/orders/` query strings.

Eight filter sets x the four sorts. The values are chosen against the seeded data
(bench/seed_orders.py) so that every combination has a few hundred pages: a deep
page needs that many, and a filter matching ten rows would measure nothing. The
customer and product are the busiest ones for the same reason; a typical customer
(~70 orders) has two pages, and its first page is as cheap as the busiest's.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.seed_orders import SeedReport
from storage.order_params import SORTS, OrderListParams, parse_order_list_params


@dataclass(frozen=True)
class FilterSet:
    key: str  # for --filters
    label: str  # for the table
    query: dict[str, str]


@dataclass(frozen=True)
class Combo:
    filters: FilterSet
    sort: str

    @property
    def label(self) -> str:
        return f"{self.filters.label} · {self.sort}"

    def query(self, limit: int, cursor: str | None = None) -> dict[str, str]:
        """The query string of one page, exactly as a client sends it."""
        query = {**self.filters.query, "sort": self.sort, "limit": str(limit)}
        if cursor is not None:
            query["cursor"] = cursor
        return query

    def params(self, limit: int, cursor: str | None = None) -> OrderListParams:
        """The same page as the gateway parses it, for calling storage directly."""
        return parse_order_list_params(self.query(limit, cursor))


def filter_sets(seed: SeedReport) -> list[FilterSet]:
    """None, one status, several, a date range, a total range, a customer, a product,
    and status + date + total together."""
    return [
        FilterSet("none", "no filter", {}),
        # 10 % of the orders; a rare status plans the same (one ordered index scan).
        FilterSet("status", "status=shipped", {"status": "shipped"}),
        # The orders still in flight, an operator's everyday list: one UNION branch each.
        FilterSet(
            "statuses",
            "status=pending,confirmed,processing",
            {"status": "pending,confirmed,processing"},
        ),
        # One month (~8 %).
        FilterSet(
            "dates",
            "March 2024",
            {"created_from": "2024-03-01T00:00:00Z", "created_to": "2024-04-01T00:00:00Z"},
        ),
        # ~22 % of the orders (totals are skewed towards small amounts, median ~90).
        FilterSet("totals", "total 100..500", {"min_total": "100", "max_total": "500"}),
        FilterSet(
            "customer",
            f"busiest customer ({seed.busiest_customer_orders:,} orders)",
            {"customer_id": seed.busiest_customer},
        ),
        FilterSet(
            "product",
            f"busiest product ({seed.busiest_product_orders:,} orders)",
            {"product_id": seed.busiest_product},
        ),
        # ~60 % x 25 % x ~30 %: each filter alone is wide, together ~4.5 %.
        FilterSet(
            "mixed",
            "delivered + Q2 + total 100..1000",
            {
                "status": "delivered",
                "created_from": "2024-04-01T00:00:00Z",
                "created_to": "2024-07-01T00:00:00Z",
                "min_total": "100",
                "max_total": "1000",
            },
        ),
    ]


FILTER_KEYS = ("none", "status", "statuses", "dates", "totals", "customer", "product", "mixed")


def combos(
    seed: SeedReport, keys: list[str] | None = None, sorts: list[str] | None = None
) -> list[Combo]:
    """Every chosen filter set with every chosen sort, filter set by filter set."""
    chosen = [f for f in filter_sets(seed) if keys is None or f.key in keys]
    return [Combo(f, s) for f in chosen for s in (sorts or SORTS)]
