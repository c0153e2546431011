"""The gateway's one exception root and the one table from error codes to HTTP statuses."""

from __future__ import annotations

from typing import Any

from storage.query_params import InvalidParameter

# Refusal codes the pipeline sends back, and the HTTP status each becomes. A code
# missing here is a business refusal we have not classified yet: 409 says "the
# request was understood but conflicts with the current state", the safest guess.
PIPELINE_STATUS: dict[str, int] = {
    "product_not_found": 404,
    "order_not_found": 404,
    "reservation_not_found": 404,
    "product_exists": 409,
    "order_exists": 409,
    "negative_stock": 409,
    "insufficient_stock": 409,
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
}
DEFAULT_REFUSAL_STATUS = 409


def status_for_refusal(code: str) -> int:
    """The HTTP status of a refused reply with `code` (409 for codes not in the table)."""
    return PIPELINE_STATUS.get(code, DEFAULT_REFUSAL_STATUS)


class ApiError(Exception):
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


def invalid_parameter(err: InvalidParameter) -> ApiError:
    """A query-string parameter the storage layer refused: 400 naming it."""
    return ApiError(400, "invalid_parameter", f"{err.name}: {err.message}", {"parameter": err.name})


def validation_error(errors: list[dict[str, Any]], message: str | None = None) -> ApiError:
    """A 422 listing each problem as `{"loc": [...], "msg": ..., "type": ...}`."""
    if message is None:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) or "body" for e in errors)
        message = f"the request is invalid: {fields}"
    return ApiError(422, "validation_error", message, {"errors": errors})
