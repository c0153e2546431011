"""Request id and error middlewares, and the JSON response helper every view uses."""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from api.errors import ApiError, api_error_for, error_body
from inventory.errors import InventoryError
from storage.engine import database_unavailable

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
MAX_BODY_BYTES = 64 * 1024
# A caller's X-Request-ID is kept when it matches, else replaced (never refused): the
# id exists to find a request in the logs, and a refusal would lose exactly that.
REQUEST_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
_VALID_REQUEST_ID = re.compile(REQUEST_ID_PATTERN)

# No default on purpose: an id made at import time would be shared by every request.
_request_id: ContextVar[str] = ContextVar("request_id")


def current_request_id() -> str | None:
    """The id of the request being handled in this task, or None outside a request."""
    return _request_id.get(None)


def incoming_request_id(value: str | None) -> str:
    """Keep a caller's id if it is 1-128 of `A-Za-z0-9._:-`; otherwise a fresh uuid4."""
    if value is not None and _VALID_REQUEST_ID.fullmatch(value):
        return value
    return str(uuid.uuid4())


class RequestIdLogFilter(logging.Filter):
    """Adds `record.request_id` ("-" outside a request) so a log format can show it.

    Attach it to a handler: filters on a logger do not apply to its children's records.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id() or "-"
        return True


def json_response(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """`body` plus this request's `request_id`, as JSON (the header is set by the middleware)."""
    return web.json_response(
        {**body, "request_id": current_request_id()}, status=status, headers=headers
    )


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost: binds the request id for the handler and stamps it on the response."""
    request_id = incoming_request_id(request.headers.get(REQUEST_ID_HEADER))
    token = _request_id.set(request_id)
    try:
        response = await handler(request)
        response.headers[REQUEST_ID_HEADER] = request_id
        return response
    finally:
        _request_id.reset(token)


# HTTP errors aiohttp itself raises (routing, body size), as the project's codes.
_HTTP_CODES: dict[int, tuple[str, str]] = {
    400: ("bad_request", "the request is malformed"),
    404: ("not_found", "no such resource"),
    405: ("method_not_allowed", "method not allowed on this resource"),
    413: ("payload_too_large", "the request body is too large"),
}


def _from_http_exception(request: web.Request, exc: web.HTTPException) -> ApiError:
    code, message = _HTTP_CODES.get(exc.status, (f"http_{exc.status}", exc.reason))
    if exc.status == 404:
        message = f"no route for {request.method} {request.path}"
    details: dict[str, Any] = {}
    headers: dict[str, str] = {}
    if isinstance(exc, web.HTTPMethodNotAllowed):
        details["allowed"] = sorted(exc.allowed_methods)
        headers["Allow"] = ",".join(sorted(exc.allowed_methods))
        message = (
            f"method {exc.method} not allowed on {request.path}; "
            f"allowed: {', '.join(details['allowed'])}"
        )
    elif isinstance(exc, web.HTTPRequestEntityTooLarge):
        message = f"the request body is larger than the limit of {MAX_BODY_BYTES} bytes"
        # aiohttp puts "Maximum request body size X exceeded, actual body size Y" in text.
        details["detail"] = exc.text
    return ApiError(exc.status, code, message, details, headers)


# What a 503 asks the caller to wait before retrying.
RETRY_AFTER_SECONDS = 1


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turns every error into `{"error": {"code", "message", "details"}, "request_id"}`.

    Our own errors get the answer api.errors.api_error_for gives them (ApiError keeps
    its status; a refused query parameter is 400, the pipeline's timeout 504, a broker
    that refuses the command 503); aiohttp's HTTP errors (404, 405, 413, ...) get a code;
    the database being away (storage.engine.database_unavailable) is 503 `unavailable`
    with Retry-After; anything else is logged with the request id and answered 500
    `internal_error`.
    """
    try:
        return await handler(request)
    except InventoryError as exc:
        err = api_error_for(exc)
        if err is None:
            return _unexpected(request, exc)
        return json_response(err.body(), err.status, err.headers)
    except web.HTTPException as exc:
        if exc.status < 400:  # redirects and the like are not errors
            raise
        err = _from_http_exception(request, exc)
        return json_response(err.body(), err.status, err.headers)
    except Exception as exc:
        return _unexpected(request, exc)


def _unexpected(request: web.Request, exc: Exception) -> web.Response:
    """503 when the database is away, else a logged 500."""
    if database_unavailable(exc):
        log.warning(
            "database unavailable in %s %s (request_id=%s): %s",
            request.method,
            request.path,
            current_request_id(),
            exc,
        )
        err = ApiError(
            503,
            "unavailable",
            "the database is unavailable; retry shortly",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
        return json_response(err.body(), err.status, err.headers)
    log.error(
        "unhandled error in %s %s (request_id=%s)",
        request.method,
        request.path,
        current_request_id(),
        exc_info=exc,
    )
    body = error_body("internal_error", "internal error; quote the request_id when asking")
    return json_response(body, 500)
