"""The gateway's status codes, built with a fake command bus and no broker.

The engine points at an address where no database listens: a request without an
Idempotency-Key whose reply has no `read_after` needs none, so these answers show
that too (only the read-model waiter's listener tries it, is refused, and logs so).
Routes that read the database (lookups, lists with valid parameters) are left to the
integration tests; /healthz is here for what it shows without one.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from api.app import create_app
from api.bus import Command
from api.errors import PipelineTimeout, PipelineUnavailable
from api.keys import METRICS
from inventory import worker_status
from inventory.settings import Settings
from storage.engine import create_engine
from topics.messages import CreateProduct, ProductSnapshot, Reply, ReplyData
from topics.names import INVENTORY_COMMANDS, prefixed

# Port 1 on loopback: connecting is refused at once, so nothing can use a database.
NO_DATABASE = "postgresql+asyncpg://nobody@127.0.0.1:1/nowhere"

# What the fake does with a command: the reply to return, or the error to raise.
Answer = Callable[[Command], Reply | BaseException]


class FakeBus:
    """api.bus.Bus answering every command with `answer`, recording what was sent."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.sent: list[tuple[str, Command]] = []

    async def request(self, topic: str, command: Command, *, partition: int | None = None) -> Reply:
        self.sent.append((topic, command))
        outcome = self.answer(command)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def kafka_error(self) -> str | None:
        return None

    async def consumer_lag(self, group: str, topics: list[str]) -> int:
        return 0


def reply(command: Command, data: dict[str, Any]) -> Reply:
    return Reply(
        key=command.key,
        request_id=command.request_id,
        data=ReplyData(correlation_id=command.id, **data),
    )


def refused(code: str, message: str = "refused") -> Answer:
    return lambda command: reply(command, {"ok": False, "code": code, "message": message})


def created(command: Command) -> Reply:
    assert isinstance(command, CreateProduct)
    data = command.data
    product = ProductSnapshot(
        id=data.product_id,
        name=data.name,
        price=data.price,
        initial=data.initial_stock,
        adjusted=0,
        available=data.initial_stock,
        reserved=0,
        sold=0,
        version=1,
    )
    return reply(command, {"ok": True, "code": "ok", "result": {"product": product.model_dump()}})


@pytest.fixture
def settings() -> Settings:
    # No database, so no API keys: these tests are about the views (auth has its own).
    return Settings(
        database_url=NO_DATABASE, topic_prefix="fake.", reply_timeout_seconds=0.5, auth="off"
    )


@pytest.fixture
def bus() -> FakeBus:
    return FakeBus(created)


@pytest.fixture
async def client(settings: Settings, bus: FakeBus) -> AsyncIterator[TestClient[Any, Any]]:
    engine = create_engine(settings)
    app = create_app(settings, bus=bus, engine=engine)
    async with TestClient(TestServer(app)) as client:
        yield client
    await engine.dispose()


PRODUCT = {"id": "widget-1", "name": "Widget", "price": "9.90", "stock": 5}
RESERVATION = {"product_id": "widget-1", "quantity": 2, "customer_id": "cust-1"}


async def test_an_accepted_command_is_sent_and_answered_201(
    client: TestClient[Any, Any], bus: FakeBus
) -> None:
    response = await client.post("/api/products/", json=PRODUCT)

    assert response.status == 201
    body = await response.json()
    assert body["product"]["id"] == "widget-1"
    assert Decimal(body["product"]["price"]) == Decimal("9.90")
    assert body["request_id"] == response.headers["X-Request-ID"]
    [(topic, command)] = bus.sent
    assert topic == prefixed("fake.", INVENTORY_COMMANDS)
    assert command.key == "widget-1"
    assert command.request_id == body["request_id"]


async def test_a_conflict_refusal_is_409_with_its_code(
    client: TestClient[Any, Any], bus: FakeBus
) -> None:
    bus.answer = refused("insufficient_stock", "only 1 available")

    response = await client.post("/api/reservations/", json=RESERVATION)

    assert response.status == 409
    body = await response.json()
    assert body["error"]["code"] == "insufficient_stock"
    assert body["error"]["message"] == "only 1 available"


async def test_a_missing_product_is_404(client: TestClient[Any, Any], bus: FakeBus) -> None:
    bus.answer = refused("product_not_found")

    response = await client.post("/api/reservations/", json=RESERVATION)

    assert response.status == 404
    assert (await response.json())["error"]["code"] == "product_not_found"


async def test_an_unclassified_refusal_is_409(client: TestClient[Any, Any], bus: FakeBus) -> None:
    bus.answer = refused("some_future_code")

    response = await client.post("/api/products/", json=PRODUCT)

    assert response.status == 409
    assert (await response.json())["error"]["code"] == "some_future_code"


async def test_no_reply_in_time_is_504_naming_the_command(
    client: TestClient[Any, Any], bus: FakeBus
) -> None:
    bus.answer = lambda command: PipelineTimeout(command.id, 0.5)

    response = await client.post("/api/products/", json=PRODUCT)

    assert response.status == 504
    error = (await response.json())["error"]
    assert error["code"] == "pipeline_timeout"
    [(_, command)] = bus.sent
    assert error["details"] == {"command_id": command.id, "timeout_seconds": 0.5}


async def test_a_broker_that_refuses_the_command_is_503(
    client: TestClient[Any, Any], bus: FakeBus
) -> None:
    bus.answer = lambda command: PipelineUnavailable("KafkaConnectionError: no broker", command.id)

    response = await client.post("/api/products/", json=PRODUCT)

    assert response.status == 503
    error = (await response.json())["error"]
    assert error["code"] == "pipeline_unavailable"
    [(_, command)] = bus.sent
    assert error["details"] == {
        "command_id": command.id,
        "reason": "KafkaConnectionError: no broker",
    }


async def test_an_invalid_body_never_reaches_the_bus(
    client: TestClient[Any, Any], bus: FakeBus
) -> None:
    response = await client.post("/api/products/", json={**PRODUCT, "stock": -1})

    assert response.status == 422
    assert (await response.json())["error"]["code"] == "validation_error"
    assert bus.sent == []


@pytest.mark.parametrize(
    ("path", "parameter"),
    [("/api/orders/?sort=cheapest", "sort"), ("/api/audit/?limit=0", "limit")],
)
async def test_a_refused_query_parameter_is_400_naming_it(
    client: TestClient[Any, Any], path: str, parameter: str
) -> None:
    response = await client.get(path)

    assert response.status == 400
    error = (await response.json())["error"]
    assert error["code"] == "invalid_parameter"
    assert error["details"] == {"parameter": parameter}


async def test_a_status_the_agents_do_not_know_is_422(
    client: TestClient[Any, Any], bus: FakeBus
) -> None:
    bus.answer = refused("invalid_status", "unknown order status 'shipped'")

    response = await client.post("/api/orders/ord-1/change_status/", json={"status": "confirmed"})

    assert response.status == 422
    assert (await response.json())["error"]["code"] == "invalid_status"


async def test_healthz_shows_a_recovering_worker_from_its_status_file(
    settings: Settings, bus: FakeBus, tmp_path: Path
) -> None:
    # The file as agents.recovery_progress writes it, for a worker halfway through.
    folder = tmp_path / "worker-0"
    folder.mkdir()
    behind = {"table": "orders", "partition": 2, "offset": 400, "highwater": 1000, "remaining": 600}
    status = {"pid": 1, "updated_at": time.time(), "recovering": True, "partitions": [behind]}
    (folder / worker_status.STATUS_FILE).write_text(json.dumps(status))
    engine = create_engine(settings)
    app = create_app(settings.model_copy(update={"state_dir": str(folder)}), bus=bus, engine=engine)
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/healthz")
        body = await response.json()
    await engine.dispose()

    # Degraded for the missing database alone: recovery does not change the status.
    assert response.status == 503
    assert body["checks"]["database"]["ok"] is False
    [worker] = body["workers"]
    assert worker["folder"] == "worker-0" and worker["recovering"] is True
    assert worker["partitions"] == [behind]


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        (created, "ok"),
        (refused("product_exists"), "product_exists"),
        (lambda command: PipelineTimeout(command.id, 0.5), "timeout"),
        (lambda command: PipelineUnavailable("no broker", command.id), "unavailable"),
    ],
)
async def test_every_command_sent_is_counted_by_outcome_and_timed(
    client: TestClient[Any, Any], bus: FakeBus, answer: Answer, outcome: str
) -> None:
    bus.answer = answer

    await client.post("/api/products/", json=PRODUCT)

    registry = client.app[METRICS].registry
    labels = {"type": "product.create", "outcome": outcome}
    assert registry.get_sample_value("inventory_commands_total", labels) == 1
    timed = registry.get_sample_value("inventory_command_seconds_count", {"type": "product.create"})
    assert timed == 1


async def test_the_ops_page_and_its_assets_are_served(client: TestClient[Any, Any]) -> None:
    page = await client.get("/ops")
    assert page.status == 200 and page.content_type == "text/html"
    html = await page.text()
    for asset, content_type in (("ops.js", "text/javascript"), ("ops.css", "text/css")):
        assert f"/ops/assets/{asset}" in html
        response = await client.get(f"/ops/assets/{asset}")
        assert response.status == 200 and response.content_type == content_type


async def test_an_asset_the_page_does_not_have_is_404(client: TestClient[Any, Any]) -> None:
    response = await client.get("/ops/assets/..%2Fviews.py")

    assert response.status == 404
    assert (await response.json())["error"]["code"] == "not_found"
