"""Finished orders leave the tables once their grace period ended, partition by partition."""

from __future__ import annotations

import pytest

from agents.finished_orders import FinishedOrders


def test_orders_leave_once_their_grace_ended_oldest_first() -> None:
    index = FinishedOrders(grace_seconds=10)
    index.load([(0, 100.0, "a"), (0, 95.0, "b"), (1, 90.0, "c")])
    assert index.finished(0, "d", 104.0) == []  # b's grace ends at 105
    assert index.finished(0, "e", 110.0) == ["b", "a"]
    assert len(index) == 3  # c on partition 1, d and e


def test_each_partition_removes_only_its_own_orders() -> None:
    index = FinishedOrders(grace_seconds=10)
    index.load([(1, 0.0, "other")])
    assert index.finished(0, "x", 1000.0) == []
    assert index.finished(1, "y", 1000.0) == ["other"]


def test_the_index_must_be_loaded_from_the_table_first() -> None:
    index = FinishedOrders(grace_seconds=10)
    with pytest.raises(RuntimeError):
        index.finished(0, "x", 1.0)
    index.load([])
    assert index.loaded and index.finished(0, "x", 1.0) == []
    index.invalidate()
    assert not index.loaded
