"""Carts over HTTP through the whole pipeline: one reservation for several products, held
all or nothing across partitions (agents.cart_rules)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from tests.support.chaos import run_chaos
from tests.support.ids import unique
from tests.support.pipeline import Pipeline
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e


async def create_product(http: aiohttp.ClientSession, stock: int, price: str = "9.99") -> str:
    product_id = unique("p")
    async with http.post(
        "/api/products/", json={"id": product_id, "name": "Widget", "price": price, "stock": stock}
    ) as response:
        assert response.status == 201, await response.text()
    return product_id


async def reserve_cart(
    http: aiohttp.ClientSession, lines: list[tuple[str, int]], **headers: str
) -> tuple[int, dict[str, Any]]:
    async with http.post(
        "/api/reservations/",
        json={
            "customer_id": "cust-cart",
            "lines": [{"product_id": p, "quantity": q} for p, q in lines],
        },
        headers=headers,
    ) as response:
        return response.status, await response.json()


async def stock_of(http: aiohttp.ClientSession, product_id: str) -> tuple[int, int, int]:
    async with http.get(f"/api/products/{product_id}") as response:
        product = (await response.json())["product"]
    return product["available"], product["reserved"], product["sold"]


async def change_status(http: aiohttp.ClientSession, order_id: str, status: str) -> int:
    async with http.post(
        f"/api/orders/{order_id}/change_status/", json={"status": status}
    ) as response:
        await response.read()
        return response.status


async def test_a_cart_is_held_whole_and_its_order_has_lines_and_a_total(
    http: aiohttp.ClientSession, pipeline: Pipeline
) -> None:
    a = await create_product(http, 5, "2.50")
    b = await create_product(http, 3, "10.00")
    status, body = await reserve_cart(http, [(a, 2), (b, 1)])
    assert status == 201, body
    reservation, order = body["reservation"], body["order"]
    assert reservation["status"] == "active" and reservation["order_id"] == order["id"]
    assert [(x["product_id"], x["quantity"], x["allocations"]) for x in reservation["lines"]] == [
        (a, 2, [{"location_id": "main", "quantity": 2}]),
        (b, 1, [{"location_id": "main", "quantity": 1}]),
    ]
    assert [(x["product_id"], x["quantity"], x["line_total"]) for x in order["lines"]] == [
        (a, 2, "5.00"),
        (b, 1, "10.00"),
    ]
    assert Decimal(order["total"]) == Decimal("15.00")
    assert order["product_id"] is None and order["status"] == "pending"
    # Read right after the 201: the products, the order and its reservation show it.
    assert await stock_of(http, a) == (3, 2, 0)
    assert await stock_of(http, b) == (2, 1, 0)
    async with http.get(f"/api/orders/{order['id']}") as response:
        stored = (await response.json())["order"]
    assert [x["product_id"] for x in stored["lines"]] == [a, b]
    async with http.get(f"/api/reservations/{reservation['id']}") as response:
        held = (await response.json())["reservation"]
    assert held["product_id"] is None and len(held["lines"]) == 2
    # The order list's product filter matches a cart by any of its lines.
    for product_id in (a, b):
        async with http.get("/api/orders/", params={"product_id": product_id}) as response:
            listed = (await response.json())["results"]
        assert [o["id"] for o in listed] == [order["id"]]

    assert await change_status(http, order["id"], "confirmed") == 200

    async def both() -> tuple[tuple[int, int, int], ...]:
        return (await stock_of(http, a), await stock_of(http, b))

    # A cart's order answers its confirm itself; the lines' stock follows on their
    # partitions (docs/ARCHITECTURE.md, "Carts").
    await eventually(both, lambda s: s == ((3, 0, 2), (2, 0, 1)), what="both lines sold")
    assert await change_status(http, order["id"], "cancelled") == 200

    await eventually(both, lambda s: s == ((5, 0, 0), (3, 0, 0)), what="both lines returned")
    await pipeline.assert_invariants([a, b])


async def test_a_short_line_is_a_409_naming_it_and_the_stock_is_as_it_was(
    http: aiohttp.ClientSession, pipeline: Pipeline
) -> None:
    a = await create_product(http, 5)
    b = await create_product(http, 1)
    status, body = await reserve_cart(http, [(a, 2), (b, 3)])
    assert status == 409, body
    assert body["error"]["code"] == "insufficient_stock"
    assert body["error"]["details"]["lines"] == [{"product_id": b, "requested": 3, "available": 1}]
    assert body["request_id"]
    # The 409 comes after every held line was given back, and the reads wait for it.
    assert await stock_of(http, a) == (5, 0, 0)
    assert await stock_of(http, b) == (1, 0, 0)
    await pipeline.assert_invariants([a, b])


async def test_an_unknown_product_is_a_404_naming_it(
    http: aiohttp.ClientSession, pipeline: Pipeline
) -> None:
    a = await create_product(http, 5)
    missing = unique("nope")
    status, body = await reserve_cart(http, [(a, 1), (missing, 1)])
    assert status == 404, body
    assert body["error"]["code"] == "product_not_found"
    assert body["error"]["details"]["product_ids"] == [missing]
    assert await stock_of(http, a) == (5, 0, 0)


async def test_a_product_named_twice_is_a_422_and_nothing_is_sent(
    http: aiohttp.ClientSession,
) -> None:
    a = await create_product(http, 5)
    status, body = await reserve_cart(http, [(a, 1), (a, 2)])
    assert status == 422, body
    assert body["error"]["code"] == "duplicate_line"
    assert body["error"]["details"] == {"product_id": a}
    status, body = await reserve_cart(http, [])
    assert status == 422, body


async def test_a_retry_with_the_same_idempotency_key_gets_the_same_cart(
    http: aiohttp.ClientSession,
) -> None:
    a = await create_product(http, 5)
    b = await create_product(http, 5)
    key = unique("idem")
    first = await reserve_cart(http, [(a, 1), (b, 1)], **{"Idempotency-Key": key})
    second = await reserve_cart(http, [(a, 1), (b, 1)], **{"Idempotency-Key": key})
    assert first[0] == second[0] == 201
    assert first[1]["order"]["id"] == second[1]["order"]["id"]
    assert await stock_of(http, a) == (4, 1, 0)


async def test_carts_racing_for_overlapping_products_in_opposite_order_all_end_answered(
    http: aiohttp.ClientSession, pipeline: Pipeline
) -> None:
    a = await create_product(http, 4)
    b = await create_product(http, 4)
    carts = [[(a, 1), (b, 1)] if n % 2 else [(b, 1), (a, 1)] for n in range(20)]
    results = await asyncio.gather(*(reserve_cart(http, lines) for lines in carts))
    statuses = [status for status, _ in results]
    assert sorted(set(statuses)) == [201, 409], statuses
    assert statuses.count(201) == 4
    assert await stock_of(http, a) == (0, 4, 0)
    assert await stock_of(http, b) == (0, 4, 0)
    await pipeline.assert_invariants([a, b])


def test_the_cart_chaos_script_passes_against_the_gateway(gateway_url: str, admin_key: str) -> None:
    output = run_chaos(gateway_url, admin_key, "--carts")
    assert "3 of 50 carts succeeded" in output
