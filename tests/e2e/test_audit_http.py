"""GET /api/audit/ through a real gateway: who changed an order, and bad queries refused."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.support.ids import unique
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e


async def post(
    http: aiohttp.ClientSession, path: str, body: dict[str, Any], request_id: str
) -> Any:
    async with http.post(path, json=body, headers={"X-Request-ID": request_id}) as response:
        assert response.status in (200, 201), await response.text()
        return await response.json()


async def get_audit(
    http: aiohttp.ClientSession, params: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    async with http.get("/api/audit/", params=params) as response:
        body = await response.json()
        assert response.headers["X-Request-ID"] == body["request_id"]
        return response.status, body


@pytest.fixture(scope="module")
async def confirmed_order(http: aiohttp.ClientSession) -> dict[str, str]:
    """An order reserved and confirmed over HTTP, each step with its own request id."""
    product_id = unique("p")
    ids = {
        "create": unique("e2e-create"),
        "reserve": unique("e2e-reserve"),
        "confirm": unique("e2e-confirm"),
    }
    await post(
        http,
        "/api/products/",
        {"id": product_id, "name": "Audited", "price": "4.00", "stock": 2},
        ids["create"],
    )
    reserved = await post(
        http,
        "/api/reservations/",
        {"product_id": product_id, "quantity": 1, "customer_id": "c-e2e"},
        ids["reserve"],
    )
    order_id = reserved["order"]["id"]
    await post(
        http, f"/api/orders/{order_id}/change_status/", {"status": "confirmed"}, ids["confirm"]
    )
    return {"product_id": product_id, "order_id": order_id, **ids}


async def test_an_orders_history_is_listed_newest_first_with_its_request_ids(
    http: aiohttp.ClientSession, confirmed_order: dict[str, str]
) -> None:
    query = {"entity_type": "order", "entity_id": confirmed_order["order_id"]}

    async def probe() -> tuple[int, dict[str, Any]]:
        return await get_audit(http, query)

    status, body = await eventually(
        probe, lambda r: len(r[1].get("results", [])) >= 2, what="the order's audit history"
    )
    assert status == 200
    assert [(r["type"], r["request_id"]) for r in body["results"]] == [
        ("order.status_changed", confirmed_order["confirm"]),
        ("order.created", confirmed_order["reserve"]),
    ]
    assert body["next_cursor"] is None
    newest = body["results"][0]
    assert newest["entity_type"] == "order" and newest["entity_id"] == confirmed_order["order_id"]
    assert newest["data"]["order"]["status"] == "confirmed"
    assert set(newest) == {
        "id",
        "type",
        "entity_type",
        "entity_id",
        "request_id",
        "causation_id",
        "occurred_at",
        "actor",
        "data",
    }
    assert newest["actor"]["role"] == "admin" and newest["actor"]["verified"] is True


async def test_pages_of_one_walk_through_the_history(
    http: aiohttp.ClientSession, confirmed_order: dict[str, str]
) -> None:
    query = {"entity_type": "order", "entity_id": confirmed_order["order_id"], "limit": "1"}
    await eventually(
        lambda: get_audit(http, {**query, "limit": "2"}),
        lambda r: len(r[1]["results"]) == 2,
        what="the order's audit history",
    )
    status, first = await get_audit(http, query)
    assert status == 200 and len(first["results"]) == 1 and first["next_cursor"]
    status, second = await get_audit(http, {**query, "cursor": first["next_cursor"]})
    assert status == 200
    assert [r["type"] for r in first["results"] + second["results"]] == [
        "order.status_changed",
        "order.created",
    ]
    assert second["next_cursor"] is None


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "500"}, "limit"),
        ({"since": "last tuesday"}, "since"),
        ({"since": "2025-01-02T00:00:00Z", "until": "2025-01-01T00:00:00Z"}, "until"),
        ({"entity_type": "orders"}, "entity_type"),
        ({"type": "order.deleted"}, "type"),
        ({"sort": "oldest"}, "sort"),
        ({"cursor": "bogus"}, "cursor"),
    ],
)
async def test_a_bad_parameter_is_a_400_naming_it(
    http: aiohttp.ClientSession, query: dict[str, str], parameter: str
) -> None:
    status, body = await get_audit(http, query)
    assert status == 400, body
    assert body["error"]["code"] == "invalid_parameter"
    assert body["error"]["details"] == {"parameter": parameter}
    assert parameter in body["error"]["message"]


async def test_a_cursor_from_another_filter_set_or_edited_is_a_400(
    http: aiohttp.ClientSession, confirmed_order: dict[str, str]
) -> None:
    query = {"entity_type": "order", "entity_id": confirmed_order["order_id"], "limit": "1"}
    _, page = await eventually(
        lambda: get_audit(http, query),
        lambda r: r[1].get("next_cursor") is not None,
        what="a page with a next cursor",
    )
    cursor = page["next_cursor"]
    other = {"entity_type": "product", "entity_id": confirmed_order["product_id"]}
    status, body = await get_audit(http, {**other, "cursor": cursor})
    assert status == 400 and body["error"]["details"] == {"parameter": "cursor"}
    edited = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    status, body = await get_audit(http, {**query, "cursor": edited})
    assert status == 400 and body["error"]["details"] == {"parameter": "cursor"}


async def test_the_openapi_document_describes_the_audit_list(
    http: aiohttp.ClientSession,
) -> None:
    async with http.get("/api/openapi.json") as response:
        doc = await response.json()
    operation = doc["paths"]["/api/audit/"]["get"]
    names = {p.get("name") for p in operation["parameters"]}
    assert {"entity_type", "entity_id", "type", "request_id", "since", "until"} <= names
    assert {"limit", "cursor"} <= names
    assert {"200", "400"} <= set(operation["responses"])
