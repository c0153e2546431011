"""Who may call what, as issue 13 states it, written out once for the tests that hold
api.permissions to it: the pure table (tests/unit/test_permissions.py) and a real
gateway (tests/integration/gateway/test_gateway_auth.py)."""

from __future__ import annotations

# Every keyed operation of the gateway and the roles that may call it.
EXPECTED: dict[str, set[str]] = {
    "createProduct": {"admin"},
    "getProduct": {"admin", "storefront", "viewer"},
    "adjustStock": {"admin"},
    "transferStock": {"admin"},
    "updateProduct": {"admin"},
    "createLocation": {"admin"},
    "listLocations": {"admin", "storefront", "viewer"},
    "createReservation": {"admin", "storefront"},
    "getReservation": {"admin", "storefront", "viewer"},
    "getOrder": {"admin", "storefront", "viewer"},
    "changeOrderStatus": {"admin", "storefront"},
    "listOrders": {"admin", "storefront", "viewer"},
    "listAudit": {"admin", "viewer"},
    "opsSummary": {"admin", "viewer"},
    "opsAuditStream": {"admin", "viewer"},
    "metrics": {"admin", "viewer"},
}
# The operations anyone may call without a key.
OPEN = {"health", "openapi", "opsPage", "opsAsset"}
