"""Decisions of a cart's coordinator: the order agent, on the order id's partition.

A cart (`cart.reserve`) is held line by line, one at a time in product id order, each
line on its product's partition (agents.inventory_rules, `cart.hold_line`), and each
product answers here (`cart.line_answered`). The saga's rules are pure
(agents.domain.cart_saga); this module turns them into an Outcome: the cart's row, the
commands to send, the order once every line is held, the caller's answer.

Every step is one command on one partition, applied with its writes and sends in one
transaction (agents.transactions), so a worker killed between steps resumes from the
last committed one and a redelivered step decides the same again (derived ids, record
time). The cart's row is written in the step that asks for the holds, so no line is
ever held without a row that will give it back:

    cart.reserve ──► row "holding", cart.hold_line for the first line ──► its product
    cart.line_answered (held | refused | unknown), one per line asked for:
        held, more to hold ──► row saved, cart.hold_line for the next line
        all held      ──► order created (pending, one deadline), row removed, 201
        refused       ──► row "releasing", cart.release_line per held line
        none held     ──► row removed, 409 / 404
    cart.line_answered (released), per held line ──► after the last: row removed, 409 / 404

No faust, no I/O.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from agents import order_rules
from agents.domain import cart_saga, order_state
from agents.domain.errors import DomainError
from agents.outcome import CartSaved, Outcome, carried_on, refusal
from topics.messages import (
    CartLineAnswered,
    Continuation,
    HoldCartLine,
    HoldCartLineData,
    ReleaseCartLine,
    ReleaseCartLineData,
    ReserveCart,
    VersionToken,
    derived_id,
)
from topics.names import INVENTORY_COMMANDS, ORDERS_COMMANDS

ENTITY = "order"


def decide(
    order_row: dict[str, Any] | None,
    cart_row: dict[str, Any] | None,
    command: ReserveCart | CartLineAnswered,
    now: datetime,
    ttl: timedelta,
) -> Outcome:
    """Apply a cart command to the order's row and the cart's row (None when absent)."""
    if isinstance(command, ReserveCart):
        return _start(order_row, cart_row, command, now, ttl)
    return _answered(cart_row, command, now)


def _start(
    order_row: dict[str, Any] | None,
    cart_row: dict[str, Any] | None,
    command: ReserveCart,
    now: datetime,
    ttl: timedelta,
) -> Outcome:
    d = command.data
    if order_row is not None or cart_row is not None:
        # The same command is deduped before it gets here: this is another cart naming
        # an order id that is taken.
        return order_rules.order_exists(command, d.order_id, now)
    reservation_id = d.reservation_id or derived_id(command.id, "reservation")
    try:
        cart, step = cart_saga.start(
            reservation_id,
            d.order_id,
            d.customer_id,
            [(line.product_id, line.quantity) for line in d.lines],
            {line.product_id: line.location_id for line in d.lines if line.location_id},
        )
    except DomainError as err:
        return refusal(
            command,
            ORDERS_COMMANDS,
            ENTITY,
            d.order_id,
            err.code,
            err.message,
            err.details,
            now=now,
        )
    expires_at = now + ttl
    out = Outcome()
    out.effects.append(CartSaved(_row(cart, expires_at, {})))
    # The answers carry the caller's address along: whichever answer finishes the cart
    # replies to the caller, for the command the caller waits on.
    continuation = Continuation(correlation_id=command.id)
    for line in step.hold:
        out.emit(
            INVENTORY_COMMANDS,
            line.product_id,
            _hold(command, cart, line, expires_at, now, continuation),
        )
    return out


def _hold(
    command: ReserveCart | CartLineAnswered,
    cart: cart_saga.Cart,
    line: cart_saga.Line,
    expires_at: datetime,
    now: datetime,
    continuation: Continuation | None = None,
) -> HoldCartLine:
    return HoldCartLine(
        **carried_on(
            command,
            f"command:cart.hold_line:{line.product_id}",
            line.product_id,
            now,
            continuation,
        ),
        data=HoldCartLineData(
            product_id=line.product_id,
            quantity=line.quantity,
            location_id=line.location_id,
            reservation_id=cart.reservation_id,
            order_id=cart.order_id,
            customer_id=cart.customer_id,
            expires_at=expires_at,
        ),
    )


def _answered(cart_row: dict[str, Any] | None, command: CartLineAnswered, now: datetime) -> Outcome:
    d = command.data
    out = Outcome()
    if cart_row is None:
        if d.outcome == "held":
            # Never expected (a cart's row outlives its holds); if it happens, the line
            # must not stay held with nobody to give it back.
            out.emit(INVENTORY_COMMANDS, d.product_id, _release(command, d.product_id))
        return out
    cart = cart_saga.from_dict(cart_row)
    expires_at = datetime.fromisoformat(cart_row["expires_at"])
    versions: dict[str, int] = dict(cart_row.get("versions", {}))
    if d.product_version is not None:
        versions[d.product_id] = d.product_version
    if d.outcome == "held":
        assert d.unit_price is not None  # a held answer carries its price
        taken = {a.location_id: a.quantity for a in d.allocations}
        cart, step = cart_saga.held(cart, d.product_id, d.unit_price, taken)
    elif d.outcome == "released":
        cart, step = cart_saga.released(cart, d.product_id)
    else:
        cart, step = cart_saga.refused(
            cart, d.product_id, available=d.available, unknown=d.outcome == "unknown"
        )
    tokens = [VersionToken(entity="product", id=p, version=v) for p, v in sorted(versions.items())]
    if step.create_order:
        return _create_order(cart, expires_at, tokens, command, now)
    if step.refuse:
        return _refuse(cart, tokens, command, now)
    out.effects.append(CartSaved(_row(cart, expires_at, versions)))
    for line in step.hold:
        out.emit(INVENTORY_COMMANDS, line.product_id, _hold(command, cart, line, expires_at, now))
    for line in step.release:
        out.emit(INVENTORY_COMMANDS, line.product_id, _release(command, line.product_id))
    return out


def _release(command: CartLineAnswered, product_id: str) -> ReleaseCartLine:
    d = command.data
    return ReleaseCartLine(
        **carried_on(
            command, f"command:cart.release_line:{product_id}", product_id, command.occurred_at
        ),
        data=ReleaseCartLineData(
            product_id=product_id,
            reservation_id=d.reservation_id,
            order_id=d.order_id,
        ),
    )


def _create_order(
    cart: cart_saga.Cart,
    expires_at: datetime,
    tokens: list[VersionToken],
    command: CartLineAnswered,
    now: datetime,
) -> Outcome:
    order = order_state.create_cart_order(
        cart.order_id,
        cart.customer_id,
        [
            (line.product_id, line.quantity, line.unit_price, line.allocations)
            for line in cart.lines
            if line.unit_price is not None  # every line is held, so priced
        ],
        cart.reservation_id,
        expires_at,
        now,
        command.request_id,
    )
    reservation = {
        "id": cart.reservation_id,
        "status": "active",
        "customer_id": cart.customer_id,
        "order_id": cart.order_id,
        "expires_at": order.expires_at.isoformat(),
        "lines": [
            {
                "product_id": line.product_id,
                "quantity": line.quantity,
                "allocations": [
                    {"location_id": place, "quantity": units}
                    for place, units in line.allocations.items()
                ],
            }
            for line in cart.lines
        ],
    }
    out = order_rules.placed(order, command, now, {"reservation": reservation}, tokens)
    out.effects.append(CartSaved(None))
    return out


def _refuse(
    cart: cart_saga.Cart, tokens: list[VersionToken], command: CartLineAnswered, now: datetime
) -> Outcome:
    """Every held line is given back: answer why the cart could not be held. Unknown
    products win over short ones (nothing can be done about them)."""
    unknown = cart_saga.unknown_products(cart)
    if unknown:
        code, status_message = "product_not_found", f"no product {', '.join(map(repr, unknown))}"
        details: dict[str, Any] = {"product_ids": unknown}
    else:
        short = cart_saga.short_lines(cart)
        code = "insufficient_stock"
        status_message = "insufficient stock for " + ", ".join(
            f"{line['product_id']!r} (requested {line['requested']}, available {line['available']})"
            for line in short
        )
        details = {"lines": short}
    out = refusal(
        command, ORDERS_COMMANDS, ENTITY, cart.order_id, code, status_message, details, now=now
    )
    if out.reply is not None:
        # The caller reads the products next: wait until they show every line given back.
        out.reply = out.reply.model_copy(update={"read_after": tokens})
    out.effects.append(CartSaved(None))
    return out


def _row(cart: cart_saga.Cart, expires_at: datetime, versions: dict[str, int]) -> dict[str, Any]:
    """The cart's row in the orders table: the saga's state, the deadline its order will
    have, and each answered product's version (the caller's reads wait for them)."""
    return {**cart_saga.to_dict(cart), "expires_at": expires_at.isoformat(), "versions": versions}
