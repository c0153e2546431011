"""The rule of every field a caller fills in, each written once.

The message models (topics/messages.py), the gateway's request bodies, path and query
parameters (api/) and both published documents (docs/schemas/, the OpenAPI document)
all take these types, so a value the gateway accepts is a value the wire accepts, and
the JSON Schema a client reads is the check the server runs: every rule is a JSON
Schema keyword (`pattern`, `minimum`, `not`, ...), enforced by pydantic from the same
keyword or, where pydantic has none, by a validator that says exactly what the schema
says.

Patterns avoid look-arounds and `\\d`/`\\s`, whose meaning differs between pydantic's
regex engine, ECMA-262 (what JSON Schema validators run) and Python's `re`.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainSerializer,
    PlainValidator,
    Strict,
    TypeAdapter,
    WithJsonSchema,
)

MAX_QUANTITY: Final = 10_000
MAX_STOCK: Final = 1_000_000_000
MAX_ID_LENGTH: Final = 128
MAX_TEXT_LENGTH: Final = 200
MAX_PRODUCT_ID_LENGTH: Final = 64
# numeric(14, 2): twelve digits before the point, two after.
MAX_MONEY: Final = Decimal("999999999999.99")
# A unit price small enough that MAX_QUANTITY units of it still make a total of money.
MAX_PRICE: Final = Decimal("99999999.99")

PRODUCT_ID_PATTERN: Final = f"^[A-Za-z0-9._-]{{1,{MAX_PRODUCT_ID_LENGTH}}}$"
# The pattern in words, for descriptions.
PRODUCT_ID_TEXT: Final = f"1-{MAX_PRODUCT_ID_LENGTH} of A-Z a-z 0-9 . _ -"

# Control characters: Unicode category Cc, C0, DEL and C1. They break keys, logs and
# headers, and PostgreSQL cannot store U+0000 at all.
_CONTROL: Final = r"\x00-\x1f\x7f-\x9f"
# The whitespace left once control characters are out (Unicode White_Space, which is
# what str.isspace() tests among these): a value of only these is blank.
_SPACE: Final = r" \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# One line of text that shows something: no control characters, one non-space at least.
VISIBLE_TEXT_PATTERN: Final = f"^[^{_CONTROL}]*[^{_CONTROL}{_SPACE}][^{_CONTROL}]*$"

_CENT: Final = Decimal("0.01")


def decimal_pattern(maximum: Decimal) -> str:
    """The text form of an amount up to `maximum`: digits (as many as `maximum` has before
    the point), then optionally a point and one or two decimals; no sign, exponent or
    spaces."""
    return f"^[0-9]{{1,{len(str(int(maximum)))}}}(\\.[0-9]{{1,2}})?$"


MONEY_PATTERN: Final = decimal_pattern(MAX_MONEY)
PRICE_PATTERN: Final = decimal_pattern(MAX_PRICE)


def _whole_number(value: Any) -> Any:
    # JSON Schema counts 5.0 as an integer, so the server does too; 5.5, "5" and true
    # are left to the strict int validator, which refuses them.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _not_zero(value: int) -> int:
    if value == 0:
        raise ValueError("must not be 0")
    return value


def money(value: Any, maximum: Decimal = MAX_MONEY) -> Decimal:
    """An amount of money to the cent, from a decimal string ("19.90"), a whole number
    (JSON 19 or 19.0) or a Decimal; at most `maximum`.

    Raises ValueError for anything else: a fractional JSON number (a float has already
    lost the cents it meant), text that is not `decimal_pattern(maximum)`, a negative
    amount, more than two decimal places or more than `maximum`.
    """
    if isinstance(value, str):
        # Every event carries several amounts and every reader decodes them: the pattern
        # is compiled once per maximum, and text that matches it is already unsigned,
        # finite and to the cent, so only the maximum is left to check.
        if not _pattern_of(maximum).fullmatch(value):
            raise ValueError(
                f'must be a decimal string such as "19.90" (pattern {decimal_pattern(maximum)})'
            )
        amount = Decimal(value)
        if amount > maximum:
            raise ValueError(f"must be at most {maximum}")
        return amount.quantize(_CENT)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ValueError(
            'must be a decimal string such as "19.90" or a whole number, '
            f"not {type(value).__name__}"
        )
    amount = Decimal(value)
    if not amount.is_finite() or amount < 0:
        raise ValueError("must be a finite amount, not negative")
    if amount > maximum:
        raise ValueError(f"must be at most {maximum}")
    if amount != amount.quantize(_CENT):
        raise ValueError("must have at most 2 decimal places")
    return amount.quantize(_CENT)


_PATTERNS: dict[Decimal, re.Pattern[str]] = {}


def _pattern_of(maximum: Decimal) -> re.Pattern[str]:
    found = _PATTERNS.get(maximum)
    if found is None:
        found = _PATTERNS[maximum] = re.compile(decimal_pattern(maximum))
    return found


def price(value: Any) -> Decimal:
    """A unit price: `money` up to MAX_PRICE."""
    return money(value, MAX_PRICE)


ProductId = Annotated[
    str,
    Field(
        pattern=PRODUCT_ID_PATTERN,
        description=PRODUCT_ID_TEXT,
        examples=["mug-01"],
    ),
]
# A location's id follows the product id's rule (a slug): it is chosen by an operator
# and shows up in query strings.
LocationId = Annotated[
    str,
    Field(
        pattern=PRODUCT_ID_PATTERN,
        description="A location (warehouse) id: " + PRODUCT_ID_TEXT,
        examples=["main"],
    ),
]
MAX_PRIORITY = 1_000_000
# Lower first: the `priority` allocation takes units from the lowest number first.
LocationPriority = Annotated[
    int,
    Field(ge=0, le=MAX_PRIORITY, description="Lower is taken first (main is 0)."),
    Strict(),
    BeforeValidator(_whole_number),
]
AllocationStrategy = Literal["priority", "most_stock"]
EntityId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_ID_LENGTH,
        pattern=VISIBLE_TEXT_PATTERN,
        description="1-128 characters, no control characters, not only spaces.",
    ),
]
Text = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_TEXT_LENGTH,
        pattern=VISIBLE_TEXT_PATTERN,
        description="1-200 characters on one line, no control characters, not only spaces.",
    ),
]
# Bounds come before the validator: pydantic only writes them as JSON Schema
# `minimum`/`maximum` when they constrain the int itself.
Quantity = Annotated[int, Field(ge=1, le=MAX_QUANTITY), Strict(), BeforeValidator(_whole_number)]
StockLevel = Annotated[int, Field(ge=0, le=MAX_STOCK), Strict(), BeforeValidator(_whole_number)]
StockDelta = Annotated[
    int,
    Field(
        ge=-MAX_STOCK,
        le=MAX_STOCK,
        description="Units to add (+) or remove (-); never 0.",
        json_schema_extra={"not": {"const": 0}},
    ),
    Strict(),
    BeforeValidator(_whole_number),
    AfterValidator(_not_zero),
]


def _money_schemas(pattern: str, maximum: Decimal) -> tuple[WithJsonSchema, WithJsonSchema]:
    """What the documents say of an amount up to `maximum`: the text or whole number a
    caller may send, and the text the server writes."""
    text = {"type": "string", "pattern": pattern, "examples": ["19.90"]}
    accepted = WithJsonSchema(
        {
            "description": 'A decimal string to the cent ("19.90"), or a whole number; '
            f"from 0 to {maximum}.",
            "anyOf": [text, {"type": "integer", "minimum": 0, "maximum": int(maximum)}],
        },
        mode="validation",
    )
    written = WithJsonSchema(
        {**text, "description": 'A decimal string with two places ("19.90").'},
        mode="serialization",
    )
    return accepted, written


def _money_text(amount: Decimal) -> str:
    return format(amount, "f")


# Always the plain "19.90" form on the wire, never an exponent.
_AS_TEXT: Final = PlainSerializer(_money_text, return_type=str, when_used="json")
_MONEY_ACCEPTED, _MONEY_WRITTEN = _money_schemas(MONEY_PATTERN, MAX_MONEY)
_PRICE_ACCEPTED, _PRICE_WRITTEN = _money_schemas(PRICE_PATTERN, MAX_PRICE)

Money = Annotated[Decimal, PlainValidator(money), _AS_TEXT, _MONEY_ACCEPTED, _MONEY_WRITTEN]
Price = Annotated[Decimal, PlainValidator(price), _AS_TEXT, _PRICE_ACCEPTED, _PRICE_WRITTEN]
MONEY_TEXT_SCHEMA: Final[dict[str, Any]] = {"type": "string", "pattern": MONEY_PATTERN}

# The rules on their own, for values outside a model: path and query parameters.
PRODUCT_ID_RULE: Final = TypeAdapter[str](ProductId)
ENTITY_ID_RULE: Final = TypeAdapter[str](EntityId)
MONEY_RULE: Final = TypeAdapter[Decimal](Money)
