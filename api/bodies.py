"""Reading request bodies and parameters: malformed JSON is a 400, invalid data a 422."""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from api.errors import ApiError, validation_error

M = TypeVar("M", bound=BaseModel)


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON, whatever Python's json module tolerates.
    raise ValueError(f"{name} is not valid JSON")


def _malformed(reason: str) -> ApiError:
    return ApiError(400, "malformed_json", f"the request body is not valid JSON: {reason}")


async def read_json(request: web.Request) -> tuple[bytes, Any]:
    """The raw body and its parsed JSON.

    Raises ApiError 400 `malformed_json` for an empty or unparsable body; aiohttp's
    413 passes through when the body is over the app's client_max_size.
    """
    raw = await request.read()
    if not raw.strip():
        raise _malformed("the body is empty; send a JSON object")
    try:
        return raw, json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _malformed(str(exc)) from exc


def parse_body(model: type[M], raw: bytes) -> M:
    """`raw` validated as `model` (pydantic's JSON mode: exact decimals, strict ints).

    Raises ApiError 422 `validation_error` listing every problem as loc + msg.
    """
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        if any(e["type"] == "json_invalid" for e in errors):
            raise _malformed(errors[0]["msg"]) from exc
        raise validation_error(
            [{"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]} for e in errors]
        ) from exc


def path_param(request: web.Request, name: str, pattern: str, description: str) -> str:
    """The path parameter `name` if it fully matches `pattern`, else ApiError 422."""
    value = request.match_info[name]
    if re.fullmatch(pattern, value) is None:
        raise validation_error(
            [{"loc": ["path", name], "msg": f"must be {description}", "type": "value_error"}]
        )
    return value
