"""Every route once: what create_app() registers and what the OpenAPI document describes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp.typedefs import Handler
from pydantic import BaseModel

from api import ops, views
from api.bodies import ORDER_ID, PRODUCT_ID, RESERVATION_ID, PathId
from api.schemas import (
    AdjustStockRequest,
    AuditListResponse,
    ChangeStatusRequest,
    CreateLocationRequest,
    CreateProductRequest,
    HealthResponse,
    LocationListResponse,
    LocationResponse,
    OrderListResponse,
    OrderResponse,
    ProductResponse,
    ReservationCreatedResponse,
    ReservationResponse,
    ReserveRequest,
    TransferStockRequest,
    UpdateProductRequest,
)
from storage import audit_queries, order_params
from storage.query_params import TIME_LENIENCY


@dataclass(frozen=True)
class Response:
    """A documented answer: status, description, body model (None: the error shape), and
    the OpenAPI links from its body to the operations a client may call next."""

    status: int
    description: str
    model: type[BaseModel] | None = None
    links: Mapping[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class QueryParam:
    """A documented query-string parameter: name, words for the caller, JSON Schema."""

    name: str
    description: str
    schema: dict[str, Any]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    operation_id: str
    summary: str
    responses: tuple[Response, ...]
    body: type[BaseModel] | None = None
    tag: str = "inventory"
    query: tuple[QueryParam, ...] = ()
    path_id: PathId | None = None
    # False: served but left out of the OpenAPI document (a page, its assets, a stream or
    # the metrics text: nothing a JSON client or schemathesis could call and check).
    documented: bool = True


def _query(schemas: Mapping[str, dict[str, Any]], words: dict[str, str]) -> tuple[QueryParam, ...]:
    """The parameters a parser takes (`schemas`, its own rules) with their descriptions."""
    # Every parameter the parser takes is documented, and no other.
    assert list(words) == list(schemas), (list(words), list(schemas))
    return tuple(QueryParam(name, text, schemas[name]) for name, text in words.items())


def _link(operation_id: str, **parameters: str) -> dict[str, Any]:
    return {"operationId": operation_id, "parameters": parameters}


_PRODUCT_LINKS = {
    "GetProduct": _link("getProduct", id="$response.body#/product/id"),
    "AdjustStock": _link("adjustStock", id="$response.body#/product/id"),
    "ReserveStock": {
        "operationId": "createReservation",
        "requestBody": {"product_id": "$response.body#/product/id"},
    },
}
_ORDER_LINKS = {
    "GetOrder": _link("getOrder", id="$response.body#/order/id"),
    "ChangeOrderStatus": _link("changeOrderStatus", id="$response.body#/order/id"),
}
_RESERVATION_LINKS = {
    "GetReservation": _link("getReservation", id="$response.body#/reservation/id"),
    **_ORDER_LINKS,
}

_EMPTY = " An empty value is refused: leave the parameter out."

_PIPELINE_ERRORS = (
    Response(400, "Malformed JSON (`malformed_json`)."),
    Response(413, "Body over 64 KiB (`payload_too_large`)."),
    Response(422, "Invalid body (`validation_error`) or `idempotency_key_reused`."),
    Response(503, "The command could not be sent (`pipeline_unavailable`); retry."),
    Response(504, "No answer in time (`pipeline_timeout`); retry with the same Idempotency-Key."),
)

_MALFORMED = "an id that breaks the rule of the `id` parameter answers the same"

ROUTES: tuple[Route, ...] = (
    Route(
        "POST",
        "/api/products/",
        views.create_product,
        "createProduct",
        "Create a product",
        (
            Response(201, "Created.", ProductResponse, _PRODUCT_LINKS),
            Response(409, "The id exists (`product_exists`)."),
            *_PIPELINE_ERRORS,
        ),
        body=CreateProductRequest,
    ),
    Route(
        "GET",
        "/api/products/{id}",
        views.get_product,
        "getProduct",
        "Read a product",
        (
            Response(200, "The product.", ProductResponse),
            Response(404, f"Unknown product (`product_not_found`); {_MALFORMED}."),
        ),
        path_id=PRODUCT_ID,
    ),
    Route(
        "POST",
        "/api/products/{id}/adjust_stock/",
        views.adjust_stock,
        "adjustStock",
        "Add or remove units of stock",
        (
            Response(200, "Adjusted.", ProductResponse, _PRODUCT_LINKS),
            Response(
                404,
                f"Unknown product (`product_not_found`) or location (`location_not_found`); "
                f"{_MALFORMED}.",
            ),
            Response(
                409,
                "Available stock at the location would go negative (`negative_stock`, details: "
                "available, delta, location_id), or the total stock "
                "would pass the limit (`invalid_quantity`).",
            ),
            *_PIPELINE_ERRORS,
        ),
        body=AdjustStockRequest,
        path_id=PRODUCT_ID,
    ),
    Route(
        "POST",
        "/api/products/{id}/transfer_stock/",
        views.transfer_stock,
        "transferStock",
        "Move available units from one location to another, both ends at once",
        (
            Response(200, "Moved.", ProductResponse, _PRODUCT_LINKS),
            Response(
                404,
                f"Unknown product (`product_not_found`) or location (`location_not_found`); "
                f"{_MALFORMED}.",
            ),
            Response(
                409,
                "Fewer units available at `from` (`insufficient_stock`, details: available, "
                "requested, location_id), or `from` and `to` are one location "
                "(`same_location`).",
            ),
            *_PIPELINE_ERRORS,
        ),
        body=TransferStockRequest,
        path_id=PRODUCT_ID,
    ),
    Route(
        "PATCH",
        "/api/products/{id}/",
        views.update_product,
        "updateProduct",
        "Choose how reservations without a location are allocated",
        (
            Response(200, "Updated.", ProductResponse, _PRODUCT_LINKS),
            Response(404, f"Unknown product (`product_not_found`); {_MALFORMED}."),
            *_PIPELINE_ERRORS,
        ),
        body=UpdateProductRequest,
        path_id=PRODUCT_ID,
    ),
    Route(
        "POST",
        "/api/locations/",
        views.create_location,
        "createLocation",
        "Add a location (warehouse) to the catalogue",
        (
            Response(201, "Created.", LocationResponse),
            Response(409, "The id exists (`location_exists`)."),
            Response(400, "Malformed JSON (`malformed_json`)."),
            Response(413, "Body over 64 KiB (`payload_too_large`)."),
            Response(422, "Invalid body (`validation_error`) or `idempotency_key_reused`."),
        ),
        body=CreateLocationRequest,
        tag="locations",
    ),
    Route(
        "GET",
        "/api/locations/",
        views.list_locations,
        "listLocations",
        "Every location, lowest priority number first",
        (Response(200, "The locations.", LocationListResponse),),
        tag="locations",
    ),
    Route(
        "POST",
        "/api/reservations/",
        views.create_reservation,
        "createReservation",
        "Reserve one product, or a cart of several (`lines`, all or nothing); creates a "
        "pending order that expires unless confirmed",
        (
            Response(201, "Reserved.", ReservationCreatedResponse, _RESERVATION_LINKS),
            Response(
                404,
                "Unknown product (`product_not_found`; a cart names every unknown one in "
                "details.product_ids, nothing held) or location (`location_not_found`).",
            ),
            Response(
                409,
                "Not enough stock (`insufficient_stock`, details: available, requested, and "
                "location_id for a pinned line, whatever other locations hold; a cart: "
                "details.lines, the first short line in product id order with product_id, "
                "requested, available, sent once every held line is given back).",
            ),
            *_PIPELINE_ERRORS[:2],
            Response(
                422,
                "Invalid body (`validation_error`), `idempotency_key_reused`, or a cart "
                "naming one product on two lines (`duplicate_line`).",
            ),
            *_PIPELINE_ERRORS[3:],
        ),
        body=ReserveRequest,
    ),
    Route(
        "GET",
        "/api/reservations/{id}",
        views.get_reservation,
        "getReservation",
        "Read a reservation",
        (
            Response(200, "The reservation.", ReservationResponse),
            Response(404, f"Unknown reservation (`reservation_not_found`); {_MALFORMED}."),
        ),
        path_id=RESERVATION_ID,
    ),
    Route(
        "GET",
        "/api/orders/{id}",
        views.get_order,
        "getOrder",
        "Read an order",
        (
            Response(200, "The order.", OrderResponse),
            Response(404, f"Unknown order (`order_not_found`); {_MALFORMED}."),
        ),
        path_id=ORDER_ID,
    ),
    Route(
        "POST",
        "/api/orders/{id}/change_status/",
        views.change_status,
        "changeOrderStatus",
        "Move an order along its state machine",
        (
            Response(200, "Changed.", OrderResponse, _ORDER_LINKS),
            Response(404, f"Unknown order (`order_not_found`); {_MALFORMED}."),
            Response(409, "Not allowed (`invalid_transition`, details: from, to, allowed)."),
            *_PIPELINE_ERRORS,
        ),
        body=ChangeStatusRequest,
        path_id=ORDER_ID,
    ),
    Route(
        "GET",
        "/api/orders/",
        views.list_orders,
        "listOrders",
        "Orders filtered by date, status, total, customer and product, keyset-paged",
        (
            Response(200, "One page of orders.", OrderListResponse),
            Response(
                400,
                "A parameter breaks its rule, `created_to` is not later than `created_from`, "
                "`min_total` is greater than `max_total`, or the cursor was altered or "
                "belongs to another sort or filter set (`invalid_parameter`, details: "
                "parameter)." + _EMPTY,
            ),
        ),
        query=_query(
            order_params.PARAMETER_SCHEMAS,
            {
                "created_from": f"Orders created at or after this time. {TIME_LENIENCY}",
                "created_to": "Orders created before this time (exclusive). Must be later "
                "than `created_from`: an empty or reversed range is a 400.",
                "status": "One or several statuses, comma separated (or the parameter "
                "repeated): " + ", ".join(order_params.STATUSES) + ".",
                "min_total": "Total at least this; not greater than `max_total`.",
                "max_total": "Total at most this.",
                "customer_id": "Only this customer's orders.",
                "product_id": "Only orders of this product.",
                "location_id": "Only orders holding units at this location.",
                "sort": "Order of the results; ties are broken by order id (default "
                f"{order_params.DEFAULT_SORT}).",
                "limit": "Page size.",
                "cursor": "`next_cursor` of the previous page, with the same query; any "
                "other value is a 400.",
            },
        ),
        tag="orders",
    ),
    Route(
        "GET",
        "/api/audit/",
        views.list_audit,
        "listAudit",
        "Who changed what and why: the audit log, newest first",
        (
            Response(200, "One page of audit events.", AuditListResponse),
            Response(
                400,
                "A parameter breaks its rule, `until` is not later than `since`, or the "
                "cursor was altered or belongs to other filters (`invalid_parameter`, "
                "details: parameter)." + _EMPTY,
            ),
        ),
        query=_query(
            audit_queries.PARAMETER_SCHEMAS,
            {
                "entity_type": "Only events about this kind of entity.",
                "entity_id": "Only events about this entity (an order id, ...).",
                "type": "Only this event type.",
                "request_id": "Only events caused by this request.",
                "actor": "Only events caused by this actor: an API key's id (`inventory keys "
                "list`), `system` (the expiry timer, `inventory cleanup`), or the `actor.id` "
                "an outside producer put on its command.",
                "location_id": "Only events touching this location: adjustments there, "
                "transfers from or to it, reservations and orders holding units there.",
                "since": f"Events at or after this time. {TIME_LENIENCY}",
                "until": "Events before this time (exclusive). Must be later than `since`: "
                "an empty or reversed range is a 400.",
                "limit": "Page size.",
                "cursor": "`next_cursor` of the previous page, with the same filters; any "
                "other value is a 400.",
            },
        ),
        tag="audit",
    ),
    Route(
        "GET",
        "/healthz",
        views.healthz,
        "health",
        "Broker and database reachability, projection lag, stopped projections",
        (
            Response(200, "Both answer, no projection is stopped.", HealthResponse),
            Response(
                503,
                "One does not answer, or a projection is stopped at an event the database "
                "refuses (`status: degraded`; `checks.projections` and "
                "`projections.<name>.stuck` name the event and the error).",
                HealthResponse,
            ),
        ),
        tag="operations",
    ),
    Route(
        "GET",
        "/api/ops/summary",
        ops.ops_summary,
        "opsSummary",
        "What the operations page shows: stock per product, holds about to expire, orders "
        "by status, reservations per second, consumer and projection lag",
        (Response(200, "The summary, read now."),),
        tag="operations",
    ),
    Route(
        "GET",
        "/api/ops/audit/stream",
        ops.ops_audit_stream,
        "opsAuditStream",
        "The audit topic live, as server-sent events (text/event-stream)",
        (Response(200, "Events until the client leaves."),),
        tag="operations",
        documented=False,  # never ends: no client of the document can wait for it
    ),
    Route(
        "GET",
        "/metrics",
        ops.metrics,
        "metrics",
        "The gateway's metrics in Prometheus' text format",
        (Response(200, "text/plain; version=0.0.4"),),
        tag="operations",
        documented=False,
    ),
    Route(
        "GET",
        "/ops",
        ops.ops_page,
        "opsPage",
        "The live operations page (HTML)",
        (Response(200, "text/html"),),
        tag="operations",
        documented=False,
    ),
    Route(
        "GET",
        "/ops/assets/{name}",
        ops.ops_asset,
        "opsAsset",
        "The operations page's script and style sheet",
        (Response(200, "text/javascript or text/css"), Response(404, "No such asset.")),
        tag="operations",
        documented=False,
    ),
    Route(
        "GET",
        "/api/openapi.json",
        views.openapi,
        "openapi",
        "This document",
        (Response(200, "The OpenAPI 3.1 document."),),
        tag="operations",
    ),
)
