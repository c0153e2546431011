"""Commands through the gateway against a stand-in responder on the real broker:
what is sent, how each reply becomes a response, timeouts, read-your-writes.

Each test starts its own responder with the answer it needs (`refusing(code)`,
`stock_reserved`, ...), so what the fake says is written in the test itself."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from inventory.settings import Settings
from storage.projection import project_events
from tests.integration.gateway.gateway_fixtures import (
    Answer,
    gateway_client,
    ok,
    order_snapshot,
    product_snapshot,
    refusing,
    reservation_snapshot,
    responder,
)
from tests.support.ids import unique
from topics.messages import (
    ChangeStatus,
    CreateProduct,
    ProductCreated,
    ProductCreatedData,
    ReplyData,
    VersionToken,
)

pytestmark = pytest.mark.integration


def product_created(command: Any) -> ReplyData:
    """The product of a CreateProduct as the agent sends it: with the keys (initial,
    adjusted, version) that must not reach the caller."""
    snap = product_snapshot(command.data.product_id, price=str(command.data.price))
    return ok(command, {"product": snap.model_dump(mode="json")})


def stock_adjusted(available_before: int) -> Answer:
    """An answer adjusting a product that had `available_before` by the command's delta."""

    def answer(command: Any) -> ReplyData:
        available = available_before + command.data.delta
        snap = product_snapshot(command.data.product_id, available=available)
        return ok(command, {"product": snap.model_dump(mode="json")})

    return answer


def stock_reserved(command: Any) -> ReplyData:
    """A granted ReserveStock: the reservation, its order (9.90 each) and the product."""
    reservation = reservation_snapshot(command.data.product_id, command.data.quantity)
    return ok(
        command,
        {
            "reservation": reservation.model_dump(mode="json"),
            "order": order_snapshot(reservation).model_dump(mode="json"),
            "product": product_snapshot(command.data.product_id).model_dump(mode="json"),
        },
    )


async def test_create_product_is_201_with_the_presented_product(
    client: TestClient, settings: Settings
) -> None:
    pid = unique("prod")
    async with responder(settings, product_created) as agent:
        resp = await client.post(
            "/api/products/",
            json={"id": pid, "name": "Widget", "price": "9.9", "stock": 5},
            headers={"X-Request-ID": "req-create-1"},
        )
    assert resp.status == 201
    body = await resp.json()
    assert body == {
        "product": {
            "id": pid,
            "name": "Widget",
            "price": "9.90",
            "available": 5,
            "reserved": 0,
            "sold": 0,
            "locations": [],  # the stand-in agent's snapshot has none
            "allocation": "priority",
        },
        "request_id": "req-create-1",
    }
    (command,) = agent.commands
    assert isinstance(command, CreateProduct)
    assert command.key == pid
    assert command.request_id == "req-create-1"
    assert command.reply_to and command.reply_to.startswith(settings.topic_prefix)
    assert str(command.data.price) == "9.90"
    assert command.data.initial_stock == 5


async def test_existing_product_is_409(client: TestClient, settings: Settings) -> None:
    pid = unique("prod")
    async with responder(settings, refusing("product_exists", id=pid)):
        resp = await client.post(
            "/api/products/", json={"id": pid, "name": "W", "price": 1, "stock": 0}
        )
    assert resp.status == 409
    body = await resp.json()
    assert body["error"]["code"] == "product_exists"
    assert body["request_id"] == resp.headers["X-Request-ID"]


async def test_adjust_stock_is_200_with_the_adjusted_product(
    client: TestClient, settings: Settings
) -> None:
    async with responder(settings, stock_adjusted(available_before=5)):
        resp = await client.post(
            f"/api/products/{unique('prod')}/adjust_stock/", json={"delta": 3, "reason": "r"}
        )
    assert resp.status == 200
    assert (await resp.json())["product"]["available"] == 8


async def test_negative_stock_is_409(client: TestClient, settings: Settings) -> None:
    async with responder(settings, refusing("negative_stock", available=5)):
        resp = await client.post(
            f"/api/products/{unique('prod')}/adjust_stock/", json={"delta": -9, "reason": "r"}
        )
    assert resp.status == 409
    assert (await resp.json())["error"]["code"] == "negative_stock"


async def test_adjusting_an_unknown_product_is_404(client: TestClient, settings: Settings) -> None:
    async with responder(settings, refusing("product_not_found")):
        resp = await client.post(
            f"/api/products/{unique('prod')}/adjust_stock/", json={"delta": 1, "reason": "r"}
        )
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "product_not_found"


async def test_reservation_is_201_with_reservation_and_order(
    client: TestClient, settings: Settings
) -> None:
    pid = unique("prod")
    async with responder(settings, stock_reserved) as agent:
        resp = await client.post(
            "/api/reservations/", json={"product_id": pid, "quantity": 2, "customer_id": "c-1"}
        )
    assert resp.status == 201
    body = await resp.json()
    assert set(body) == {"reservation", "order", "request_id"}
    assert body["reservation"]["product_id"] == pid
    assert body["reservation"]["quantity"] == 2
    assert body["order"]["id"] == body["reservation"]["order_id"]
    assert body["order"]["total"] == "19.80"
    (command,) = agent.commands
    assert command.key == pid


async def test_insufficient_stock_is_409_with_available_and_requested(
    client: TestClient, settings: Settings
) -> None:
    async with responder(settings, refusing("insufficient_stock", available=5, requested=7)):
        resp = await client.post(
            "/api/reservations/",
            json={"product_id": unique("prod"), "quantity": 7, "customer_id": "c-1"},
        )
    assert resp.status == 409
    error = (await resp.json())["error"]
    assert error["code"] == "insufficient_stock"
    assert error["details"] == {"available": 5, "requested": 7}


async def test_reservation_of_unknown_product_is_404(
    client: TestClient, settings: Settings
) -> None:
    async with responder(settings, refusing("product_not_found")):
        resp = await client.post(
            "/api/reservations/",
            json={"product_id": unique("prod"), "quantity": 1, "customer_id": "c-1"},
        )
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "product_not_found"


async def test_invalid_transition_is_409_and_goes_to_the_orders_topic(
    client: TestClient, settings: Settings
) -> None:
    oid = unique("ord")
    transition = {"from": "shipped", "to": "cancelled", "allowed": ["delivered"]}
    async with responder(settings, refusing("invalid_transition", **transition)) as agent:
        resp = await client.post(f"/api/orders/{oid}/change_status/", json={"status": "cancelled"})
    assert resp.status == 409
    error = (await resp.json())["error"]
    assert error["code"] == "invalid_transition"
    assert error["details"] == transition
    (command,) = agent.commands
    assert isinstance(command, ChangeStatus)
    assert command.key == oid


async def test_an_unknown_refusal_code_is_409(client: TestClient, settings: Settings) -> None:
    async with responder(settings, refusing("something_new")):
        resp = await client.post(
            f"/api/orders/{unique('ord')}/change_status/", json={"status": "confirmed"}
        )
    assert resp.status == 409
    assert (await resp.json())["error"]["code"] == "something_new"


async def test_no_answer_in_time_is_504_with_the_request_id(
    settings: Settings, engine: AsyncEngine
) -> None:
    quick = settings.model_copy(update={"reply_timeout_seconds": 0.5})
    async with gateway_client(quick) as client, responder(quick, None) as silent:
        resp = await client.post(
            "/api/reservations/",
            json={"product_id": unique("prod"), "quantity": 1, "customer_id": "c-1"},
            headers={"X-Request-ID": "slow-1"},
        )
        assert resp.status == 504
        body = await resp.json()
        assert body["error"]["code"] == "pipeline_timeout"
        assert "Idempotency-Key" in body["error"]["message"]
        assert body["request_id"] == "slow-1"
        await silent.wait_for_commands(1)  # it was sent; nobody answered


async def test_the_answer_waits_until_the_read_model_shows_the_write(
    client: TestClient, settings: Settings, engine: AsyncEngine
) -> None:
    pid = unique("prod")
    snap = product_snapshot(pid)
    token = VersionToken(entity="product", id=pid, version=snap.version)

    def answer(command: Any) -> ReplyData:
        return ok(command, {"product": snap.model_dump(mode="json")}, read_after=[token])

    async def project_later() -> None:
        await asyncio.sleep(0.4)
        await project_events(
            engine, [ProductCreated(key=pid, data=ProductCreatedData(product=snap))]
        )

    async with responder(settings, answer):
        projector = asyncio.create_task(project_later())
        resp = await client.post(
            "/api/products/", json={"id": pid, "name": "Widget", "price": "9.90", "stock": 5}
        )
        assert resp.status == 201
        assert projector.done(), "the gateway answered before the read model had the row"
        read = await client.get(f"/api/products/{pid}")
        assert read.status == 200


async def test_an_unexpected_error_is_500_json_and_the_gateway_keeps_serving(
    client: TestClient, settings: Settings
) -> None:
    def ok_without_the_order(command: Any) -> ReplyData:
        return ok(command, {})  # what only a pipeline bug would send

    async with responder(settings, ok_without_the_order):
        resp = await client.post(
            f"/api/orders/{unique('ord')}/change_status/",
            json={"status": "confirmed"},
            headers={"X-Request-ID": "boom-1"},
        )
    assert resp.status == 500
    body = await resp.json()
    assert body["error"]["code"] == "internal_error"
    assert body["request_id"] == resp.headers["X-Request-ID"] == "boom-1"
    assert (await client.get("/healthz")).status == 200
