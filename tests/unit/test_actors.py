"""Every message a decision emits carries the actor of the command that caused it; the
pipeline's own acts are `system`; an outside producer's claim is never verified."""

from __future__ import annotations

import json
from datetime import timedelta

from agents import inventory_rules, order_rules
from tests.unit.test_decisions import NOW, TTL, pending_order_row, product_row
from topics.messages import (
    SYSTEM_ACTOR,
    UNKNOWN_ACTOR,
    Actor,
    AdjustStock,
    AdjustStockData,
    ChangeStatus,
    ChangeStatusData,
    ReserveStock,
    ReserveStockData,
    unverified_actor,
)
from topics.names import AUDIT, INVENTORY_COMMANDS, decoder
from topics.partitioning import partition_for

SHOP = Actor(id="key_0123456789abcdef", role="storefront", verified=True)


def actors_of(outcome) -> list[dict | None]:  # type: ignore[no-untyped-def]
    return [json.loads(m.value).get("actor") for m in outcome.messages]


def test_a_reservations_events_and_follow_up_carry_the_reserving_key() -> None:
    command = ReserveStock(
        key="p",
        actor=SHOP,
        data=ReserveStockData(product_id="p", quantity=1, customer_id="c"),
    )
    for placement in (None, inventory_rules.Placement(partition=3, partitions=4)):
        outcome = inventory_rules.decide(product_row(), command, NOW, TTL, None, placement)
        assert outcome.messages
        assert actors_of(outcome) == [SHOP.model_dump()] * len(outcome.messages)


def test_a_refusal_is_audited_with_the_actor_who_was_refused() -> None:
    command = AdjustStock(
        key="p", actor=SHOP, data=AdjustStockData(product_id="p", delta=-99, reason="r")
    )
    outcome = inventory_rules.decide(product_row(), command, NOW, TTL)
    [rejected] = [decoder(AUDIT)(m.value) for m in outcome.messages]
    assert rejected.type == "command.rejected" and rejected.actor == SHOP


def test_a_confirm_passes_its_actor_to_the_commit_and_its_events() -> None:
    command = ChangeStatus(
        key="o", actor=SHOP, data=ChangeStatusData(order_id="o", status="confirmed")
    )
    outcome = order_rules.decide(pending_order_row(), command, NOW)
    assert actors_of(outcome) == [SHOP.model_dump()] * len(outcome.messages)


def test_expiry_is_the_systems_act_even_when_a_late_confirm_finds_it() -> None:
    assert order_rules.expire_command("o").actor == SYSTEM_ACTOR
    row = pending_order_row(expires_at=NOW - timedelta(seconds=1))
    command = ChangeStatus(
        key="o", actor=SHOP, data=ChangeStatusData(order_id="o", status="confirmed")
    )
    outcome = order_rules.decide(row, command, NOW)
    by_type = {json.loads(m.value)["type"]: json.loads(m.value)["actor"] for m in outcome.messages}
    assert by_type["order.status_changed"] == SYSTEM_ACTOR.model_dump()
    assert by_type["reservation.release"] == SYSTEM_ACTOR.model_dump()
    assert by_type["command.rejected"] == SHOP.model_dump()


def test_an_outside_producers_actor_is_kept_as_sent_but_never_verified() -> None:
    claimed = Actor(id="erp-7", role="admin", verified=True)
    assert unverified_actor(claimed) == Actor(id="erp-7", role="admin", verified=False)
    assert unverified_actor(None) == UNKNOWN_ACTOR
    assert not UNKNOWN_ACTOR.verified


def test_messages_from_before_actors_existed_still_decode() -> None:
    old = {
        "schema_version": 1,
        "id": "c1",
        "request_id": "r1",
        "occurred_at": NOW.isoformat(),
        "key": "p",
        "type": "stock.adjust",
        "data": {"product_id": "p", "delta": 1, "reason": "r"},
    }
    assert partition_for("p", 4) >= 0
    assert decoder(INVENTORY_COMMANDS)(json.dumps(old)).actor is None
