"""The field rules of topics/fields.py: the gateway's bodies and the wire agree on every
value, so a body the gateway accepts is always a valid command (no I/O)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError

from api.schemas import (
    AdjustStockRequest,
    ChangeStatusRequest,
    CreateProductRequest,
    ReserveRequest,
)
from topics.fields import (
    ENTITY_ID_RULE,
    MAX_MONEY,
    MAX_PRICE,
    MAX_QUANTITY,
    MONEY_RULE,
    PRODUCT_ID_RULE,
    Price,
)
from topics.messages import (
    AdjustStock,
    ChangeStatus,
    CreateProduct,
    ReserveStock,
    encode,
)
from topics.names import INVENTORY_COMMANDS, ORDERS_COMMANDS, decoder

PRICE_RULE = TypeAdapter(Price)


def accepts(rule: TypeAdapter[Any], value: object) -> bool:
    try:
        rule.validate_python(value)
    except ValidationError:
        return False
    return True


def http_accepts(model: type[BaseModel], body: dict[str, Any]) -> BaseModel | None:
    """The body as the gateway parses it (JSON mode), or None when refused."""
    try:
        return model.model_validate_json(json.dumps(body))
    except ValidationError:
        return None


# ------------------------------------------------------------------ ids

NOT_IDS = [
    "",
    " ",
    "\u3000\u00a0 ",  # only spaces, of several kinds
    "\x1c\u00f3bb",  # the customer_id of issue 16
    "abc\x00",
    "line\nbreak",
    "tab\there",
    "del\x7f",
    "c1\x87control",
    "x" * 129,
]
IDS = ["ann", " ann ", "ünï-çødé", "\U000b8d3f", "o/1", "x" * 128, "a b", "🙂"]


@pytest.mark.parametrize("value", NOT_IDS)
def test_a_value_with_control_characters_blank_or_too_long_is_no_id(value: str) -> None:
    assert not accepts(ENTITY_ID_RULE, value)


@pytest.mark.parametrize("value", IDS)
def test_any_other_line_of_1_to_128_characters_is_an_id(value: str) -> None:
    assert accepts(ENTITY_ID_RULE, value)


@pytest.mark.parametrize("customer_id", NOT_IDS + IDS)
def test_the_gateway_and_the_wire_agree_on_every_customer_id(customer_id: str) -> None:
    body = {"product_id": "p-1", "quantity": 1, "customer_id": customer_id}
    request = http_accepts(ReserveRequest, body)
    assert (request is not None) == accepts(ENTITY_ID_RULE, customer_id)
    if request is not None:
        assert request.command_data().customer_id == customer_id  # type: ignore[attr-defined]


def test_a_lone_surrogate_never_reaches_a_model() -> None:
    # JSON may spell one ("\udaa3"); the gateway's parser refuses it as malformed JSON,
    # and the wire models refuse a Python string holding one.
    raw = b'{"product_id": "p", "quantity": 1, "customer_id": "\\udaa3"}'
    with pytest.raises(ValidationError, match="json_invalid|Invalid JSON"):
        ReserveRequest.model_validate_json(raw)
    assert not accepts(ENTITY_ID_RULE, "\udaa3")


@pytest.mark.parametrize("product_id", ["a", "SKU-1.2_x", "a" * 64])
def test_a_product_id_is_1_to_64_letters_digits_dots_underscores_dashes(product_id: str) -> None:
    assert accepts(PRODUCT_ID_RULE, product_id)


@pytest.mark.parametrize("product_id", ["", "a" * 65, "a b", "café", "a\n", "a/b"])
def test_anything_else_is_no_product_id(product_id: str) -> None:
    assert not accepts(PRODUCT_ID_RULE, product_id)


# ------------------------------------------------------------------ money and numbers


@pytest.mark.parametrize(
    ("value", "amount"),
    [("19.90", "19.90"), ("7", "7.00"), ("0.5", "0.50"), (12, "12.00"), (12.0, "12.00")],
)
def test_money_is_a_decimal_string_or_a_whole_number(value: object, amount: str) -> None:
    assert MONEY_RULE.validate_python(value) == Decimal(amount)


@pytest.mark.parametrize(
    "value", ["", "1e2", "-1", " 1", "1.001", "1,50", "NaN", "1.", ".5", 9.5, True, None]
)
def test_anything_else_is_no_amount_of_money(value: object) -> None:
    assert not accepts(MONEY_RULE, value)


def test_money_goes_up_to_its_maximum_and_a_price_to_a_smaller_one() -> None:
    assert accepts(MONEY_RULE, str(MAX_MONEY))
    assert not accepts(MONEY_RULE, str(MAX_MONEY + Decimal("0.01")))
    assert accepts(PRICE_RULE, str(MAX_PRICE))
    assert not accepts(PRICE_RULE, str(MAX_PRICE + Decimal("0.01")))


def test_the_largest_order_of_the_dearest_product_still_has_a_total() -> None:
    assert MAX_PRICE * MAX_QUANTITY <= MAX_MONEY


@pytest.mark.parametrize(("delta", "ok"), [(1, True), (-1, True), (0, False), (0.0, False)])
def test_a_stock_adjustment_is_a_whole_number_other_than_zero(delta: object, ok: bool) -> None:
    assert (http_accepts(AdjustStockRequest, {"delta": delta, "reason": "count"}) is not None) == ok


@pytest.mark.parametrize(("quantity", "ok"), [(3, True), (3.0, True), (2.5, False), ("3", False)])
def test_a_quantity_is_a_whole_json_number(quantity: object, ok: bool) -> None:
    body = {"product_id": "p", "quantity": quantity, "customer_id": "c"}
    assert (http_accepts(ReserveRequest, body) is not None) == ok


# ------------------------------------------------------------------ property: HTTP ⊆ wire

# Each field drawn from values near its rule (so that whole bodies pass often enough to
# test something), text made to hit the rules' edges (control characters, spaces of
# several kinds, surrogates, paired and lone) and values of every other JSON type.
_EDGY_TEXT = st.text(
    st.sampled_from(list("aZ09._-/ \t\n\x00\x1c\x7f\x85\u00a0\u3000é🙂\udaa3")), max_size=8
)
_ANY_JSON = st.one_of(
    st.none(), st.booleans(), st.floats(allow_nan=False, allow_infinity=False), st.text()
)


def _mostly(
    near: st.SearchStrategy[Any], *others: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    # one_of picks a branch uniformly: three of `near` make it the common case.
    return st.one_of(near, near, near, st.one_of(*others))


_TEXT = _mostly(
    st.text(st.characters(exclude_categories=["Cc", "Cs"]), min_size=1, max_size=210),
    _EDGY_TEXT,
    _ANY_JSON,
)
_PRODUCT_ID = _mostly(st.from_regex(r"[A-Za-z0-9._-]{1,66}", fullmatch=True), _EDGY_TEXT)
_WHOLE = _mostly(
    st.one_of(st.integers(1, MAX_QUANTITY), st.integers(-3, 3), st.integers(1, 3).map(float)),
    st.integers(-(10**10), 10**10),
    st.floats(-20, 20),
    st.integers().map(str),
    _ANY_JSON,
)
_AMOUNT = _mostly(
    st.from_regex(r"[0-9]{1,9}(\.[0-9]{0,3})?", fullmatch=True),
    st.integers(-3, 10**13),
    st.floats(0, 10**9),
    _EDGY_TEXT,
    _ANY_JSON,
)
_FIELDS = {
    "id": _PRODUCT_ID,
    "product_id": _PRODUCT_ID,
    "name": _TEXT,
    "reason": _TEXT,
    "customer_id": _TEXT,
    "price": _AMOUNT,
    "stock": _WHOLE,
    "quantity": _WHOLE,
    "delta": _WHOLE,
    "status": st.sampled_from(["pending", "confirmed", "shipped", "lost"]),
}
_PATH_ID = st.one_of(st.text(max_size=130), _EDGY_TEXT)


def _bodies(*names: str) -> st.SearchStrategy[dict[str, Any]]:
    # Mostly complete bodies; now and then the first field missing.
    whole = st.fixed_dictionaries({name: _FIELDS[name] for name in names})
    return _mostly(whole, st.fixed_dictionaries({name: _FIELDS[name] for name in names[1:]}))


def _json(body: dict[str, Any]) -> bytes:
    # ensure_ascii: a lone surrogate travels as the escape a client would send.
    return json.dumps(body, ensure_ascii=True).encode()


def _parsed(model: type[BaseModel], body: dict[str, Any]) -> Any:
    try:
        return model.model_validate_json(_json(body))
    except ValidationError:
        return None


@settings(max_examples=500, deadline=None)
@given(_bodies("stock", "id", "name", "price"))
def test_every_product_the_gateway_accepts_is_a_valid_command(body: dict[str, Any]) -> None:
    request = _parsed(CreateProductRequest, body)
    if request is not None:
        command = CreateProduct(key=request.id, data=request.command_data())
        assert decoder(INVENTORY_COMMANDS)(encode(command)) == command


@settings(max_examples=500, deadline=None)
@given(_bodies("customer_id", "product_id", "quantity"))
def test_every_reservation_the_gateway_accepts_is_a_valid_command(body: dict[str, Any]) -> None:
    request = _parsed(ReserveRequest, body)
    if request is not None:
        command = ReserveStock(key=request.product_id, data=request.command_data())
        assert decoder(INVENTORY_COMMANDS)(encode(command)) == command


@settings(max_examples=500, deadline=None)
@given(_bodies("reason", "delta"), _PATH_ID)
def test_every_adjustment_the_gateway_accepts_is_a_valid_command(
    body: dict[str, Any], product_id: str
) -> None:
    request = _parsed(AdjustStockRequest, body)
    if request is not None and accepts(PRODUCT_ID_RULE, product_id):
        command = AdjustStock(key=product_id, data=request.command_data(product_id, 0))
        assert decoder(INVENTORY_COMMANDS)(encode(command)) == command


@settings(max_examples=500, deadline=None)
@given(_bodies("reason", "status"), _PATH_ID)
def test_every_status_change_the_gateway_accepts_is_a_valid_command(
    body: dict[str, Any], order_id: str
) -> None:
    request = _parsed(ChangeStatusRequest, body)
    if request is not None and accepts(ENTITY_ID_RULE, order_id):
        command = ChangeStatus(key=order_id, data=request.command_data(order_id))
        assert decoder(ORDERS_COMMANDS)(encode(command)) == command
