"""What a failed projector write means (wait for the database, or stop at the event), and
finding the event: the rules of inventory.apply_failures, with a plain function as the
write (one call = one all-or-nothing transaction)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
import pytest
from sqlalchemy import exc as sa_exc

from inventory.apply_failures import (
    Failure,
    Outcome,
    apply_in_order,
    backoff,
    classify,
    describe,
    sqlstate,
)


def wrapped(
    orig: BaseException, kind: type[sa_exc.DBAPIError] = sa_exc.DBAPIError
) -> BaseException:
    """As SQLAlchemy raises a driver error: the statement's error wrapping the driver's."""
    return kind("INSERT INTO products ...", {"reserved": -1}, orig)


CHECK = asyncpg.CheckViolationError(
    'new row for relation "products" violates check constraint "products_reserved_check"'
)


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connection refused"),
        wrapped(asyncpg.CannotConnectNowError("the database system is starting up")),
        wrapped(asyncpg.AdminShutdownError("terminating connection due to administrator")),
        wrapped(asyncpg.DeadlockDetectedError("deadlock detected"), sa_exc.OperationalError),
        wrapped(asyncpg.SerializationError("could not serialize access")),
        wrapped(asyncpg.QueryCanceledError("canceling statement due to statement timeout")),
        wrapped(asyncpg.DiskFullError("could not extend file")),
        wrapped(asyncpg.LockNotAvailableError("could not obtain lock")),
        sa_exc.TimeoutError("QueuePool limit of size 20 overflow 20 reached"),
    ],
    ids=lambda e: type(e).__name__ + ":" + (sqlstate(e) or "-"),
)
def test_the_database_away_or_a_conflict_that_passes_is_an_outage(error: BaseException) -> None:
    assert classify(error) is Failure.OUTAGE


@pytest.mark.parametrize(
    "error",
    [
        wrapped(CHECK, sa_exc.IntegrityError),
        wrapped(asyncpg.NotNullViolationError("null value in column"), sa_exc.IntegrityError),
        wrapped(asyncpg.NumericValueOutOfRangeError("integer out of range")),
        wrapped(asyncpg.UntranslatableCharacterError("unsupported Unicode escape sequence")),
        # asyncpg refusing a parameter before it is sent (an int beyond int32)
        wrapped(asyncpg.DataError("invalid input for query argument $5: 3000000000")),
        wrapped(asyncpg.UndefinedTableError('relation "products" does not exist')),
        KeyError("product"),  # a bug of ours: it fails the same way on every retry
    ],
    ids=lambda e: type(e).__name__ + ":" + (sqlstate(e) or "-"),
)
def test_a_refusal_of_the_rows_or_a_bug_is_refused(error: BaseException) -> None:
    assert classify(error) is Failure.REFUSED


def test_the_sqlstate_is_found_under_the_wrappers() -> None:
    try:
        try:
            raise CHECK
        except asyncpg.PostgresError as inner:
            raise RuntimeError("while writing") from inner
    except RuntimeError as outer:
        assert sqlstate(outer) == "23514"
        assert classify(outer) is Failure.REFUSED
    assert sqlstate(ValueError("x")) is None


def test_describe_names_the_driver_error_not_the_statement() -> None:
    text = describe(wrapped(CHECK, sa_exc.IntegrityError))
    assert text == (
        'CheckViolationError: new row for relation "products" violates check constraint '
        '"products_reserved_check" (SQLSTATE 23514)'
    )
    assert "INSERT" not in text
    assert describe(KeyError("product")) == "KeyError: 'product'"
    assert describe(ValueError("x" * 5000), limit=100).endswith("…")
    assert len(describe(ValueError("x" * 5000), limit=100)) == 100
    assert "\n" not in describe(ValueError("two\nlines"))


def test_backoff_doubles_from_the_first_wait_up_to_the_ceiling() -> None:
    assert [backoff(n, 5.0, 30.0) for n in range(1, 7)] == [5, 10, 20, 30, 30, 30]
    assert backoff(1, 5.0, 2.0) == 2.0


class Table:
    """A write that refuses any call holding a `bad` item, all or nothing per call, and
    fails with an outage on call number `outage_on` (1-based)."""

    def __init__(self, bad: set[int], outage_on: int | None = None) -> None:
        self.bad, self.outage_on = bad, outage_on
        self.calls = 0
        self.written: list[int] = []

    async def apply(self, items: Sequence[int]) -> None:
        self.calls += 1
        if self.calls == self.outage_on:
            raise wrapped(asyncpg.CannotConnectNowError("starting up"))
        if self.bad & set(items):
            raise wrapped(CHECK, sa_exc.IntegrityError)
        self.written.extend(items)


async def test_a_good_batch_is_one_write() -> None:
    table = Table(bad=set())
    assert await apply_in_order(table.apply, list(range(500))) == Outcome(500)
    assert table.calls == 1


@pytest.mark.parametrize("bad", [0, 1, 250, 333, 498, 499])
async def test_the_refused_event_is_found_and_everything_before_it_written_in_order(
    bad: int,
) -> None:
    table = Table(bad={bad, 400 if bad < 400 else 0})  # the first bad one stops it
    first_bad = min(table.bad)
    outcome = await apply_in_order(table.apply, list(range(500)))
    assert outcome.applied == first_bad
    assert outcome.error is not None and classify(outcome.error) is Failure.REFUSED
    assert table.written == list(range(first_bad))  # nothing after it, no item twice
    assert table.calls <= 2 * 9 + 1  # halves, not one write per event


async def test_an_outage_while_halving_ends_the_write_where_it_is() -> None:
    # calls: 0-499 refused, 0-249 written, 250-499 refused, 250-374 meets the outage
    table = Table(bad={300}, outage_on=4)
    outcome = await apply_in_order(table.apply, list(range(500)))
    assert outcome.applied == 250
    assert outcome.error is not None and classify(outcome.error) is Failure.OUTAGE
    assert table.written == list(range(250))


async def test_an_outage_on_the_first_write_is_not_halved() -> None:
    table = Table(bad=set(), outage_on=1)
    outcome = await apply_in_order(table.apply, [1, 2, 3])
    assert outcome.applied == 0 and outcome.error is not None
    assert table.calls == 1


async def test_nothing_to_write_is_no_write() -> None:
    table = Table(bad=set())
    assert await apply_in_order(table.apply, []) == Outcome(0)
    assert table.calls == 0
