"""The parameters of `GET /api/orders/`: parsing, validation and the opaque cursor.

Pure: no SQL, no HTTP. The gateway hands the query string to
`parse_order_list_params` and turns `InvalidParameter` into a 400 naming
`err.name`; `storage.order_queries.list_orders` runs the result.

Cursor format (opaque to clients, documented here for maintainers): base64url,
without padding, of the compact JSON object

    {"s": sort, "f": filter fingerprint, "k": last sort key, "id": last order id,
     "h": HMAC-SHA256 over the other four, truncated to 16 bytes, base64url}

The MAC tells a tampered cursor from a genuine one; the fingerprint tells a
genuine cursor used with another filter set (`CursorMismatch`). The key is a
constant, so the MAC is an integrity check against accidents and casual
editing, not a secret: a forged cursor can only start a page at an arbitrary
keyset position of the caller's own query, which a filter could do anyway.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal, get_args

from storage.query_params import (
    CURSOR_SCHEMA,
    TIME_SCHEMA,
    CursorMismatch,
    InvalidCursor,
    InvalidParameter,
    limit_schema,
    open_cursor,
    parse_limit,
    query_values,
    seal_cursor,
)
from storage.query_params import b64encode as _b64encode
from storage.query_params import canonical_json as _canonical_json
from storage.query_params import parse_id as _parse_id
from storage.query_params import parse_time as _parse_time
from storage.query_params import time_text as _time_text
from topics.fields import ENTITY_ID_RULE, MONEY_TEXT_SCHEMA, PRODUCT_ID_RULE, money
from topics.messages import OrderStatusName

SortName = Literal["newest", "oldest", "highest_value", "lowest_value"]

SORTS: Final[tuple[str, ...]] = get_args(SortName)
STATUSES: Final[tuple[str, ...]] = get_args(OrderStatusName)
DEFAULT_SORT: Final = "newest"
DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 200

# Not a secret (see the module docstring); change it to invalidate every cursor
# handed out so far, e.g. when the cursor's meaning changes.
CURSOR_KEY: Final = b"inventory-stream/orders-cursor/v1"

_STATUS_NAME = f"({'|'.join(STATUSES)})"
# One or more statuses, comma separated, spaces allowed around the commas.
STATUS_LIST_PATTERN: Final = f"^ *{_STATUS_NAME} *(, *{_STATUS_NAME} *)*$"
_STATUS_LIST = re.compile(STATUS_LIST_PATTERN)

# Each parameter's rule as the OpenAPI document states it; the parsers below enforce
# exactly these (cross-parameter rules are in the route's descriptions).
PARAMETER_SCHEMAS: Final[dict[str, dict[str, Any]]] = {
    "created_from": TIME_SCHEMA,
    "created_to": TIME_SCHEMA,
    "status": {"type": "string", "pattern": STATUS_LIST_PATTERN},
    "min_total": MONEY_TEXT_SCHEMA,
    "max_total": MONEY_TEXT_SCHEMA,
    "customer_id": ENTITY_ID_RULE.json_schema(),
    "product_id": PRODUCT_ID_RULE.json_schema(),
    "sort": {"type": "string", "enum": list(SORTS)},
    "limit": limit_schema(DEFAULT_LIMIT, MAX_LIMIT),
    "cursor": CURSOR_SCHEMA,
}
PARAMETERS: Final[tuple[str, ...]] = tuple(PARAMETER_SCHEMAS)


@dataclass(frozen=True, slots=True)
class OrderListParams:
    """One order-list query: filters, sort, page size and where to continue.

    Times are timezone-aware UTC; `statuses` is sorted and free of duplicates
    (empty = any status); `cursor` is the raw `next_cursor` of the previous page.
    Build it with `parse_order_list_params` from a query string, or directly
    (benchmarks, tests); `list_orders` checks the cursor either way.
    """

    created_from: datetime | None = None
    created_to: datetime | None = None
    statuses: tuple[str, ...] = ()
    min_total: Decimal | None = None
    max_total: Decimal | None = None
    customer_id: str | None = None
    product_id: str | None = None
    sort: SortName = DEFAULT_SORT
    limit: int = DEFAULT_LIMIT
    cursor: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Keyset:
    """Where the previous page ended: its last row's sort key and order id."""

    value: datetime | Decimal
    order_id: str


def parse_order_list_params(query: Mapping[str, str]) -> OrderListParams:
    """Parse and validate the query string of `GET /api/orders/`.

    `query` may be a plain mapping or a multidict (aiohttp's `request.query`):
    a repeated `status` adds statuses, any other repeated parameter is an error.

    Returns the parameters with defaults filled in. Raises `InvalidParameter`
    naming the first bad parameter: unknown parameter, empty value, bad ISO 8601
    time, `created_from >= created_to`, a total that is not a decimal to the cent,
    `min_total > max_total`, an id that breaks its rule (topics.fields), unknown
    status or sort, limit not an integer in 1..200, or a cursor that is
    malformed, altered (`InvalidCursor`) or from another query (`CursorMismatch`).
    """
    values, status_values = query_values(query, PARAMETERS, repeatable="status")
    statuses = [name for value in status_values for name in _parse_statuses(value)]
    get = values.get

    created_from = _parse_time("created_from", get("created_from"))
    created_to = _parse_time("created_to", get("created_to"))
    # An empty half-open interval [t, t) cannot match anything: almost surely a mistake.
    if created_from is not None and created_to is not None and created_from >= created_to:
        raise InvalidParameter("created_to", "must be later than created_from")
    min_total = _parse_total("min_total", get("min_total"))
    max_total = _parse_total("max_total", get("max_total"))
    if min_total is not None and max_total is not None and min_total > max_total:
        raise InvalidParameter("min_total", "must not be greater than max_total")
    params = OrderListParams(
        created_from=created_from,
        created_to=created_to,
        statuses=tuple(sorted(set(statuses))),
        min_total=min_total,
        max_total=max_total,
        customer_id=_parse_id("customer_id", get("customer_id")),
        product_id=_parse_id("product_id", get("product_id"), PRODUCT_ID_RULE),
        sort=_parse_sort(get("sort")),
        limit=_parse_limit(get("limit")),
        cursor=get("cursor"),
    )
    decode_cursor(params)  # fail now, as a 400, rather than inside the query
    return params


def _parse_statuses(value: str) -> list[str]:
    if not _STATUS_LIST.fullmatch(value):
        raise InvalidParameter(
            "status",
            f"{value!r} is not a comma-separated list of statuses: {', '.join(STATUSES)}",
        )
    return [part.strip(" ") for part in value.split(",")]


def _parse_total(name: str, value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        return money(value)
    except ValueError as err:
        raise InvalidParameter(name, f"{value!r}: {err}") from None


def _parse_sort(value: str | None) -> SortName:
    if value is None:
        return DEFAULT_SORT
    if value not in SORTS:
        raise InvalidParameter(
            "sort", f"unknown sort {value!r}; expected one of: {', '.join(SORTS)}"
        )
    return value  # type: ignore[return-value]  # checked against the Literal's values


def _parse_limit(value: str | None) -> int:
    return parse_limit(value, DEFAULT_LIMIT, MAX_LIMIT)


# --- cursor -----------------------------------------------------------------------------


def sorts_by_value(sort: str) -> bool:
    """True for the sorts on `total`, False for the sorts on `created_at`."""
    return sort in ("highest_value", "lowest_value")


def filter_fingerprint(params: OrderListParams) -> str:
    """A short digest of the filter set (not the sort, limit or cursor).

    Equal filters give equal digests however they were spelled: statuses in any
    order, "10" and "10.00", a time in any zone.
    """
    canonical = {
        "created_from": _time_text(params.created_from),
        "created_to": _time_text(params.created_to),
        "statuses": sorted(set(params.statuses)),
        "min_total": _decimal_text(params.min_total),
        "max_total": _decimal_text(params.max_total),
        "customer_id": params.customer_id,
        "product_id": params.product_id,
    }
    digest = hashlib.sha256(_canonical_json(canonical)).digest()[:9]
    return _b64encode(digest)


def encode_cursor(params: OrderListParams, value: datetime | Decimal, order_id: str) -> str:
    """The cursor that continues `params`' query after the row (`value`, `order_id`)."""
    key = _time_text(value) if isinstance(value, datetime) else _decimal_text(value)
    body = {"s": params.sort, "f": filter_fingerprint(params), "k": key, "id": order_id}
    return seal_cursor(CURSOR_KEY, body)


def decode_cursor(params: OrderListParams) -> Keyset | None:
    """The keyset position of `params.cursor`, or None when there is no cursor.

    Raises `InvalidCursor` when the cursor is not one `encode_cursor` made
    (malformed, truncated, edited) and `CursorMismatch` when it was made for
    another sort or filter set.
    """
    if params.cursor is None:
        return None
    body = open_cursor(CURSOR_KEY, params.cursor, {"s", "f", "k", "id"})
    if body["s"] != params.sort or body["f"] != filter_fingerprint(params):
        raise CursorMismatch()
    try:
        value: datetime | Decimal = (
            Decimal(body["k"]) if sorts_by_value(params.sort) else datetime.fromisoformat(body["k"])
        )
    except (ValueError, InvalidOperation):  # only a bug of ours can get here past the MAC
        raise InvalidCursor() from None
    return Keyset(value=value, order_id=body["id"])


def _decimal_text(value: Decimal | None) -> str | None:
    if value is None:
        return None
    # normalize() makes 10 and 10.00 equal; format "f" avoids exponents like 1E+1.
    return format(value.normalize(), "f")
