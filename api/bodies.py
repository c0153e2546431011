"""Reading request bodies and path ids: malformed JSON is a 400, an invalid body a 422,
a malformed id a 404."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, TypeAdapter, ValidationError

from api.errors import ApiError, validation_error
from topics.fields import ENTITY_ID_RULE, PRODUCT_ID_RULE

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


@dataclass(frozen=True)
class PathId:
    """The `{id}` of a route's path: the topics.fields rule it must pass, and the 404
    code and noun of an id that cannot name anything."""

    rule: TypeAdapter[str]
    not_found: str
    noun: str

    def of(self, request: web.Request) -> str:
        """The request's `{id}` if it passes the rule.

        Raises ApiError 404 `not_found` otherwise: no such entity can exist, so a
        malformed id answers like an unknown one, and never reaches a query or a command.
        """
        value = request.match_info["id"]
        try:
            return self.rule.validate_python(value)
        except ValidationError as exc:
            reason = exc.errors(include_url=False)[0]["msg"]
            raise ApiError(
                404,
                self.not_found,
                f"no {self.noun} {value!r}: not a valid {self.noun} id ({reason})",
                {"id": value},
            ) from None


PRODUCT_ID = PathId(PRODUCT_ID_RULE, "product_not_found", "product")
ORDER_ID = PathId(ENTITY_ID_RULE, "order_not_found", "order")
RESERVATION_ID = PathId(ENTITY_ID_RULE, "reservation_not_found", "reservation")
