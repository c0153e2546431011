"""Field rules: product ids, money, ids and record readers (agents.domain.validation)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agents.domain.errors import DomainError, InvalidValue
from agents.domain.validation import (
    MAX_MONEY,
    is_int,
    is_valid_product_id,
    money,
    optional_record_field,
    record_field,
    require_id,
)

# ------------------------------------------------------------------ product ids


@pytest.mark.parametrize("product_id", ["SKU-1", "a", "a" * 64, "Shoe.42_EU-blue", "0"])
def test_a_product_id_of_letters_digits_dots_underscores_and_dashes_is_valid(
    product_id: str,
) -> None:
    assert is_valid_product_id(product_id)


@pytest.mark.parametrize(
    "product_id",
    ["", "a" * 65, "has space", "sku/1", "café", "abc\n", "\nabc", None, 42],
)
def test_anything_else_is_not_a_product_id(product_id: object) -> None:
    assert not is_valid_product_id(product_id)


# ------------------------------------------------------------------ money


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10", "10.00"),
        ("10.5", "10.50"),
        ("0.01", "0.01"),
        ("0", "0.00"),
        ("-0", "0.00"),
        (" 2.50 ", "2.50"),
        ("1.500", "1.50"),
        ("1E+2", "100.00"),
        (5, "5.00"),
        (0, "0.00"),
        (Decimal("1.23"), "1.23"),
        (str(MAX_MONEY), "999999999999.99"),
    ],
)
def test_money_reads_strings_ints_and_decimals_to_the_cent(value: object, expected: str) -> None:
    amount = money(value)

    assert isinstance(amount, Decimal)
    assert str(amount) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (1.5, "not float"),
        (0.0, "not float"),
        (True, "not bool"),
        (None, "not NoneType"),
        ([1], "not list"),
        ("abc", "is not a decimal number"),
        ("", "is not a decimal number"),
        ("1,50", "is not a decimal number"),
        ("NaN", "must be a finite number"),
        ("sNaN", "must be a finite number"),
        (Decimal("NaN"), "must be a finite number"),
        ("Infinity", "must be a finite number"),
        ("-inf", "must be a finite number"),
        ("-0.01", "must not be negative"),
        (-1, "must not be negative"),
        ("1.005", "at most 2 decimal places"),
        ("1e-3", "at most 2 decimal places"),
        (Decimal("0.001"), "at most 2 decimal places"),
        ("1000000000000", "must be at most"),
        ("1E+30", "must be at most"),
    ],
)
def test_money_refuses_floats_non_numbers_negatives_and_sub_cent_amounts(
    value: object, reason: str
) -> None:
    with pytest.raises(ValueError, match=reason):
        money(value)


def test_a_money_error_names_the_field_and_is_a_domain_error() -> None:
    with pytest.raises(InvalidValue) as caught:
        money("-3", "unit_price")

    error = caught.value
    assert isinstance(error, DomainError) and isinstance(error, ValueError)
    assert error.message == "unit_price: must not be negative"
    assert error.as_dict() == {
        "code": "invalid_value",
        "message": "unit_price: must not be negative",
        "details": {"field": "unit_price", "value": "-3"},
    }


# ------------------------------------------------------------------ ids and integers


def test_an_id_is_a_non_blank_string_of_at_most_128_characters() -> None:
    assert require_id("x" * 128, "order_id") == "x" * 128
    for bad in ["", "  ", "x" * 129, None, 7]:
        with pytest.raises(InvalidValue, match="order_id"):
            require_id(bad, "order_id")


@pytest.mark.parametrize(("value", "expected"), [(1, True), (0, True), (True, False), (1.0, False)])
def test_a_bool_is_not_an_integer_here(value: object, expected: bool) -> None:
    assert is_int(value) is expected


# ------------------------------------------------------------------ record readers


def test_record_field_returns_a_value_of_the_asked_type() -> None:
    assert record_field({"n": 3}, "n", int, "thing") == 3
    assert optional_record_field({"n": None}, "n", int, "thing") is None
    assert optional_record_field({}, "n", int, "thing") is None


@pytest.mark.parametrize(
    ("record", "match"),
    [
        ({}, "thing.n: is missing"),
        ({"n": True}, "must be of type int, not bool"),
        ({"n": "3"}, "str"),
    ],
)
def test_record_field_refuses_missing_or_mistyped_values(
    record: dict[str, object], match: str
) -> None:
    with pytest.raises(InvalidValue, match=match):
        record_field(record, "n", int, "thing")
