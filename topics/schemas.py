"""JSON Schema documents generated from the message models: the public contract for
outside producers and consumers. Never edited by hand: `inventory schemas` writes them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from topics import messages
from topics.names import (
    AUDIT,
    GATEWAY_REPLIES,
    INVENTORY_COMMANDS,
    INVENTORY_EVENTS,
    ORDERS_COMMANDS,
    ORDERS_EVENTS,
)

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

DOCUMENTS: dict[str, tuple[str, Any]] = {
    INVENTORY_COMMANDS: (
        "Commands accepted on the inventory.commands topic (key: product id)",
        messages.INVENTORY_COMMAND,
    ),
    ORDERS_COMMANDS: (
        "Commands accepted on the orders.commands topic (key: order id)",
        messages.ORDER_COMMAND,
    ),
    INVENTORY_EVENTS: (
        "Events on the inventory.events topic (key: product id)",
        messages.INVENTORY_EVENT,
    ),
    ORDERS_EVENTS: ("Events on the orders.events topic (key: order id)", messages.ORDER_EVENT),
    AUDIT: ("Events on the audit topic (key: entity id)", messages.AUDIT_EVENT),
    GATEWAY_REPLIES: ("Replies on a gateway's reply topic (key: command id)", messages.REPLY),
}


def schema_documents() -> dict[str, str]:
    """File name -> JSON text of every schema document, deterministic."""
    out: dict[str, str] = {}
    for topic, (title, adapter) in DOCUMENTS.items():
        schema = adapter.json_schema(mode="validation")
        document = {"$schema": SCHEMA_DIALECT, "title": title, **schema}
        out[f"{topic}.schema.json"] = json.dumps(document, indent=2, sort_keys=True) + "\n"
    return out


def write_schemas(directory: Path) -> list[Path]:
    """Write every document into `directory`; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in schema_documents().items():
        path = directory / name
        path.write_text(text)
        paths.append(path)
    return paths


def drifted(directory: Path) -> list[str]:
    """Names of documents in `directory` that differ from the models (or are missing)."""
    return [
        name
        for name, text in schema_documents().items()
        if not (directory / name).exists() or (directory / name).read_text() != text
    ]
