"""The OpenAPI document states the rules the gateway enforces, from the same source (no I/O)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from api.bodies import ORDER_ID, PRODUCT_ID
from api.openapi import build_openapi
from api.permissions import is_open
from api.routes import ROUTES
from storage import audit_queries, order_params
from topics.fields import MAX_PRICE, PRICE_PATTERN, PRODUCT_ID_PATTERN, VISIBLE_TEXT_PATTERN

DOC = build_openapi(ROUTES)
SCHEMAS = DOC["components"]["schemas"]


def operation(operation_id: str) -> dict[str, Any]:
    for methods in DOC["paths"].values():
        for op in methods.values():
            if op["operationId"] == operation_id:
                return op
    raise KeyError(operation_id)


def parameter(op: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in op["parameters"] if p.get("name") == name)


def test_a_stock_adjustment_of_zero_is_excluded_by_the_schema() -> None:
    delta = SCHEMAS["AdjustStockRequest"]["properties"]["delta"]
    assert delta["type"] == "integer"
    assert delta["not"] == {"const": 0}


def test_a_price_is_a_decimal_string_or_a_whole_number_up_to_the_limit() -> None:
    price = SCHEMAS["CreateProductRequest"]["properties"]["price"]
    text, whole = price["anyOf"]
    assert text == {"type": "string", "pattern": PRICE_PATTERN, "examples": ["19.90"]}
    assert whole == {"type": "integer", "minimum": 0, "maximum": int(MAX_PRICE)}
    assert not re.fullmatch(PRICE_PATTERN, "")


def test_a_reservation_body_is_one_product_or_a_cart_never_both() -> None:
    body = SCHEMAS["ReserveRequest"]
    single, cart = body["oneOf"]
    assert single["required"] == ["product_id", "quantity"]
    assert cart["required"] == ["lines"]
    assert body["required"] == ["customer_id"]


def test_ids_and_texts_in_bodies_carry_the_wire_patterns() -> None:
    reserve = SCHEMAS["ReserveRequest"]["properties"]
    assert reserve["product_id"]["pattern"] == PRODUCT_ID_PATTERN
    assert SCHEMAS["CartLineRequest"]["properties"]["product_id"]["pattern"] == PRODUCT_ID_PATTERN
    assert reserve["lines"]["maxItems"] == 50
    assert reserve["customer_id"]["pattern"] == VISIBLE_TEXT_PATTERN
    assert reserve["customer_id"]["maxLength"] == 128
    assert SCHEMAS["CreateProductRequest"]["properties"]["name"]["pattern"] == VISIBLE_TEXT_PATTERN


@pytest.mark.parametrize("route", [r for r in ROUTES if "{id}" in r.path], ids=lambda r: r.path)
def test_every_path_id_is_validated_and_documented_with_its_rule(route: Any) -> None:
    assert route.path_id is not None
    op = DOC["paths"][route.path][route.method.lower()]
    assert parameter(op, "id")["schema"] == route.path_id.rule.json_schema()
    assert "404" in op["responses"]


def test_order_and_product_ids_in_paths_follow_their_own_rules() -> None:
    assert parameter(operation("getProduct"), "id")["schema"]["pattern"] == PRODUCT_ID_PATTERN
    change = parameter(operation("changeOrderStatus"), "id")["schema"]
    assert change == ORDER_ID.rule.json_schema()
    assert PRODUCT_ID.rule.json_schema() != change


@pytest.mark.parametrize(
    ("operation_id", "module"), [("listOrders", order_params), ("listAudit", audit_queries)]
)
def test_the_documented_query_parameters_are_the_parsers_with_its_schemas(
    operation_id: str, module: Any
) -> None:
    documented = {
        p["name"]: p["schema"]
        for p in operation(operation_id)["parameters"]
        if p.get("in") == "query"
    }
    assert documented == module.PARAMETER_SCHEMAS
    assert list(documented) == list(module.PARAMETERS)


def test_the_cross_parameter_rules_are_stated_in_words() -> None:
    orders = operation("listOrders")
    assert "later than `created_from`" in parameter(orders, "created_to")["description"]
    assert "greater than `max_total`" in parameter(orders, "min_total")["description"]
    assert "later than `since`" in parameter(operation("listAudit"), "until")["description"]


def test_the_request_id_header_is_any_string_and_says_what_happens_to_a_bad_one() -> None:
    header = DOC["components"]["parameters"]["RequestId"]
    assert header["schema"] == {"type": "string"}
    assert "replaced by a generated UUID" in header["description"]


def test_every_link_names_an_operation_and_its_parameters() -> None:
    links = [
        (link, op)
        for methods in DOC["paths"].values()
        for op in methods.values()
        for response in op["responses"].values()
        for link in response.get("links", {}).values()
    ]
    assert len(links) >= 7
    for link, _source in links:
        target = operation(link["operationId"])
        names = {p.get("name") for p in target["parameters"]}
        assert set(link.get("parameters", {})) <= names, link
        if "requestBody" in link:
            body_ref = target["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            properties = SCHEMAS[body_ref.rsplit("/", 1)[-1]]["properties"]
            assert set(link["requestBody"]) <= set(properties), link


def test_a_product_links_to_a_reservation_which_links_to_a_status_change() -> None:
    created = operation("createProduct")["responses"]["201"]["links"]
    assert created["ReserveStock"]["operationId"] == "createReservation"
    reserved = operation("createReservation")["responses"]["201"]["links"]
    assert reserved["ChangeOrderStatus"]["operationId"] == "changeOrderStatus"


def test_the_health_answer_documents_every_check_the_projections_and_the_workers() -> None:
    health = SCHEMAS["HealthResponse"]["properties"]
    assert set(health) == {"status", "checks", "projections", "workers", "request_id"}
    projections = health["projections"]["anyOf"][0]["additionalProperties"]
    assert projections == {"$ref": "#/components/schemas/ProjectionHealth"}
    workers = health["workers"]["anyOf"][0]["items"]
    assert workers == {"$ref": "#/components/schemas/WorkerRecovery"}
    assert set(SCHEMAS["WorkerRecovery"]["required"]) == {
        "folder",
        "recovering",
        "partitions",
        "updated_at",
    }
    checks = SCHEMAS["HealthChecks"]
    assert set(checks["properties"]) == {"kafka", "database", "projections"}
    assert set(checks["required"]) == {"kafka", "database"}


def test_the_page_the_stream_and_the_metrics_are_served_but_not_documented() -> None:
    hidden = {r.path for r in ROUTES if not r.documented}
    assert {"/ops", "/ops/assets/{name}", "/api/ops/audit/stream", "/metrics"} == hidden
    assert not hidden & set(DOC["paths"])
    assert "/api/ops/summary" in DOC["paths"]


def test_only_health_the_document_the_page_and_its_assets_answer_without_a_key() -> None:
    assert {r.path for r in ROUTES if is_open(r.operation_id)} == {
        "/healthz",
        "/api/openapi.json",
        "/ops",
        "/ops/assets/{name}",
    }
