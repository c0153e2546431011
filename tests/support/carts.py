"""A cart command as the gateway builds it: the order id derived from the command id."""

from __future__ import annotations

from tests.support.ids import unique
from topics.messages import CartLine, ReserveCart, ReserveCartData, derived_id


def cart_command(lines: list[tuple[str, int]], customer_id: str = "cust") -> ReserveCart:
    command_id = unique("cart")
    order_id = derived_id(command_id, "order")
    return ReserveCart(
        id=command_id,
        key=order_id,
        data=ReserveCartData(
            order_id=order_id,
            customer_id=customer_id,
            lines=[CartLine(product_id=p, quantity=q) for p, q in lines],
        ),
    )
