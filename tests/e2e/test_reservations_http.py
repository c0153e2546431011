"""HTTP through the whole pipeline: gateway → Kafka → agents → replies, read models."""

from __future__ import annotations

import asyncio
import uuid

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
        body = await response.json()
    assert body["product"]["available"] == stock
    return product_id


async def reserve(
    http: aiohttp.ClientSession, product_id: str, quantity: int = 1
) -> aiohttp.ClientResponse:
    response = await http.post(
        "/api/reservations/",
        json={"product_id": product_id, "quantity": quantity, "customer_id": "cust-1"},
    )
    await response.read()
    return response


async def get_json(http: aiohttp.ClientSession, path: str) -> tuple[int, dict]:
    async with http.get(path) as response:
        return response.status, await response.json()


async def test_fifty_parallel_reservations_against_stock_five_give_exactly_five(
    http: aiohttp.ClientSession, pipeline: Pipeline
) -> None:
    product_id = await create_product(http, 5)
    responses = await asyncio.gather(*(reserve(http, product_id) for _ in range(50)))
    statuses = [r.status for r in responses]
    assert statuses.count(201) == 5, statuses
    assert statuses.count(409) == 45, statuses
    refused = await next(r for r in responses if r.status == 409).json()
    assert refused["error"]["code"] == "insufficient_stock"
    assert refused["error"]["details"]["available"] == 0
    status, body = await get_json(http, f"/api/products/{product_id}")
    assert status == 200
    assert (body["product"]["available"], body["product"]["reserved"]) == (0, 5)
    await pipeline.assert_invariants([product_id])


def test_the_chaos_script_passes_against_the_gateway(gateway_url: str, admin_key: str) -> None:
    output = run_chaos(gateway_url, admin_key)
    assert "5 of 50 reservations succeeded" in output


async def test_reserve_confirm_cancel_read_your_writes(
    http: aiohttp.ClientSession, pipeline: Pipeline
) -> None:
    product_id = await create_product(http, 3, price="4.25")
    response = await reserve(http, product_id, 2)
    assert response.status == 201
    created = await response.json()
    reservation, order = created["reservation"], created["order"]
    assert order["total"] == "8.50" and order["status"] == "pending"
    assert reservation["status"] == "active" and reservation["order_id"] == order["id"]

    # GETs right after the 201 already show it (read your writes)
    status, body = await get_json(http, f"/api/reservations/{reservation['id']}")
    assert status == 200 and body["reservation"]["quantity"] == 2
    status, body = await get_json(http, f"/api/orders/{order['id']}")
    assert status == 200 and body["order"]["status"] == "pending"
    status, body = await get_json(http, f"/api/products/{product_id}")
    assert (body["product"]["available"], body["product"]["reserved"]) == (1, 2)

    async with http.post(
        f"/api/orders/{order['id']}/change_status/", json={"status": "confirmed"}
    ) as confirm:
        assert confirm.status == 200, await confirm.text()
        assert (await confirm.json())["order"]["status"] == "confirmed"
    status, body = await get_json(http, f"/api/products/{product_id}")
    assert (body["product"]["reserved"], body["product"]["sold"]) == (0, 2)

    async with http.post(
        f"/api/orders/{order['id']}/change_status/", json={"status": "cancelled"}
    ) as cancel:
        assert cancel.status == 200
    status, body = await get_json(http, f"/api/products/{product_id}")
    assert (body["product"]["available"], body["product"]["sold"]) == (3, 0)
    status, body = await get_json(http, f"/api/orders/{order['id']}")
    assert [h["status"] for h in body["order"]["history"]] == ["pending", "confirmed", "cancelled"]
    await pipeline.assert_invariants([product_id])


async def test_illegal_transition_is_409_naming_from_to_and_allowed(
    http: aiohttp.ClientSession,
) -> None:
    product_id = await create_product(http, 1)
    order_id = (await (await reserve(http, product_id)).json())["order"]["id"]
    async with http.post(
        f"/api/orders/{order_id}/change_status/",
        json={"status": "delivered"},
        headers={"X-Request-ID": "my-request-42"},
    ) as response:
        assert response.status == 409
        assert response.headers["X-Request-ID"] == "my-request-42"
        body = await response.json()
    assert body["request_id"] == "my-request-42"
    assert body["error"]["code"] == "invalid_transition"
    assert body["error"]["details"] == {
        "from": "pending",
        "to": "delivered",
        "allowed": ["cancelled", "confirmed"],
    }


async def test_unknown_product_and_order_are_404(http: aiohttp.ClientSession) -> None:
    response = await reserve(http, unique("p"))
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "product_not_found"
    status, body = await get_json(http, f"/api/orders/{uuid.uuid4()}")
    assert status == 404 and body["request_id"]


async def test_a_retry_with_the_same_idempotency_key_reserves_once(
    http: aiohttp.ClientSession, pipeline: Pipeline
) -> None:
    product_id = await create_product(http, 4)
    key = f"key-{uuid.uuid4()}"
    body = {"product_id": product_id, "quantity": 1, "customer_id": "c"}
    first = await http.post("/api/reservations/", json=body, headers={"Idempotency-Key": key})
    second = await http.post("/api/reservations/", json=body, headers={"Idempotency-Key": key})
    assert first.status == second.status == 201
    assert (await first.json())["order"]["id"] == (await second.json())["order"]["id"]
    other = await http.post(
        "/api/reservations/", json={**body, "quantity": 2}, headers={"Idempotency-Key": key}
    )
    assert other.status == 422
    status, product = await get_json(http, f"/api/products/{product_id}")
    assert product["product"]["reserved"] == 1
    await pipeline.assert_invariants([product_id])


async def test_two_gateways_serve_the_same_pipeline(
    http: aiohttp.ClientSession, pipeline: Pipeline
) -> None:
    second = pipeline.processes.start("gateway")
    url = pipeline.processes.gateway_url(second)
    product_id = await create_product(http, 10)
    async with aiohttp.ClientSession(base_url=url, headers=http.headers) as other:
        responses = await asyncio.gather(
            *(reserve(http, product_id) for _ in range(6)),
            *(reserve(other, product_id) for _ in range(6)),
        )
    assert sorted(r.status for r in responses) == [201] * 10 + [409] * 2
    second.stop()
    await pipeline.assert_invariants([product_id])


async def test_healthz_reports_both_dependencies_and_projection_lag(
    http: aiohttp.ClientSession, pipeline: Pipeline
) -> None:
    product_id = await create_product(http, 2)
    await pipeline.assert_invariants([product_id])
    async with http.get("/healthz") as response:
        assert response.status == 200
        body = await response.json()
    assert body["checks"] == {
        "kafka": {"ok": True},
        "database": {"ok": True},
        "projections": {"ok": True},  # no projection stopped at an event
    }
    assert set(body["projections"]) == {"read_models", "audit_log"}
    assert all(isinstance(p["lag"], int) and p["lag"] >= 0 for p in body["projections"].values())
    assert not any("stuck" in p for p in body["projections"].values())


async def test_projection_lag_shows_events_not_yet_in_the_read_models(
    http: aiohttp.ClientSession, pipeline: Pipeline
) -> None:
    projector = next(p for p in pipeline.processes.processes if p.role == "projector" and p.alive())
    projector.stop()
    try:
        await pipeline.create_product(unique("p"), 1)  # straight to Kafka: no read-model wait

        async def lag() -> dict:
            async with http.get("/healthz") as response:
                return (await response.json())["projections"]

        behind = await eventually(lag, lambda p: p["read_models"]["lag"] >= 1, what="lag > 0")
        assert behind["audit_log"]["lag"] >= 1
    finally:
        pipeline.processes.start("projector")
    await eventually(lag, lambda p: p["read_models"]["lag"] == 0, within=30, what="caught up")
