"""The audit log: every event of the `audit` topic, kept by event id."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

_INSERT = text(
    """
    INSERT INTO audit_log
        (id, type, entity_type, entity_id, request_id, causation_id, occurred_at, payload,
         actor_id, actor_role, actor_verified)
    SELECT * FROM unnest(
        CAST(:ids AS text[]), CAST(:types AS text[]), CAST(:entity_types AS text[]),
        CAST(:entity_ids AS text[]), CAST(:request_ids AS text[]),
        CAST(:causation_ids AS text[]), CAST(:occurred_ats AS timestamptz[]),
        CAST(:payloads AS jsonb[]), CAST(:actor_ids AS text[]),
        CAST(:actor_roles AS text[]), CAST(:actor_verifieds AS boolean[])
    )
    ON CONFLICT (id) DO NOTHING
    """
)


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
        columns["payloads"].append(json.dumps(event.model_dump(mode="json")))
        actor = event.actor  # None in events from before actors existed
        columns["actor_ids"].append(actor.id if actor else None)
        columns["actor_roles"].append(actor.role if actor else None)
        columns["actor_verifieds"].append(actor.verified if actor else None)
    async with engine.begin() as conn:
        result = await conn.execute(_INSERT, columns)
    return result.rowcount or 0
