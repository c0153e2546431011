"""Who may do what (api.permissions): the table as a storefront, a viewer and an admin
would read it, and the same table in the OpenAPI document."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from api.openapi import build_openapi
from api.permissions import (
    ROLES,
    STOREFRONT_STATUSES,
    allowed_roles,
    is_open,
    may_call,
    needed_role_text,
    roles_for_status,
)
from api.routes import ROUTES
from storage.api_keys import ROLES as STORED_ROLES
from tests.support.roles import EXPECTED, OPEN


def test_every_route_is_in_the_table_or_open() -> None:
    keyed = {r.operation_id for r in ROUTES if not is_open(r.operation_id)}
    assert keyed == set(EXPECTED)
    assert {r.operation_id for r in ROUTES if is_open(r.operation_id)} == OPEN


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.operation_id)
@pytest.mark.parametrize("role", ROLES)
def test_each_role_may_call_exactly_its_routes(route, role) -> None:  # type: ignore[no-untyped-def]
    allowed = is_open(route.operation_id) or role in EXPECTED[route.operation_id]
    assert may_call(role, route.method, route.operation_id) is allowed


def test_an_admin_may_do_everything_and_a_viewer_every_get() -> None:
    for route in ROUTES:
        assert may_call("admin", route.method, route.operation_id)
        assert may_call("viewer", route.method, route.operation_id) is (route.method == "GET")
    assert all(r.method == "GET" for r in ROUTES if r.operation_id in OPEN)


def test_a_route_added_later_is_a_viewer_read_or_an_admin_write() -> None:
    assert allowed_roles("GET", "getMetrics") == ("admin", "viewer")
    assert allowed_roles("POST", "resetEverything") == ("admin",)


def test_a_storefront_may_confirm_or_cancel_but_not_ship() -> None:
    assert {"confirmed", "cancelled"} == STOREFRONT_STATUSES
    for status in ("confirmed", "cancelled"):
        assert "storefront" in roles_for_status(status)
    for status in ("processing", "shipped", "delivered", "pending"):
        assert roles_for_status(status) == ("admin",)


def test_a_refusal_names_the_weakest_role_first() -> None:
    assert needed_role_text(("admin", "storefront")) == "storefront or admin"
    assert needed_role_text(("admin",)) == "admin"


def test_the_stored_roles_are_the_gateways() -> None:
    assert tuple(STORED_ROLES) == ROLES


def test_the_document_declares_the_bearer_scheme_and_each_operations_roles() -> None:
    document = build_openapi(ROUTES)
    assert document["components"]["securitySchemes"]["ApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": document["components"]["securitySchemes"]["ApiKey"]["description"],
    }
    assert document["security"] == [{"ApiKey": []}]
    for route in (r for r in ROUTES if r.documented):
        operation = document["paths"][route.path][route.method.lower()]
        if is_open(route.operation_id):
            assert operation["security"] == []
            assert "401" not in operation["responses"]
        else:
            assert set(operation["x-roles"]) == EXPECTED[route.operation_id]
            assert {"401", "403", "429"} <= set(operation["responses"])


@pytest.mark.parametrize("module", ["api/permissions.py", "api/token_bucket.py"])
def test_the_rules_are_pure(module: str) -> None:
    tree = ast.parse((Path(__file__).resolve().parents[2] / module).read_text())
    imported = {
        name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in (
            [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        )
    }
    assert not imported & {"aiohttp", "sqlalchemy", "asyncpg", "aiokafka", "faust"}
