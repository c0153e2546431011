"""Waiting for asynchronous effects: poll with a deadline, fail with a clear message."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T] | T],
    accept: Callable[[T], bool],
    *,
    within: float = 20.0,
    interval: float = 0.05,
    what: str = "condition",
) -> T:
    """Call `probe` (a coroutine function, or a plain one) until `accept(result)`;
    return that result or fail naming the last one."""
    deadline = time.monotonic() + within
    last: T | None = None
    while True:
        found = probe()
        last = cast(T, await found) if inspect.isawaitable(found) else found
        if accept(last):
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not reached within {within}s; last value: {last!r}")
        await asyncio.sleep(interval)
