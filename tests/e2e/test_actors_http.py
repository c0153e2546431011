"""Who did it, end to end: each key's commands come back in the audit log under its id,
`GET /api/audit/?actor=` finds them, and no key reaches the gateway's log."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from inventory.settings import Settings
from storage.key_material import hash_key
from tests.support.ids import unique
from tests.support.keys import bearer, make_key_info
from tests.support.pipeline import Pipeline
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e


async def send(
    http: aiohttp.ClientSession, key: str, path: str, body: dict[str, Any]
) -> dict[str, Any]:
    async with http.post(path, json=body, headers=bearer(key)) as response:
        assert response.status in (200, 201), await response.text()
        return await response.json()


async def audit_by(http: aiohttp.ClientSession, key: str, **query: str) -> list[dict[str, Any]]:
    async with http.get("/api/audit/", params=query, headers=bearer(key)) as response:
        assert response.status == 200, await response.text()
        return list((await response.json())["results"])


async def test_each_keys_changes_are_audited_under_its_id_and_found_by_actor(
    http: aiohttp.ClientSession, settings: Settings, pipeline: Pipeline
) -> None:
    admin, admin_key = await make_key_info(settings, "admin", "back office")
    shop, shop_key = await make_key_info(settings, "storefront", "web shop")
    viewer, viewer_key = await make_key_info(settings, "viewer", "dashboard")
    product_id = unique("p")

    await send(
        http,
        admin_key,
        "/api/products/",
        {"id": product_id, "name": "Audited", "price": "3.00", "stock": 2},
    )
    reserved = await send(
        http,
        shop_key,
        "/api/reservations/",
        {"product_id": product_id, "quantity": 1, "customer_id": "c"},
    )
    order_id = reserved["order"]["id"]
    await send(http, shop_key, f"/api/orders/{order_id}/change_status/", {"status": "confirmed"})

    shop_events = await eventually(
        lambda: audit_by(http, viewer_key, actor=shop.id),
        lambda rows: len(rows) >= 4,
        what="the storefront's four events in the audit log",
    )
    assert sorted(r["type"] for r in shop_events) == [
        "order.created",
        "order.status_changed",
        "reservation.committed",
        "reservation.created",
    ]
    assert {r["entity_id"] for r in shop_events} >= {order_id}
    for row in shop_events:
        assert row["actor"] == {"id": shop.id, "role": "storefront", "verified": True}

    [created] = await eventually(
        lambda: audit_by(http, viewer_key, actor=admin.id),
        lambda rows: len(rows) == 1,
        what="the admin's product.created",
    )
    assert created["type"] == "product.created" and created["entity_id"] == product_id
    assert created["actor"] == {"id": admin.id, "role": "admin", "verified": True}
    assert await audit_by(http, viewer_key, actor=viewer.id) == []  # it only read

    # The gateway's log names keys by id at most.
    [gateway] = [p for p in pipeline.processes.processes if p.role == "gateway"][:1]
    log = gateway.log_path.read_text(errors="replace")
    for key in (admin_key, shop_key, viewer_key):
        assert key not in log and key.removeprefix("isk_") not in log
        assert hash_key(key).hex() not in log


async def test_a_storefront_is_refused_what_it_may_not_do_over_http(
    http: aiohttp.ClientSession, settings: Settings
) -> None:
    _, shop_key = await make_key_info(settings, "storefront", "web shop")
    async with http.post(
        "/api/products/",
        json={"id": unique("p"), "name": "N", "price": "1", "stock": 1},
        headers=bearer(shop_key),
    ) as response:
        assert response.status == 403
        body = await response.json()
    assert body["error"]["code"] == "forbidden"
    assert "needs the role admin" in body["error"]["message"]
    assert response.headers["X-Request-ID"] == body["request_id"]
