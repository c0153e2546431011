"""The gateway's HTTP contract that needs no pipeline answer: request ids, the error
shape, validation, health, reads from the read models, the OpenAPI document."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from inventory.settings import Settings
from storage.key_material import generate_key
from storage.projection import project_events
from tests.integration.gateway.gateway_fixtures import (
    gateway_client,
    order_snapshot,
    product_snapshot,
    reservation_snapshot,
)
from tests.support.ids import unique
from tests.support.keys import bearer
from topics.messages import (
    OrderCreated,
    OrderCreatedData,
    ProductCreated,
    ProductCreatedData,
    ReservationChangedData,
    ReservationCreated,
)

pytestmark = pytest.mark.integration


def assert_error(body: dict[str, Any], code: str, request_id: str | None = None) -> None:
    assert set(body) == {"error", "request_id"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] == code, body
    assert body["error"]["message"], body
    if request_id is not None:
        assert body["request_id"] == request_id


# ---------------------------------------------------------------- request id


async def test_a_valid_caller_request_id_is_kept_on_success(client: TestClient) -> None:
    resp = await client.get("/healthz", headers={"X-Request-ID": "caller-id:1.2_3"})
    assert resp.status == 200
    assert resp.headers["X-Request-ID"] == "caller-id:1.2_3"
    assert (await resp.json())["request_id"] == "caller-id:1.2_3"


async def test_a_valid_caller_request_id_is_kept_on_error(client: TestClient) -> None:
    resp = await client.get("/api/nothing-here", headers={"X-Request-ID": "abc-123"})
    assert resp.status == 404
    assert resp.headers["X-Request-ID"] == "abc-123"
    assert_error(await resp.json(), "not_found", "abc-123")


@pytest.mark.parametrize("sent", [None, "", "has space", "x" * 129, "semi;colon"])
async def test_a_missing_or_invalid_request_id_is_replaced_by_a_uuid(
    client: TestClient, sent: str | None
) -> None:
    headers = {"X-Request-ID": sent} if sent is not None else {}
    resp = await client.post("/api/reservations/", data=b"{", headers=headers)
    body = await resp.json()
    generated = resp.headers["X-Request-ID"]
    assert generated != sent
    assert uuid.UUID(generated).version == 4
    assert body["request_id"] == generated


async def test_each_request_gets_its_own_generated_id(client: TestClient) -> None:
    first = await client.get("/healthz")
    second = await client.get("/healthz")
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


# ---------------------------------------------------------------- routing errors


async def test_unknown_route_is_json_404(client: TestClient) -> None:
    resp = await client.get("/api/unknown")
    assert resp.status == 404
    assert resp.content_type == "application/json"
    assert_error(await resp.json(), "not_found", resp.headers["X-Request-ID"])


async def test_wrong_method_is_json_405_naming_the_allowed_ones(client: TestClient) -> None:
    resp = await client.delete("/api/products/")
    assert resp.status == 405
    body = await resp.json()
    assert_error(body, "method_not_allowed", resp.headers["X-Request-ID"])
    assert body["error"]["details"]["allowed"] == ["POST"]
    assert resp.headers["Allow"] == "POST"


async def test_body_over_64_kib_is_413(client: TestClient) -> None:
    big = b'{"name": "' + b"x" * (64 * 1024) + b'"}'
    resp = await client.post("/api/products/", data=big)
    assert resp.status == 413
    assert_error(await resp.json(), "payload_too_large", resp.headers["X-Request-ID"])


# ---------------------------------------------------------------- body errors


@pytest.mark.parametrize("raw", [b"{", b"", b"not json", b'{"quantity": NaN}', b"\xff\xfe"])
async def test_malformed_json_is_400(client: TestClient, raw: bytes) -> None:
    resp = await client.post("/api/reservations/", data=raw)
    assert resp.status == 400
    assert_error(await resp.json(), "malformed_json", resp.headers["X-Request-ID"])


def reserve_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"product_id": "p-1", "quantity": 1, "customer_id": "c-1"}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (reserve_body(quantity="2"), "quantity"),
        (reserve_body(quantity=2.5), "quantity"),
        (reserve_body(quantity=True), "quantity"),
        (reserve_body(quantity=0), "quantity"),
        (reserve_body(quantity=10001), "quantity"),
        (reserve_body(quantity=-1), "quantity"),
        (reserve_body(customer_id=...), "customer_id"),
        (reserve_body(product_id="bad id!"), "product_id"),
        (reserve_body(customer_id=7), "customer_id"),
        (reserve_body(extra="x"), "extra"),
    ],
)
async def test_invalid_reservation_is_422_naming_the_field(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    resp = await client.post("/api/reservations/", json=body)
    assert resp.status == 422
    payload = await resp.json()
    assert_error(payload, "validation_error", resp.headers["X-Request-ID"])
    errors = payload["error"]["details"]["errors"]
    assert [e["loc"] for e in errors] == [["body", field]]
    assert all(e["msg"] for e in errors)


async def test_every_missing_field_is_listed(client: TestClient) -> None:
    resp = await client.post("/api/products/", json={})
    assert resp.status == 422
    errors = (await resp.json())["error"]["details"]["errors"]
    assert sorted(e["loc"][-1] for e in errors) == ["id", "name", "price", "stock"]


@pytest.mark.parametrize(
    "body",
    [
        {"id": "p", "name": "n", "price": "1.001", "stock": 1},
        {"id": "p", "name": "n", "price": "-1", "stock": 1},
        {"id": "p", "name": "n", "price": True, "stock": 1},
        {"id": "p", "name": "n", "price": "1.00", "stock": -1},
        {"id": "p", "name": " ", "price": "1.00", "stock": 1},
        {"id": "x" * 65, "name": "n", "price": "1.00", "stock": 1},
    ],
)
async def test_invalid_product_is_422(client: TestClient, body: dict[str, Any]) -> None:
    resp = await client.post("/api/products/", json=body)
    assert resp.status == 422
    assert_error(await resp.json(), "validation_error")


async def test_unknown_status_is_422(client: TestClient) -> None:
    resp = await client.post("/api/orders/o-1/change_status/", json={"status": "lost"})
    assert resp.status == 422
    errors = (await resp.json())["error"]["details"]["errors"]
    assert errors[0]["loc"] == ["body", "status"]


async def test_zero_stock_delta_is_422(client: TestClient) -> None:
    resp = await client.post("/api/products/p-1/adjust_stock/", json={"delta": 0, "reason": "x"})
    assert resp.status == 422


async def test_an_overlong_idempotency_key_is_422(client: TestClient) -> None:
    resp = await client.post(
        "/api/reservations/", json=reserve_body(), headers={"Idempotency-Key": "k" * 201}
    )
    assert resp.status == 422
    errors = (await resp.json())["error"]["details"]["errors"]
    assert errors[0]["loc"] == ["header", "Idempotency-Key"]


# ---------------------------------------------------------------- reads


async def test_unknown_product_reservation_and_order_are_404(client: TestClient) -> None:
    for path, code in [
        ("/api/products/nope", "product_not_found"),
        ("/api/reservations/nope", "reservation_not_found"),
        ("/api/orders/nope", "order_not_found"),
    ]:
        resp = await client.get(path)
        assert resp.status == 404, path
        assert_error(await resp.json(), code, resp.headers["X-Request-ID"])


async def test_reads_show_the_documented_keys_only(client: TestClient, engine: AsyncEngine) -> None:
    product = product_snapshot(unique("prod"), price="12.5")
    reservation = reservation_snapshot(product.id)
    order = order_snapshot(reservation)
    await project_events(
        engine,
        [
            ProductCreated(key=product.id, data=ProductCreatedData(product=product)),
            ReservationCreated(
                key=product.id,
                data=ReservationChangedData(product=product, reservation=reservation),
            ),
            OrderCreated(key=order.id, data=OrderCreatedData(order=order)),
        ],
    )

    resp = await client.get(f"/api/products/{product.id}")
    assert resp.status == 200
    body = await resp.json()
    assert body["request_id"] == resp.headers["X-Request-ID"]
    assert body["product"] == {
        "id": product.id,
        "name": "Widget",
        "price": "12.50",
        "available": 5,
        "reserved": 0,
        "sold": 0,
        "locations": [{"location_id": "main", "available": 5, "reserved": 0, "sold": 0}],
        "allocation": "priority",
    }

    body = await (await client.get(f"/api/reservations/{reservation.id}")).json()
    assert set(body["reservation"]) == {
        "id",
        "product_id",
        "quantity",
        "status",
        "expires_at",
        "order_id",
        "customer_id",
        "allocations",
        "lines",
    }
    assert body["reservation"]["order_id"] == order.id
    assert [line["product_id"] for line in body["reservation"]["lines"]] == [product.id]

    body = await (await client.get(f"/api/orders/{order.id}")).json()
    assert set(body["order"]) == {
        "id",
        "status",
        "total",
        "customer_id",
        "product_id",
        "quantity",
        "created_at",
        "updated_at",
        "reservation_id",
        "expires_at",
        "history",
        "allocations",
        "lines",
    }
    assert body["order"]["total"] == "9.90"
    assert body["order"]["history"][0]["status"] == "pending"


# ---------------------------------------------------------------- operations


async def test_health_is_200_when_broker_and_database_answer(client: TestClient) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "ok"
    assert body["checks"] == {
        "kafka": {"ok": True},
        "database": {"ok": True},
        "projections": {"ok": True},
    }


async def test_health_is_503_naming_the_database_when_it_does_not_answer(
    settings: Settings,
) -> None:
    # Nothing listens on port 1: the database check fails, the broker one still passes.
    unreachable = settings.model_copy(
        update={"database_url": SecretStr("postgresql+asyncpg://inventory@127.0.0.1:1/inventory")}
    )
    async with gateway_client(unreachable, role=None) as client:  # /healthz needs no key
        resp = await client.get("/healthz")
        assert resp.status == 503
        body = await resp.json()
        assert body["status"] == "degraded"
        assert body["checks"]["kafka"] == {"ok": True}
        assert body["checks"]["database"]["ok"] is False
        assert body["checks"]["database"]["error"]
        assert body["request_id"] == resp.headers["X-Request-ID"]


async def test_openapi_describes_every_route(client: TestClient) -> None:
    resp = await client.get("/api/openapi.json")
    assert resp.status == 200
    doc = await resp.json()
    assert doc["openapi"].startswith("3.1")
    assert {p: sorted(ops) for p, ops in doc["paths"].items()} == {
        "/api/products/": ["post"],
        "/api/products/{id}": ["get"],
        "/api/products/{id}/adjust_stock/": ["post"],
        "/api/products/{id}/transfer_stock/": ["post"],
        "/api/products/{id}/": ["patch"],
        "/api/locations/": ["get", "post"],
        "/api/reservations/": ["post"],
        "/api/reservations/{id}": ["get"],
        "/api/orders/": ["get"],
        "/api/orders/{id}": ["get"],
        "/api/orders/{id}/change_status/": ["post"],
        "/api/audit/": ["get"],
        "/healthz": ["get"],
        "/api/ops/summary": ["get"],
        "/api/openapi.json": ["get"],
    }
    schemas = doc["components"]["schemas"]
    for name in (
        "CreateProductRequest",
        "ReserveRequest",
        "ErrorResponse",
        "OrderView",
        "OrderListResponse",
        "AuditListResponse",
    ):
        assert name in schemas
    reserve = doc["paths"]["/api/reservations/"]["post"]
    assert reserve["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ReserveRequest"
    }
    assert {"201", "409", "422", "504"} <= set(reserve["responses"])
    names = {p.get("$ref", p.get("name")) for p in reserve["parameters"]}
    assert "#/components/parameters/IdempotencyKey" in names


async def test_every_route_answers_503_with_retry_after_while_the_database_is_away(
    settings: Settings,
) -> None:
    """Nothing listens on port 1: reads, idempotent writes and writes that wait for the
    read model all answer 503 `unavailable`, never 500."""
    unreachable = settings.model_copy(
        update={"database_url": SecretStr("postgresql+asyncpg://inventory@127.0.0.1:1/inventory")}
    )
    # A key is looked up in the database too: that lookup answers 503 as well.
    async with gateway_client(unreachable, role=None) as client:
        client.session.headers.update(bearer(generate_key()))
        calls = [
            client.get("/api/products/mug"),
            client.get("/api/orders/"),
            client.get("/api/audit/"),
            client.post(
                "/api/products/",
                json={"id": "mug", "name": "Mug", "price": "9.50", "stock": 1},
                headers={"Idempotency-Key": "k-503"},
            ),
        ]
        for call in calls:
            resp = await call
            body = await resp.json()
            assert resp.status == 503, body
            assert body["error"]["code"] == "unavailable"
            assert resp.headers["Retry-After"] == "1"
            assert body["request_id"] == resp.headers["X-Request-ID"]
