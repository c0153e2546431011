"""Each event is decoded once per projector process: the loop that reads its bytes
first decodes them, the other takes the model, when its own decoder could return it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from inventory.projector_decode import SharedDecodes, union_members
from topics.messages import (
    AuditEvent,
    CommandRejected,
    CommandRejectedData,
    InventoryEvent,
    OrderCreated,
    OrderEvent,
    ProductCreated,
    ProductCreatedData,
    ProductSnapshot,
    encode,
)
from topics.names import AUDIT, INVENTORY_EVENTS, ORDERS_EVENTS, decoder


def product_created() -> bytes:
    snap = ProductSnapshot(
        id="mug",
        name="Mug",
        price="4.50",
        initial=3,
        adjusted=0,
        available=3,
        reserved=0,
        sold=0,
        version=1,
    )
    return encode(ProductCreated(key="mug", data=ProductCreatedData(product=snap)))


def loops(shared: SharedDecodes):  # type: ignore[no-untyped-def]
    events = shared.decoder(decoder(INVENTORY_EVENTS), union_members(InventoryEvent))
    audit = shared.decoder(decoder(AUDIT), union_members(AuditEvent))
    return events, audit


def test_the_same_bytes_read_by_both_loops_are_decoded_once() -> None:
    shared = SharedDecodes()
    events, audit = loops(shared)
    raw = product_created()

    first = audit(raw)
    second = events(bytes(raw))  # another fetch's copy of the same bytes

    assert second is first and second == decoder(INVENTORY_EVENTS)(raw)
    assert (shared.decoded, shared.taken, len(shared)) == (1, 1, 0)


def test_a_model_the_readers_union_does_not_hold_is_decoded_by_the_reader() -> None:
    shared = SharedDecodes()
    orders = shared.decoder(decoder(ORDERS_EVENTS), union_members(OrderEvent))
    _, audit = loops(shared)
    rejected = encode(
        CommandRejected(
            key="mug",
            data=CommandRejectedData(
                source_topic="inventory.commands", command_id="c-1", code="x", message="no"
            ),
        )
    )
    audit(rejected)

    # The order events' decoder refuses a command.rejected, as it did before sharing.
    with pytest.raises(ValidationError):
        orders(rejected)


def test_bytes_that_do_not_decode_are_not_kept() -> None:
    shared = SharedDecodes()
    events, audit = loops(shared)
    for read in (events, audit):
        with pytest.raises(ValueError):
            read(b'{"type": "product.created"}')
    assert len(shared) == 0 and shared.taken == 0


def test_values_nobody_takes_leave_oldest_first() -> None:
    shared = SharedDecodes(limit=2)
    events, _ = loops(shared)
    raws = [product_created() for _ in range(3)]
    for raw in raws:
        events(raw)
    assert len(shared) == 2


def test_union_members_are_the_model_classes() -> None:
    assert {c.__name__ for c in union_members(OrderEvent)} == {"OrderCreated", "OrderStatusChanged"}
    assert ProductCreated in union_members(AuditEvent)
    assert OrderCreated not in union_members(InventoryEvent)
