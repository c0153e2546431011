"""Who may do what: the roles of API keys and the operations each may call.

Pure (no aiohttp, no SQL): the auth middleware asks `allowed_roles` for the matched
route, the change_status view asks `roles_for_status` for the status in the body, and
the OpenAPI document states the same table.

- `admin`: everything;
- `storefront`: reservations (create, read), orders (read; change_status to confirmed or
  cancelled only), product reads;
- `viewer`: every GET, nothing else.

A route added later is covered without an edit here: a GET is open to viewers (and
admins), anything else to admins only, until this table says otherwise.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

Role = Literal["admin", "storefront", "viewer"]
ROLES: Final[tuple[Role, ...]] = get_args(Role)

# Operations anyone may call without a key: a load balancer's health check, the
# document that tells a client how to authenticate, and the /ops page with its assets
# (they hold no data: the page asks for a key and sends it with every data request).
OPEN_OPERATIONS: Final = frozenset({"health", "openapi", "opsPage", "opsAsset"})

STOREFRONT_OPERATIONS: Final = frozenset(
    {
        "createReservation",
        "getReservation",
        "getOrder",
        "listOrders",
        "changeOrderStatus",
        "getProduct",
        # A storefront may pin a reservation to a location: it may see which there are.
        "listLocations",
    }
)
# The statuses a storefront may move an order to: the customer confirms or cancels;
# the back office ships and delivers.
STOREFRONT_STATUSES: Final = frozenset({"confirmed", "cancelled"})


def is_open(operation_id: str) -> bool:
    """True when the operation needs no key."""
    return operation_id in OPEN_OPERATIONS


def allowed_roles(method: str, operation_id: str) -> tuple[Role, ...]:
    """The roles that may call the operation, strongest first (admin is always one)."""
    roles: list[Role] = ["admin"]
    if operation_id in STOREFRONT_OPERATIONS:
        roles.append("storefront")
    if method.upper() in ("GET", "HEAD"):
        roles.append("viewer")
    return tuple(roles)


def may_call(role: str, method: str, operation_id: str) -> bool:
    """Whether a key of `role` may call the operation (open operations: anyone)."""
    return is_open(operation_id) or role in allowed_roles(method, operation_id)


def roles_for_status(status: str) -> tuple[Role, ...]:
    """The roles that may move an order to `status` with change_status."""
    if status in STOREFRONT_STATUSES:
        return ("admin", "storefront")
    return ("admin",)


def needed_role_text(roles: tuple[str, ...]) -> str:
    """'admin' or 'storefront or admin': the weakest role first, for a 403's message."""
    return " or ".join(reversed(roles))
