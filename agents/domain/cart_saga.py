"""A cart's hold, all or nothing, across partitions: the saga's state and its rules.

Each product lives on its own partition, so a cart of several products cannot be held
in one step. Its coordinator (the order agent, on the order's partition) asks each
product's partition to hold its line, and then either creates the order (every line
held) or gives back what was held and answers the refusal once every held line is
released. The cart's state is written before any hold is asked for, so a line can never
be held with nobody to release it; every step is one transaction on one partition, so
a worker killed between steps resumes from the last one.

The lines are held one at a time, in product id order, and the first refusal ends the
cart. Every cart racing for the same products asks for them in the same order, so the
carts that win the first product are the only ones asking for the next: racing carts
sell the stock there is rather than each holding a different product and all giving
theirs back (asked all at once, the partitions' arrival orders differ, and they did).

    holding --line held, another waiting---------> holding   (hold the next line)
       |----every line held ----------------------> held      (create the order, 201)
       |----a line refused, some held ------------> releasing (release the held lines)
       |----a line refused, none held ------------> refused   (answer 409 / 404)
    releasing --every held line released --------> refused   (answer 409 / 404)

Pure: no faust, no Kafka. Every function returns a new Cart and what to do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum
from typing import Any

from agents.domain.errors import DomainError, InvalidQuantity, InvalidValue
from agents.domain.validation import MAX_QUANTITY, is_int, require_product_id

MAX_LINES = 50


class DuplicateLine(DomainError):
    """A cart names one product on two lines: a caller's mistake, not a quantity."""

    code = "duplicate_line"

    def __init__(self, product_id: str) -> None:
        super().__init__(
            f"product {product_id!r} is on more than one line; put its whole quantity on one",
            {"product_id": product_id},
        )


class LineState(StrEnum):
    WAITING = "waiting"  # not asked for yet: the lines before it (product id order) go first
    REQUESTED = "requested"  # its hold is asked for, no answer yet
    HELD = "held"
    REFUSED = "refused"  # not enough stock, or no such product
    RELEASED = "released"  # held, then given back because another line was refused


class Phase(StrEnum):
    HOLDING = "holding"
    HELD = "held"
    RELEASING = "releasing"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class Line:
    product_id: str
    quantity: int
    state: LineState = LineState.WAITING
    unit_price: Decimal | None = None  # known once held
    available: int | None = None  # what the product had, when refused for stock
    unknown: bool = False  # refused because the product does not exist
    location_id: str | None = None  # the location the line is pinned to, if any
    allocations: Mapping[str, int] = field(default_factory=dict)  # where it is held


@dataclass(frozen=True, slots=True)
class Cart:
    reservation_id: str
    order_id: str
    customer_id: str
    lines: tuple[Line, ...]
    phase: Phase = Phase.HOLDING


@dataclass(frozen=True, slots=True)
class Step:
    """What the coordinator does after a change: hold this line, release these,
    create the order, or answer the refusal. Empty: wait for more answers."""

    hold: tuple[Line, ...] = ()
    release: tuple[Line, ...] = ()
    create_order: bool = False
    refuse: bool = False


def start(
    reservation_id: str,
    order_id: str,
    customer_id: str,
    lines: list[tuple[str, int]],
    locations: Mapping[str, str] | None = None,
) -> tuple[Cart, Step]:
    """A new cart asking for its first line's hold (in product id order); `locations`
    pins a product's line to a location. Raises InvalidValue for 0 or more than
    MAX_LINES lines, DuplicateLine for a product named twice, InvalidQuantity."""
    if not 1 <= len(lines) <= MAX_LINES:
        raise InvalidValue("lines", f"a cart has 1 to {MAX_LINES} lines", len(lines))
    seen: set[str] = set()
    for product_id, quantity in lines:
        require_product_id(product_id)
        if product_id in seen:
            raise DuplicateLine(product_id)
        seen.add(product_id)
        if not is_int(quantity) or not 1 <= quantity <= MAX_QUANTITY:
            raise InvalidQuantity(
                quantity,
                f"a line's quantity must be an integer from 1 to {MAX_QUANTITY}",
                minimum=1,
                maximum=MAX_QUANTITY,
            )
    pins = locations or {}
    cart = Cart(
        reservation_id,
        order_id,
        customer_id,
        tuple(Line(p, q, location_id=pins.get(p)) for p, q in lines),
    )
    return _decide(cart)


def held(
    cart: Cart,
    product_id: str,
    unit_price: Decimal,
    allocations: Mapping[str, int] | None = None,
) -> tuple[Cart, Step]:
    """A product's partition held its line (`allocations`: where, location -> units)."""
    line = _line(cart, product_id)
    if line.state is not LineState.REQUESTED:
        return cart, Step()  # an answer seen before: the cart has moved on already
    now_held = replace(
        line, state=LineState.HELD, unit_price=unit_price, allocations=dict(allocations or {})
    )
    return _decide(_with(cart, now_held))


def refused(
    cart: Cart, product_id: str, *, available: int | None = None, unknown: bool = False
) -> tuple[Cart, Step]:
    """A product's partition could not hold its line: `available` units only, or no
    such product (`unknown`)."""
    line = _line(cart, product_id)
    if line.state is not LineState.REQUESTED:
        return cart, Step()
    refusal = replace(line, state=LineState.REFUSED, available=available, unknown=unknown)
    return _decide(_with(cart, refusal))


def released(cart: Cart, product_id: str) -> tuple[Cart, Step]:
    """A held line was given back."""
    line = _line(cart, product_id)
    if line.state is not LineState.HELD or cart.phase is not Phase.RELEASING:
        return cart, Step()
    cart = _with(cart, replace(line, state=LineState.RELEASED))
    if any(line.state is LineState.HELD for line in cart.lines):
        return cart, Step()
    return replace(cart, phase=Phase.REFUSED), Step(refuse=True)


def _decide(cart: Cart) -> tuple[Cart, Step]:
    states = [line.state for line in cart.lines]
    if LineState.REQUESTED in states:
        # Wait: an answer still to come may be a hold to release. (A cart started before
        # lines were held one at a time asked for all of them at once.)
        return cart, Step()
    if LineState.REFUSED in states:
        holding = tuple(line for line in cart.lines if line.state is LineState.HELD)
        if holding:
            return replace(cart, phase=Phase.RELEASING), Step(release=holding)
        return replace(cart, phase=Phase.REFUSED), Step(refuse=True)
    waiting = [line for line in cart.lines if line.state is LineState.WAITING]
    if waiting:
        asked = replace(min(waiting, key=lambda line: line.product_id), state=LineState.REQUESTED)
        return _with(cart, asked), Step(hold=(asked,))
    return replace(cart, phase=Phase.HELD), Step(create_order=True)


def unknown_products(cart: Cart) -> list[str]:
    """The products found not to exist: a 404 names them. Lines after the first
    refusal are never asked for, so a cart names at most one missing or short line."""
    return [line.product_id for line in cart.lines if line.unknown]


def short_lines(cart: Cart) -> list[dict[str, Any]]:
    """The 409's details: each line that could not be held for want of stock."""
    return [
        {"product_id": line.product_id, "requested": line.quantity, "available": line.available}
        for line in cart.lines
        if line.state is LineState.REFUSED and not line.unknown
    ]


def total(cart: Cart) -> Decimal:
    """The order's total: the sum of its line totals (every line held, so priced)."""
    if cart.phase is not Phase.HELD:
        raise ValueError(f"cart {cart.reservation_id} is not held ({cart.phase})")
    return sum(
        (line.quantity * line.unit_price for line in cart.lines if line.unit_price is not None),
        Decimal("0.00"),
    )


def _line(cart: Cart, product_id: str) -> Line:
    for line in cart.lines:
        if line.product_id == product_id:
            return line
    raise InvalidValue("product_id", f"not a line of cart {cart.reservation_id}", product_id)


def _with(cart: Cart, changed: Line) -> Cart:
    lines = tuple(changed if line.product_id == changed.product_id else line for line in cart.lines)
    return replace(cart, lines=lines)


def to_dict(cart: Cart) -> dict[str, Any]:
    """The cart as the coordinator's table row stores it (JSON-ready)."""
    return {
        "reservation_id": cart.reservation_id,
        "order_id": cart.order_id,
        "customer_id": cart.customer_id,
        "phase": cart.phase.value,
        "lines": [
            {
                "product_id": line.product_id,
                "quantity": line.quantity,
                "state": line.state.value,
                "unit_price": None if line.unit_price is None else str(line.unit_price),
                "available": line.available,
                "unknown": line.unknown,
                "location_id": line.location_id,
                "allocations": dict(line.allocations),
            }
            for line in cart.lines
        ],
    }


def from_dict(row: Mapping[str, Any]) -> Cart:
    return Cart(
        reservation_id=row["reservation_id"],
        order_id=row["order_id"],
        customer_id=row["customer_id"],
        phase=Phase(row["phase"]),
        lines=tuple(
            Line(
                product_id=line["product_id"],
                quantity=line["quantity"],
                state=LineState(line["state"]),
                unit_price=None if line["unit_price"] is None else Decimal(line["unit_price"]),
                available=line["available"],
                unknown=line["unknown"],
                location_id=line.get("location_id"),
                allocations=dict(line.get("allocations") or {}),
            )
            for line in row["lines"]
        ),
    )
