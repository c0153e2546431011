"""Which errors mean "the database is away, retry" (503) and which are bugs (500)."""

from __future__ import annotations

import asyncpg
from sqlalchemy import exc as sa_exc

from storage.engine import database_unavailable


def wrapped(orig: BaseException) -> sa_exc.DBAPIError:
    return sa_exc.DBAPIError("SELECT 1", {}, orig)


def test_refused_connections_restarts_and_pool_timeouts_are_an_outage() -> None:
    assert database_unavailable(ConnectionRefusedError(111, "refused"))
    assert database_unavailable(wrapped(asyncpg.CannotConnectNowError("starting up")))
    assert database_unavailable(sa_exc.TimeoutError("QueuePool limit reached"))
    invalidated = wrapped(RuntimeError("lost"))
    invalidated.connection_invalidated = True
    assert database_unavailable(invalidated)


def test_a_cause_chain_is_followed() -> None:
    try:
        try:
            raise OSError("network unreachable")
        except OSError as inner:
            raise RuntimeError("while claiming the key") from inner
    except RuntimeError as outer:
        assert database_unavailable(outer)


def test_a_broken_statement_or_check_is_not_an_outage() -> None:
    assert not database_unavailable(wrapped(asyncpg.CheckViolationError("reserved >= 0")))
    assert not database_unavailable(ValueError("bad"))
