"""The checked-in JSON Schemas are the public contract: they must match the models."""

from __future__ import annotations

import json
from pathlib import Path

from topics.messages import ReserveStock, ReserveStockData, encode
from topics.names import INVENTORY_COMMANDS, decoder
from topics.schemas import drifted, schema_documents

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "docs" / "schemas"


def test_checked_in_schemas_match_the_models() -> None:
    assert drifted(SCHEMA_DIR) == [], "run `inventory schemas` (make schemas) and commit the result"


def test_every_command_type_is_in_the_inventory_commands_schema() -> None:
    schema = json.loads(schema_documents()["inventory.commands.schema.json"])
    mapping = schema["discriminator"]["mapping"]
    assert set(mapping) == {
        "product.create",
        "stock.adjust",
        "stock.reserve",
        "reservation.commit",
        "reservation.release",
        "stock.transfer",
        "product.set_allocation",
        "cart.hold_line",
        "cart.release_line",
    }


def test_the_orders_commands_schema_has_the_public_cart_command() -> None:
    schema = json.loads(schema_documents()["orders.commands.schema.json"])
    mapping = schema["discriminator"]["mapping"]
    assert set(mapping) == {
        "order.create",
        "order.change_status",
        "order.expire",
        "cart.reserve",
        "cart.line_answered",
    }


def test_a_command_round_trips_through_its_wire_form() -> None:
    command = ReserveStock(
        key="p-1", data=ReserveStockData(product_id="p-1", quantity=3, customer_id="c")
    )
    assert decoder(INVENTORY_COMMANDS)(encode(command)) == command


def test_a_pinned_reservation_and_a_transfer_are_in_the_public_contract() -> None:
    schema = json.loads(schema_documents()["inventory.commands.schema.json"])
    defs = schema["$defs"]
    assert "location_id" in defs["ReserveStockData"]["properties"]
    assert "location_id" in defs["AdjustStockData"]["properties"]
    assert set(defs["TransferStockData"]["required"]) == {
        "product_id",
        "from_location_id",
        "to_location_id",
        "quantity",
        "reason",
    }
    assert defs["SetAllocationData"]["properties"]["allocation"]["enum"] == [
        "priority",
        "most_stock",
    ]
