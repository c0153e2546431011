"""Locations over HTTP through the whole pipeline (issue 12): the catalogue, stock per
location, each allocation strategy, pinned lines, splits, transfers, the chaos race."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from tests.support.chaos import run_chaos
from tests.support.ids import unique
from tests.support.pipeline import Pipeline
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e


async def call(
    http: aiohttp.ClientSession, method: str, path: str, body: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    async with http.request(method, path, json=body) as response:
        return response.status, await response.json()


async def location(http: aiohttp.ClientSession, priority: int) -> str:
    location_id = unique("loc")
    status, body = await call(
        http,
        "POST",
        "/api/locations/",
        {"id": location_id, "name": f"Warehouse {location_id}", "priority": priority},
    )
    assert status == 201, body
    assert body["location"] == {
        "id": location_id,
        "name": f"Warehouse {location_id}",
        "priority": priority,
    }
    return location_id


async def product_at(http: aiohttp.ClientSession, **units: int) -> str:
    """A product with no stock at main and `units` at each location given."""
    product_id = unique("p")
    status, body = await call(
        http, "POST", "/api/products/", {"id": product_id, "name": "W", "price": "2.00", "stock": 0}
    )
    assert status == 201, body
    for location_id, n in units.items():
        status, body = await adjust(http, product_id, n, location_id)
        assert status == 200, body
    return product_id


async def adjust(
    http: aiohttp.ClientSession, product_id: str, delta: int, location_id: str
) -> tuple[int, dict[str, Any]]:
    return await call(
        http,
        "POST",
        f"/api/products/{product_id}/adjust_stock/",
        {"delta": delta, "reason": "delivery", "location_id": location_id},
    )


async def reserve(
    http: aiohttp.ClientSession, product_id: str, quantity: int, location_id: str | None = None
) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"product_id": product_id, "quantity": quantity, "customer_id": "c"}
    if location_id is not None:
        body["location_id"] = location_id
    return await call(http, "POST", "/api/reservations/", body)


async def stock_at(http: aiohttp.ClientSession, product_id: str) -> dict[str, tuple[int, int, int]]:
    """(available, reserved, sold) per location, checking that the totals are the sums."""
    status, body = await call(http, "GET", f"/api/products/{product_id}")
    assert status == 200, body
    product = body["product"]
    at = {
        loc["location_id"]: (loc["available"], loc["reserved"], loc["sold"])
        for loc in product["locations"]
    }
    sums = tuple(sum(v[i] for v in at.values()) for i in range(3))
    assert sums == (product["available"], product["reserved"], product["sold"]), product
    return at


async def test_the_catalogue_lists_main_and_refuses_an_id_twice(
    http: aiohttp.ClientSession,
) -> None:
    east = await location(http, 5)
    status, body = await call(
        http, "POST", "/api/locations/", {"id": east, "name": "Again", "priority": 1}
    )
    assert (status, body["error"]["code"]) == (409, "location_exists")
    status, body = await call(http, "GET", "/api/locations/")
    assert status == 200
    ids = [loc["id"] for loc in body["results"]]
    assert ids[0] == "main" and east in ids


async def test_a_product_created_with_stock_holds_it_at_main(http: aiohttp.ClientSession) -> None:
    product_id = unique("p")
    status, body = await call(
        http, "POST", "/api/products/", {"id": product_id, "name": "W", "price": "2.00", "stock": 4}
    )
    assert status == 201
    assert body["product"]["locations"] == [
        {"location_id": "main", "available": 4, "reserved": 0, "sold": 0}
    ]
    assert body["product"]["allocation"] == "priority"


async def test_adjusting_an_unknown_location_is_a_404(http: aiohttp.ClientSession) -> None:
    product_id = await product_at(http)
    status, body = await adjust(http, product_id, 1, unique("nowhere"))
    assert (status, body["error"]["code"]) == (404, "location_not_found")


async def test_priority_splits_a_line_and_confirm_then_cancel_act_on_its_allocation(
    http: aiohttp.ClientSession, pipeline: Pipeline
) -> None:
    first, second = await location(http, 10), await location(http, 20)
    product_id = await product_at(http, **{second: 5, first: 2})

    status, created = await reserve(http, product_id, 4)
    assert status == 201, created
    split = [{"location_id": first, "quantity": 2}, {"location_id": second, "quantity": 2}]
    assert created["reservation"]["allocations"] == split
    assert created["order"]["allocations"] == split
    assert (await stock_at(http, product_id))[first] == (0, 2, 0)
    status, body = await call(http, "GET", f"/api/reservations/{created['reservation']['id']}")
    assert body["reservation"]["allocations"] == split

    order_id = created["order"]["id"]
    status, body = await call(
        http, "POST", f"/api/orders/{order_id}/change_status/", {"status": "confirmed"}
    )
    assert status == 200, body
    at = await stock_at(http, product_id)
    assert (at[first], at[second]) == ((0, 0, 2), (3, 0, 2))
    status, body = await call(
        http, "POST", f"/api/orders/{order_id}/change_status/", {"status": "cancelled"}
    )
    assert status == 200, body
    at = await stock_at(http, product_id)
    assert (at[first], at[second]) == ((2, 0, 0), (5, 0, 0))
    await pipeline.assert_invariants([product_id])


async def test_most_stock_takes_the_fullest_location_first(
    http: aiohttp.ClientSession, pipeline: Pipeline
) -> None:
    first, second = await location(http, 1), await location(http, 2)
    product_id = await product_at(http, **{first: 2, second: 6})
    status, body = await call(
        http, "PATCH", f"/api/products/{product_id}/", {"allocation": "most_stock"}
    )
    assert (status, body["product"]["allocation"]) == (200, "most_stock")

    status, created = await reserve(http, product_id, 3)
    assert status == 201, created
    assert created["reservation"]["allocations"] == [{"location_id": second, "quantity": 3}]
    await pipeline.assert_invariants([product_id])


async def test_a_pinned_line_takes_its_location_or_is_refused(
    http: aiohttp.ClientSession, pipeline: Pipeline
) -> None:
    first, second = await location(http, 1), await location(http, 2)
    product_id = await product_at(http, **{first: 5, second: 1})

    status, created = await reserve(http, product_id, 1, second)
    assert status == 201, created
    assert created["reservation"]["allocations"] == [{"location_id": second, "quantity": 1}]
    status, refused = await reserve(http, product_id, 1, second)
    assert status == 409
    assert refused["error"]["code"] == "insufficient_stock"
    assert refused["error"]["details"] == {"available": 0, "requested": 1, "location_id": second}

    # A cancel releases exactly where it was held (expiry: tests/integration).
    order_id = created["order"]["id"]
    status, _ = await call(
        http, "POST", f"/api/orders/{order_id}/change_status/", {"status": "cancelled"}
    )
    assert status == 200
    at = await stock_at(http, product_id)
    assert (at[first], at[second]) == ((5, 0, 0), (1, 0, 0))
    await pipeline.assert_invariants([product_id])


async def test_a_transfer_moves_units_at_both_ends_in_one_event(
    http: aiohttp.ClientSession, pipeline: Pipeline
) -> None:
    first, second = await location(http, 1), await location(http, 2)
    product_id = await product_at(http, **{first: 5})

    status, body = await call(
        http,
        "POST",
        f"/api/products/{product_id}/transfer_stock/",
        {"from": first, "to": second, "quantity": 3, "reason": "rebalance"},
    )
    assert status == 200, body
    at = await stock_at(http, product_id)
    assert (at[first], at[second]) == ((2, 0, 0), (3, 0, 0))

    status, body = await call(
        http,
        "POST",
        f"/api/products/{product_id}/transfer_stock/",
        {"from": first, "to": second, "quantity": 3, "reason": "too many"},
    )
    assert (status, body["error"]["code"]) == (409, "insufficient_stock")

    status, audit = await call(http, "GET", f"/api/audit/?location_id={second}")
    assert status == 200
    transfers = [e for e in audit["results"] if e["type"] == "stock.transferred"]
    assert len(transfers) == 1 and transfers[0]["entity_id"] == product_id
    await pipeline.assert_invariants([product_id])


async def test_orders_and_audit_filter_by_location(http: aiohttp.ClientSession) -> None:
    first, second = await location(http, 1), await location(http, 2)
    product_id = await product_at(http, **{first: 1, second: 1})
    status, pinned = await reserve(http, product_id, 1, second)
    assert status == 201

    status, body = await call(http, "GET", f"/api/orders/?location_id={second}")
    assert status == 200
    assert [o["id"] for o in body["results"]] == [pinned["order"]["id"]]
    status, body = await call(http, "GET", f"/api/orders/?location_id={first}")
    assert body["results"] == []
    status, body = await call(http, "GET", f"/api/audit/?location_id={first}")
    assert {e["type"] for e in body["results"]} == {"stock.adjusted"}


async def test_parallel_reservations_never_take_a_location_below_zero(
    http: aiohttp.ClientSession, pipeline: Pipeline
) -> None:
    first, second = await location(http, 1), await location(http, 2)
    product_id = await product_at(http, **{first: 2, second: 3})
    results = await asyncio.gather(*(reserve(http, product_id, 1) for _ in range(20)))
    assert [s for s, _ in results].count(201) == 5
    at = await stock_at(http, product_id)
    assert (at[first], at[second]) == ((0, 2, 0), (0, 3, 0))
    await pipeline.assert_invariants([product_id])


def test_the_chaos_script_with_locations_passes(gateway_url: str, admin_key: str) -> None:
    output = run_chaos(gateway_url, admin_key, "--locations")
    assert "5 of 50 reservations succeeded" in output
    assert output.count("available 0, reserved") == 4  # the product, main and both


async def test_a_carts_lines_are_allocated_pinned_and_returned_where_they_were_sold(
    http: aiohttp.ClientSession, pipeline: Pipeline
) -> None:
    east, west = await location(http, 1), await location(http, 2)
    a = await product_at(http, main=1, **{east: 2})  # a line of 3 splits: main, then east
    b = await product_at(http, **{east: 5, west: 5})
    status, body = await call(
        http,
        "POST",
        "/api/reservations/",
        {
            "customer_id": "c",
            "lines": [
                {"product_id": a, "quantity": 3},
                {"product_id": b, "quantity": 2, "location_id": west},
            ],
        },
    )
    assert status == 201, body
    lines = {x["product_id"]: x for x in body["order"]["lines"]}
    assert lines[a]["allocations"] == [
        {"location_id": "main", "quantity": 1},
        {"location_id": east, "quantity": 2},
    ]
    assert lines[b]["allocations"] == [{"location_id": west, "quantity": 2}]
    assert body["order"]["allocations"] == []  # a cart's are on its lines
    order_id = body["order"]["id"]
    # The order list's location filter finds the cart by either line's location.
    for place in (east, west):
        status, listed = await call(http, "GET", f"/api/orders/?location_id={place}")
        assert order_id in [o["id"] for o in listed["results"]], place

    status, _ = await call(
        http, "POST", f"/api/orders/{order_id}/change_status/", {"status": "confirmed"}
    )
    assert status == 200
    status, _ = await call(
        http, "POST", f"/api/orders/{order_id}/change_status/", {"status": "cancelled"}
    )
    assert status == 200

    async def both() -> tuple[dict[str, tuple[int, int, int]], ...]:
        return (await stock_at(http, a), await stock_at(http, b))

    # Sold units come back to the locations they were sold from.
    await eventually(
        both,
        # (b was created with stock 0: it shows main at 0 too.)
        lambda s: (
            s[0] == {"main": (1, 0, 0), east: (2, 0, 0)}
            and s[1] == {"main": (0, 0, 0), east: (5, 0, 0), west: (5, 0, 0)}
        ),
        what="every line's units back where they were sold",
    )
    await pipeline.assert_invariants([a, b])
