"""Decisions of the inventory agent: one command and the product's row in, an Outcome out.

No faust, no I/O: the agent loads the row, calls `decide`, stores and sends what comes back.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from agents import order_rules
from agents.domain import allocation as places_rules
from agents.domain import order_state
from agents.domain import stock as stock_rules
from agents.domain.errors import DomainError, InsufficientStock, OrderExists, UnknownLocation
from agents.order_rules import allocation_bodies, allocation_models
from agents.outcome import (
    CarriedAlong,
    DeadlineSet,
    OrderPlaced,
    Outcome,
    ReservationHeld,
    ReservationSettled,
    carried_on,
    command_json,
    event_json,
    json_money,
    json_time,
    ok_reply,
    refusal,
)
from topics.messages import (
    AdjustStock,
    AllocationChanged,
    AllocationChangedData,
    CartLineAnswered,
    CartLineAnsweredData,
    CommitReservation,
    CreateOrder,
    CreateProduct,
    HoldCartLine,
    InventoryCommand,
    ProductCreated,
    ProductCreatedData,
    ProductSnapshot,
    ReleaseCartLine,
    ReleaseReservation,
    ReservationChangedData,
    ReservationCommitted,
    ReservationCreated,
    ReservationExpired,
    ReservationReleased,
    ReservationSnapshot,
    ReserveStock,
    SetAllocation,
    StockAdjusted,
    StockAdjustedData,
    StockTransferred,
    StockTransferredData,
    TransferStock,
    VersionToken,
    derived_id,
)
from topics.names import INVENTORY_COMMANDS, INVENTORY_EVENTS, ORDERS_COMMANDS
from topics.partitioning import partition_for, partition_of

ENTITY = "product"
# Derived order ids tried per reservation before giving up on creating the order here;
# each hits the wanted partition with probability 1/partitions.
ORDER_ID_ATTEMPTS_PER_PARTITION = 64
# Two hex digits of each byte value, so a variant's last four are two look-ups: bytes
# formatting (b"%04x") cost a third of each try.
_HEX_PAIRS = [b"%02x" % byte for byte in range(256)]


@dataclass(frozen=True)
class Placement:
    """Where the command's record is. An order whose id hashes to the same partition
    belongs to the same worker and changelog partition, so the inventory agent can
    create it in the same step instead of asking the order agent."""

    partition: int
    partitions: int

    def holds(self, key: str) -> bool:
        return partition_for(key, self.partitions) == self.partition


@dataclass(frozen=True)
class Context:
    """What a decision needs besides the command and the product: the time it is taken
    at, the hold's lifetime, where the command's record is (see `_reserved`) and the row
    of a caller-chosen order id, if that order exists."""

    now: datetime
    ttl: timedelta
    placement: Placement | None = None
    chosen_order: dict[str, Any] | None = None


def reservation_id_of(command: InventoryCommand) -> str | None:
    """The reservation a command is about, so the agent can load its row beforehand."""
    if isinstance(command, ReserveStock):
        return command.data.reservation_id or _derived_reservation_id(command.id)
    if isinstance(command, CommitReservation | ReleaseReservation | HoldCartLine | ReleaseCartLine):
        return command.data.reservation_id
    return None


@functools.lru_cache(maxsize=64)
def _derived_reservation_id(command_id: str) -> str:
    # Asked three times for each reservation (the worker loads its row, `decide` looks
    # for it, `_reserved` takes it): derived once.
    return derived_id(command_id, "reservation")


class StoredRow(dict[str, Any]):
    """A product row as `stored` makes it, with the `Stock` it was made from.

    Until its batch commits, the table hands the next command on the product this same
    object back (the open batch is kept in memory: agents.table_store), so `stock_of`
    skips decoding it, which cost more than the rest of a reservation's stock rules.
    Serialized, it is the plain row. Rows are never changed in place, so the two agree."""

    __slots__ = ("stock",)

    def __init__(self, stock: stock_rules.Stock) -> None:
        super().__init__(stock_rules.to_dict(stock))
        self.stock = stock


def stored(stock: stock_rules.Stock) -> dict[str, Any]:
    """The product's row as the table keeps it. Active reservations are stored one row
    each beside it: a row holding all of them would grow with every reservation, and the
    whole row is re-encoded and sent to the changelog on every write."""
    return StoredRow(stock_rules.without_active(stock))


def stock_of(row: dict[str, Any]) -> stock_rules.Stock:
    """The product a row holds (see StoredRow)."""
    if isinstance(row, StoredRow):
        return row.stock
    return stock_rules.from_dict(row)


def product_body(stock: stock_rules.Stock) -> dict[str, Any]:
    """A product as events and replies carry it: ProductSnapshot's JSON form, in its field
    order (agents.outcome: the hot path's messages)."""
    return {
        "id": stock.product_id,
        "name": stock.name,
        "price": json_money(stock.price),
        "initial": stock.initial,
        "adjusted": stock.adjusted,
        "available": stock.available,
        "reserved": stock.reserved,
        "sold": stock.sold,
        "version": stock.version,
        "locations": [
            {
                "location_id": lid,
                "available": place.available,
                "reserved": place.reserved,
                "sold": place.sold,
            }
            for lid, place in sorted(
                stock.locations.items(), key=lambda item: (item[1].priority, item[0])
            )
        ],
        "allocation": stock.allocation,
    }


def product_snapshot(stock: stock_rules.Stock) -> ProductSnapshot:
    return ProductSnapshot.model_validate(product_body(stock))


def product_token(stock: stock_rules.Stock) -> VersionToken:
    return VersionToken(entity="product", id=stock.product_id, version=stock.version)


def decide(
    row: dict[str, Any] | None,
    command: InventoryCommand,
    now: datetime,
    ttl: timedelta,
    active_row: object = None,
    placement: Placement | None = None,
    chosen_order: dict[str, Any] | None = None,
) -> Outcome:
    """Apply one inventory command to the product's row (None when the product is unknown).
    `active_row` is the stored row of the command's reservation if it is active: its
    allocation, or a bare quantity when written before locations (all at `main`).
    With a `placement`, a reservation creates its order itself (see `_reserved`);
    `chosen_order` is the row of a caller-chosen order id, if that order exists."""
    context = Context(now, ttl, placement, chosen_order)
    product_id = command.data.product_id
    try:
        if isinstance(command, CreateProduct):
            return _create(row, command, context)
        if isinstance(command, HoldCartLine | ReleaseCartLine):
            # A cart's line is answered to its coordinator, never refused to a caller.
            return _cart_line(row, command, context, active_row)
        if row is None:
            return refusal(
                command,
                INVENTORY_COMMANDS,
                ENTITY,
                product_id,
                "product_not_found",
                f"no product {product_id!r}",
                {"product_id": product_id},
                now=now,
            )
        stock = stock_of(row)
        reservation_id = reservation_id_of(command)
        if reservation_id is not None and active_row is not None:
            taken = places_rules.allocation_from(active_row)  # type: ignore[arg-type]
            stock = replace(stock, active={reservation_id: taken})
        return ON_PRODUCT[type(command)](stock, command, context)
    except DomainError as err:
        return refusal(
            command,
            INVENTORY_COMMANDS,
            ENTITY,
            product_id,
            err.code,
            err.message,
            err.details,
            now=now,
        )


def _create(row: dict[str, Any] | None, command: CreateProduct, context: Context) -> Outcome:
    if row is not None:
        product_id = command.data.product_id
        return refusal(
            command,
            INVENTORY_COMMANDS,
            ENTITY,
            product_id,
            "product_exists",
            f"product {product_id!r} already exists",
            now=context.now,
        )
    return _created(command, context.now)


def _event_fields(command: Any, event_type: str, now: datetime) -> dict[str, Any]:
    return {
        "id": derived_id(command.id, f"event:{event_type}"),
        "request_id": command.request_id,
        "occurred_at": now,
        "key": command.data.product_id,
        "causation_id": command.id,
        "actor": command.actor,
    }


def _finish(
    out: Outcome,
    command: Any,
    stock: stock_rules.Stock,
    snapshot: ProductSnapshot,
    reservation: ReservationSnapshot | None = None,
) -> Outcome:
    """The new row and the reply: the product, and the rows the caller may read next."""
    out.state = stored(stock)
    tokens = [product_token(stock)]
    if reservation is not None:
        tokens.append(VersionToken(entity="reservation", id=reservation.id, version=stock.version))
    out.reply = ok_reply(
        command.id, {"product": snapshot.model_dump(mode="json")}, tokens, command.continuation
    )
    return out


def _created(command: CreateProduct, now: datetime) -> Outcome:
    d = command.data
    stock = stock_rules.create_product(d.product_id, d.name, d.price, d.initial_stock)
    snapshot = product_snapshot(stock)
    out = Outcome()
    event = ProductCreated(
        **_event_fields(command, "product.created", now),
        data=ProductCreatedData(product=snapshot),
    )
    out.emit_audited_event(INVENTORY_EVENTS, event, stock.product_id)
    return _finish(out, command, stock, snapshot)


def _adjusted(stock: stock_rules.Stock, command: AdjustStock, context: Context) -> Outcome:
    now = context.now
    d = command.data
    stock = stock_rules.adjust(stock, d.delta, d.location_id, d.location_priority)
    snapshot = product_snapshot(stock)
    out = Outcome()
    event = StockAdjusted(
        **_event_fields(command, "stock.adjusted", now),
        data=StockAdjustedData(
            product=snapshot, delta=d.delta, reason=d.reason, location_id=d.location_id
        ),
    )
    out.emit_audited_event(INVENTORY_EVENTS, event, stock.product_id)
    return _finish(out, command, stock, snapshot)


def _transferred(stock: stock_rules.Stock, command: TransferStock, context: Context) -> Outcome:
    """Both ends in one decision, so one event and one row: never half a transfer."""
    d = command.data
    stock = stock_rules.transfer(
        stock, d.from_location_id, d.to_location_id, d.quantity, d.to_location_priority
    )
    snapshot = product_snapshot(stock)
    out = Outcome()
    event = StockTransferred(
        **_event_fields(command, "stock.transferred", context.now),
        data=StockTransferredData(
            product=snapshot,
            from_location_id=d.from_location_id,
            to_location_id=d.to_location_id,
            quantity=d.quantity,
            reason=d.reason,
        ),
    )
    out.emit_audited_event(INVENTORY_EVENTS, event, stock.product_id)
    return _finish(out, command, stock, snapshot)


def _allocation_set(stock: stock_rules.Stock, command: SetAllocation, context: Context) -> Outcome:
    stock = stock_rules.set_allocation(stock, command.data.allocation)
    snapshot = product_snapshot(stock)
    out = Outcome()
    event = AllocationChanged(
        **_event_fields(command, "product.allocation_changed", context.now),
        data=AllocationChangedData(product=snapshot, allocation=command.data.allocation),
    )
    out.emit_audited_event(INVENTORY_EVENTS, event, stock.product_id)
    return _finish(out, command, stock, snapshot)


def _order_id(command: ReserveStock, placement: Placement | None) -> tuple[str, bool]:
    """The reservation's order id, and whether it shares the command's partition.

    A caller-chosen id is kept as it is. Otherwise the id is derived from the command id
    (deterministic, so a redelivered command finds the same order); with a placement,
    the first of its variants that hashes to the command's partition. A variant differs
    from the derived id in its last four hex digits (the UUID's node bits: version and
    variant stay), so the search costs one hash a try, not one derivation."""
    if command.data.order_id:
        chosen = command.data.order_id
        return chosen, placement is not None and placement.holds(chosen)
    first = derived_id(command.id, "order")
    if placement is None:
        return first, False
    # Each try hashes the variant's bytes directly (`Placement.holds` of a str would
    # encode it and take two calls more, for each of the ~`partitions` tries).
    stem, last = first[:-4], int(first[-4:], 16)
    stem_bytes, partitions, wanted = stem.encode(), placement.partitions, placement.partition
    for attempt in range(ORDER_ID_ATTEMPTS_PER_PARTITION * partitions):
        digits = (last + attempt) & 0xFFFF
        suffix = _HEX_PAIRS[digits >> 8] + _HEX_PAIRS[digits & 0xFF]
        if partition_of(stem_bytes + suffix, partitions) == wanted:
            return (first if attempt == 0 else f"{stem}{digits:04x}"), True
    return first, False  # vanishingly unlikely: the order agent creates it instead


def _reserved(stock: stock_rules.Stock, command: ReserveStock, context: Context) -> Outcome:
    now, ttl, placement, chosen_order = (
        context.now,
        context.ttl,
        context.placement,
        context.chosen_order,
    )
    d = command.data
    reservation_id = d.reservation_id or _derived_reservation_id(command.id)
    order_id, here = _order_id(command, placement)
    if here and chosen_order is not None and chosen_order["reservation_id"] != reservation_id:
        raise OrderExists(order_id)
    stock = stock_rules.reserve(stock, reservation_id, d.quantity, d.location_id)
    taken = stock.active[reservation_id]
    expires_at = now + ttl
    # ReservationSnapshot's and ProductSnapshot's JSON forms (agents.outcome: the hot
    # path's messages), for the event and the reply alike.
    reservation = {
        "id": reservation_id,
        "product_id": stock.product_id,
        "order_id": order_id,
        "quantity": d.quantity,
        "status": "active",
        "customer_id": d.customer_id,
        "expires_at": json_time(expires_at),
        "version": stock.version,
        "allocations": allocation_bodies(taken),
    }
    product = product_body(stock)
    out = Outcome()
    out.emit_audited_json(
        INVENTORY_EVENTS,
        event_json(
            ReservationCreated,
            {"product": product, "reservation": reservation},
            **_event_fields(command, "reservation.created", now),
        ),
        stock.product_id,
    )
    # What we know travels along, for whoever answers the caller.
    result = {"reservation": reservation, "product": product}
    read_after = [
        product_token(stock),
        VersionToken(entity="reservation", id=reservation_id, version=stock.version),
    ]
    create_id = derived_id(command.id, "command:order.create")
    out.state = stored(stock)
    out.effects.append(ReservationHeld(reservation_id, taken))
    if here:
        # The order's partition is this one: create it now, exactly as the order agent
        # would from the CreateOrder below (same ids, same events; a unit test holds
        # the two alike), and answer the caller. The command itself is not built.
        order = order_state.create_order(
            order_id,
            d.customer_id,
            stock.product_id,
            d.quantity,
            stock.price,
            reservation_id,
            expires_at,
            now,
            command.request_id,
            taken,
        )
        # The answer is made here, so what travels along is not built into a Continuation.
        carried = CarriedAlong(command.id, result, read_after)
        step = order_rules.OrderStep(create_id, command.request_id, command.actor, carried)
        created = order_rules.placed(order, step, now)
        out.messages.extend(created.messages)
        [deadline] = [e.at for e in created.effects if isinstance(e, DeadlineSet)]
        assert created.state is not None
        out.effects.append(OrderPlaced(order_id, created.state, deadline))
        out.reply = created.reply
    else:
        # CreateOrderData's JSON form, in its field order (see agents.outcome), but for
        # its time (see `command_json`).
        create_order = {
            "order_id": order_id,
            "reservation_id": reservation_id,
            "product_id": stock.product_id,
            "customer_id": d.customer_id,
            "quantity": d.quantity,
            "unit_price": json_money(stock.price),
            "expires_at": expires_at,
            "allocations": reservation["allocations"],
        }
        out.emit_json(
            ORDERS_COMMANDS,
            order_id,
            command_json(
                CreateOrder,
                create_order,
                id=create_id,
                request_id=command.request_id,
                occurred_at=now,
                key=order_id,
                causation_id=command.id,
                actor=command.actor,
                reply_to=command.reply_to,
                reply_partition=command.reply_partition,
                continuation={
                    "correlation_id": command.id,
                    "result": result,
                    "read_after": read_after,
                },
            ),
        )
        out.reply = None  # the order agent answers once the order exists
    return out


def _reservation_change(
    stock: stock_rules.Stock, command: Any, taken: places_rules.Allocation, status: str
) -> ReservationSnapshot:
    return ReservationSnapshot(
        id=command.data.reservation_id,
        product_id=stock.product_id,
        order_id=command.data.order_id,
        quantity=stock_rules.quantity_of(taken),
        status=status,  # type: ignore[arg-type]
        version=stock.version,
        allocations=allocation_models(taken),
    )


def _committed(stock: stock_rules.Stock, command: CommitReservation, context: Context) -> Outcome:
    now = context.now
    stock, taken = stock_rules.commit(stock, command.data.reservation_id)
    reservation = _reservation_change(stock, command, taken, "committed")
    snapshot = product_snapshot(stock)
    out = Outcome()
    event = ReservationCommitted(
        **_event_fields(command, "reservation.committed", now),
        data=ReservationChangedData(product=snapshot, reservation=reservation),
    )
    out.emit_audited_event(INVENTORY_EVENTS, event, stock.product_id)
    out.effects.append(ReservationSettled(reservation.id))
    return _finish(out, command, stock, snapshot, reservation)


def _released(stock: stock_rules.Stock, command: ReleaseReservation, context: Context) -> Outcome:
    now = context.now
    d = command.data
    out = Outcome()
    taken: places_rules.Allocation
    if d.was_committed:
        # Sold units go back where they were sold; an order from before locations
        # carries none: all of it at `main`.
        taken = {a.location_id: a.quantity for a in d.allocations} or {
            places_rules.MAIN: d.quantity
        }
        stock = stock_rules.release_sold(stock, taken)
    else:
        stock, taken = stock_rules.release(stock, d.reservation_id)
        out.effects.append(ReservationSettled(d.reservation_id))
    expired = d.reason == "expired"
    reservation = _reservation_change(stock, command, taken, "expired" if expired else "released")
    event_cls = ReservationExpired if expired else ReservationReleased
    snapshot = product_snapshot(stock)
    event = event_cls(
        **_event_fields(command, event_cls.model_fields["type"].default, now),
        data=ReservationChangedData(product=snapshot, reservation=reservation),
    )
    out.emit_audited_event(INVENTORY_EVENTS, event, stock.product_id)
    return _finish(out, command, stock, snapshot, reservation)


# ---------------------------------------------------------------- a cart's lines
# The coordinator (agents.cart_rules) asks each product to hold or release its line;
# the product answers it with `cart.line_answered`, whatever happened.


def _cart_line(
    row: dict[str, Any] | None,
    command: HoldCartLine | ReleaseCartLine,
    context: Context,
    active_row: object,
) -> Outcome:
    if row is None:
        return _line_answer(command, context, "unknown")
    stock = stock_of(row)
    reservation_id = command.data.reservation_id
    if active_row is not None:
        taken = places_rules.allocation_from(active_row)  # type: ignore[arg-type]
        stock = replace(stock, active={reservation_id: taken})
    if isinstance(command, HoldCartLine):
        return _hold_line(stock, command, context)
    return _release_line(stock, command, context)


def _hold_line(stock: stock_rules.Stock, command: HoldCartLine, context: Context) -> Outcome:
    d = command.data
    try:
        stock = stock_rules.reserve(stock, d.reservation_id, d.quantity, d.location_id)
    except InsufficientStock as err:
        # At the pinned location, if the line names one.
        return _line_answer(command, context, "refused", available=err.details["available"])
    except UnknownLocation:
        return _line_answer(command, context, "refused", available=0)
    except DomainError:
        # The reservation id is already active here (another cart of the caller's):
        # this line cannot be held, nothing changed.
        return _line_answer(command, context, "refused", available=stock.available)
    taken = stock.active[d.reservation_id]
    reservation = ReservationSnapshot(
        id=d.reservation_id,
        product_id=stock.product_id,
        order_id=d.order_id,
        quantity=d.quantity,
        status="active",
        customer_id=d.customer_id,
        expires_at=d.expires_at,
        version=stock.version,
        allocations=allocation_models(taken),
    )
    snapshot = product_snapshot(stock)
    out = _line_answer(command, context, "held", stock=stock, taken=taken)
    event = ReservationCreated(
        **_event_fields(command, "reservation.created", context.now),
        data=ReservationChangedData(product=snapshot, reservation=reservation),
    )
    out.emit_audited_event(INVENTORY_EVENTS, event, stock.product_id)
    out.state = stored(stock)
    out.effects.append(ReservationHeld(d.reservation_id, taken))
    return out


def _release_line(stock: stock_rules.Stock, command: ReleaseCartLine, context: Context) -> Outcome:
    d = command.data
    if d.reservation_id not in stock.active:
        return _line_answer(command, context, "released", stock=stock)  # nothing held
    stock, taken = stock_rules.release(stock, d.reservation_id)
    reservation = _reservation_change(stock, command, taken, "released")
    snapshot = product_snapshot(stock)
    out = _line_answer(command, context, "released", stock=stock)
    event = ReservationReleased(
        **_event_fields(command, "reservation.released", context.now),
        data=ReservationChangedData(product=snapshot, reservation=reservation),
    )
    out.emit_audited_event(INVENTORY_EVENTS, event, stock.product_id)
    out.state = stored(stock)
    out.effects.append(ReservationSettled(d.reservation_id))
    return out


def _line_answer(
    command: HoldCartLine | ReleaseCartLine,
    context: Context,
    outcome: str,
    *,
    stock: stock_rules.Stock | None = None,
    taken: places_rules.Allocation | None = None,
    available: int | None = None,
) -> Outcome:
    """An outcome whose only message is the answer to the cart's coordinator."""
    d = command.data
    out = Outcome()
    out.emit(
        ORDERS_COMMANDS,
        d.order_id,
        CartLineAnswered(
            **carried_on(command, "command:cart.line_answered", d.order_id, context.now),
            data=CartLineAnsweredData(
                order_id=d.order_id,
                product_id=d.product_id,
                reservation_id=d.reservation_id,
                outcome=outcome,  # type: ignore[arg-type]
                unit_price=stock.price if stock is not None and outcome == "held" else None,
                allocations=allocation_models(taken or {}),
                available=available,
                product_version=stock.version if stock is not None else None,
            ),
        ),
    )
    return out


# What each command does to an existing product: one handler per command type.
ON_PRODUCT: dict[type, Callable[[stock_rules.Stock, Any, Context], Outcome]] = {
    AdjustStock: _adjusted,
    ReserveStock: _reserved,
    CommitReservation: _committed,
    ReleaseReservation: _released,
    TransferStock: _transferred,
    SetAllocation: _allocation_set,
}
