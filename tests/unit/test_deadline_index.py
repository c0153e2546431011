"""The expiry sweep's index: due orders once, stale entries dropped, rebuilt on demand."""

from __future__ import annotations

from agents.deadline_index import DeadlineIndex

RECHECK = 5.0


def test_a_fresh_index_is_built_from_the_table() -> None:
    table = {"o1": 100.0, "o2": 200.0, "o3": 50.0}
    index = DeadlineIndex()
    assert index.due(150.0, table, RECHECK) == ["o3", "o1"]
    assert index.due(150.0, table, RECHECK) == []  # asked once, not again at once


def test_only_due_orders_are_returned_and_the_rest_wait() -> None:
    table = {"o1": 100.0}
    index = DeadlineIndex()
    assert index.due(99.9, table, RECHECK) == []
    table["o2"] = 101.0
    index.add("o2", 101.0)
    assert index.due(101.0, table, RECHECK) == ["o1", "o2"]


def test_an_order_still_pending_is_asked_again_after_the_recheck_time() -> None:
    table = {"o1": 100.0}
    index = DeadlineIndex()
    assert index.due(100.0, table, RECHECK) == ["o1"]
    assert index.due(104.9, table, RECHECK) == []
    assert index.due(105.0, table, RECHECK) == ["o1"]


def test_an_order_no_longer_pending_is_dropped() -> None:
    table = {"o1": 100.0, "o2": 100.0}
    index = DeadlineIndex()
    assert index.due(10.0, table, RECHECK) == []
    del table["o1"]  # confirmed: the agent cleared its deadline
    assert index.due(100.0, table, RECHECK) == ["o2"]
    del table["o2"]  # expired since
    assert index.due(200.0, table, RECHECK) == []
    assert len(index) == 0


def test_an_entry_whose_deadline_changed_is_not_used() -> None:
    table = {"o1": 100.0}
    index = DeadlineIndex()
    index.due(0.0, table, RECHECK)
    table["o1"] = 300.0  # a new deadline (e.g. recreated after a replay)
    index.add("o1", 300.0)
    assert index.due(200.0, table, RECHECK) == []
    assert index.due(300.0, table, RECHECK) == ["o1"]


def test_duplicate_entries_give_one_answer() -> None:
    table = {"o1": 100.0}
    index = DeadlineIndex()
    index.due(0.0, table, RECHECK)  # built: o1 is in the heap
    index.add("o1", 100.0)  # and the agent added it again (restore after a crash)
    assert index.due(100.0, table, RECHECK) == ["o1"]
    assert len(index) == 1  # one recheck entry, not two


def test_invalidate_rebuilds_from_the_table() -> None:
    table: dict[str, float | None] = {}
    index = DeadlineIndex()
    assert index.due(0.0, table, RECHECK) == []
    table.update({"o1": 10.0, "o2": None})  # recovery filled it, bypassing add()
    assert index.due(20.0, table, RECHECK) == []
    index.invalidate()
    assert index.due(20.0, table, RECHECK) == ["o1"]
