"""GET /api/orders/ over HTTP: filters, sorts and cursor pages through the real pipeline."""

from __future__ import annotations

from decimal import Decimal

import aiohttp
import pytest

from tests.support.ids import unique

pytestmark = pytest.mark.e2e


async def make_orders(http: aiohttp.ClientSession, customer: str) -> list[dict]:
    product_id = unique("p")
    async with http.post(
        "/api/products/", json={"id": product_id, "name": "W", "price": "2.50", "stock": 50}
    ) as response:
        assert response.status == 201
    orders = []
    for quantity in (3, 1, 4, 1, 5):
        async with http.post(
            "/api/reservations/",
            json={"product_id": product_id, "quantity": quantity, "customer_id": customer},
        ) as response:
            assert response.status == 201
            orders.append((await response.json())["order"])
    async with http.post(
        f"/api/orders/{orders[0]['id']}/change_status/", json={"status": "confirmed"}
    ) as response:
        assert response.status == 200
    return orders


async def walk(http: aiohttp.ClientSession, query: dict[str, str]) -> list[dict]:
    results, cursor = [], None
    for _ in range(50):
        params = {**query, **({"cursor": cursor} if cursor else {})}
        async with http.get("/api/orders/", params=params) as response:
            assert response.status == 200, await response.text()
            body = await response.json()
        results.extend(body["results"])
        cursor = body["next_cursor"]
        if cursor is None:
            return results
    raise AssertionError("too many pages")


async def test_orders_of_a_customer_by_value_across_pages(http: aiohttp.ClientSession) -> None:
    customer = unique("cust")
    orders = await make_orders(http, customer)
    listed = await walk(http, {"customer_id": customer, "sort": "highest_value", "limit": "2"})
    assert [o["id"] for o in listed] == [
        o["id"] for o in sorted(orders, key=lambda o: (Decimal(o["total"]), o["id"]), reverse=True)
    ]
    assert "history" not in listed[0]


async def test_status_and_total_filters_combine(http: aiohttp.ClientSession) -> None:
    customer = unique("cust")
    orders = await make_orders(http, customer)
    pending = await walk(
        http,
        {"customer_id": customer, "status": "pending", "min_total": "2.50", "max_total": "10"},
    )
    expected = {
        o["id"] for o in orders[1:] if Decimal("2.50") <= Decimal(o["total"]) <= Decimal("10")
    }
    assert {o["id"] for o in pending} == expected
    confirmed = await walk(http, {"customer_id": customer, "status": "confirmed,cancelled"})
    assert [o["id"] for o in confirmed] == [orders[0]["id"]]


async def test_newest_first_is_the_default(http: aiohttp.ClientSession) -> None:
    customer = unique("cust")
    await make_orders(http, customer)
    listed = await walk(http, {"customer_id": customer})
    created = [o["created_at"] for o in listed]
    assert created == sorted(created, reverse=True)


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ({"created_from": "yesterday"}, "created_from"),
        ({"status": "lost"}, "status"),
        ({"sort": "random"}, "sort"),
        ({"limit": "500"}, "limit"),
        ({"min_total": "10", "max_total": "1"}, "min_total"),
        ({"cursor": "not-a-cursor"}, "cursor"),
    ],
)
async def test_bad_parameters_are_400_naming_the_parameter(
    http: aiohttp.ClientSession, query: dict[str, str], parameter: str
) -> None:
    async with http.get("/api/orders/", params=query) as response:
        assert response.status == 400
        body = await response.json()
    assert body["error"]["code"] == "invalid_parameter"
    assert body["error"]["details"]["parameter"] in (parameter, "max_total")
    assert body["request_id"] == response.headers["X-Request-ID"]


async def test_a_cursor_from_another_sort_is_refused(http: aiohttp.ClientSession) -> None:
    customer = unique("cust")
    await make_orders(http, customer)
    async with http.get("/api/orders/", params={"customer_id": customer, "limit": "2"}) as response:
        cursor = (await response.json())["next_cursor"]
    assert cursor
    async with http.get(
        "/api/orders/",
        params={"customer_id": customer, "limit": "2", "sort": "oldest", "cursor": cursor},
    ) as response:
        assert response.status == 400
        assert (await response.json())["error"]["details"]["parameter"] == "cursor"
