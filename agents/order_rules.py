"""Decisions of the order agent: one command and the order's row in, an Outcome out.

No faust, no I/O. Expiry is decided here too, so a confirm that arrives after the
deadline but before the timer's ExpireOrder still finds the reservation expired.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agents.domain import order_state
from agents.domain.errors import DomainError
from agents.domain.order_state import OrderStatus
from agents.outcome import (
    CarriedAlong,
    DeadlineCleared,
    DeadlineSet,
    OrderFinished,
    Outcome,
    event_json,
    json_money,
    json_time,
    ok_reply,
    refusal,
)
from topics.messages import (
    SYSTEM_ACTOR,
    Actor,
    ChangeStatus,
    CommitReservation,
    CommitReservationData,
    Continuation,
    CreateOrder,
    ExpireOrder,
    ExpireOrderData,
    LocationAllocation,
    OrderCommand,
    OrderCreated,
    OrderSnapshot,
    OrderStatusChanged,
    OrderStatusChangedData,
    ReleaseReservation,
    ReleaseReservationData,
    VersionToken,
    derived_id,
    encode,
)
from topics.names import INVENTORY_COMMANDS, ORDERS_COMMANDS, ORDERS_EVENTS
from topics.signing import signature_headers

ENTITY = "order"
EXPIRED_REASON = "reservation_expired"
FINAL_STATUSES = frozenset(s.value for s, targets in order_state.TRANSITIONS.items() if not targets)


def expire_command(order_id: str) -> ExpireOrder:
    """The expiry command of one order: always the same id, so repeats are deduped."""
    return ExpireOrder(
        id=derived_id(order_id, "command:order.expire"),
        request_id=derived_id(order_id, "request:order.expire"),
        key=order_id,
        # The timer and `inventory cleanup` act for nobody but the pipeline.
        actor=SYSTEM_ACTOR,
        data=ExpireOrderData(order_id=order_id),
    )


def signed_expiry(
    order_id: str, signing_key: bytes
) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """The expiry command's record as the expiry sweep and `inventory cleanup` send it:
    key, value and the signature an internal command needs (topics.signing)."""
    value = encode(expire_command(order_id))
    return order_id.encode(), value, signature_headers(signing_key, value)


def allocation_models(allocation: Mapping[str, int]) -> list[LocationAllocation]:
    """An allocation (location -> units) as the messages carry it, in its order."""
    return [LocationAllocation(location_id=lid, quantity=q) for lid, q in allocation.items()]


def allocation_bodies(allocation: Mapping[str, int]) -> list[dict[str, Any]]:
    """`allocation_models`' JSON form (agents.outcome: the hot path's messages)."""
    return [{"location_id": lid, "quantity": q} for lid, q in allocation.items()]


def order_body(order: order_state.Order) -> dict[str, Any]:
    """An order as events and replies carry it: OrderSnapshot's JSON form, in its field
    order (agents.outcome: the hot path's messages)."""
    unit_price = order.unit_price
    return {
        "id": order.order_id,
        "status": order.status.value,
        "customer_id": order.customer_id,
        "product_id": order.product_id,
        "quantity": order.quantity,
        "unit_price": None if unit_price is None else json_money(unit_price),
        "lines": [
            {
                "product_id": line.product_id,
                "quantity": line.quantity,
                "unit_price": json_money(line.unit_price),
                "line_total": json_money(line.line_total),
                "allocations": allocation_bodies(line.allocations),
            }
            for line in order.lines
        ],
        "total": json_money(order.total),
        "reservation_id": order.reservation_id,
        "expires_at": json_time(order.expires_at),
        "created_at": json_time(order.created_at),
        "updated_at": json_time(order.updated_at),
        "cancel_reason": order.cancel_reason,
        "version": order.version,
        "history": [
            {
                "status": h.status.value if isinstance(h.status, OrderStatus) else h.status,
                "at": json_time(h.at),
                "reason": h.reason,
                "request_id": h.request_id,
            }
            for h in order.history
        ],
        "allocations": allocation_bodies(order.allocations),
    }


def order_snapshot(order: order_state.Order) -> OrderSnapshot:
    return OrderSnapshot.model_validate(order_body(order))


def order_token(order: order_state.Order) -> VersionToken:
    return VersionToken(entity="order", id=order.order_id, version=order.version)


def decide(row: dict[str, Any] | None, command: OrderCommand, now: datetime) -> Outcome:
    """Apply one order command to the order's row (None when the order is unknown)."""
    if row is None:
        return ON_NO_ORDER[type(command)](command, now)
    return ON_ORDER[type(command)](order_state.from_dict(row), command, now)


def _not_found(command: ChangeStatus, now: datetime) -> Outcome:
    order_id = command.data.order_id
    return refusal(
        command,
        ORDERS_COMMANDS,
        ENTITY,
        order_id,
        "order_not_found",
        f"no order {order_id!r}",
        {"order_id": order_id},
        now=now,
    )


def _nothing(_command: ExpireOrder, _now: datetime) -> Outcome:
    """An expiry for an order that is gone (removed once finished): nothing to do."""
    return Outcome()


def _expire_if_due(order: order_state.Order, command: ExpireOrder, now: datetime) -> Outcome:
    if order_state.is_expired(order, now):
        return _expire(order, command, now)
    return Outcome()  # not pending any more, or not due: nothing to do


def order_exists(command: Any, order_id: str, now: datetime) -> Outcome:
    """The refusal of a command that would create an order whose id is taken."""
    return refusal(
        command,
        ORDERS_COMMANDS,
        ENTITY,
        order_id,
        "order_exists",
        f"order {order_id!r} already exists",
        {"order_id": order_id},
        now=now,
    )


def _order_exists(order: order_state.Order, command: CreateOrder, now: datetime) -> Outcome:
    """A reservation named an order id that is taken (a caller-chosen `order_id`).

    The order of the same reservation: answered as created, nothing changes. Another
    reservation's: refused to the caller who reserved, and the units that reservation
    holds are given back, as no order will ever confirm or expire them."""
    d = command.data
    if order.reservation_id == d.reservation_id:
        out = Outcome()
        out.reply = ok_reply(
            command.id,
            {"order": order_snapshot(order).model_dump(mode="json")},
            [order_token(order)],
            command.continuation,
        )
        return out
    out = order_exists(command, d.order_id, now)
    if command.continuation is not None and out.reply is not None:
        # The caller waits for the reservation command, not for this follow-up.
        out.reply = out.reply.model_copy(
            update={"correlation_id": command.continuation.correlation_id}
        )
    out.emit(
        INVENTORY_COMMANDS,
        d.product_id,
        ReleaseReservation(
            id=derived_id(command.id, "command:reservation.release"),
            request_id=command.request_id,
            occurred_at=now,
            key=d.product_id,
            causation_id=command.id,
            actor=command.actor,
            data=ReleaseReservationData(
                product_id=d.product_id,
                reservation_id=d.reservation_id,
                order_id=d.order_id,
                quantity=d.quantity,
                reason="cancelled",
            ),
        ),
    )
    return out


def _created(command: CreateOrder, now: datetime) -> Outcome:
    d = command.data
    order = order_state.create_order(
        d.order_id,
        d.customer_id,
        d.product_id,
        d.quantity,
        d.unit_price,
        d.reservation_id,
        d.expires_at,
        now,
        command.request_id,
        {a.location_id: a.quantity for a in d.allocations},
    )
    return placed(order, command, now)


@dataclass(frozen=True)
class OrderStep:
    """What `placed` reads of the command that creates an order: for an order created in
    a reservation's own step (agents.inventory_rules), whose CreateOrder is never sent
    and so never built."""

    id: str
    request_id: str | None
    actor: Actor | None
    continuation: Continuation | CarriedAlong | None


def placed(
    order: order_state.Order,
    command: Any,
    now: datetime,
    result: dict[str, Any] | None = None,
    read_after: list[VersionToken] | None = None,
) -> Outcome:
    """A new order decided by `command`: its event, its row, its deadline, and the
    answer (`result` and `read_after` beside the order's own)."""
    out = Outcome()
    body = order_body(order)
    out.emit_audited_json(
        ORDERS_EVENTS,
        event_json(
            OrderCreated,
            {"order": body},
            id=derived_id(command.id, "event:order.created"),
            request_id=command.request_id,
            occurred_at=now,
            key=order.order_id,
            causation_id=command.id,
            actor=command.actor,
        ),
        order.order_id,
    )
    out.state = order_state.to_dict(order)
    out.effects.append(DeadlineSet(order.expires_at.timestamp()))
    out.reply = ok_reply(
        command.id,
        {**(result or {}), "order": body},
        [*(read_after or []), order_token(order)],
        command.continuation,
    )
    return out


def _transition(
    out: Outcome,
    order: order_state.Order,
    command: Any,
    to: OrderStatus,
    now: datetime,
    reason: str | None,
) -> order_state.Order:
    """Move the order, emit order.status_changed, and tell the inventory what it implies.
    The follow-up command carries the caller's reply_to: the inventory agent answers."""
    before = order.status
    order = order_state.change_status(order, to, now, reason=reason, request_id=command.request_id)
    snapshot = order_snapshot(order)
    out.emit_audited_event(
        ORDERS_EVENTS,
        OrderStatusChanged(
            id=derived_id(command.id, f"event:order.status_changed:{to.value}"),
            request_id=command.request_id,
            occurred_at=now,
            key=order.order_id,
            causation_id=command.id,
            actor=command.actor,
            data=OrderStatusChangedData(
                order=snapshot, from_status=before.value, to_status=to.value, reason=reason
            ),
        ),
        order.order_id,
    )
    out.state = order_state.to_dict(order)
    if before is OrderStatus.PENDING:
        out.effects.append(DeadlineCleared())
    if to.value in FINAL_STATUSES:
        out.effects.append(OrderFinished(now.timestamp()))
    continuation = Continuation(
        correlation_id=command.continuation.correlation_id if command.continuation else command.id,
        result={"order": snapshot.model_dump(mode="json")},
        read_after=[order_token(order)],
    )
    if to not in (OrderStatus.CONFIRMED, OrderStatus.CANCELLED):
        out.reply = ok_reply(command.id, {}, [], continuation)
        return order
    # The stock moves on each line's product partition. A one-line order's product agent
    # answers the caller once its stock moved; a cart's lines move on several partitions,
    # so the order agent answers itself and the products follow (their units are held
    # for this order, so neither a commit nor a release can be refused).
    one_line = len(order.lines) == 1
    follow_up_fields = {
        "request_id": command.request_id,
        "occurred_at": now,
        "causation_id": command.id,
        "actor": command.actor,
        "reply_to": getattr(command, "reply_to", None) if one_line else None,
        "reply_partition": getattr(command, "reply_partition", None) if one_line else None,
        "continuation": continuation if one_line else None,
    }
    for line in order.lines:
        # One line keeps the ids it always had; a cart's lines add the product.
        suffix = "" if one_line else f":{line.product_id}"
        ids = {"product_id": line.product_id, "reservation_id": order.reservation_id}
        stock_move: CommitReservation | ReleaseReservation
        if to is OrderStatus.CONFIRMED:
            stock_move = CommitReservation(
                id=derived_id(command.id, f"command:reservation.commit{suffix}"),
                key=line.product_id,
                data=CommitReservationData(**ids, order_id=order.order_id),
                **follow_up_fields,
            )
        else:
            stock_move = ReleaseReservation(
                id=derived_id(command.id, f"command:reservation.release{suffix}"),
                key=line.product_id,
                data=ReleaseReservationData(
                    **ids,
                    order_id=order.order_id,
                    quantity=line.quantity,
                    was_committed=before is OrderStatus.CONFIRMED,
                    reason="expired" if reason == EXPIRED_REASON else "cancelled",
                    allocations=allocation_models(line.allocations),
                ),
                **follow_up_fields,
            )
        out.emit(INVENTORY_COMMANDS, line.product_id, stock_move)
    if not one_line:
        out.reply = ok_reply(command.id, {}, [], continuation)
    return order


def _expire(order: order_state.Order, command: ExpireOrder, now: datetime) -> Outcome:
    out = Outcome()
    _transition(out, order, command, OrderStatus.CANCELLED, now, EXPIRED_REASON)
    out.reply = None
    return out


def _change(order: order_state.Order, command: ChangeStatus, now: datetime) -> Outcome:
    try:
        target = order_state.parse_status(command.data.status)
    except ValueError as err:
        return refusal(
            command, ORDERS_COMMANDS, ENTITY, order.order_id, "invalid_status", str(err), now=now
        )
    expired_now: Outcome | None = None
    if order_state.is_expired(order, now):
        # The deadline passed before the timer's command arrived: expiry wins, as it would have.
        expired_now = Outcome()
        expire_cmd = expire_command(order.order_id).model_copy(
            update={"request_id": command.request_id}
        )
        order = _transition(
            expired_now, order, expire_cmd, OrderStatus.CANCELLED, now, EXPIRED_REASON
        )
        expired_now.reply = None
    try:
        order_state.check_transition(order.status, target)
    except DomainError as err:
        refused = refusal(
            command,
            ORDERS_COMMANDS,
            ENTITY,
            order.order_id,
            err.code,
            err.message,
            err.details,
            now=now,
        )
        if expired_now is not None:
            refused.state = expired_now.state
            refused.effects = expired_now.effects
            refused.messages = expired_now.messages + refused.messages
            if refused.reply is not None:
                refused.reply = refused.reply.model_copy(
                    update={
                        "message": f"reservation expired at {order.expires_at.isoformat()}; "
                        + refused.reply.message
                    }
                )
        return refused
    out = expired_now or Outcome()
    _transition(out, order, command, target, now, command.data.reason)
    return out


# One handler per command type: for an order the table holds, and for one it does not.
ON_ORDER: dict[type, Callable[[order_state.Order, Any, datetime], Outcome]] = {
    CreateOrder: _order_exists,
    ExpireOrder: _expire_if_due,
    ChangeStatus: _change,
}
ON_NO_ORDER: dict[type, Callable[[Any, datetime], Outcome]] = {
    CreateOrder: _created,
    ExpireOrder: _nothing,
    ChangeStatus: _not_found,
}
