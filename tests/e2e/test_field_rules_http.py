"""What issue 16's fuzzing found, through the real pipeline: a body the gateway lets
through is one the agents take, and every refusal is a 4xx in the error shape with the
request id; malformed path ids never reach a query or a command."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from tests.support.ids import unique
from topics.fields import MAX_PRICE, MAX_QUANTITY

pytestmark = pytest.mark.e2e


async def call(
    http: aiohttp.ClientSession, method: str, path: str, body: Any = None, **kwargs: Any
) -> tuple[int, dict[str, Any]]:
    """Status and body of one request; every answer carries its request id twice."""
    async with http.request(method, path, json=body, **kwargs) as response:
        payload = await response.json()
        assert payload["request_id"] == response.headers["X-Request-ID"]
        return response.status, payload


def refused(payload: dict[str, Any], code: str) -> dict[str, Any]:
    assert set(payload["error"]) == {"code", "message", "details"}, payload
    assert payload["error"]["code"] == code, payload
    return payload["error"]["details"]


async def new_product(http: aiohttp.ClientSession, stock: int, price: str = "2.00") -> str:
    product_id = unique("p")
    body = {"id": product_id, "name": "Ruled", "price": price, "stock": stock}
    status, payload = await call(http, "POST", "/api/products/", body)
    assert status == 201, payload
    return product_id


async def test_a_customer_id_with_a_control_character_is_a_422_not_a_500(
    http: aiohttp.ClientSession,
) -> None:
    # The body issue 16 reported (its surrogates form a valid pair, its \x1c does not pass).
    body = {
        "quantity": 1,
        "product_id": "r_.NJ",
        "customer_id": "\x1c\u00f3bb\u00d7\u00b0\U000b8d3f",
    }
    status, payload = await call(http, "POST", "/api/reservations/", body)
    assert status == 422
    errors = refused(payload, "validation_error")["errors"]
    assert [e["loc"] for e in errors] == [["body", "customer_id"]]


async def test_a_malformed_order_id_in_a_path_is_a_404_not_a_500(
    http: aiohttp.ClientSession,
) -> None:
    # The path issue 16 reported: U+0087 is a control character, so no order has this id.
    path = "/api/orders/..j%C2%87%F1%95%A1%B4Q%C3%9F/change_status/"
    status, payload = await call(http, "POST", path, {"status": "shipped"})
    assert status == 404
    assert refused(payload, "order_not_found")["id"] == "..j\x87\U00055874Q\xdf"


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("GET", "/api/reservations/%00", "reservation_not_found"),
        ("GET", "/api/orders/%20%20", "order_not_found"),
        ("GET", "/api/products/caf%C3%A9", "product_not_found"),
        ("POST", "/api/products/a%20b/adjust_stock/", "product_not_found"),
    ],
)
async def test_every_route_answers_a_malformed_id_with_a_404(
    http: aiohttp.ClientSession, method: str, path: str, code: str
) -> None:
    body = {"delta": 1, "reason": "count"} if method == "POST" else None
    status, payload = await call(http, method, path, body)
    assert status == 404
    refused(payload, code)


@pytest.mark.parametrize(
    "body",
    [
        {"delta": 0, "reason": "nothing"},
        {"delta": 1.5, "reason": "half"},
        {"delta": 1, "reason": "  "},
        {"delta": 1, "reason": "two\nlines"},
    ],
)
async def test_an_adjustment_that_breaks_a_field_rule_is_a_422(
    http: aiohttp.ClientSession, body: dict[str, Any]
) -> None:
    product_id = await new_product(http, 1)
    status, payload = await call(http, "POST", f"/api/products/{product_id}/adjust_stock/", body)
    assert status == 422
    refused(payload, "validation_error")


@pytest.mark.parametrize("price", ["", "1e2", "9.999", 9.5, str(MAX_PRICE + Decimal("0.01"))])
async def test_a_price_that_is_no_decimal_to_the_cent_is_a_422(
    http: aiohttp.ClientSession, price: Any
) -> None:
    body = {"id": unique("p"), "name": "n", "price": price, "stock": 1}
    status, payload = await call(http, "POST", "/api/products/", body)
    assert status == 422
    assert [e["loc"] for e in refused(payload, "validation_error")["errors"]] == [["body", "price"]]


async def test_whole_numbers_may_be_written_as_json_floats(http: aiohttp.ClientSession) -> None:
    # JSON Schema counts 3.0 as an integer, and so does the gateway.
    product_id = unique("p")
    body = {"id": product_id, "name": "n", "price": 4.0, "stock": 3.0}
    status, payload = await call(http, "POST", "/api/products/", body)
    assert status == 201, payload
    assert payload["product"]["price"] == "4.00"
    assert payload["product"]["available"] == 3


async def test_the_largest_order_of_the_dearest_product_is_made(
    http: aiohttp.ClientSession,
) -> None:
    # A total above what the order's money can hold used to fail inside the agent: the
    # caller waited for a 504. A price is capped so that it cannot.
    product_id = await new_product(http, MAX_QUANTITY, price=str(MAX_PRICE))
    body = {"product_id": product_id, "quantity": MAX_QUANTITY, "customer_id": "big spender"}
    status, payload = await call(http, "POST", "/api/reservations/", body)
    assert status == 201, payload
    assert Decimal(payload["order"]["total"]) == MAX_PRICE * MAX_QUANTITY


async def test_an_adjustment_past_the_stock_limit_is_a_conflict(
    http: aiohttp.ClientSession,
) -> None:
    # Valid on its own, refused by the product's state: 409, like negative stock.
    product_id = await new_product(http, 1)
    body = {"delta": 1_000_000_000, "reason": "too many"}
    status, payload = await call(http, "POST", f"/api/products/{product_id}/adjust_stock/", body)
    assert status == 409
    refused(payload, "invalid_quantity")


@pytest.mark.parametrize(
    ("path", "query", "parameter"),
    [
        ("/api/audit/", {"until": ""}, "until"),
        (
            "/api/audit/",
            {"since": "2025-01-01T00:00:00Z", "until": "2025-01-01T00:00:00Z"},
            "until",
        ),
        (
            "/api/orders/",
            {"created_from": "2025-01-01T00:00:00Z", "created_to": "2025-01-01T00:00:00Z"},
            "created_to",
        ),
        ("/api/orders/", {"min_total": "1.999"}, "min_total"),
        ("/api/orders/", {"status": "pending,"}, "status"),
        ("/api/orders/", {"customer_id": "tab\there"}, "customer_id"),
    ],
)
async def test_a_query_the_document_does_not_allow_is_a_400_naming_the_parameter(
    http: aiohttp.ClientSession, path: str, query: dict[str, str], parameter: str
) -> None:
    status, payload = await call(http, "GET", path, params=query)
    assert status == 400
    assert refused(payload, "invalid_parameter")["parameter"] == parameter


async def test_an_idempotency_key_of_other_than_visible_ascii_is_a_422(
    http: aiohttp.ClientSession,
) -> None:
    body = {"product_id": "p-1", "quantity": 1, "customer_id": "c"}
    status, payload = await call(
        http, "POST", "/api/reservations/", body, headers={"Idempotency-Key": "tab\tinside"}
    )
    assert status == 422
    assert refused(payload, "validation_error")["errors"][0]["loc"] == ["header", "Idempotency-Key"]
