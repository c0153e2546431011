"""A fence that reached aiokafka's background sender first is still reported as a fence
(agents.transactions.underlying_error), so the worker exits FENCED, not as if a
delivery had failed. The producer is never started: only its transaction state is used."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import IllegalOperation, ProducerFenced

from agents import exit_codes
from agents.app import _rejoined_after_a_gap
from agents.transactions import underlying_error


async def test_a_fence_recorded_by_the_sender_is_the_error_reported() -> None:
    producer = AIOKafkaProducer(transactional_id="t-1")
    manager = producer._txn_manager
    manager.set_pid_and_epoch(1, 0)
    manager.begin_transaction()
    # What aiokafka's sender does when its task dies of a fence (sender._fail_all).
    manager.fatal_error(ProducerFenced())
    echo = IllegalOperation("Can't send messages while not in transaction")

    assert isinstance(underlying_error(producer, echo), ProducerFenced)


async def test_any_other_error_is_reported_as_it_is() -> None:
    producer = AIOKafkaProducer(transactional_id="t-2")
    producer._txn_manager.set_pid_and_epoch(1, 0)
    producer._txn_manager.begin_transaction()
    error = TimeoutError("broker away")

    assert underlying_error(producer, error) is error
    assert underlying_error(AIOKafkaProducer(), error) is error  # not transactional


def test_a_worker_that_kept_partitions_across_a_missed_generation_exits_fenced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exits: list[int] = []

    def record_exit(reason: str, code: int) -> None:
        exits.append(code)

    monkeypatch.setattr(exit_codes, "exit_without_commit", record_exit)
    generations: list[int] = []
    _rejoined_after_a_gap(generations, 2, set())  # the first assignment
    _rejoined_after_a_gap(generations, 3, {0, 1})  # a member all along
    _rejoined_after_a_gap(generations, 5, set())  # rejoined, every partition new: recovered
    assert exits == []
    _rejoined_after_a_gap(generations, 7, {0})  # paused through generation 6, kept 0
    assert exits == [exit_codes.FENCED]
