"""The gateway's errors and their one mapping to HTTP: `api_error_for` (used by the error
middleware) says what each error of ours answers, and `PIPELINE_STATUS` what each refusal
code of the agents becomes.

Every error here is an `inventory.errors.InventoryError`, the project's exception root.
"""

from __future__ import annotations

from typing import Any

from inventory.errors import InventoryError
from storage.query_params import InvalidParameter

# Refusal codes the pipeline sends back, and the HTTP status each becomes. A code
# missing here is a business refusal we have not classified yet: 409 says "the
# request was understood but conflicts with the current state", the safest guess.
PIPELINE_STATUS: dict[str, int] = {
    "product_not_found": 404,
    "order_not_found": 404,
    # Only from a producer that names a location new to a product without its priority:
    # the gateway looks every location up first.
    "location_not_found": 404,
    "product_exists": 409,
    "order_exists": 409,
    "negative_stock": 409,
    "insufficient_stock": 409,
    "same_location": 409,
    "invalid_transition": 409,
    "duplicate_reservation": 409,
    "unknown_reservation": 409,
    # A retry of a command older than the dedupe horizon: send it as a new request.
    "command_expired": 409,
    # A body that passed the gateway meets every field rule, so an invalid quantity can
    # only come from the current state (an adjustment over the total stock limit).
    "invalid_quantity": 409,
    # Only from a rule the agents add later than the gateway.
    "invalid_value": 422,
    # A status name the agents do not know: the gateway's body schema lets only known
    # names through, so only a command from elsewhere (or a newer gateway) meets it.
    "invalid_status": 422,
    # A cart naming a product twice: the gateway refuses it first, Kafka producers meet it.
    "duplicate_line": 422,
}
DEFAULT_REFUSAL_STATUS = 409


def status_for_refusal(code: str) -> int:
    """The HTTP status of a refused reply with `code` (409 for codes not in the table)."""
    return PIPELINE_STATUS.get(code, DEFAULT_REFUSAL_STATUS)


class ApiError(InventoryError):
    """An error the gateway answers as `{"error": {...}, "request_id"}` with `status`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details: dict[str, Any] = dict(details or {})
        self.headers: dict[str, str] = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The `{"error": ...}` part of the response body (the caller adds `request_id`)."""
        return error_body(self.code, self.message, self.details)


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """`{"error": {"code", "message", "details"}}`, the project's error shape."""
    return {"error": {"code": code, "message": message, "details": dict(details or {})}}


class PipelineUnavailable(InventoryError):
    """The command could not be handed to Kafka (the broker refused or is unreachable)."""

    def __init__(self, reason: str, command_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.command_id = command_id


class PipelineTimeout(InventoryError, TimeoutError):
    """No reply to the command within the reply timeout (the send included). The command
    may still be applied. A TimeoutError, for callers that wait on the bus directly."""

    def __init__(self, command_id: str, timeout_seconds: float) -> None:
        super().__init__(f"no reply to command {command_id} within {timeout_seconds:g} s")
        self.command_id = command_id
        self.timeout_seconds = timeout_seconds


def api_error_for(exc: InventoryError) -> ApiError | None:
    """What the gateway answers for one of our errors; None for one no request should
    meet (a bug: the middleware answers 500)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, InvalidParameter):
        # A query-string parameter the storage layer refused: 400 naming it.
        return ApiError(
            400, "invalid_parameter", f"{exc.name}: {exc.message}", {"parameter": exc.name}
        )
    if isinstance(exc, PipelineTimeout):
        return ApiError(
            504,
            "pipeline_timeout",
            f"the pipeline did not answer within {exc.timeout_seconds:g} s; the command may "
            "still be applied: retry with the same Idempotency-Key to get its result without "
            "applying it twice",
            {"command_id": exc.command_id, "timeout_seconds": exc.timeout_seconds},
        )
    if isinstance(exc, PipelineUnavailable):
        return ApiError(
            503,
            "pipeline_unavailable",
            "the command could not be sent to the pipeline; retry with the same Idempotency-Key",
            {"command_id": exc.command_id, "reason": exc.reason},
        )
    return None


def validation_error(errors: list[dict[str, Any]], message: str | None = None) -> ApiError:
    """A 422 listing each problem as `{"loc": [...], "msg": ..., "type": ...}`."""
    if message is None:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) or "body" for e in errors)
        message = f"the request is invalid: {fields}"
    return ApiError(422, "validation_error", message, {"errors": errors})
