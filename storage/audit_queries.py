"""The audit log behind `GET /api/audit/`: parameters, opaque cursor, keyset pagination.

`parse_audit_params` is pure (no SQL, no HTTP): the gateway hands it the query
string and turns `InvalidParameter` into a 400 naming `err.name`. `list_audit`
runs the result against `audit_log` (migrations/003_audit_log.sql).

Order: newest first by `(occurred_at, id)`; the id breaks ties so the order is
total and a row value names one position. The next page is
`WHERE (occurred_at, id) < (last occurred_at, last id)`, a row comparison the
btrees of 003 (`(occurred_at, id)`, `(entity_type, entity_id, occurred_at, id)`,
`(type, occurred_at, id)`) answer as an index condition: never OFFSET.

Cursor (opaque to clients): the signed JSON object
`{"f": filter fingerprint, "id": last event id, "t": last occurred_at}`: a
storage.cursors cursor, like the order list's, with its own salt, so an order
cursor is never taken for an audit cursor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, get_args

from sqlalchemy import ColumnElement, Row, Select, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.cursors import (
    CURSOR_SCHEMA,
    CursorMismatch,
    InvalidCursor,
    KeysetCursor,
    fingerprint,
    time_text,
)
from storage.formats import iso_utc
from storage.query_params import (
    TIME_SCHEMA,
    InvalidParameter,
    limit_schema,
    parse_id,
    parse_limit,
    parse_time,
    query_values,
)
from storage.tables import audit_log
from topics.fields import ENTITY_ID_RULE
from topics.messages import AuditEvent

__all__ = [
    "AuditParams",
    "CursorMismatch",
    "InvalidCursor",
    "InvalidParameter",
    "encode_audit_cursor",
    "list_audit",
    "parse_audit_params",
]

DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 200

# What storage.audit.entity_of files events under ("unknown": a dead-lettered record
# whose entity could not be told). A closed list turns a typo such as "orders" into a
# 400 instead of an always-empty page.
ENTITY_TYPES: Final[tuple[str, ...]] = ("order", "product", "reservation", "unknown")

# Taken from the AuditEvent union itself, so a new event type is filterable at once.
EVENT_TYPES: Final[tuple[str, ...]] = tuple(
    model.model_fields["type"].default for model in get_args(get_args(AuditEvent)[0])
)

# Each parameter's rule as the OpenAPI document states it; the parsers below enforce
# exactly these (since < until is in the route's description).
PARAMETER_SCHEMAS: Final[dict[str, dict[str, Any]]] = {
    "entity_type": {"type": "string", "enum": list(ENTITY_TYPES)},
    "entity_id": ENTITY_ID_RULE.json_schema(),
    "type": {"type": "string", "enum": list(EVENT_TYPES)},
    "request_id": ENTITY_ID_RULE.json_schema(),
    "actor": ENTITY_ID_RULE.json_schema(),
    "location_id": ENTITY_ID_RULE.json_schema(),
    "since": TIME_SCHEMA,
    "until": TIME_SCHEMA,
    "limit": limit_schema(DEFAULT_LIMIT, MAX_LIMIT),
    "cursor": CURSOR_SCHEMA,
}
PARAMETERS: Final[tuple[str, ...]] = tuple(PARAMETER_SCHEMAS)

# The salt is not a secret; change it to invalidate every audit cursor handed out so far.
CURSOR: Final = KeysetCursor(
    salt="inventory-stream/audit-cursor/v2",
    query_fields=frozenset({"f"}),
    position_fields=frozenset({"t", "id"}),
)


@dataclass(frozen=True, slots=True)
class AuditParams:
    """One audit-log query: filters (None = any), page size and where to continue.

    `since` is inclusive, `until` exclusive, both timezone-aware UTC. `cursor` is
    the raw `next_cursor` of the previous page; `list_audit` checks it again, so
    params built directly (tests, tools) are as safe as parsed ones.
    """

    entity_type: str | None = None
    entity_id: str | None = None
    type: str | None = None
    request_id: str | None = None
    actor: str | None = None
    location_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = DEFAULT_LIMIT
    cursor: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class AuditPosition:
    """Where the previous page ended: its last row's occurred_at and event id."""

    occurred_at: datetime
    event_id: str


def parse_audit_params(query: Mapping[str, str]) -> AuditParams:
    """Parse and validate the query string of `GET /api/audit/`.

    `query` may be a plain mapping or a multidict (aiohttp's `request.query`).
    Returns the parameters with defaults filled in.

    Raises `InvalidParameter` naming the first bad parameter: an unknown or repeated
    parameter, an empty value, an unknown entity type or event type, an id that breaks
    the entity id rule (topics.fields), a
    time that is not ISO 8601, `since >= until`, a limit outside 1..200, or a cursor
    that is malformed or altered (`InvalidCursor`) or was made for another filter
    set (`CursorMismatch`).
    """
    values, _ = query_values(query, PARAMETERS)
    get = values.get

    since = parse_time("since", get("since"))
    until = parse_time("until", get("until"))
    # [t, t) or a reversed interval cannot match anything: almost surely a mistake.
    if since is not None and until is not None and since >= until:
        raise InvalidParameter("until", "must be later than since")
    params = AuditParams(
        entity_type=_parse_choice("entity_type", get("entity_type"), ENTITY_TYPES),
        entity_id=parse_id("entity_id", get("entity_id")),
        type=_parse_choice("type", get("type"), EVENT_TYPES),
        request_id=parse_id("request_id", get("request_id")),
        actor=parse_id("actor", get("actor")),
        location_id=parse_id("location_id", get("location_id")),
        since=since,
        until=until,
        limit=_parse_limit(get("limit")),
        cursor=get("cursor"),
    )
    decode_audit_cursor(params)  # fail now, as a 400, rather than inside the query
    return params


def _parse_choice(name: str, value: str | None, choices: tuple[str, ...]) -> str | None:
    if value is None or value in choices:
        return value
    raise InvalidParameter(name, f"unknown value {value!r}; expected one of: {', '.join(choices)}")


def _parse_limit(value: str | None) -> int:
    return parse_limit(value, DEFAULT_LIMIT, MAX_LIMIT)


# --- cursor -----------------------------------------------------------------------------


def filter_fingerprint(params: AuditParams) -> str:
    """A short digest of the filters (not limit or cursor): equal filters, equal digests,
    whatever zone the times were written in. The page size may change between pages."""
    return fingerprint(
        {
            "entity_type": params.entity_type,
            "entity_id": params.entity_id,
            "type": params.type,
            "request_id": params.request_id,
            "actor": params.actor,
            "since": time_text(params.since),
            "until": time_text(params.until),
            # Only when set: cursors handed out before the filter existed stay valid.
            **({"location_id": params.location_id} if params.location_id else {}),
        }
    )


def encode_audit_cursor(params: AuditParams, occurred_at: datetime, event_id: str) -> str:
    """The cursor that continues `params`' query after the row (`occurred_at`, `event_id`)."""
    position = {"t": time_text(occurred_at), "id": event_id}
    return CURSOR.seal({"f": filter_fingerprint(params)}, position)


def decode_audit_cursor(params: AuditParams) -> AuditPosition | None:
    """The position `params.cursor` continues after, or None when there is no cursor.

    Raises `InvalidCursor` for a cursor `encode_audit_cursor` did not make (malformed,
    truncated, edited, an order-list cursor) and `CursorMismatch` for one made for
    another filter set.
    """
    if params.cursor is None:
        return None
    position = CURSOR.open(params.cursor, {"f": filter_fingerprint(params)})
    try:
        occurred_at = datetime.fromisoformat(position["t"])
    except ValueError:  # only a bug of ours can get here past the MAC
        raise InvalidCursor() from None
    return AuditPosition(occurred_at=occurred_at, event_id=position["id"])


# --- query ------------------------------------------------------------------------------

_COLUMNS = (
    audit_log.c.id,
    audit_log.c.type,
    audit_log.c.entity_type,
    audit_log.c.entity_id,
    audit_log.c.request_id,
    audit_log.c.causation_id,
    audit_log.c.occurred_at,
    audit_log.c.actor_id,
    audit_log.c.actor_role,
    audit_log.c.actor_verified,
    # Only the event's `data`: the rest of the envelope is in the columns already.
    audit_log.c.payload["data"].label("data"),
)


async def list_audit(
    engine: AsyncEngine, params: AuditParams
) -> tuple[list[dict[str, Any]], str | None]:
    """The page of audit events `params` asks for, newest first, after `params.cursor`.

    Returns JSON-ready rows `{"id", "type", "entity_type", "entity_id", "request_id",
    "causation_id", "occurred_at", "actor", "data"}` and the cursor of the next page (None on
    the last page). Raises `InvalidCursor`/`CursorMismatch` (InvalidParameter) for a
    bad cursor; database errors pass through.
    """
    query = build_audit_query(params, decode_audit_cursor(params))
    async with engine.connect() as conn:
        rows = list((await conn.execute(query)).all())
    page = rows[: params.limit]
    next_cursor = None
    # The query fetched one row more than a page: it only says whether a next page exists.
    if len(rows) > params.limit:
        last = page[-1]
        next_cursor = encode_audit_cursor(params, last.occurred_at, last.id)
    return [audit_entry(row) for row in page], next_cursor


def build_audit_query(params: AuditParams, after: AuditPosition | None) -> Select[Any]:
    """The SELECT for one page: `params.limit + 1` rows older than `after`.

    Public so tests can EXPLAIN exactly what `list_audit` runs.
    """
    conditions: list[ColumnElement[bool]] = []
    if params.entity_type is not None:
        conditions.append(audit_log.c.entity_type == params.entity_type)
    if params.entity_id is not None:
        conditions.append(audit_log.c.entity_id == params.entity_id)
    if params.type is not None:
        conditions.append(audit_log.c.type == params.type)
    if params.request_id is not None:
        conditions.append(audit_log.c.request_id == params.request_id)
    if params.actor is not None:
        conditions.append(audit_log.c.actor_id == params.actor)
    if params.location_id is not None:
        conditions.append(audit_log.c.location_ids.contains([params.location_id]))
    if params.since is not None:
        conditions.append(audit_log.c.occurred_at >= params.since)
    if params.until is not None:
        conditions.append(audit_log.c.occurred_at < params.until)
    if after is not None:
        position = tuple_(audit_log.c.occurred_at, audit_log.c.id)
        conditions.append(
            position
            < tuple_(
                literal(after.occurred_at, audit_log.c.occurred_at.type),
                literal(after.event_id, audit_log.c.id.type),
            )
        )
    return (
        select(*_COLUMNS)
        .where(*conditions)
        .order_by(audit_log.c.occurred_at.desc(), audit_log.c.id.desc())
        .limit(params.limit + 1)
    )


def audit_entry(row: Row[Any]) -> dict[str, Any]:
    """One audit-log row as the JSON-ready dict the API returns."""
    return {
        "id": row.id,
        "type": row.type,
        "entity_type": row.entity_type,
        "entity_id": row.entity_id,
        "request_id": row.request_id,
        "causation_id": row.causation_id,
        "occurred_at": iso_utc(row.occurred_at),
        "actor": _actor(row),
        "data": row.data,
    }


def _actor(row: Row[Any]) -> dict[str, Any] | None:
    """The event's actor, None for an event from before actors existed."""
    if row.actor_id is None:
        return None
    return {"id": row.actor_id, "role": row.actor_role, "verified": bool(row.actor_verified)}
