"""Every route once: what create_app() registers and what the OpenAPI document describes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp.typedefs import Handler
from pydantic import BaseModel

from api import views
from api.schemas import (
    AdjustStockRequest,
    AuditListResponse,
    ChangeStatusRequest,
    CreateProductRequest,
    HealthResponse,
    OrderListResponse,
    OrderResponse,
    ProductResponse,
    ReservationCreatedResponse,
    ReservationResponse,
    ReserveRequest,
)
from storage.audit_queries import DEFAULT_LIMIT as AUDIT_DEFAULT_LIMIT
from storage.audit_queries import ENTITY_TYPES as AUDIT_ENTITY_TYPES
from storage.audit_queries import EVENT_TYPES
from storage.audit_queries import MAX_LIMIT as AUDIT_MAX_LIMIT
from storage.order_params import DEFAULT_LIMIT as ORDER_DEFAULT_LIMIT
from storage.order_params import MAX_LIMIT as ORDER_MAX_LIMIT
from storage.order_params import SORTS as ORDER_SORTS
from storage.order_params import STATUSES as ORDER_STATUSES


@dataclass(frozen=True)
class Response:
    """A documented answer: status, description, body model (None: the error shape)."""

    status: int
    description: str
    model: type[BaseModel] | None = None


@dataclass(frozen=True)
class QueryParam:
    """A documented query-string parameter: name, words for the caller, JSON Schema."""

    name: str
    description: str
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})


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


_PIPELINE_ERRORS = (
    Response(400, "Malformed JSON (`malformed_json`)."),
    Response(413, "Body over 64 KiB (`payload_too_large`)."),
    Response(422, "Invalid body (`validation_error`) or `idempotency_key_reused`."),
    Response(503, "The command could not be sent (`pipeline_unavailable`); retry."),
    Response(504, "No answer in time (`pipeline_timeout`); retry with the same Idempotency-Key."),
)

ROUTES: tuple[Route, ...] = (
    Route(
        "POST",
        "/api/products/",
        views.create_product,
        "createProduct",
        "Create a product",
        (
            Response(201, "Created.", ProductResponse),
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
            Response(404, "Unknown product (`product_not_found`)."),
        ),
    ),
    Route(
        "POST",
        "/api/products/{id}/adjust_stock/",
        views.adjust_stock,
        "adjustStock",
        "Add or remove units of stock",
        (
            Response(200, "Adjusted.", ProductResponse),
            Response(404, "Unknown product (`product_not_found`)."),
            Response(409, "Available stock would go negative (`negative_stock`)."),
            *_PIPELINE_ERRORS,
        ),
        body=AdjustStockRequest,
    ),
    Route(
        "POST",
        "/api/reservations/",
        views.create_reservation,
        "createReservation",
        "Reserve stock; creates a pending order that expires unless confirmed",
        (
            Response(201, "Reserved.", ReservationCreatedResponse),
            Response(404, "Unknown product (`product_not_found`)."),
            Response(
                409, "Not enough stock (`insufficient_stock`, details: available, requested)."
            ),
            *_PIPELINE_ERRORS,
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
            Response(404, "Unknown reservation (`reservation_not_found`)."),
        ),
    ),
    Route(
        "GET",
        "/api/orders/{id}",
        views.get_order,
        "getOrder",
        "Read an order",
        (
            Response(200, "The order.", OrderResponse),
            Response(404, "Unknown order (`order_not_found`)."),
        ),
    ),
    Route(
        "POST",
        "/api/orders/{id}/change_status/",
        views.change_status,
        "changeOrderStatus",
        "Move an order along its state machine",
        (
            Response(200, "Changed.", OrderResponse),
            Response(404, "Unknown order (`order_not_found`)."),
            Response(409, "Not allowed (`invalid_transition`, details: from, to, allowed)."),
            *_PIPELINE_ERRORS,
        ),
        body=ChangeStatusRequest,
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
                "A bad query parameter: a bad date, from >= to, min > max, an unknown status "
                "or sort, a limit out of range, or a cursor that was altered or belongs to "
                "another sort or filter set (`invalid_parameter`, details: parameter).",
            ),
        ),
        query=(
            QueryParam(
                "created_from",
                "Orders created at or after this time (ISO 8601, UTC if no offset).",
                {"type": "string", "format": "date-time"},
            ),
            QueryParam(
                "created_to",
                "Orders created before this time (exclusive; ISO 8601).",
                {"type": "string", "format": "date-time"},
            ),
            QueryParam(
                "status",
                f"One or several statuses, comma separated: {', '.join(ORDER_STATUSES)}.",
            ),
            QueryParam("min_total", "Total at least this (decimal).", {"type": "string"}),
            QueryParam("max_total", "Total at most this (decimal).", {"type": "string"}),
            QueryParam("customer_id", "Only this customer's orders."),
            QueryParam("product_id", "Only orders of this product."),
            QueryParam(
                "sort",
                "Order of the results; ties are broken by order id (default newest).",
                {"type": "string", "enum": list(ORDER_SORTS)},
            ),
            QueryParam(
                "limit",
                f"Page size (default {ORDER_DEFAULT_LIMIT}).",
                {"type": "integer", "minimum": 1, "maximum": ORDER_MAX_LIMIT},
            ),
            QueryParam("cursor", "`next_cursor` of the previous page, with the same query."),
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
                "A bad query parameter, e.g. a bad time, since >= until, a limit out of "
                "range or a cursor that was altered or belongs to other filters "
                "(`invalid_parameter`, details: parameter).",
            ),
        ),
        query=(
            QueryParam(
                "entity_type",
                "Only events about this kind of entity.",
                {"type": "string", "enum": list(AUDIT_ENTITY_TYPES)},
            ),
            QueryParam("entity_id", "Only events about this entity (an order id, ...)."),
            QueryParam(
                "type", "Only this event type.", {"type": "string", "enum": list(EVENT_TYPES)}
            ),
            QueryParam("request_id", "Only events caused by this request."),
            QueryParam(
                "since",
                "Events at or after this time (ISO 8601, UTC if no offset).",
                {"type": "string", "format": "date-time"},
            ),
            QueryParam(
                "until",
                "Events before this time (exclusive; ISO 8601).",
                {"type": "string", "format": "date-time"},
            ),
            QueryParam(
                "limit",
                f"Page size (default {AUDIT_DEFAULT_LIMIT}).",
                {"type": "integer", "minimum": 1, "maximum": AUDIT_MAX_LIMIT},
            ),
            QueryParam("cursor", "`next_cursor` of the previous page, with the same filters."),
        ),
        tag="audit",
    ),
    Route(
        "GET",
        "/healthz",
        views.healthz,
        "health",
        "Broker and database reachability",
        (
            Response(200, "Both answer.", HealthResponse),
            Response(503, "One does not answer (`status: degraded`).", HealthResponse),
        ),
        tag="operations",
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
