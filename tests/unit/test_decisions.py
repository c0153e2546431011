"""The agents' decisions as pure functions: a command and a row in, state + messages out."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from agents import inventory_rules, order_rules
from agents.domain import stock as stock_rules
from agents.outcome import DeadlineCleared, OrderFinished, OrderPlaced, ReservationHeld
from topics.messages import (
    ChangeStatus,
    ChangeStatusData,
    Continuation,
    CreateOrder,
    CreateOrderData,
    CreateProduct,
    CreateProductData,
    ExpireOrder,
    ExpireOrderData,
    LocationAllocation,
    ReleaseReservation,
    ReleaseReservationData,
    ReserveStock,
    ReserveStockData,
)
from topics.names import (
    AUDIT,
    INVENTORY_COMMANDS,
    INVENTORY_EVENTS,
    ORDERS_COMMANDS,
    ORDERS_EVENTS,
    decoder,
)
from topics.partitioning import partition_for

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
TTL = timedelta(minutes=10)


def product_row(stock: int = 5) -> dict:
    return stock_rules.to_dict(stock_rules.create_product("p", "P", Decimal("2.50"), stock))


def reserve(quantity: int = 1) -> ReserveStock:
    return ReserveStock(
        key="p",
        reply_to="replies",
        data=ReserveStockData(product_id="p", quantity=quantity, customer_id="c"),
    )


def topics_of(outcome) -> list[str]:  # type: ignore[no-untyped-def]
    return [m.topic for m in outcome.messages]


def create_order(reservation_id: str = "r", expires_at: datetime = NOW + TTL) -> CreateOrder:
    """The CreateOrder for order "o" of 2 units of product "p"."""
    return CreateOrder(
        key="o",
        data=CreateOrderData(
            order_id="o",
            reservation_id=reservation_id,
            product_id="p",
            customer_id="c",
            quantity=2,
            unit_price=Decimal("2.50"),
            expires_at=expires_at,
        ),
    )


def pending_order_row(expires_at: datetime = NOW + TTL) -> dict:
    outcome = order_rules.decide(None, create_order(expires_at=expires_at), NOW)
    assert outcome.state is not None
    return outcome.state


def test_creating_a_product_emits_the_event_to_its_topic_and_to_audit() -> None:
    command = CreateProduct(
        key="p", data=CreateProductData(product_id="p", name="P", price="1", initial_stock=3)
    )
    outcome = inventory_rules.decide(None, command, NOW, TTL)
    assert outcome.state is not None and outcome.state["available"] == 3
    assert topics_of(outcome) == [INVENTORY_EVENTS, AUDIT]
    assert outcome.reply is not None and outcome.reply.ok


def test_a_reservation_holds_stock_and_asks_the_order_agent_for_the_order() -> None:
    command = reserve(2)
    outcome = inventory_rules.decide(product_row(5), command, NOW, TTL)
    assert outcome.state is not None
    assert (outcome.state["available"], outcome.state["reserved"]) == (3, 2)
    assert topics_of(outcome) == [INVENTORY_EVENTS, AUDIT, ORDERS_COMMANDS]
    create_order = json.loads(outcome.messages[-1].value)
    assert create_order["reply_to"] == "replies"
    assert create_order["continuation"]["correlation_id"] == command.id
    assert outcome.reply is None, "the order agent answers once the order exists"


def test_a_reservation_creates_its_order_itself_when_the_order_shares_its_partition() -> None:
    command = reserve(2)
    placement = inventory_rules.Placement(partition=3, partitions=4)
    outcome = inventory_rules.decide(product_row(5), command, NOW, TTL, None, placement)
    assert topics_of(outcome) == [INVENTORY_EVENTS, AUDIT, ORDERS_EVENTS, AUDIT]
    assert outcome.reply is not None and outcome.reply.ok
    assert outcome.reply.correlation_id == command.id
    result = outcome.reply.result
    order_id = result["order"]["id"]
    assert partition_for(order_id, 4) == 3, "its commands will come to this partition"
    assert result["reservation"]["order_id"] == order_id
    assert result["order"]["status"] == "pending" and result["order"]["total"] == "5.00"
    assert {t.entity for t in outcome.reply.read_after} == {"product", "reservation", "order"}
    [placed] = [e for e in outcome.effects if isinstance(e, OrderPlaced)]
    assert placed.order_id == order_id and placed.state["status"] == "pending"
    assert placed.state["version"] == 1 and placed.deadline == (NOW + TTL).timestamp()


def test_a_reservation_with_placement_derives_the_same_order_again() -> None:
    command = reserve()
    placement = inventory_rules.Placement(partition=1, partitions=12)
    first = inventory_rules.decide(product_row(), command, NOW, TTL, None, placement)
    second = inventory_rules.decide(product_row(), command, NOW, TTL, None, placement)
    assert [m.value for m in first.messages] == [m.value for m in second.messages]
    assert first.effects == second.effects


def test_a_chosen_order_id_on_another_partition_is_left_to_the_order_agent() -> None:
    placement = inventory_rules.Placement(partition=0, partitions=4)
    chosen = next(f"o-{i}" for i in range(100) if partition_for(f"o-{i}", 4) != 0)
    command = ReserveStock(
        key="p",
        reply_to="replies",
        data=ReserveStockData(product_id="p", quantity=1, customer_id="c", order_id=chosen),
    )
    outcome = inventory_rules.decide(product_row(), command, NOW, TTL, None, placement)
    assert topics_of(outcome) == [INVENTORY_EVENTS, AUDIT, ORDERS_COMMANDS]
    assert json.loads(outcome.messages[-1].value)["data"]["order_id"] == chosen
    assert outcome.reply is None
    assert not [e for e in outcome.effects if isinstance(e, OrderPlaced)]


def test_the_same_reservation_command_derives_the_same_ids() -> None:
    command = reserve()
    first = inventory_rules.decide(product_row(), command, NOW, TTL)
    second = inventory_rules.decide(product_row(), command, NOW, TTL)
    assert [m.value for m in first.messages] == [m.value for m in second.messages]


def test_an_insufficient_reservation_is_refused_with_the_available_quantity() -> None:
    command = reserve(2)
    outcome = inventory_rules.decide(product_row(1), command, NOW, TTL)
    assert outcome.state is None
    assert outcome.reply is not None and outcome.reply.code == "insufficient_stock"
    assert outcome.reply.details == {"available": 1, "requested": 2}
    assert topics_of(outcome) == [AUDIT], "a refusal is audited as command.rejected"
    # Stamped with the decision time, as every event: decided again, it is the same.
    rejected = json.loads(outcome.messages[0].value)
    assert datetime.fromisoformat(rejected["occurred_at"]) == NOW
    again = inventory_rules.decide(product_row(1), command, NOW, TTL)
    assert [m.value for m in again.messages] == [m.value for m in outcome.messages]


def test_confirming_sends_commit_and_lets_the_inventory_agent_answer() -> None:
    command = ChangeStatus(key="o", data=ChangeStatusData(order_id="o", status="confirmed"))
    outcome = order_rules.decide(pending_order_row(), command, NOW)
    assert outcome.state is not None and outcome.state["status"] == "confirmed"
    commit = json.loads(outcome.messages[-1].value)
    assert outcome.messages[-1].topic == INVENTORY_COMMANDS
    assert commit["type"] == "reservation.commit"
    assert commit["continuation"]["correlation_id"] == command.id
    assert outcome.reply is None


def test_cancelling_a_confirmed_order_returns_units_from_sold() -> None:
    confirm = ChangeStatus(key="o", data=ChangeStatusData(order_id="o", status="confirmed"))
    confirmed = order_rules.decide(pending_order_row(), confirm, NOW).state
    cancel = ChangeStatus(key="o", data=ChangeStatusData(order_id="o", status="cancelled"))
    outcome = order_rules.decide(confirmed, cancel, NOW)
    release = json.loads(outcome.messages[-1].value)
    assert release["type"] == "reservation.release"
    assert release["data"]["was_committed"] is True and release["data"]["quantity"] == 2


def test_a_confirm_after_the_deadline_finds_the_order_expired() -> None:
    row = pending_order_row(expires_at=NOW - timedelta(seconds=1))
    command = ChangeStatus(key="o", data=ChangeStatusData(order_id="o", status="confirmed"))
    outcome = order_rules.decide(row, command, NOW)
    assert outcome.state is not None and outcome.state["status"] == "cancelled"
    assert outcome.reply is not None and outcome.reply.code == "invalid_transition"
    kinds = [json.loads(m.value)["type"] for m in outcome.messages]
    assert kinds.count("order.status_changed") == 2  # orders.events and audit
    assert "reservation.release" in kinds and "command.rejected" in kinds


def test_expire_before_the_deadline_does_nothing() -> None:
    command = ExpireOrder(key="o", data=ExpireOrderData(order_id="o"))
    outcome = order_rules.decide(pending_order_row(), command, NOW)
    assert outcome.state is None and outcome.messages == []


def test_expire_after_the_deadline_cancels_and_releases() -> None:
    command = ExpireOrder(key="o", data=ExpireOrderData(order_id="o"))
    outcome = order_rules.decide(pending_order_row(NOW - timedelta(seconds=1)), command, NOW)
    assert outcome.state is not None
    assert outcome.state["status"] == "cancelled"
    assert outcome.state["cancel_reason"] == order_rules.EXPIRED_REASON
    release = json.loads(outcome.messages[-1].value)
    assert release["data"]["reason"] == "expired"
    assert outcome.effects == [DeadlineCleared(), OrderFinished(NOW.timestamp())]


def test_the_stored_product_row_does_not_grow_with_active_reservations() -> None:
    row = product_row(1000)
    sizes = set()
    for _ in range(200):
        outcome = inventory_rules.decide(row, reserve(1), NOW, TTL)
        assert outcome.state is not None
        assert isinstance(outcome.effects[0], ReservationHeld)
        row = outcome.state
        sizes.add(len(json.dumps(row)))
    assert row["reserved"] == 200
    assert max(sizes) - min(sizes) <= 8, "only the counters' digits may change the size"


def test_a_chosen_order_id_taken_by_another_reservation_is_refused_before_reserving() -> None:
    placement = inventory_rules.Placement(partition=0, partitions=4)
    chosen = next(f"o-{i}" for i in range(100) if partition_for(f"o-{i}", 4) == 0)
    command = ReserveStock(
        key="p",
        data=ReserveStockData(product_id="p", quantity=1, customer_id="c", order_id=chosen),
    )
    taken = {**pending_order_row(), "order_id": chosen, "reservation_id": "someone-else"}
    outcome = inventory_rules.decide(product_row(), command, NOW, TTL, None, placement, taken)
    assert outcome.state is None, "no stock moves"
    assert outcome.reply is not None and outcome.reply.code == "order_exists"
    assert topics_of(outcome) == [AUDIT]


def test_a_create_order_for_a_taken_id_is_refused_to_the_reserver_and_releases() -> None:
    taken = pending_order_row()  # order "o", reservation "r"
    command = create_order("r2").model_copy(
        update={
            "continuation": Continuation(correlation_id="reserve-command", result={}, read_after=[])
        }
    )
    outcome = order_rules.decide(taken, command, NOW)
    assert outcome.state is None
    assert outcome.reply is not None and outcome.reply.code == "order_exists"
    assert outcome.reply.correlation_id == "reserve-command", "the reserving caller hears it"
    assert topics_of(outcome) == [AUDIT, INVENTORY_COMMANDS]
    release = json.loads(outcome.messages[-1].value)
    assert release["type"] == "reservation.release"
    assert release["data"]["reservation_id"] == "r2" and release["data"]["quantity"] == 2


def test_a_create_order_again_for_the_same_reservation_answers_the_existing_order() -> None:
    existing = pending_order_row()  # order "o", reservation "r"
    command = create_order("r")
    outcome = order_rules.decide(existing, command, NOW)
    assert outcome.state is None and outcome.messages == []
    assert outcome.reply is not None and outcome.reply.ok
    assert outcome.reply.result["order"]["id"] == "o"


def test_a_refused_follow_up_answers_the_caller_of_the_first_command() -> None:
    # The order was confirmed, but its reservation had been released meanwhile: the
    # commit is refused, and the caller who sent the confirm hears it (not a timeout).
    confirm = ChangeStatus(
        key="o", reply_to="replies", data=ChangeStatusData(order_id="o", status="confirmed")
    )
    commit = order_rules.decide(pending_order_row(), confirm, NOW).messages[-1]
    command = decoder(INVENTORY_COMMANDS)(commit.value)
    outcome = inventory_rules.decide(product_row(), command, NOW, TTL)
    assert outcome.reply is not None and outcome.reply.code == "unknown_reservation"
    assert outcome.reply.correlation_id == confirm.id


# ---------------------------------------------------------------- locations


def change(status: str) -> ChangeStatus:
    return ChangeStatus(key="o", data=ChangeStatusData(order_id="o", status=status))


def located_row() -> dict:
    """Product "p": 1 unit at main, 3 at east (priority 4)."""
    stock = stock_rules.create_product("p", "P", Decimal("2.50"), 1)
    return stock_rules.to_dict(stock_rules.adjust(stock, 3, "east", 4))


def test_a_split_reservation_holds_and_hands_its_allocation_to_the_order() -> None:
    outcome = inventory_rules.decide(located_row(), reserve(3), NOW, TTL)

    [held] = [e for e in outcome.effects if isinstance(e, ReservationHeld)]
    assert held.allocation == {"main": 1, "east": 2}
    [request] = [m for m in outcome.messages if m.topic == ORDERS_COMMANDS]
    create = decoder(ORDERS_COMMANDS)(request.value)
    assert [(a.location_id, a.quantity) for a in create.data.allocations] == [
        ("main", 1),
        ("east", 2),
    ]
    order = order_rules.decide(None, create, NOW)
    assert order.state is not None
    assert order.state["lines"][0]["allocations"] == {"main": 1, "east": 2}


def test_a_pinned_reservation_takes_only_its_location() -> None:
    pinned = reserve(2).model_copy(
        update={
            "data": ReserveStockData(
                product_id="p", quantity=2, customer_id="c", location_id="east"
            )
        }
    )

    outcome = inventory_rules.decide(located_row(), pinned, NOW, TTL)

    assert outcome.state is not None
    assert outcome.state["locations"]["east"]["reserved"] == 2
    assert outcome.state["locations"]["main"]["available"] == 1


def test_cancelling_a_confirmed_order_returns_its_allocation() -> None:
    row = order_rules.decide(
        None,
        create_order().model_copy(
            update={
                "data": create_order().data.model_copy(
                    update={"allocations": [LocationAllocation(location_id="east", quantity=2)]}
                )
            }
        ),
        NOW,
    ).state
    confirmed = order_rules.decide(row, change("confirmed"), NOW).state

    cancelled = order_rules.decide(confirmed, change("cancelled"), NOW)

    [release] = [m for m in cancelled.messages if m.topic == INVENTORY_COMMANDS]
    data = decoder(INVENTORY_COMMANDS)(release.value).data
    assert data.was_committed
    assert [(a.location_id, a.quantity) for a in data.allocations] == [("east", 2)]


def test_an_active_reservation_row_from_before_locations_is_released_at_main() -> None:
    stock = stock_rules.reserve(stock_rules.create_product("p", "P", Decimal("1"), 4), "r", 2)
    release = ReleaseReservation(
        key="p",
        data=ReleaseReservationData(
            product_id="p", reservation_id="r", order_id="o", quantity=2, reason="expired"
        ),
    )

    # The reservation's row as an older worker wrote it: a bare quantity.
    outcome = inventory_rules.decide(inventory_rules.stored(stock), release, NOW, TTL, 2)

    assert outcome.state is not None
    assert outcome.state["locations"]["main"] == {
        "priority": 0,
        "available": 4,
        "reserved": 0,
        "sold": 0,
        "net": 4,
    }


def test_a_row_read_back_in_the_same_batch_decides_as_its_stored_form() -> None:
    # The table hands the next command the very row the last one stored (StoredRow, with
    # its decoded Stock); from disk it is the plain JSON row. Both must decide alike.
    row = inventory_rules.decide(None, _create_product(10), NOW, TTL).state
    assert isinstance(row, inventory_rules.StoredRow)
    plain = json.loads(json.dumps(row))
    assert type(plain) is dict and plain == row
    for _ in range(3):
        command = reserve(2)
        from_memory = inventory_rules.decide(row, command, NOW, TTL)
        from_disk = inventory_rules.decide(plain, command, NOW, TTL)
        assert from_memory.state == from_disk.state
        assert from_memory.messages == from_disk.messages
        assert from_memory.reply == from_disk.reply
        assert from_memory.effects == from_disk.effects
        row = from_memory.state
        plain = json.loads(json.dumps(from_disk.state))
    assert row["available"] == 4 and row["reserved"] == 6


def _create_product(stock: int) -> CreateProduct:
    return CreateProduct(
        key="p",
        data=CreateProductData(
            product_id="p", name="P", price=Decimal("2.50"), initial_stock=stock
        ),
    )


def test_an_order_created_in_the_reservations_step_is_the_one_the_order_agent_creates() -> None:
    # In its own step (the order id shares the partition) and by the order agent from the
    # CreateOrder the reservation sends otherwise: the same events, row, deadline, reply.
    placement = inventory_rules.Placement(partition=0, partitions=4)
    chosen = next(f"o-{i}" for i in range(100) if partition_for(f"o-{i}", 4) == 0)
    command = ReserveStock(
        key="p",
        reply_to="replies",
        data=ReserveStockData(product_id="p", quantity=2, customer_id="c", order_id=chosen),
    )
    here = inventory_rules.decide(product_row(), command, NOW, TTL, None, placement)
    elsewhere = inventory_rules.decide(product_row(), command, NOW, TTL)
    assert here.messages[:2] == elsewhere.messages[:2], "the same reservation events"
    [sent] = [m for m in elsewhere.messages if m.topic == ORDERS_COMMANDS]
    by_agent = order_rules.decide(None, decoder(ORDERS_COMMANDS)(sent.value), NOW)
    assert here.messages[2:] == by_agent.messages
    assert here.reply == by_agent.reply
    [placed] = [e for e in here.effects if isinstance(e, OrderPlaced)]
    assert placed.state == by_agent.state
    assert [placed.deadline] == [e.at for e in by_agent.effects if hasattr(e, "at")]
