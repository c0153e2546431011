"""A reservation's decision, byte for byte: the messages (topic, key, value), the reply,
the new rows and the effects of a set of ReserveStock decisions are pinned in
reservation_outputs_golden.json, so speeding the hot path up cannot change what it sends
or stores. Events, replies and rows are read by other services and by older workers:
a changed byte is a changed contract, whatever the unit tests of each piece say.

An intended change of output rewrites the file (its diff then shows what changed):
    python tests/unit/test_reservation_outputs_golden.py"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from agents import inventory_rules
from agents.domain import stock as stock_rules
from agents.outcome import Outcome
from topics.messages import Actor, ReserveStock, ReserveStockData
from topics.names import INVENTORY_COMMANDS, decoder
from topics.partitioning import partition_for

GOLDEN = Path(__file__).with_name("reservation_outputs_golden.json")
NOW = datetime(2026, 12, 4, 12, 0, 1, 250000, tzinfo=UTC)
TTL = timedelta(minutes=10)
ACTOR = Actor(id="key-7", role="storefront", verified=True)
decode = decoder(INVENTORY_COMMANDS)


def command(
    n: int,
    quantity: int = 2,
    *,
    product_id: str = "p-1",
    order_id: str | None = None,
    reservation_id: str | None = None,
    location_id: str | None = None,
    actor: Actor | None = ACTOR,
) -> ReserveStock:
    """A gateway's reservation, decoded from its JSON as the worker decodes it."""
    sent = ReserveStock(
        id=f"00000000-0000-4000-8000-{n:012d}",
        request_id=f"req-{n}",
        occurred_at=datetime(2026, 12, 4, 12, 0, tzinfo=UTC),
        key=product_id,
        actor=actor,
        reply_to="inv.gateway.replies",
        reply_partition=1,
        data=ReserveStockData(
            product_id=product_id,
            quantity=quantity,
            customer_id="cust-9",
            order_id=order_id,
            reservation_id=reservation_id,
            location_id=location_id,
        ),
    )
    decoded: ReserveStock = decode(sent.model_dump_json().encode())
    return decoded


def plain_row(initial: int = 10, price: str = "19.90") -> dict[str, Any]:
    return stock_rules.to_dict(
        stock_rules.create_product("p-1", "Product 1", Decimal(price), initial)
    )


def located_row(allocation: str = "priority") -> dict[str, Any]:
    """1 unit at main, 3 at east (priority 4), 2 at west (priority 2)."""
    stock = stock_rules.create_product("p-1", "Product 1", Decimal("2.50"), 1)
    stock = stock_rules.adjust(stock, 3, "east", 4)
    stock = stock_rules.adjust(stock, 2, "west", 2)
    stock = stock_rules.set_allocation(stock, allocation)
    return inventory_rules.stored(stock)


def chosen_id(partition: int, partitions: int = 4, prefix: str = "ord") -> str:
    return next(
        f"{prefix}-{i}"
        for i in range(1000)
        if partition_for(f"{prefix}-{i}", partitions) == partition
    )


def here(partition: int = 1, partitions: int = 4) -> inventory_rules.Placement:
    return inventory_rules.Placement(partition, partitions)


def written(out: Outcome) -> dict[str, Any]:
    """Everything a decision hands the worker, in the form that must not change: each
    record's bytes, the reply's JSON and Python form, the row as stored (and the Stock
    it carries for the next command of its batch), each effect."""
    state = out.state
    return {
        "messages": [[m.topic, m.key, m.value.decode()] for m in out.messages],
        "reply": None if out.reply is None else out.reply.model_dump_json(),
        "reply_repr": repr(out.reply),
        "state": None if state is None else json.dumps(state),
        "state_type": type(state).__name__,
        "state_stock": repr(getattr(state, "stock", None)),
        "effects": repr(out.effects),
    }


def decisions() -> dict[str, list[dict[str, Any]]]:
    """Each case: the outcomes of one or more decisions, a row carried from one to the next."""
    cases: dict[str, list[dict[str, Any]]] = {}

    def one(name: str, row: Any, cmd: ReserveStock, **kw: Any) -> None:
        cases[name] = [written(inventory_rules.decide(row, cmd, NOW, TTL, **kw))]

    one("derived_ids_order_here", plain_row(), command(1), placement=here())
    one("derived_ids_order_here_of_12", plain_row(), command(2), placement=here(7, 12))
    one("derived_ids_no_placement", plain_row(), command(1))
    one("derived_ids_no_actor_here", plain_row(), command(3, actor=None), placement=here(0))
    one(
        "chosen_ids_order_here",
        plain_row(),
        command(4, order_id=chosen_id(2), reservation_id="res-4"),
        placement=here(2),
    )
    one(
        "chosen_ids_order_elsewhere",
        plain_row(),
        command(5, order_id=chosen_id(3), reservation_id="res-5"),
        placement=here(2),
    )
    one(
        "chosen_order_id_only_here",
        plain_row(),
        command(6, order_id=chosen_id(0)),
        placement=here(0),
    )
    one(
        "chosen_reservation_id_only_here",
        plain_row(),
        command(7, reservation_id="res-7"),
        placement=here(3),
    )
    same = command(8, order_id=chosen_id(1), reservation_id="res-8")
    one(
        "chosen_order_exists_same_reservation",
        plain_row(),
        same,
        placement=here(1),
        chosen_order={"reservation_id": "res-8"},
    )
    one(
        "chosen_order_taken_by_another_reservation",
        plain_row(),
        same,
        placement=here(1),
        chosen_order={"reservation_id": "res-other"},
    )
    one("split_over_locations_here", located_row(), command(9, 4), placement=here())
    one("split_over_locations_no_placement", located_row(), command(9, 4))
    one("most_stock_here", located_row("most_stock"), command(10, 3), placement=here(0))
    one("pinned_location_here", located_row(), command(11, 2, location_id="east"), placement=here())
    one(
        "pinned_location_short", located_row(), command(12, 3, location_id="west"), placement=here()
    )
    one("insufficient_stock", plain_row(1), command(13, 2), placement=here())
    one("unknown_product", None, command(14), placement=here())
    one("price_without_cents", plain_row(price="1000"), command(15, 3), placement=here(2))
    dup = command(16, reservation_id="res-16")
    one("active_reservation_again", plain_row(), dup, placement=here(), active_row={"main": 2})

    # A batch on one product, each command on the row the one before stored (as the worker
    # hands it on: the StoredRow itself), at times with and without a fraction, in UTC and
    # not, some with placement and some without.
    times = [
        NOW,
        NOW + timedelta(microseconds=137),
        datetime(2026, 12, 4, 12, 0, 2, tzinfo=UTC),
        datetime(2026, 12, 4, 13, 0, 3, 5, tzinfo=timezone(timedelta(hours=1))),
    ]
    row: Any = plain_row(50)
    batch = []
    for i in range(12):
        placement = None if i % 4 == 3 else here(i % 4)
        out = inventory_rules.decide(
            row, command(100 + i, 1 + i % 3), times[i % len(times)], TTL, placement=placement
        )
        batch.append(written(out))
        row = out.state
    cases["batch_on_one_product"] = batch
    # The same from the rows as they come back from the changelog: plain JSON.
    row = json.loads(json.dumps(plain_row(50)))
    batch = []
    for i in range(4):
        out = inventory_rules.decide(row, command(200 + i), NOW, TTL, placement=here(i % 4))
        batch.append(written(out))
        row = json.loads(json.dumps(out.state))
    cases["batch_from_stored_json"] = batch
    return cases


def test_reservation_outputs_are_unchanged() -> None:
    expected = json.loads(GOLDEN.read_text())
    actual = decisions()
    assert sorted(actual) == sorted(expected)
    for name, outcomes in expected.items():
        assert len(actual[name]) == len(outcomes), name
        for step, (got, want) in enumerate(zip(actual[name], outcomes, strict=True)):
            for part in want:
                assert got[part] == want[part], f"{name}[{step}].{part}"


def test_the_cases_cover_both_ways_of_creating_the_order() -> None:
    cases = decisions()
    topics = [m[0] for m in cases["derived_ids_order_here"][0]["messages"]]
    assert topics == ["inventory.events", "audit", "orders.events", "audit"]
    topics = [m[0] for m in cases["chosen_ids_order_elsewhere"][0]["messages"]]
    assert topics == ["inventory.events", "audit", "orders.commands"]


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(decisions(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}")
