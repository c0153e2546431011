"""Retrying forever, for background loops that must outlive an outage of the broker or
the database: exponential backoff with jitter (tenacity), so that processes do not
retry in step against a service that is coming back."""

from __future__ import annotations

import logging

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential_jitter


def retry_forever(
    logger: logging.Logger,
    what: str,
    retry_on: type[BaseException] | tuple[type[BaseException], ...] = Exception,
    *,
    first: float = 0.5,
    most: float = 5.0,
) -> AsyncRetrying:
    """Attempts until one succeeds: `await retry_forever(...)(fn, *args)`, or
    `async for attempt in retry_forever(...): with attempt: ...`.

    An error of `retry_on` is logged on `logger` as a warning (`what` says what failed)
    and retried after `first` seconds, doubling (plus up to `first` of jitter) up to
    `most`; any other error, and cancellation, ends the loop at once. A fresh iterator
    starts again at `first`.
    """

    def log_retry(state: RetryCallState) -> None:
        assert state.outcome is not None and state.next_action is not None
        error = state.outcome.exception()
        logger.warning(
            "%s (%s: %s); retrying in %.1f s",
            what,
            type(error).__name__,
            error,
            state.next_action.sleep,
        )

    return AsyncRetrying(
        retry=retry_if_exception_type(retry_on),
        wait=wait_exponential_jitter(multiplier=first, max=most, jitter=first),
        before_sleep=log_retry,
        reraise=True,
    )
