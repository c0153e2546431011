"""API keys at the gateway, against the real database and broker (a stand-in answers for
the agents): every role against every route, 401/403/429 in the usual error shape,
revocation and rate limits across two gateways, the actor on the commands sent, and no
key or hash in any answer or log line."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from api.permissions import ROLES, is_open
from api.routes import ROUTES
from inventory.settings import Settings
from storage.api_keys import list_keys, revoke_key
from storage.key_material import hash_key
from tests.integration.gateway.gateway_fixtures import (
    ensure_topics,
    gateway_client,
    refuse,
    responder,
)
from tests.support.ids import unique
from tests.support.keys import bearer, make_key_info
from tests.support.roles import EXPECTED
from tests.support.waiting import eventually
from topics.messages import Actor

pytestmark = pytest.mark.integration

# Answers that are not JSON: the audit stream never ends, /metrics is Prometheus text.
NOT_JSON = {"opsAuditStream", "metrics"}

# A valid request of each keyed operation: (path, body).
REQUESTS: dict[str, tuple[str, dict[str, Any] | None]] = {
    "createProduct": ("/api/products/", {"id": "p-auth", "name": "P", "price": "1", "stock": 1}),
    "getProduct": ("/api/products/p-auth", None),
    "adjustStock": ("/api/products/p-auth/adjust_stock/", {"delta": 1, "reason": "count"}),
    "transferStock": (
        "/api/products/p-auth/transfer_stock/",
        {"from": "main", "to": "main", "quantity": 1, "reason": "count"},
    ),
    "updateProduct": ("/api/products/p-auth/", {"allocation": "most_stock"}),
    "createLocation": ("/api/locations/", {"id": "loc-auth", "name": "L", "priority": 1}),
    "listLocations": ("/api/locations/", None),
    "createReservation": (
        "/api/reservations/",
        {"product_id": "p-auth", "quantity": 1, "customer_id": "c"},
    ),
    "getReservation": ("/api/reservations/r-auth", None),
    "getOrder": ("/api/orders/o-auth", None),
    "changeOrderStatus": ("/api/orders/o-auth/change_status/", {"status": "confirmed"}),
    "listOrders": ("/api/orders/", None),
    "listAudit": ("/api/audit/", None),
    "opsSummary": ("/api/ops/summary", None),
    "opsAuditStream": ("/api/ops/audit/stream", None),
    "metrics": ("/metrics", None),
}


@dataclass(frozen=True)
class Key:
    id: str
    role: str
    secret: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.secret)


async def new_key(settings: Settings, role: str) -> Key:
    info, secret = await make_key_info(settings, role, f"auth test {role}")
    return Key(info.id, role, secret)


@pytest.fixture(scope="module")
async def keys(settings: Settings, engine: AsyncEngine) -> dict[str, Key]:
    await ensure_topics(settings)
    return {role: await new_key(settings, role) for role in ROLES}


@contextlib.asynccontextmanager
async def gateway(settings: Settings) -> AsyncIterator[TestClient[Any, Any]]:
    """A gateway whose requests present no key unless the test gives one."""
    async with gateway_client(settings, role=None) as client:
        yield client


def assert_error(body: dict[str, Any], code: str) -> None:
    assert set(body) == {"error", "request_id"} and body["request_id"], body
    assert body["error"]["code"] == code, body


async def call(
    client: TestClient[Any, Any], operation: str, headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    route = next(r for r in ROUTES if r.operation_id == operation)
    path, body = REQUESTS[operation]
    async with client.request(route.method, path, json=body, headers=headers) as response:
        if operation in NOT_JSON and response.status < 400:
            return response.status, {}  # allowed: its body is not the point here
        return response.status, await response.json()


def test_the_table_covers_every_keyed_route() -> None:
    assert (
        set(EXPECTED)
        == set(REQUESTS)
        == {r.operation_id for r in ROUTES if not is_open(r.operation_id)}
    )


@pytest.mark.parametrize("role", ROLES)
async def test_every_role_against_every_route(
    settings: Settings, keys: dict[str, Key], role: str
) -> None:
    key = keys[role]
    # The stand-in agents refuse every command: quick, and enough to show it got through.
    async with (
        gateway(settings) as client,
        responder(
            settings, lambda command: refuse(command, "product_not_found", "no such product")
        ) as agents,
    ):
        for operation, allowed in EXPECTED.items():
            status, body = await call(client, operation, key.headers)
            if role in allowed:
                assert status not in (401, 403, 429), (role, operation, status, body)
            else:
                assert status == 403, (role, operation, status, body)
                assert_error(body, "forbidden")
                assert body["error"]["details"]["role"] == role
                assert set(body["error"]["details"]["required_roles"]) == allowed
                assert "needs the role" in body["error"]["message"]
        sent = [o for o, allowed in EXPECTED.items() if role in allowed and o in _COMMANDS]
        commands = await agents.wait_for_commands(len(sent))
    # Every command a gateway sends names the key, and the gateway vouches for it.
    assert [c.actor for c in commands] == [Actor(id=key.id, role=role, verified=True)] * len(sent)


_COMMANDS = {
    "createProduct",
    "adjustStock",
    "transferStock",
    "updateProduct",
    "createReservation",
    "changeOrderStatus",
}


@pytest.mark.parametrize("status", ["processing", "shipped", "delivered"])
async def test_a_storefront_may_not_move_an_order_past_confirmed(
    settings: Settings, keys: dict[str, Key], status: str
) -> None:
    async with (
        gateway(settings) as client,
        responder(settings, None) as agents,
        client.post(
            "/api/orders/o-auth/change_status/",
            json={"status": status},
            headers=keys["storefront"].headers,
        ) as response,
    ):
        assert response.status == 403
        body = await response.json()
    assert_error(body, "forbidden")
    assert body["error"]["details"]["required_roles"] == ["admin"]
    assert agents.commands == []


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing"),
        ("Basic dXNlcjpwdw==", "malformed"),
        ("Bearer", "malformed"),
        ("Bearer not-a-key", "malformed"),
        ("Bearer isk_" + "A" * 43, "unknown_or_revoked"),
    ],
)
async def test_no_valid_key_is_401_with_the_request_id(
    settings: Settings, keys: dict[str, Key], header: str | None, reason: str
) -> None:
    headers = {"X-Request-ID": "auth-req-1"}
    if header is not None:
        headers["Authorization"] = header
    async with gateway(settings) as client, client.get("/api/orders/", headers=headers) as answer:
        assert answer.status == 401
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        assert answer.headers["X-Request-ID"] == "auth-req-1"
        body = await answer.json()
    assert_error(body, "unauthenticated")
    assert body["request_id"] == "auth-req-1"
    assert body["error"]["details"] == {"reason": reason}


async def test_health_and_the_document_need_no_key(settings: Settings) -> None:
    async with gateway(settings) as client:
        async with client.get("/healthz") as response:
            assert response.status in (200, 503)
            assert (await response.json())["status"] in ("ok", "degraded")
        async with client.get("/api/openapi.json") as response:
            assert response.status == 200
            document = await response.json()
    assert document["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"


async def test_a_revoked_key_is_refused_by_every_gateway(
    settings: Settings, engine: AsyncEngine
) -> None:
    key = await new_key(settings, "viewer")
    async with gateway(settings) as first, gateway(settings) as second:
        for client in (first, second):
            async with client.get("/api/orders/", headers=key.headers) as response:
                assert response.status == 200
        [info] = [k for k in await list_keys(engine) if k.id == key.id]
        assert info.last_used_at is not None and info.revoked_at is None

        assert await revoke_key(engine, key.id) is not None

        async def statuses() -> list[int]:
            found = []
            for client in (first, second):
                async with client.get("/api/orders/", headers=key.headers) as response:
                    found.append(response.status)
            return found

        # Within AUTH_CACHE_SECONDS (1 s, at most 2: tests/unit/test_key_cache.py holds
        # the bound on a fake clock); the wait here allows for a busy machine.
        await eventually(statuses, lambda s: s == [401, 401], what="both gateways refuse")
        async with first.get("/api/orders/", headers=key.headers) as response:
            assert_error(await response.json(), "unauthenticated")


async def test_a_key_over_its_rate_is_429_with_retry_after_on_each_gateway(
    settings: Settings,
) -> None:
    # Three requests per key and gateway, and practically no refill during the test.
    limited = settings.model_copy(
        update={"rate_limit_viewer": 0.001, "rate_limit_burst_seconds": 3000.0}
    )
    key = await new_key(limited, "viewer")
    other = await new_key(limited, "viewer")
    async with gateway(limited) as first, gateway(limited) as second:
        seen: list[list[int]] = []
        for client in (first, second):
            statuses = []
            for _ in range(5):
                async with client.get("/api/orders/", headers=key.headers) as response:
                    statuses.append(response.status)
                    if response.status == 429:
                        retry_after = int(response.headers["Retry-After"])
                        body = await response.json()
            seen.append(statuses)
        # Each gateway holds the key to its bucket: the limit holds within a factor of 2.
        assert seen == [[200, 200, 200, 429, 429]] * 2
        assert retry_after >= 1
        assert_error(body, "rate_limited")
        assert body["error"]["details"]["retry_after_seconds"] == retry_after
        # Another key has a bucket of its own.
        async with first.get("/api/orders/", headers=other.headers) as response:
            assert response.status == 200


async def test_an_idempotency_key_belongs_to_its_api_key(
    settings: Settings, keys: dict[str, Key]
) -> None:
    shop = await new_key(settings, "storefront")
    idempotency = {"Idempotency-Key": unique("idem")}
    body = {"product_id": "p-auth", "quantity": 1, "customer_id": "c"}
    answer = lambda command: refuse(command, "product_not_found", "no such product")  # noqa: E731
    async with gateway(settings) as client, responder(settings, answer) as agents:
        for key in (keys["storefront"], shop):
            async with client.post(
                "/api/reservations/", json=body, headers={**key.headers, **idempotency}
            ) as response:
                assert response.status == 404
        commands = await agents.wait_for_commands(2)
    # Two callers, two commands: neither was answered from the other's stored answer.
    assert {c.actor.id for c in commands} == {keys["storefront"].id, shop.id}


async def test_no_key_or_hash_appears_in_answers_or_logs(
    settings: Settings, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    viewer = await new_key(settings, "viewer")
    revoked = await new_key(settings, "admin")
    await revoke_key(engine, revoked.id)
    texts: list[str] = []
    async with gateway(settings) as client:
        for key, method, path in [
            (viewer, "GET", "/api/orders/"),
            (viewer, "POST", "/api/products/"),  # 403
            (revoked, "GET", "/api/orders/"),  # 401
            (viewer, "GET", "/api/audit/?limit=0"),  # 400
        ]:
            async with client.request(method, path, json={}, headers=key.headers) as response:
                texts.append(await response.text())
                texts.append(str(dict(response.headers)))
    for key in (viewer, revoked):
        digest = hash_key(key.secret)
        secrets = [key.secret, key.secret.removeprefix("isk_"), digest.hex()]
        for text in [*texts, caplog.text]:
            assert not any(secret in text for secret in secrets)
        assert digest not in caplog.text.encode()


async def test_auth_off_lets_everyone_in_as_an_unverified_admin_and_warns(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    off = settings.model_copy(update={"auth": "off"})
    answer = lambda command: refuse(command, "product_not_found", "no such product")  # noqa: E731
    with caplog.at_level(logging.WARNING):
        async with gateway(off) as client, responder(off, answer) as agents:
            async with client.post(
                "/api/reservations/",
                json={"product_id": "p-auth", "quantity": 1, "customer_id": "c"},
            ) as response:
                assert response.status == 404
            [command] = await agents.wait_for_commands(1)
    assert command.actor == Actor(id="anonymous", role="admin", verified=False)
    assert "AUTH=off" in caplog.text
