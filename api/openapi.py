"""The OpenAPI 3.1 document, generated from the route table and the pydantic models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from api.dispatch import IDEMPOTENCY_HEADER, IDEMPOTENCY_KEY_SCHEMA
from api.middleware import MAX_BODY_BYTES, REQUEST_ID_HEADER, REQUEST_ID_PATTERN
from api.permissions import STOREFRONT_STATUSES, allowed_roles, is_open, needed_role_text
from api.routes import Route
from api.schemas import ErrorResponse

_REF = "#/components/schemas/{model}"

# Errors any route can answer besides its own.
_KEYED_ERRORS: dict[int, str] = {
    401: "No API key, or a malformed, unknown or revoked one (`unauthenticated`).",
    403: "The key's role may not do this (`forbidden`, details: role, required_roles).",
    429: "Too many requests for this key (`rate_limited`); retry after `Retry-After` seconds.",
}
_SCHEME = "ApiKey"

_COMMON_ERRORS: dict[int, str] = {
    405: "Method not allowed on this path (`method_not_allowed`).",
    500: "Unexpected error (`internal_error`); quote the request_id.",
    503: "The database is unavailable (`unavailable`); retry after `Retry-After` seconds.",
}


def build_openapi(routes: tuple[Route, ...], version: str = "0.1.0") -> dict[str, Any]:
    """The OpenAPI 3.1 document of `routes`: bodies and responses from their models."""
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorResponse, "serialization")]
    for route in routes:
        if route.body is not None:
            models.append((route.body, "validation"))
        models.extend((r.model, "serialization") for r in route.responses if r.model)
    refs, top = models_json_schema(list(dict.fromkeys(models)), ref_template=_REF)

    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if route.documented:
            paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, refs)

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "inventory-stream gateway",
            "version": version,
            "description": (
                "Stock reservations over a Kafka pipeline. Every response carries an "
                f"`{REQUEST_ID_HEADER}` header and (except this document) `request_id` in "
                "the JSON body. Errors are "
                '`{"error": {"code", "message", "details"}, "request_id"}`. Money is a '
                "decimal string, times are UTC ISO 8601. Bodies are limited to "
                f"{MAX_BODY_BYTES} bytes. Every operation but `/healthz` and this document "
                "needs an API key, `Authorization: Bearer <key>` (`inventory keys create`); "
                "`x-roles` names the roles that may call it: admin (everything), storefront "
                "(reservations, order reads, change_status to "
                f"{' or '.join(sorted(STOREFRONT_STATUSES))}, product reads), viewer "
                "(every GET)."
            ),
        },
        "security": [{_SCHEME: []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                _SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key from `inventory keys create --role ROLE "
                    "--name NAME`, as `Authorization: Bearer <key>`.",
                }
            },
            "schemas": top.get("$defs", {}),
            "parameters": {
                "RequestId": {
                    "name": REQUEST_ID_HEADER,
                    "in": "header",
                    "required": False,
                    # Any value is accepted, so the schema has no pattern: one that
                    # does not match is replaced, not refused.
                    "description": (
                        f"Kept when it matches `{REQUEST_ID_PATTERN}`; any other value "
                        "(empty included) is replaced by a generated UUID, never refused. "
                        "The response's header and `request_id` say which id was used."
                    ),
                    "schema": {"type": "string"},
                },
                "IdempotencyKey": {
                    "name": IDEMPOTENCY_HEADER,
                    "in": "header",
                    "required": False,
                    "description": (
                        "Makes the POST safe to retry: a retry returns the first answer; "
                        "the same key with another body is 422 `idempotency_key_reused`, "
                        "a key that breaks the pattern 422 `validation_error`."
                    ),
                    "schema": IDEMPOTENCY_KEY_SCHEMA,
                },
            },
            "headers": {
                "RequestId": {
                    "description": "The request id (the caller's, or a generated UUID).",
                    "schema": {"type": "string"},
                }
            },
        },
    }


def _operation(
    route: Route, refs: dict[tuple[Any, JsonSchemaMode], dict[str, Any]]
) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [{"$ref": "#/components/parameters/RequestId"}]
    if route.path_id is not None:
        parameters.append(
            {
                "name": "id",
                "in": "path",
                "required": True,
                "schema": route.path_id.rule.json_schema(),
            }
        )
    if route.method == "POST":
        parameters.append({"$ref": "#/components/parameters/IdempotencyKey"})
    parameters.extend(
        {
            "name": param.name,
            "in": "query",
            "required": False,
            "description": param.description,
            "schema": param.schema,
        }
        for param in route.query
    )

    error_ref = refs[(ErrorResponse, "serialization")]
    responses: dict[str, Any] = {}
    statuses = [(r.status, r.description, r.model, r.links) for r in route.responses]
    own = {r.status for r in route.responses}
    common = dict(_COMMON_ERRORS)
    if not is_open(route.operation_id):
        common.update(_KEYED_ERRORS)
    statuses = [
        (s, f"{d} {common[s]}" if s in common else d, m, links) for s, d, m, links in statuses
    ]
    statuses += [(s, d, None, {}) for s, d in sorted(common.items()) if s not in own]
    for status, description, model, links in statuses:
        if model is not None:
            schema = refs[(model, "serialization")]
        elif status >= 400:
            schema = error_ref
        else:
            schema = {"type": "object"}
        responses[str(status)] = {
            "description": description,
            "headers": {REQUEST_ID_HEADER: {"$ref": "#/components/headers/RequestId"}},
            "content": {"application/json": {"schema": schema}},
        }
        if links:
            responses[str(status)]["links"] = dict(links)

    operation: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "tags": [route.tag],
        "parameters": parameters,
        "responses": responses,
    }
    if is_open(route.operation_id):
        operation["security"] = []  # no key needed
        operation["x-roles"] = []
    else:
        roles = allowed_roles(route.method, route.operation_id)
        operation["x-roles"] = list(roles)
        operation["description"] = f"Needs the role {needed_role_text(roles)}." + (
            " A storefront key may only move an order to "
            f"{' or '.join(sorted(STOREFRONT_STATUSES))} (403 otherwise)."
            if route.operation_id == "changeOrderStatus"
            else ""
        )
    if route.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(route.body, "validation")]}},
        }
    return operation
