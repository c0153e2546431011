"""HTTP handlers: validate, build the command, send it, present the answer."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiokafka.errors import KafkaError

from api.auth import require_roles
from api.bodies import ORDER_ID, PRODUCT_ID, RESERVATION_ID, parse_body, read_json
from api.dispatch import answer_once, execute
from api.errors import ApiError, error_body
from api.keys import BUS, ENGINE, OPENAPI, SETTINGS
from api.middleware import current_request_id, json_response
from api.permissions import roles_for_status
from api.presenters import (
    present_order,
    present_order_summary,
    present_product,
    present_reservation,
)
from api.schemas import (
    AdjustStockRequest,
    ChangeStatusRequest,
    CreateLocationRequest,
    CreateProductRequest,
    LocationView,
    ReserveRequest,
    TransferStockRequest,
    UpdateProductRequest,
)
from inventory import worker_status
from inventory.projector import projections
from storage import audit_queries, locations, order_params, order_queries, queries
from storage.formats import iso_utc
from storage.stuck import StuckAt, list_stuck
from topics.messages import (
    AdjustStock,
    ChangeStatus,
    CreateProduct,
    Reply,
    ReplyData,
    ReserveCart,
    ReserveStock,
    SetAllocation,
    TransferStock,
    derived_id,
)
from topics.names import INVENTORY_COMMANDS, ORDERS_COMMANDS, prefixed

HEALTH_TIMEOUT_SECONDS = 2.0


def _topic(request: web.Request, name: str) -> str:
    return prefixed(request.app[SETTINGS].topic_prefix, name)


def _request_id() -> str:
    request_id = current_request_id()
    assert request_id is not None, "views run inside request_id_middleware"
    return request_id


# ---------------------------------------------------------------- products


async def create_product(request: web.Request) -> web.Response:
    """POST /api/products/ → 201 {"product"}; 409 product_exists."""
    raw, body = await read_json(request)
    data = parse_body(CreateProductRequest, raw).command_data()

    def build(command_id: str) -> CreateProduct:
        return CreateProduct(
            id=command_id, request_id=_request_id(), key=data.product_id, data=data
        )

    def on_ok(reply: Reply) -> tuple[int, dict[str, Any]]:
        return 201, {"product": present_product(reply.data.result["product"])}

    return await execute(request, body, _topic(request, INVENTORY_COMMANDS), build, on_ok)


async def _location(request: web.Request, location_id: str) -> dict[str, Any]:
    """The catalogue's location, or 404 `location_not_found`."""
    found = await locations.get_location(request.app[ENGINE], location_id)
    if found is None:
        raise ApiError(
            404,
            "location_not_found",
            f"no location {location_id!r}",
            {"location_id": location_id},
        )
    return found


async def adjust_stock(request: web.Request) -> web.Response:
    """POST /api/products/{id}/adjust_stock/ → 200 {"product"}; 409 negative_stock; 404."""
    product_id = PRODUCT_ID.of(request)
    raw, body = await read_json(request)
    parsed = parse_body(AdjustStockRequest, raw)
    # The priority travels with the command: the worker never reads the catalogue.
    location = await _location(request, parsed.location_id)
    data = parsed.command_data(product_id, location["priority"])

    def build(command_id: str) -> AdjustStock:
        return AdjustStock(id=command_id, request_id=_request_id(), key=product_id, data=data)

    def on_ok(reply: Reply) -> tuple[int, dict[str, Any]]:
        return 200, {"product": present_product(reply.data.result["product"])}

    return await execute(request, body, _topic(request, INVENTORY_COMMANDS), build, on_ok)


async def transfer_stock(request: web.Request) -> web.Response:
    """POST /api/products/{id}/transfer_stock/ → 200 {"product"}; 409 insufficient_stock;
    404 product or location."""
    product_id = PRODUCT_ID.of(request)
    raw, body = await read_json(request)
    parsed = parse_body(TransferStockRequest, raw)
    await _location(request, parsed.from_)
    target = await _location(request, parsed.to)
    data = parsed.command_data(product_id, target["priority"])

    def build(command_id: str) -> TransferStock:
        return TransferStock(id=command_id, request_id=_request_id(), key=product_id, data=data)

    def on_ok(reply: Reply) -> tuple[int, dict[str, Any]]:
        return 200, {"product": present_product(reply.data.result["product"])}

    return await execute(request, body, _topic(request, INVENTORY_COMMANDS), build, on_ok)


async def update_product(request: web.Request) -> web.Response:
    """PATCH /api/products/{id}/ {"allocation"} → 200 {"product"}; 404."""
    product_id = PRODUCT_ID.of(request)
    raw, body = await read_json(request)
    data = parse_body(UpdateProductRequest, raw).command_data(product_id)

    def build(command_id: str) -> SetAllocation:
        return SetAllocation(id=command_id, request_id=_request_id(), key=product_id, data=data)

    def on_ok(reply: Reply) -> tuple[int, dict[str, Any]]:
        return 200, {"product": present_product(reply.data.result["product"])}

    return await execute(request, body, _topic(request, INVENTORY_COMMANDS), build, on_ok)


async def create_location(request: web.Request) -> web.Response:
    """POST /api/locations/ → 201 {"location"}; 409 location_exists."""
    raw, body = await read_json(request)
    parsed = parse_body(CreateLocationRequest, raw)

    async def act() -> tuple[int, dict[str, Any]]:
        created = await locations.create_location(
            request.app[ENGINE], parsed.id, parsed.name, parsed.priority
        )
        if created is None:
            message = f"location {parsed.id!r} already exists"
            return 409, error_body("location_exists", message, {"id": parsed.id})
        return 201, {"location": LocationView.model_validate(created).model_dump()}

    return await answer_once(request, body, act)


async def list_locations(request: web.Request) -> web.Response:
    """GET /api/locations/ → {"results"}, lowest priority number first."""
    rows = await locations.list_locations(request.app[ENGINE])
    return json_response({"results": [LocationView.model_validate(r).model_dump() for r in rows]})


async def get_product(request: web.Request) -> web.Response:
    """GET /api/products/{id} → {"product"}; 404 product_not_found."""
    product_id = PRODUCT_ID.of(request)
    row = await queries.get_product(request.app[ENGINE], product_id)
    if row is None:
        raise ApiError(404, "product_not_found", f"no product {product_id!r}", {"id": product_id})
    return json_response({"product": present_product(row)})


# ---------------------------------------------------------------- reservations and orders


async def create_reservation(request: web.Request) -> web.Response:
    """POST /api/reservations/ → 201 {"reservation", "order"}; 409 insufficient_stock; 404."""
    raw, body = await read_json(request)
    reserve = parse_body(ReserveRequest, raw)
    repeated = reserve.repeated_product()
    if repeated is not None:
        raise ApiError(
            422,
            "duplicate_line",
            f"product {repeated!r} is on more than one line; put its whole quantity on one",
            {"product_id": repeated},
        )
    pins = [line.location_id for line in reserve.lines or []] + [reserve.location_id]
    for location_id in dict.fromkeys(pin for pin in pins if pin is not None):
        await _location(request, location_id)
    if reserve.lines is not None:
        return await _reserve_cart(request, body, reserve)
    data = reserve.command_data()

    def build(command_id: str) -> ReserveStock:
        return ReserveStock(id=command_id, request_id=_request_id(), key=data.product_id, data=data)

    return await execute(request, body, _topic(request, INVENTORY_COMMANDS), build, _reserved)


async def _reserve_cart(request: web.Request, body: Any, reserve: ReserveRequest) -> web.Response:
    """A cart: held on the order's partition by its coordinator (agents.cart_rules). The
    order id, like the reservation id, derives from the command id, so a retry with the
    same Idempotency-Key lands on the same partition and is deduped there."""

    def build(command_id: str) -> ReserveCart:
        order_id = derived_id(command_id, "order")
        return ReserveCart(
            id=command_id,
            request_id=_request_id(),
            key=order_id,
            data=reserve.cart_data(order_id),
        )

    return await execute(request, body, _topic(request, ORDERS_COMMANDS), build, _reserved)


def _reserved(reply: Reply) -> tuple[int, dict[str, Any]]:
    """201 for a reservation, one product or a cart: the reservation and its order."""
    result = reply.data.result
    return 201, {
        "reservation": present_reservation(result["reservation"]),
        "order": present_order(result["order"]),
    }


async def get_reservation(request: web.Request) -> web.Response:
    """GET /api/reservations/{id} → {"reservation"}; 404 reservation_not_found."""
    reservation_id = RESERVATION_ID.of(request)
    row = await queries.get_reservation(request.app[ENGINE], reservation_id)
    if row is None:
        raise ApiError(
            404,
            "reservation_not_found",
            f"no reservation {reservation_id!r}",
            {"id": reservation_id},
        )
    return json_response({"reservation": present_reservation(row)})


async def get_order(request: web.Request) -> web.Response:
    """GET /api/orders/{id} → {"order"}; 404 order_not_found."""
    order_id = ORDER_ID.of(request)
    row = await queries.get_order(request.app[ENGINE], order_id)
    if row is None:
        raise ApiError(404, "order_not_found", f"no order {order_id!r}", {"id": order_id})
    return json_response({"order": present_order(row)})


async def change_status(request: web.Request) -> web.Response:
    """POST /api/orders/{id}/change_status/ → 200 {"order"}; 409 invalid_transition; 404."""
    order_id = ORDER_ID.of(request)
    raw, body = await read_json(request)
    data = parse_body(ChangeStatusRequest, raw).command_data(order_id)
    # A storefront confirms or cancels; only the back office moves an order further.
    require_roles(request, roles_for_status(data.status), f"change an order to {data.status!r}")

    def build(command_id: str) -> ChangeStatus:
        return ChangeStatus(id=command_id, request_id=_request_id(), key=order_id, data=data)

    def on_ok(reply: Reply) -> tuple[int, dict[str, Any]]:
        return 200, {"order": present_order(reply.data.result["order"])}

    async def on_refused(refusal: ReplyData) -> tuple[int, dict[str, Any]] | None:
        # A finished order leaves the worker's tables after its grace period
        # (agents.finished_orders); the read model keeps it, and says what it became.
        if refusal.code != "order_not_found":
            return None
        row = await queries.get_order(request.app[ENGINE], order_id)
        if row is None:
            return None
        final = row["status"]
        return 409, error_body(
            "invalid_transition",
            f"cannot change order status from {final!r} to {data.status!r}; {final!r} is final",
            {"from": final, "to": data.status, "allowed": []},
        )

    return await execute(request, body, _topic(request, ORDERS_COMMANDS), build, on_ok, on_refused)


# ---------------------------------------------------------------- order queries


async def list_orders(request: web.Request) -> web.Response:
    """GET /api/orders/ → {"results", "next_cursor"}: filtered, sorted, keyset-paged;
    400 invalid_parameter naming the parameter."""
    params = order_params.parse_order_list_params(request.query)
    page = await order_queries.list_orders(request.app[ENGINE], params)
    return json_response(
        {
            "results": [present_order_summary(row) for row in page.results],
            "next_cursor": page.next_cursor,
        }
    )


# ---------------------------------------------------------------- audit trail


async def list_audit(request: web.Request) -> web.Response:
    """GET /api/audit/ → {"results", "next_cursor"}, newest first; 400 invalid_parameter."""
    params = audit_queries.parse_audit_params(request.query)
    results, next_cursor = await audit_queries.list_audit(request.app[ENGINE], params)
    return json_response({"results": results, "next_cursor": next_cursor})


# ---------------------------------------------------------------- operations


async def _database_check(request: web.Request) -> tuple[str | None, list[StuckAt]]:
    """(None, where projections are stopped) when the database answers within 2 s,
    else (what went wrong, []). Reading the stopped projections is the ping."""
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_SECONDS):
            return None, await list_stuck(request.app[ENGINE])
    except TimeoutError:
        return f"database did not answer within {HEALTH_TIMEOUT_SECONDS:g} s", []
    except Exception as exc:  # any driver error means "not healthy", with its text
        return f"{type(exc).__name__}: {exc}", []


async def healthz(request: web.Request) -> web.Response:
    """GET /healthz → 200 when the broker and the database answer within 2 s and no
    projection is stopped at an event the database refuses, else 503."""
    kafka_error, (database_error, stuck) = await asyncio.gather(
        request.app[BUS].kafka_error(), _database_check(request)
    )
    checks: dict[str, dict[str, Any]] = {}
    errors = {"kafka": kafka_error, "database": database_error}
    if database_error is None:
        errors["projections"] = "; ".join(map(_stuck_text, stuck)) or None
    for name, error in errors.items():
        checks[name] = {"ok": True} if error is None else {"ok": False, "error": error}
    healthy = not any(errors.values())
    body: dict[str, Any] = {"status": "ok" if healthy else "degraded", "checks": checks}
    projections = await _projection_lag(request) if kafka_error is None else {}
    for row in stuck:
        projections.setdefault(row.projection, {}).setdefault("stuck", []).append(_stuck_view(row))
    if projections:
        body["projections"] = projections
    workers = _workers(request)
    if workers:
        body["workers"] = workers
    return json_response(body, 200 if healthy else 503)


def _workers(request: web.Request) -> list[dict[str, Any]]:
    """The table recovery of the workers sharing this machine's disk. A recovering
    worker does not make the gateway unhealthy: queries are answered meanwhile, and
    commands wait for it (or answer 504 if it takes longer than their timeout)."""
    settings = request.app[SETTINGS]
    files = worker_status.status_files(
        worker_status.state_base(settings.app_id), settings.state_dir
    )
    return [
        {**status, "updated_at": iso_utc_seconds(status["updated_at"])}
        for status in worker_status.read_statuses(files, time.time())
    ]


def iso_utc_seconds(epoch: float) -> str:
    return iso_utc(datetime.fromtimestamp(epoch, tz=UTC))


def _stuck_text(row: StuckAt) -> str:
    return (
        f"{row.projection} stopped since {iso_utc(row.since)} at event {row.event_id} "
        f"({row.event_type}, {row.source_topic}[{row.source_partition}]@{row.source_offset}): "
        f"{row.error}"
    )


def _stuck_view(row: StuckAt) -> dict[str, Any]:
    return {
        "topic": row.source_topic,
        "partition": row.source_partition,
        "offset": row.source_offset,
        "event_id": row.event_id,
        "event_type": row.event_type,
        "error": row.error,
        "since": iso_utc(row.since),
        "attempts": row.attempts,
        "last_attempt_at": iso_utc(row.last_attempt_at),
    }


async def _projection_lag(request: web.Request) -> dict[str, Any]:
    """How far each projector is behind its topics (records not yet written to the
    read models). Lag alone does not make the gateway unhealthy: it still answers."""
    bus = request.app[BUS]
    lags: dict[str, Any] = {}
    for projection in projections(request.app[SETTINGS]):
        try:
            lag = await bus.consumer_lag(projection.group, list(projection.decoders))
            lags[projection.name] = {"lag": lag}
        except (KafkaError, TimeoutError) as err:
            lags[projection.name] = {"lag": None, "error": f"{type(err).__name__}: {err}"}
    return lags


async def openapi(request: web.Request) -> web.Response:
    """GET /api/openapi.json → the OpenAPI 3.1 document (built once at startup).

    The body is the bare document (a `request_id` key would make it invalid OpenAPI);
    the X-Request-ID header is set as on every response.
    """
    return web.json_response(request.app[OPENAPI])
