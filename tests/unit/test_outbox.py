"""The worker's delivery-failure rule: a record the producer gives up on ends the process."""

from __future__ import annotations

import asyncio

import pytest

from agents import outbox


@pytest.fixture
def exits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    codes: list[int] = []
    monkeypatch.setattr(outbox.os, "_exit", codes.append)
    return codes


def _settled(result: object = None, error: BaseException | None = None) -> asyncio.Future[object]:
    loop = asyncio.new_event_loop()
    try:
        future: asyncio.Future[object] = loop.create_future()
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
        return future
    finally:
        loop.close()


def test_a_delivered_record_changes_nothing(exits: list[int]) -> None:
    outbox._exit_on_failure(_settled(result="metadata"))
    assert exits == []


def test_a_failed_delivery_exits_without_committing(exits: list[int]) -> None:
    outbox._exit_on_failure(_settled(error=RuntimeError("broker gone")))
    assert exits == [outbox.DELIVERY_FAILED_EXIT_CODE]


def test_a_cancelled_delivery_counts_as_failed(exits: list[int]) -> None:
    loop = asyncio.new_event_loop()
    try:
        future: asyncio.Future[object] = loop.create_future()
        future.cancel()
    finally:
        loop.close()
    outbox._exit_on_failure(future)
    assert exits == [outbox.DELIVERY_FAILED_EXIT_CODE]
