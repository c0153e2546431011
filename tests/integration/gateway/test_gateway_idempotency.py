"""Idempotency-Key on POSTs, against a stand-in responder on the real broker."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from inventory.settings import Settings
from tests.integration.gateway.gateway_fixtures import (
    gateway_client,
    ok,
    order_snapshot,
    refuse,
    reservation_snapshot,
    responder,
)
from tests.support.ids import unique
from topics.messages import ReplyData, derived_id

pytestmark = pytest.mark.integration


def reserve(command: Any) -> ReplyData:
    """Reserve like the agent: ids derived from the command id, so a re-send is the same."""
    if command.data.quantity > 5:
        return refuse(command, "insufficient_stock", "not enough", available=5, requested=9)
    reservation = reservation_snapshot(command.data.product_id, command.data.quantity)
    reservation = reservation.model_copy(
        update={
            "id": derived_id(command.id, "reservation"),
            "order_id": derived_id(command.id, "order"),
        }
    )
    order = order_snapshot(reservation)
    result = {
        "reservation": reservation.model_dump(mode="json"),
        "order": order.model_dump(mode="json"),
    }
    return ok(command, result)


def body(quantity: int = 1, product_id: str = "prod-idem") -> dict[str, Any]:
    return {"product_id": product_id, "quantity": quantity, "customer_id": "c-1"}


async def test_a_retry_returns_the_first_result_without_sending_again(
    client: TestClient, settings: Settings
) -> None:
    key = unique("key")
    async with responder(settings, reserve) as agent:
        first = await client.post(
            "/api/reservations/",
            json=body(),
            headers={"Idempotency-Key": key, "X-Request-ID": "first"},
        )
        second = await client.post(
            "/api/reservations/",
            json=body(),
            headers={"Idempotency-Key": key, "X-Request-ID": "second"},
        )
        assert first.status == second.status == 201
        first_body, second_body = await first.json(), await second.json()
        assert second_body["request_id"] == "second"
        assert second.headers["X-Request-ID"] == "second"
        assert {**first_body, "request_id": "x"} == {**second_body, "request_id": "x"}
        assert len(agent.commands) == 1


async def test_a_refusal_is_also_replayed(client: TestClient, settings: Settings) -> None:
    key = unique("key")
    async with responder(settings, reserve) as agent:
        for _ in range(2):
            resp = await client.post(
                "/api/reservations/", json=body(quantity=9), headers={"Idempotency-Key": key}
            )
            assert resp.status == 409
            assert (await resp.json())["error"]["code"] == "insufficient_stock"
        assert len(agent.commands) == 1


async def test_the_same_key_with_another_body_is_422(
    client: TestClient, settings: Settings
) -> None:
    key = unique("key")
    async with responder(settings, reserve):
        first = await client.post(
            "/api/reservations/", json=body(1), headers={"Idempotency-Key": key}
        )
        assert first.status == 201
        other = await client.post(
            "/api/reservations/", json=body(2), headers={"Idempotency-Key": key}
        )
    assert other.status == 422
    payload = await other.json()
    assert payload["error"]["code"] == "idempotency_key_reused"
    assert payload["request_id"] == other.headers["X-Request-ID"]


async def test_key_order_in_the_body_does_not_matter(
    client: TestClient, settings: Settings
) -> None:
    key = unique("key")
    async with responder(settings, reserve) as agent:
        a = await client.post(
            "/api/reservations/",
            data=b'{"product_id": "p", "quantity": 1, "customer_id": "c"}',
            headers={"Idempotency-Key": key},
        )
        b = await client.post(
            "/api/reservations/",
            data=b'{"customer_id":"c","quantity":1,"product_id":"p"}',
            headers={"Idempotency-Key": key},
        )
        assert a.status == b.status == 201
        assert len(agent.commands) == 1


async def test_a_retry_after_a_timeout_resends_the_same_command_id(
    settings: Settings, engine: AsyncEngine
) -> None:
    quick = settings.model_copy(update={"reply_timeout_seconds": 0.5})
    key = unique("key")
    async with gateway_client(quick) as client:
        async with responder(quick, None) as silent:
            timed_out = await client.post(
                "/api/reservations/", json=body(), headers={"Idempotency-Key": key}
            )
            assert timed_out.status == 504
            (lost,) = await silent.wait_for_commands(1)
        async with responder(quick, reserve) as agent:
            retried = await client.post(
                "/api/reservations/", json=body(), headers={"Idempotency-Key": key}
            )
            assert retried.status == 201
            (resent,) = agent.commands
            assert resent.id == lost.id
            assert resent.occurred_at == lost.occurred_at, "created when the key was claimed"
            reservation = (await retried.json())["reservation"]
            assert reservation["id"] == derived_id(lost.id, "reservation")
            # And once answered, a further retry is served from the store.
            again = await client.post(
                "/api/reservations/", json=body(), headers={"Idempotency-Key": key}
            )
            assert again.status == 201
            assert len(agent.commands) == 1


async def test_concurrent_requests_with_one_key_carry_one_command_id(
    client: TestClient, settings: Settings
) -> None:
    key = unique("key")
    async with responder(settings, reserve) as agent:
        responses = await asyncio.gather(
            *(
                client.post("/api/reservations/", json=body(), headers={"Idempotency-Key": key})
                for _ in range(5)
            )
        )
        assert [r.status for r in responses] == [201] * 5
        reservations = {(await r.json())["reservation"]["id"] for r in responses}
        assert len(reservations) == 1
        assert len({c.id for c in agent.commands}) == 1
