"""The fault campaign's checks (tests.faults.ledger): each names the promise a run broke,
and a run that kept them all yields none."""

from __future__ import annotations

from typing import Any

from tests.faults.ledger import Ledger, Snapshot, reachable, violations


def ledger() -> Ledger:
    book = Ledger()
    book.initial["p"] = 10
    book.adjusted["p"] += 2
    book.adjustments["p"] += 1
    book.reserved("p", "o1", 3)  # then confirmed and shipped
    book.status_changed("o1", "confirmed")
    book.status_changed("o1", "processing")
    book.reserved("p", "o2", 2)  # still pending
    return book


def snapshot(**product: int) -> Snapshot:
    row = {"available": 7, "reserved": 2, "sold": 3} | product
    return Snapshot(
        "tables",
        {"p": row},
        {
            "o1": {"status": "shipped", "lines": {"p": 3}},
            "o2": {"status": "pending", "lines": {"p": 2}},
        },
    )


def audit() -> list[dict[str, Any]]:
    def created(order_id: str) -> dict[str, Any]:
        return {
            "id": f"e-{order_id}",
            "type": "reservation.created",
            "key": "p",
            "data": {"reservation": {"order_id": order_id}},
        }

    def moved(n: int, before: str, after: str) -> dict[str, Any]:
        return {
            "id": f"m{n}",
            "type": "order.status_changed",
            "key": "o1",
            "data": {
                "order": {"id": "o1", "version": n},
                "from_status": before,
                "to_status": after,
            },
        }

    return [
        created("o1"),
        created("o2"),
        {"id": "a1", "type": "stock.adjusted", "key": "p", "data": {}},
        moved(2, "pending", "confirmed"),
        moved(3, "confirmed", "processing"),
        moved(4, "processing", "shipped"),
    ]


def test_a_run_that_kept_every_promise_has_no_violation() -> None:
    assert violations(ledger(), [snapshot()], audit(), {}) == []


def test_stock_that_does_not_add_up_or_goes_negative_is_named() -> None:
    found = violations(ledger(), [snapshot(available=9, reserved=-1, sold=5)], audit(), {})
    assert any("received - removed = 12" in line for line in found)
    assert any("negative reserved" in line for line in found)
    assert any("pending orders hold 2" in line for line in found)
    assert any("confirmed-or-later orders hold 3" in line for line in found)


def test_an_acknowledged_order_lost_or_moved_back_is_named() -> None:
    lost = Snapshot("read models", snapshot().products, {})
    assert "read models: order o1: acknowledged, missing" in violations(
        ledger(), [lost], audit(), {}
    )
    back = snapshot()
    back.orders["o1"]["status"] = "confirmed"  # type: ignore[index]
    assert "tables: order o1: acknowledged processing, now confirmed" in violations(
        ledger(), [back], audit(), {}
    )


def test_a_confirmed_order_cancelled_without_a_cancel_is_named() -> None:
    book = ledger()
    expired = snapshot(sold=0, available=10)
    expired.orders["o1"]["status"] = "cancelled"  # type: ignore[index]
    book.orders["o1"].acknowledged = ["pending", "confirmed"]
    found = violations(book, [expired], audit()[:4], {})
    assert "tables: order o1: acknowledged confirmed, cancelled without a cancel" in found


def test_audit_doubles_and_backward_moves_are_named() -> None:
    events = audit()
    events.append(dict(events[0]))  # the same event committed twice
    events.append(
        {
            "id": "m5",
            "type": "order.status_changed",
            "key": "o1",
            "data": {
                "order": {"id": "o1", "version": 5},
                "from_status": "shipped",
                "to_status": "processing",
            },
        }
    )
    found = violations(ledger(), [snapshot()], events, {"m4": 2})
    assert "audit: event e-o1 committed 2 times" in found
    assert "audit: event m4 has 2 different contents" in found
    assert "audit: order o1 moved shipped -> processing (v5)" in found


def test_unanswered_requests_and_server_errors_are_violations() -> None:
    book = ledger()
    book.server_errors.append("500 POST /api/reservations/")
    book.unanswered.append("POST /api/reservations/ {}")
    found = violations(book, [snapshot()], audit(), {})
    assert found[:2] == [
        "HTTP 500 POST /api/reservations/",
        "never answered: POST /api/reservations/ {}",
    ]


def test_reachable_follows_the_order_state_machine() -> None:
    assert reachable("pending", "delivered") and reachable("confirmed", "confirmed")
    assert not reachable("shipped", "cancelled") and not reachable("delivered", "pending")


def test_a_cart_counts_on_each_of_its_products_and_a_lost_line_is_named() -> None:
    book = ledger()
    book.initial["q"] = 5
    book.cart_reserved("c1", {"p": 1, "q": 2})
    view = snapshot(available=6, reserved=3)
    products = {**view.products, "q": {"available": 3, "reserved": 2, "sold": 0}}
    orders = {**view.orders, "c1": {"status": "pending", "lines": {"p": 1, "q": 2}}}
    cart_audit = [
        *audit(),
        {
            "id": "e-c1",
            "type": "reservation.created",
            "key": "p",
            "data": {"reservation": {"order_id": "c1"}},
        },
    ]
    assert violations(book, [Snapshot("tables", products, orders)], cart_audit, {}) == []
    # A line held with its order gone from the other product: the counts disagree.
    broken = {**orders, "c1": {"status": "pending", "lines": {"p": 1}}}
    found = violations(book, [Snapshot("tables", products, broken)], cart_audit, {})
    assert any("pending orders hold 0" in line for line in found), found
    assert any("acknowledged lines" in line for line in found), found
