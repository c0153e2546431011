"""The gateway against its own OpenAPI document, through the real pipeline: schemathesis
finds no server error and no answer the document does not describe, and the document's
links lead from a new product to a reservation to a confirmed order.

`make test` runs schemathesis with a fixed seed and a budget that fits CI; `make fuzz`
runs it longer with a random seed (FUZZ_SEED, FUZZ_EXAMPLES and FUZZ_SCENARIOS override).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

import aiohttp
import pytest

from api.openapi import build_openapi
from api.routes import ROUTES
from tests.support import fuzzing
from tests.support.ids import unique

pytestmark = pytest.mark.e2e

SEED = int(os.environ.get("FUZZ_SEED", "16"))
BUDGET = fuzzing.Budget(
    examples=int(os.environ.get("FUZZ_EXAMPLES", "80")),
    scenarios=int(os.environ.get("FUZZ_SCENARIOS", "100")),
)


async def test_the_gateway_serves_the_document_its_routes_describe(
    http: aiohttp.ClientSession,
) -> None:
    async with http.get("/api/openapi.json") as response:
        assert response.status == 200
        served = await response.json()
    assert served == json.loads(json.dumps(build_openapi(ROUTES)))


def _resolve(expression: Any, response_body: dict[str, Any]) -> Any:
    """An OpenAPI runtime expression `$response.body#/json/pointer` against a body; any
    other value is a literal. Dicts are resolved value by value."""
    if isinstance(expression, dict):
        return {key: _resolve(value, response_body) for key, value in expression.items()}
    prefix = "$response.body#/"
    if not (isinstance(expression, str) and expression.startswith(prefix)):
        return expression
    value: Any = response_body
    for part in expression.removeprefix(prefix).split("/"):
        value = value[part]
    return value


async def test_the_documents_links_lead_from_a_new_product_to_a_confirmed_order(
    http: aiohttp.ClientSession,
) -> None:
    paths = build_openapi(ROUTES)["paths"]
    product = {"id": unique("p"), "name": "Linked", "price": "3.50", "stock": 2}
    async with http.post("/api/products/", json=product) as response:
        assert response.status == 201
        created = await response.json()

    reserve = paths["/api/products/"]["post"]["responses"]["201"]["links"]["ReserveStock"]
    assert reserve["operationId"] == "createReservation"
    body = {"quantity": 1, "customer_id": "c-linked", **_resolve(reserve["requestBody"], created)}
    async with http.post("/api/reservations/", json=body) as response:
        assert response.status == 201
        reserved = await response.json()

    change = paths["/api/reservations/"]["post"]["responses"]["201"]["links"]["ChangeOrderStatus"]
    assert change["operationId"] == "changeOrderStatus"
    order_id = _resolve(change["parameters"]["id"], reserved)
    async with http.post(
        f"/api/orders/{order_id}/change_status/", json={"status": "confirmed"}
    ) as response:
        assert response.status == 200
        assert (await response.json())["order"]["status"] == "confirmed"


async def test_schemathesis_finds_no_server_error_and_no_answer_the_document_does_not_describe(
    gateway_url: str, admin_key: str, run_notes: list[str]
) -> None:
    started = time.monotonic()
    # In a thread: the engine blocks for minutes, and the session's Kafka clients, on
    # this event loop, must keep answering the broker meanwhile.
    report = await asyncio.to_thread(
        fuzzing.run, gateway_url, seed=SEED, budget=BUDGET, api_key=admin_key
    )
    run_notes.append(f"{report.summary()} in {time.monotonic() - started:.0f} s")

    assert report.errors == [], "\n\n".join(report.errors)
    assert report.failures == {}, "\n\n".join(report.failures.values())
    # Every phase ran, and the stateful one followed the document's links: a run that
    # generated nothing would pass the lines above as well. (How far the stateful phase
    # gets varies from run to run: schemathesis ends it early when the server's answers
    # make hypothesis see a replay go differently.)
    assert {"coverage", "fuzzing", "stateful"} <= {p for p, n in report.cases.items() if n}
    assert report.links, "the stateful phase followed no link of the document"
