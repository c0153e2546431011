"""Send one command through the pipeline on behalf of an HTTP request.

Idempotency-Key handling, the bounded wait for the reply, read-your-writes, and
the mapping of a refusal to an error response all live here, so views stay thin.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from api.auth import request_actor
from api.bus import Command
from api.errors import (
    ApiError,
    PipelineTimeout,
    PipelineUnavailable,
    error_body,
    status_for_refusal,
    validation_error,
)
from api.keys import BUS, ENGINE, METRICS, READ_WAITER, SETTINGS
from api.middleware import current_request_id, json_response
from storage import idempotency
from topics.messages import Reply, ReplyData, new_id

log = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY = 200
# Visible ASCII with inner spaces: what a header carries intact (HTTP strips the
# outer spaces) and PostgreSQL stores as is.
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$"
IDEMPOTENCY_KEY_SCHEMA: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_IDEMPOTENCY_KEY,
    "pattern": IDEMPOTENCY_KEY_PATTERN,
}
_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)

# What a view makes of an ok reply: (status, body without request_id).
OnOk = Callable[[Reply], tuple[int, dict[str, Any]]]
# What a view makes of a refusal, when it knows better than the code's status: the
# (status, body) to answer instead, or None for the usual mapping.
OnRefused = Callable[[ReplyData], Awaitable[tuple[int, dict[str, Any]] | None]]


def request_hash(method: str, path: str, body: Any) -> str:
    """sha256 of method, path and the body as canonical JSON (sorted keys, no spaces)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{method}\n{path}\n{canonical}".encode()).hexdigest()


def idempotency_key(request: web.Request) -> str | None:
    """The request's Idempotency-Key, None without one; ApiError 422 unless it is 1-200
    visible ASCII characters (IDEMPOTENCY_KEY_SCHEMA)."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY or not _IDEMPOTENCY_KEY.fullmatch(key):
        raise validation_error(
            [
                {
                    "loc": ["header", IDEMPOTENCY_HEADER],
                    "msg": f"must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters "
                    "(inner spaces allowed)",
                    "type": "string_pattern_mismatch",
                }
            ]
        )
    return key


async def execute(
    request: web.Request,
    body: Any,
    topic: str,
    build: Callable[[str], Command],
    on_ok: OnOk,
    on_refused: OnRefused | None = None,
) -> web.Response:
    """Send `build(command_id)` to `topic`, await the reply and answer the caller.

    `body` is the parsed JSON (for the Idempotency-Key hash). With a key, a retry gets
    the stored answer, or re-sends the stored command id when the first try has no
    answer yet. A refusal is answered with its code and status (api.errors). Raises
    ApiError 422 `idempotency_key_reused`, and the bus's PipelineTimeout and
    PipelineUnavailable (the error middleware answers them 504 and 503).
    """
    engine = request.app[ENGINE]
    actor = request_actor(request)
    key = idempotency_key(request)
    # Each API key has its own Idempotency-Keys: another caller's same key must neither
    # see this caller's answer nor be refused as reused.
    stored_key = None if key is None else f"{actor.id}/{key}"
    command_id = new_id()
    first_sent_at = None
    if stored_key is not None:
        digest = request_hash(request.method, request.path, body)
        record, created = await idempotency.claim(engine, stored_key, digest, command_id)
        if record.request_hash != digest:
            raise _reused(key)
        if not created and record.status_code is not None and record.response is not None:
            return json_response(record.response, record.status_code)
        # No stored answer: the first try timed out or is still in flight. The same
        # command id lets the agents dedupe it and send their reply again.
        command_id = record.command_id
        # Every try carries the key's claim time as its creation time: the agents'
        # dedupe horizon is measured from it (a retry days later is refused).
        first_sent_at = record.created_at

    # Every command the gateway sends names who asked for it; the bus signs it.
    update: dict[str, Any] = {"actor": actor}
    if first_sent_at is not None:
        update["occurred_at"] = first_sent_at
    command = build(command_id).model_copy(update=update)
    status, response = await _send(request, topic, command, on_ok, on_refused)
    if stored_key is not None:
        try:
            await idempotency.complete(engine, stored_key, status, response)
        except Exception:  # the command did apply: answer anyway, a retry re-sends it
            log.exception("could not store the answer for Idempotency-Key %r", key)
    return json_response(response, status)


async def answer_once(
    request: web.Request,
    body: Any,
    act: Callable[[], Awaitable[tuple[int, dict[str, Any]]]],
) -> web.Response:
    """`act()` for a POST that sends no command (the location catalogue), answered once
    per Idempotency-Key as `execute` does: a retry with the key gets the stored answer;
    the same key with another body is 422 `idempotency_key_reused`."""
    engine = request.app[ENGINE]
    key = idempotency_key(request)
    if key is None:
        status, response = await act()
        return json_response(response, status)
    stored_key = f"{request_actor(request).id}/{key}"
    digest = request_hash(request.method, request.path, body)
    record, created = await idempotency.claim(engine, stored_key, digest, new_id())
    if record.request_hash != digest:
        raise _reused(key)
    if not created and record.status_code is not None and record.response is not None:
        return json_response(record.response, record.status_code)
    status, response = await act()
    await idempotency.complete(engine, stored_key, status, response)
    return json_response(response, status)


def _reused(key: str | None) -> ApiError:
    return ApiError(
        422,
        "idempotency_key_reused",
        "this Idempotency-Key was used with a different request; use a new key",
        {"idempotency_key": key},
    )


async def _send(
    request: web.Request,
    topic: str,
    command: Command,
    on_ok: OnOk,
    on_refused: OnRefused | None,
) -> tuple[int, dict[str, Any]]:
    settings = request.app[SETTINGS]
    deadline = asyncio.get_running_loop().time() + settings.reply_timeout_seconds
    # PipelineTimeout and PipelineUnavailable pass to the error middleware (504, 503).
    with request.app[METRICS].command(command.type) as seen:
        try:
            reply = await request.app[BUS].request(topic, command)
        except PipelineTimeout:
            seen["outcome"] = "timeout"
            raise
        except PipelineUnavailable:
            seen["outcome"] = "unavailable"
            raise
        seen["outcome"] = reply.data.code  # "ok", or the refusal's code

    data = reply.data
    # A refusal may name rows too: a cart's 409 waits until the lines it gave back show.
    if data.read_after and not await request.app[READ_WAITER].wait(data.read_after, deadline):
        log.warning(
            "read models did not reach %s before the reply deadline (request_id=%s)",
            [t.model_dump() for t in data.read_after],
            current_request_id(),
        )
    if not data.ok:
        instead = await on_refused(data) if on_refused is not None else None
        if instead is not None:
            return instead
        return status_for_refusal(data.code), error_body(data.code, data.message, data.details)
    return on_ok(reply)
