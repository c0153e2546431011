"""The hot path's messages, built as JSON-ready dicts (agents.outcome, "the hot path's
messages"), are their models' JSON exactly: same fields, same order, same forms."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pydantic_core
from hypothesis import given, settings
from hypothesis import strategies as st

from agents import inventory_rules, order_rules
from agents.domain import order_state
from agents.domain import stock as stock_rules
from agents.outcome import envelope_json, json_time
from topics.messages import (
    CreateOrder,
    CreateProduct,
    CreateProductData,
    OrderCreated,
    OrderSnapshot,
    ProductSnapshot,
    Reply,
    ReplyData,
    ReservationCreated,
    ReserveStock,
    ReserveStockData,
)
from topics.names import AUDIT, INVENTORY_EVENTS, ORDERS_COMMANDS, ORDERS_EVENTS

ids = st.from_regex(r"[a-z][a-z0-9-]{0,11}", fullmatch=True)
prices = st.decimals(min_value=0, max_value=Decimal("99999.99"), places=2)
# Whole seconds too: pydantic and isoformat both leave the fraction out then.
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda m: m.replace(microsecond=0) if m.second % 2 else m)
allocations = st.dictionaries(ids, st.integers(1, 50), max_size=3)


def same_json(body: dict, model: type) -> None:  # type: ignore[type-arg]
    validated = model.model_validate(body)
    assert validated.model_dump(mode="json") == body
    assert pydantic_core.to_json(body) == validated.model_dump_json().encode()


@settings(max_examples=150)
@given(
    lines=st.lists(
        st.tuples(ids, st.integers(1, 1000), prices, allocations),
        min_size=1,
        max_size=3,
        unique_by=lambda line: line[0],
    ),
    created=moments,
    ttl=st.integers(1, 3600),
    moves=st.lists(st.sampled_from(["confirmed", "cancelled"]), max_size=1),
)
def test_an_order_body_is_its_snapshot(lines, created, ttl, moves) -> None:  # type: ignore[no-untyped-def]
    order = order_state.create_cart_order(
        "o-1", "c-1", lines, "r-1", created + timedelta(seconds=ttl), created, "req-1"
    )
    for status in moves:
        order = order_state.change_status(
            order, order_state.OrderStatus(status), created + timedelta(seconds=1), reason="x"
        )
    same_json(order_rules.order_body(order), OrderSnapshot)


@settings(max_examples=150)
@given(
    price=prices,
    initial=st.integers(0, 10**6),
    places=st.lists(st.tuples(ids, st.integers(1, 1000), st.integers(0, 9)), max_size=3),
    reserve=st.integers(0, 5),
)
def test_a_product_body_is_its_snapshot(price, initial, places, reserve) -> None:  # type: ignore[no-untyped-def]
    stock = stock_rules.create_product("p-1", "P", price, initial)
    for location, units, priority in places:
        stock = stock_rules.adjust(stock, units, location, priority)
    if reserve and stock.available >= reserve:
        stock = stock_rules.reserve(stock, "r-1", reserve)
    same_json(inventory_rules.product_body(stock), ProductSnapshot)


def test_a_reservations_events_are_their_models_json() -> None:
    now = datetime(2026, 12, 3, 12, 0, 0, 123456, tzinfo=UTC)
    created = inventory_rules.decide(
        None,
        CreateProduct(
            key="p",
            data=CreateProductData(
                product_id="p", name="P", price=Decimal("2.50"), initial_stock=10
            ),
        ),
        now,
        timedelta(minutes=10),
    )
    command = ReserveStock(
        key="p", data=ReserveStockData(product_id="p", quantity=2, customer_id="c")
    )
    placement = inventory_rules.Placement(partition=1, partitions=4)
    outcome = inventory_rules.decide(
        created.state, command, now, timedelta(minutes=10), None, placement
    )
    models = {INVENTORY_EVENTS: ReservationCreated, ORDERS_EVENTS: OrderCreated}
    assert [m.topic for m in outcome.messages] == [INVENTORY_EVENTS, AUDIT, ORDERS_EVENTS, AUDIT]
    for message in outcome.messages[::2]:
        event = models[message.topic].model_validate_json(message.value)
        assert event.model_dump_json().encode() == message.value
    assert outcome.reply is not None
    reply = json.loads(outcome.reply.model_dump_json())
    assert reply["result"]["order"]["expires_at"] == "2026-12-03T12:10:00.123456Z"
    assert reply["result"]["product"]["price"] == "2.50"


def test_a_time_outside_utc_is_written_in_utc() -> None:
    moment = datetime(2026, 1, 1, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    assert json_time(moment) == "2026-01-01T12:00:00Z"


def test_a_reply_around_its_stored_data_is_the_reply_models_json() -> None:
    data = ReplyData(
        correlation_id="c-1", ok=True, code="ok", result={"order": {"id": "o", "total": "5.00"}}
    )
    at = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    spliced = envelope_json(
        Reply,
        data.model_dump_json().encode(),
        id="r-1",
        request_id="req-1",
        occurred_at=at,
        key="c-1",
        causation_id="c-1",
        actor=None,
    )
    model = Reply(
        id="r-1", request_id="req-1", occurred_at=at, key="c-1", causation_id="c-1", data=data
    )
    assert spliced == model.model_dump_json().encode()
    assert Reply.model_validate_json(spliced) == model


@settings(max_examples=50)
@given(now=moments, offset=st.integers(-12, 12), ttl=st.integers(1, 3600))
def test_a_reservations_create_order_is_its_models_json(now, offset, ttl) -> None:  # type: ignore[no-untyped-def]
    # Sent when the order is created on another partition: built as JSON (outcome.command_json),
    # it must be what CreateOrder dumps, whatever offset the decision time has.
    at = now.astimezone(timezone(timedelta(hours=offset)))
    row = inventory_rules.stored(stock_rules.create_product("p", "P", Decimal("2.50"), 10))
    command = ReserveStock(
        key="p",
        reply_to="replies",
        reply_partition=2,
        data=ReserveStockData(product_id="p", quantity=2, customer_id="c"),
    )
    outcome = inventory_rules.decide(row, command, at, timedelta(seconds=ttl))
    [sent] = [m for m in outcome.messages if m.topic == ORDERS_COMMANDS]
    model = CreateOrder.model_validate_json(sent.value)
    assert model.continuation is not None and model.continuation.correlation_id == command.id
    # As the model writes the decision's own times (read back, they would be in UTC).
    model = model.model_copy(
        update={
            "occurred_at": at,
            "data": model.data.model_copy(update={"expires_at": at + timedelta(seconds=ttl)}),
        }
    )
    assert model.model_dump_json().encode() == sent.value
