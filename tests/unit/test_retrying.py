"""retry_forever: the backoff loop of the gateway's background readers."""

from __future__ import annotations

import logging

import pytest

from inventory.retrying import retry_forever

log = logging.getLogger("test.retrying")


class Flaky:
    """Raises each of `errors` in turn, then returns "done"."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


async def test_errors_it_retries_on_are_logged_and_tried_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    flaky = Flaky(ConnectionError("refused"), ConnectionError("refused"))

    with caplog.at_level(logging.WARNING, logger="test.retrying"):
        result = await retry_forever(log, "reading failed", OSError, first=0.001, most=0.002)(flaky)

    assert result == "done"
    assert flaky.calls == 3
    assert [r.getMessage().split(";")[0] for r in caplog.records] == [
        "reading failed (ConnectionError: refused)"
    ] * 2


async def test_another_error_ends_it_at_once() -> None:
    flaky = Flaky(ValueError("a bug"))

    with pytest.raises(ValueError, match="a bug"):
        await retry_forever(log, "reading failed", OSError, first=0.001)(flaky)
    assert flaky.calls == 1


async def test_each_call_starts_its_backoff_again() -> None:
    retrying = retry_forever(log, "reading failed", OSError, first=0.001, most=0.002)

    for _ in range(2):
        flaky = Flaky(OSError("down"))
        assert await retrying(flaky) == "done"
        assert retrying.statistics["attempt_number"] == 2
