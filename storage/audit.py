"""The audit log: every event of the `audit` topic, kept by event id."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.engine import one_statement

_INSERT = text(
    """
    INSERT INTO audit_log
        (id, type, entity_type, entity_id, request_id, causation_id, occurred_at, payload,
         actor_id, actor_role, actor_verified, location_ids)
    SELECT u.id, u.type, u.entity_type, u.entity_id, u.request_id, u.causation_id,
           u.occurred_at, u.payload, u.actor_id, u.actor_role, u.actor_verified,
           -- one list per event, passed as JSON: an array of arrays must be rectangular
           CASE WHEN u.locations IS NULL THEN NULL
                ELSE ARRAY(SELECT jsonb_array_elements_text(u.locations)) END
    FROM unnest(
        CAST(:ids AS text[]), CAST(:types AS text[]), CAST(:entity_types AS text[]),
        CAST(:entity_ids AS text[]), CAST(:request_ids AS text[]),
        CAST(:causation_ids AS text[]), CAST(:occurred_ats AS timestamptz[]),
        CAST(:payloads AS jsonb[]), CAST(:actor_ids AS text[]),
        CAST(:actor_roles AS text[]), CAST(:actor_verifieds AS boolean[]),
        CAST(:location_ids AS jsonb[])
    ) AS u(id, type, entity_type, entity_id, request_id, causation_id, occurred_at, payload,
           actor_id, actor_role, actor_verified, locations)
    ON CONFLICT (id) DO NOTHING
    """
)


def locations_of(event: Any) -> list[str] | None:
    """The locations an event touches, what `GET /api/audit/?location_id=` filters on:
    an adjustment's, both ends of a transfer, a reservation's or order's allocations.
    None when it touches none (or was written before locations)."""
    data = event.data
    found: list[str] = []
    if event.type == "stock.adjusted":
        found = [data.location_id]
    elif event.type == "stock.transferred":
        found = [data.from_location_id, data.to_location_id]
    elif event.type.startswith("reservation."):
        found = [a.location_id for a in data.reservation.allocations]
    elif event.type.startswith("order."):
        found = [a.location_id for a in data.order.allocations]
    elif event.type == "command.rejected":
        location = data.details.get("location_id")
        found = [location] if isinstance(location, str) else []
    return list(dict.fromkeys(found)) or None


def entity_of(event: Any) -> tuple[str, str]:
    """(entity type, entity id) the event is about: what `GET /api/audit/` filters on."""
    kind = event.type.split(".")[0]
    data = event.data
    if kind in ("product", "stock"):
        return "product", data.product.id
    if kind == "reservation":
        return "reservation", data.reservation.id
    if kind == "order":
        return "order", data.order.id
    return (data.entity_type or "unknown"), (data.entity_id or event.key)


async def record_audit_events(engine: AsyncEngine, events: Sequence[Any]) -> int:
    """Insert audit events, ignoring ids already stored; returns how many were new."""
    unique = {event.id: event for event in events}
    if not unique:
        return 0
    columns: dict[str, list[Any]] = {
        name: []
        for name in (
            "ids",
            "types",
            "entity_types",
            "entity_ids",
            "request_ids",
            "causation_ids",
            "occurred_ats",
            "payloads",
            "actor_ids",
            "actor_roles",
            "actor_verifieds",
            "location_ids",
        )
    }
    for event in unique.values():
        entity_type, entity_id = entity_of(event)
        columns["ids"].append(event.id)
        columns["types"].append(event.type)
        columns["entity_types"].append(entity_type)
        columns["entity_ids"].append(entity_id)
        columns["request_ids"].append(event.request_id)
        columns["causation_ids"].append(event.causation_id)
        columns["occurred_ats"].append(event.occurred_at)
        # The JSON text of the event as pydantic writes it (in Rust): the same jsonb as
        # json.dumps(model_dump(mode="json")) would give, at a third of its cost.
        columns["payloads"].append(event.model_dump_json())
        actor = event.actor  # None in events from before actors existed
        columns["actor_ids"].append(actor.id if actor else None)
        columns["actor_roles"].append(actor.role if actor else None)
        columns["actor_verifieds"].append(actor.verified if actor else None)
        touched = locations_of(event)
        columns["location_ids"].append(json.dumps(touched) if touched is not None else None)
    # One statement: applied whole or not at all without BEGIN and COMMIT round trips.
    async with one_statement(engine) as conn:
        result = await conn.execute(_INSERT, columns)
    return result.rowcount or 0
