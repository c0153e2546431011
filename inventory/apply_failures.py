"""What a failed projector write means, and which event made it fail.

Pure rules: no I/O of their own (the write is passed in), so unit tests hold them.

A write of a batch fails for one of two reasons, and they call for opposite answers:
- the database cannot take writes now (down, restarting, out of connections, a
  deadlock or serialization conflict, the statement cancelled): nothing is wrong with
  the events, and the same batch succeeds later without anybody changing anything.
  Wait and retry it.
- the database (or our code) refuses the rows of an event: a check or constraint, a
  value it cannot store, a statement that does not fit the schema, a bug. The same
  event fails again until somebody changes the data, the schema or the code. The
  event is well-formed (it decoded), so skipping or dead-lettering it would leave the
  read models silently wrong: the projector stops at it and says so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

from storage.engine import database_unavailable

T = TypeVar("T")


class Failure(Enum):
    OUTAGE = "outage"  # the database cannot write now: wait, retry the same events
    REFUSED = "refused"  # these rows fail as they are: stop at the event, surface it


# SQLSTATE classes that pass by themselves: connection exceptions (08), a lost race
# (40: serialization failure, deadlock), exhausted resources (53: disk full, out of
# memory, too many connections), operator intervention (57: cancelled, shutting down,
# starting up) and errors outside PostgreSQL (58: I/O).
_TRANSIENT_CLASSES = frozenset({"08", "40", "53", "57", "58"})
_TRANSIENT_STATES = frozenset({"55P03"})  # lock_not_available
_MAX_CHAIN = 8  # a chain of wrappers is short; a cycle must not loop forever


def classify(error: BaseException) -> Failure:
    """OUTAGE when `error` (or what it wraps) says the database cannot write now;
    REFUSED for anything else: integrity and data errors (SQLSTATE 22, 23), statements
    that do not fit the schema (42), internal errors, and exceptions of our own code."""
    if database_unavailable(error):
        return Failure.OUTAGE
    state = sqlstate(error)
    if state is not None and (state[:2] in _TRANSIENT_CLASSES or state in _TRANSIENT_STATES):
        return Failure.OUTAGE
    return Failure.REFUSED


def _chain(error: BaseException) -> list[BaseException]:
    """`error`, then what it wraps (SQLAlchemy's `.orig`, else `__cause__`), outermost first."""
    found: list[BaseException] = []
    seen: BaseException | None = error
    while seen is not None and len(found) < _MAX_CHAIN and seen not in found:
        found.append(seen)
        wrapped = getattr(seen, "orig", None)
        seen = wrapped if isinstance(wrapped, BaseException) else seen.__cause__
    return found


def sqlstate(error: BaseException) -> str | None:
    """The PostgreSQL SQLSTATE `error` carries (asyncpg's, also on SQLAlchemy's
    adapter error), or None when no error in its chain has one."""
    for seen in _chain(error):
        state = getattr(seen, "sqlstate", None)
        if isinstance(state, str) and len(state) == 5:
            return state
    return None


def describe(error: BaseException, limit: int = 2000) -> str:
    """One line naming the error: the driver's own exception, its message (asyncpg's
    carries the server's DETAIL) and SQLSTATE when there is one, rather than SQLAlchemy's
    text, which adds the whole statement and its parameters; otherwise the exception's
    type and text. At most `limit` characters."""
    chain = _chain(error)
    inner = next((e for e in reversed(chain) if getattr(e, "sqlstate", None)), chain[-1])
    text = f"{type(inner).__name__}: {inner}"
    state = getattr(inner, "sqlstate", None)
    if isinstance(state, str):
        text += f" (SQLSTATE {state})"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def backoff(attempt: int, first: float, ceiling: float) -> float:
    """Seconds before retry number `attempt` (1-based): `first`, doubling, at most `ceiling`."""
    return min(ceiling, first * 2 ** max(0, attempt - 1))


@dataclass(frozen=True)
class Outcome:
    """How far a write got: `applied` leading items are written; `error` stopped it.

    With `error` REFUSED (classify), item `applied` was written alone and refused."""

    applied: int
    error: BaseException | None = None


async def apply_in_order(
    apply: Callable[[Sequence[T]], Awaitable[object]], items: Sequence[T]
) -> Outcome:
    """Write `items` with `apply` (one transaction per call, all or nothing): at once,
    and when that is refused, in halves, down to the first item refused on its own.

    Re-applying a prefix must be harmless (the projector's writes are version-guarded
    upserts and inserts keyed by event id). Items are written in their order: nothing
    after a refused item is written. An outage ends the write wherever it happens;
    the caller retries from `applied` on. Any Exception is a result, never raised.
    """
    if not items:
        return Outcome(0)
    try:
        await apply(items)
        return Outcome(len(items))
    except Exception as err:
        if len(items) == 1 or classify(err) is Failure.OUTAGE:
            return Outcome(0, err)
    middle = len(items) // 2
    head = await apply_in_order(apply, items[:middle])
    if head.error is not None:
        return head
    tail = await apply_in_order(apply, items[middle:])
    return Outcome(middle + tail.applied, tail.error)
