"""The offset guard: each command record applied once, in order, a dropped one fetched
again; with a fake of the one Kafka read it makes (the first record at an offset)."""

from __future__ import annotations

from aiokafka import TopicPartition

from agents.offset_guard import RECHECK_SECONDS, OffsetGuard

TOPIC = "inventory.commands"
TP = TopicPartition(TOPIC, 0)


class Log:
    """A partition whose committed records sit at `offsets` (the rest: markers)."""

    def __init__(self, offsets: list[int]) -> None:
        self.offsets = offsets
        self.seeks: list[tuple[TopicPartition, int]] = []
        self.now = 0.0

    async def first_record_at(self, tp: TopicPartition, offset: int) -> int | None:
        return next((o for o in self.offsets if o >= offset), None)

    async def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))


def guard_over(log: Log, expected: int) -> OffsetGuard:
    guard = OffsetGuard(log.first_record_at, clock=lambda: log.now)
    guard.reset({TP: expected})
    return guard


async def test_records_in_order_are_admitted_and_repeats_dropped() -> None:
    log = Log([5, 6, 7])
    guard = guard_over(log, 5)
    assert [await guard.admit(TOPIC, 0, o, log.seek) for o in (5, 6, 6, 5, 7)] == [
        True,
        True,
        False,
        False,
        True,
    ]
    assert log.seeks == []


async def test_a_gap_of_commit_markers_is_crossed_without_a_seek() -> None:
    log = Log([5, 8])  # 6 and 7: markers of the worker's own transactions
    guard = guard_over(log, 5)
    assert await guard.admit(TOPIC, 0, 5, log.seek)
    assert await guard.admit(TOPIC, 0, 8, log.seek)
    assert log.seeks == []


async def test_records_dropped_upstream_are_fetched_again_before_any_later_one() -> None:
    log = Log([5, 6, 7, 8])
    guard = guard_over(log, 5)
    assert await guard.admit(TOPIC, 0, 5, log.seek)
    # 6 and 7 never came: 8 is refused and the consumer sent back to 6
    assert not await guard.admit(TOPIC, 0, 8, log.seek)
    assert log.seeks == [(TP, 6)]
    # stale records still on their way are dropped without another look
    assert not await guard.admit(TOPIC, 0, 9, log.seek)
    assert log.seeks == [(TP, 6)]
    # then the records sent back for arrive, in order
    assert [await guard.admit(TOPIC, 0, o, log.seek) for o in (6, 7, 8)] == [True, True, True]


async def test_a_seek_that_brought_nothing_is_repeated_after_a_while() -> None:
    log = Log([5, 6, 7])
    guard = guard_over(log, 5)
    assert not await guard.admit(TOPIC, 0, 7, log.seek)
    log.now += RECHECK_SECONDS
    assert not await guard.admit(TOPIC, 0, 7, log.seek)
    assert log.seeks == [(TP, 5), (TP, 5)]


async def test_a_partition_without_an_expectation_takes_its_first_record() -> None:
    log = Log([3])
    guard = OffsetGuard(log.first_record_at)
    assert await guard.admit("other", 1, 3, log.seek)


async def test_a_dropped_last_record_is_fetched_again_once_the_partition_stalls() -> None:
    log = Log([5, 6])
    guard = guard_over(log, 5)
    assert await guard.admit(TOPIC, 0, 5, log.seek)

    async def fetched_to(tp: TopicPartition) -> int:
        return 7  # the consumer fetched 6, which never reached the agent

    await guard.check_stalled(fetched_to, log.seek)  # first look: no verdict yet
    assert log.seeks == []
    await guard.check_stalled(fetched_to, log.seek)  # no progress since: go back for 6
    assert log.seeks == [(TP, 6)]
    assert await guard.admit(TOPIC, 0, 6, log.seek)


async def test_no_stall_is_counted_across_a_stopped_flow() -> None:
    """A look while faust's flow was stopped (a recovery) is no look: the stall takes
    two looks after the flow resumes, as at the start."""
    log = Log([5, 6])
    guard = guard_over(log, 5)
    assert await guard.admit(TOPIC, 0, 5, log.seek)

    async def fetched_to(tp: TopicPartition) -> int:
        return 7

    await guard.check_stalled(fetched_to, log.seek)  # a look before the flow stopped
    guard.flow_stopped()  # the worker skips its looks while faust delivers nothing
    await guard.check_stalled(fetched_to, log.seek)  # first look after: no verdict yet
    assert log.seeks == []
    await guard.check_stalled(fetched_to, log.seek)  # still nothing delivered: go back
    assert log.seeks == [(TP, 6)]


async def test_an_idle_or_progressing_partition_is_left_alone() -> None:
    log = Log([5, 6, 7])
    guard = guard_over(log, 5)

    async def idle(tp: TopicPartition) -> int:
        return 5  # nothing fetched beyond what is expected

    await guard.check_stalled(idle, log.seek)
    await guard.check_stalled(idle, log.seek)
    assert await guard.admit(TOPIC, 0, 5, log.seek)

    async def busy(tp: TopicPartition) -> int:
        return 8

    await guard.check_stalled(busy, log.seek)
    assert await guard.admit(TOPIC, 0, 6, log.seek)  # progress between the looks
    await guard.check_stalled(busy, log.seek)
    assert log.seeks == []


async def test_a_seek_back_past_commit_markers_takes_the_first_record_at_once() -> None:
    # Found by the fault campaign: a new owner's committed offset was a commit marker
    # (51); the records after it came in late, the guard sent the consumer back, and
    # the first record the seek brought (52) was dropped as stale, every time.
    log = Log([52, 53, 54])
    guard = guard_over(log, 51)
    assert not await guard.admit(TOPIC, 0, 54, log.seek)  # 52 and 53 still missing
    assert [await guard.admit(TOPIC, 0, o, log.seek) for o in (52, 53, 54)] == [True] * 3


async def test_a_stalled_partition_whose_expected_offset_is_a_marker_recovers() -> None:
    log = Log([52])
    guard = guard_over(log, 51)

    async def fetched_to(tp: TopicPartition) -> int:
        return 53

    await guard.check_stalled(fetched_to, log.seek)
    await guard.check_stalled(fetched_to, log.seek)
    assert log.seeks == [(TP, 52)]
    assert await guard.admit(TOPIC, 0, 52, log.seek)  # within RECHECK_SECONDS of the seek


async def test_a_consumer_that_stopped_fetching_after_a_seek_is_sent_back_again() -> None:
    # Seen once under heavy load: after the guard's seek back to 3 nothing came, and the
    # fetch position stayed at 3, which looked idle. The worker's position is the end
    # offset the consumer last saw when that is further (agents.worker): 78 here.
    log = Log(list(range(3, 78)))
    guard = guard_over(log, 3)
    assert not await guard.admit(TOPIC, 0, 77, log.seek)
    assert log.seeks == [(TP, 3)]

    async def seen_end(tp: TopicPartition) -> int:
        return 78

    log.now += RECHECK_SECONDS
    await guard.check_stalled(seen_end, log.seek)
    await guard.check_stalled(seen_end, log.seek)
    assert log.seeks == [(TP, 3), (TP, 3)]
    assert await guard.admit(TOPIC, 0, 3, log.seek)
