"""Consumer lag arithmetic (inventory.lag): per partition, from end and committed offsets."""

from __future__ import annotations

from inventory.lag import PartitionLag, over_threshold, partition_lags, total_lag


def lag(end: int, committed: int | None) -> int:
    return PartitionLag("g", "t", 0, end, committed).lag


def test_lag_is_the_records_between_the_committed_offset_and_the_end() -> None:
    assert lag(end=120, committed=100) == 20


def test_a_caught_up_group_has_no_lag() -> None:
    assert lag(end=100, committed=100) == 0


def test_a_partition_never_committed_counts_from_its_start() -> None:
    assert lag(end=42, committed=None) == 42


def test_kafkas_minus_one_for_no_offset_counts_from_the_start_too() -> None:
    assert lag(end=42, committed=-1) == 42


def test_an_offset_read_after_the_end_is_not_negative_lag() -> None:
    assert lag(end=100, committed=103) == 0


def test_partition_lags_cover_every_partition_of_the_ends_in_order() -> None:
    lags = partition_lags(
        "workers",
        {("b", 1): 10, ("a", 0): 5, ("b", 0): 7},
        {("b", 1): 4, ("a", 0): 5},
    )
    assert [(x.topic, x.partition, x.lag) for x in lags] == [("a", 0, 0), ("b", 0, 7), ("b", 1, 6)]
    assert {x.group for x in lags} == {"workers"}
    assert total_lag(lags) == 13


def test_committed_offsets_of_other_topics_are_ignored() -> None:
    assert partition_lags("g", {("a", 0): 5}, {("elsewhere", 0): 1})[0].lag == 5


def test_lag_past_the_threshold_is_a_problem_and_at_it_is_not() -> None:
    assert over_threshold(101, 100)
    assert not over_threshold(100, 100)


def test_unknown_lag_is_shown_as_a_problem() -> None:
    assert over_threshold(None, 100)
