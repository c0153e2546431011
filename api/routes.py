"""Every route once: what create_app() registers and what the OpenAPI document describes."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp.typedefs import Handler
from pydantic import BaseModel

from api import views
from api.schemas import (
    AdjustStockRequest,
    ChangeStatusRequest,
    CreateProductRequest,
    HealthResponse,
    OrderResponse,
    ProductResponse,
    ReservationCreatedResponse,
    ReservationResponse,
    ReserveRequest,
)


@dataclass(frozen=True)
class Response:
    """A documented answer: status, description, body model (None: the error shape)."""

    status: int
    description: str
    model: type[BaseModel] | None = None


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


_PIPELINE_ERRORS = (
    Response(400, "Malformed JSON (`malformed_json`)."),
    Response(413, "Body over 64 KiB (`payload_too_large`)."),
    Response(422, "Invalid body (`validation_error`) or `idempotency_key_reused`."),
    Response(503, "The command could not be sent (`pipeline_unavailable`); retry."),
    Response(504, "No answer in time (`pipeline_timeout`); retry with the same Idempotency-Key."),
)

ROUTES: tuple[Route, ...] = (
    Route(
        "POST", "/api/products/", views.create_product, "createProduct", "Create a product",
        (
            Response(201, "Created.", ProductResponse),
            Response(409, "The id exists (`product_exists`)."),
            *_PIPELINE_ERRORS,
        ),
        body=CreateProductRequest,
    ),
    Route(
        "GET", "/api/products/{id}", views.get_product, "getProduct", "Read a product",
        (
            Response(200, "The product.", ProductResponse),
            Response(404, "Unknown product (`product_not_found`)."),
        ),
    ),
    Route(
        "POST", "/api/products/{id}/adjust_stock/", views.adjust_stock, "adjustStock",
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
        "POST", "/api/reservations/", views.create_reservation, "createReservation",
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
        "GET", "/api/reservations/{id}", views.get_reservation, "getReservation",
        "Read a reservation",
        (
            Response(200, "The reservation.", ReservationResponse),
            Response(404, "Unknown reservation (`reservation_not_found`)."),
        ),
    ),
    Route(
        "GET", "/api/orders/{id}", views.get_order, "getOrder", "Read an order",
        (
            Response(200, "The order.", OrderResponse),
            Response(404, "Unknown order (`order_not_found`)."),
        ),
    ),
    Route(
        "POST", "/api/orders/{id}/change_status/", views.change_status, "changeOrderStatus",
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
        "GET", "/healthz", views.healthz, "health", "Broker and database reachability",
        (
            Response(200, "Both answer.", HealthResponse),
            Response(503, "One does not answer (`status: degraded`).", HealthResponse),
        ),
        tag="operations",
    ),
    Route(
        "GET", "/api/openapi.json", views.openapi, "openapi", "This document",
        (Response(200, "The OpenAPI 3.1 document."),),
        tag="operations",
    ),
)
