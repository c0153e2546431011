"""The parameters of `GET /api/orders/`: parsing, validation and the opaque cursor.

Pure: no SQL, no HTTP. The gateway hands the query string to
`parse_order_list_params` and turns `InvalidParameter` into a 400 naming
`err.name`; `storage.order_queries.list_orders` runs the result.

Cursor (opaque to clients; storage.cursors, docs/QUERIES.md): the signed JSON object
`{"f": filter fingerprint, "id": last order id, "k": last sort key, "s": sort}`. A
cursor of another sort or filter set is a `CursorMismatch`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal, get_args

from storage.cursors import CURSOR_SCHEMA, InvalidCursor, KeysetCursor, fingerprint, time_text
from storage.query_params import (
    TIME_SCHEMA,
    InvalidParameter,
    limit_schema,
    parse_id,
    parse_limit,
    parse_time,
    query_values,
)
from topics.fields import ENTITY_ID_RULE, MONEY_TEXT_SCHEMA, PRODUCT_ID_RULE, money
from topics.messages import OrderStatusName

SortName = Literal["newest", "oldest", "highest_value", "lowest_value"]

SORTS: Final[tuple[str, ...]] = get_args(SortName)
STATUSES: Final[tuple[str, ...]] = get_args(OrderStatusName)
DEFAULT_SORT: Final = "newest"
DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 200

# The salt is not a secret (storage.cursors); change it to invalidate every cursor
# handed out so far, e.g. when the cursor's meaning changes.
CURSOR: Final = KeysetCursor(
    salt="inventory-stream/orders-cursor/v2",
    query_fields=frozenset({"s", "f"}),
    position_fields=frozenset({"k", "id"}),
)

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
    "location_id": PRODUCT_ID_RULE.json_schema(),
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
    location_id: str | None = None
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

    created_from = parse_time("created_from", get("created_from"))
    created_to = parse_time("created_to", get("created_to"))
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
        customer_id=parse_id("customer_id", get("customer_id")),
        product_id=parse_id("product_id", get("product_id"), PRODUCT_ID_RULE),
        location_id=parse_id("location_id", get("location_id"), PRODUCT_ID_RULE),
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
    return fingerprint(
        {
            "created_from": time_text(params.created_from),
            "created_to": time_text(params.created_to),
            "statuses": sorted(set(params.statuses)),
            "min_total": _decimal_text(params.min_total),
            "max_total": _decimal_text(params.max_total),
            "customer_id": params.customer_id,
            "product_id": params.product_id,
            # Only when set: cursors handed out before the filter existed stay valid.
            **({"location_id": params.location_id} if params.location_id else {}),
        }
    )


def _cursor_query(params: OrderListParams) -> dict[str, str]:
    return {"s": params.sort, "f": filter_fingerprint(params)}


def encode_cursor(params: OrderListParams, value: datetime | Decimal, order_id: str) -> str:
    """The cursor that continues `params`' query after the row (`value`, `order_id`)."""
    key = time_text(value) if isinstance(value, datetime) else _decimal_text(value)
    assert key is not None
    return CURSOR.seal(_cursor_query(params), {"k": key, "id": order_id})


def decode_cursor(params: OrderListParams) -> Keyset | None:
    """The keyset position of `params.cursor`, or None when there is no cursor.

    Raises `InvalidCursor` when the cursor is not one `encode_cursor` made
    (malformed, truncated, edited) and `CursorMismatch` when it was made for
    another sort or filter set.
    """
    if params.cursor is None:
        return None
    position = CURSOR.open(params.cursor, _cursor_query(params))
    try:
        value: datetime | Decimal = (
            Decimal(position["k"])
            if sorts_by_value(params.sort)
            else datetime.fromisoformat(position["k"])
        )
    except (ValueError, InvalidOperation):  # only a bug of ours can get here past the MAC
        raise InvalidCursor() from None
    return Keyset(value=value, order_id=position["id"])


def _decimal_text(value: Decimal | None) -> str | None:
    if value is None:
        return None
    # normalize() makes 10 and 10.00 equal; format "f" avoids exponents like 1E+1.
    return format(value.normalize(), "f")
