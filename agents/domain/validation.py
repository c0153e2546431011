"""Field rules shared by the domain modules: ids, quantities, money.

The limits are the wire contract's (`topics/fields.py`, written once there); the domain
enforces them again because commands can reach the agents from outside producers, and
its rules must hold whatever a message model lets through.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Final, TypeGuard, TypeVar

from agents.domain.errors import InvalidValue

# The limits the domain modules import from here: `X as X` marks them as re-exported.
from topics.fields import MAX_ID_LENGTH as MAX_ID_LENGTH
from topics.fields import MAX_MONEY as MAX_MONEY
from topics.fields import MAX_QUANTITY as MAX_QUANTITY
from topics.fields import MAX_STOCK as MAX_STOCK
from topics.fields import MAX_TEXT_LENGTH as MAX_NAME_LENGTH
from topics.fields import PRODUCT_ID_PATTERN, PRODUCT_ID_TEXT

_PRODUCT_ID_RE: Final = re.compile(PRODUCT_ID_PATTERN)
_CENT: Final = Decimal("0.01")

T = TypeVar("T")


def is_valid_product_id(value: object) -> TypeGuard[str]:
    """Return True when `value` is a string of 1-64 letters, digits, '.', '_' or '-'."""
    # fullmatch, because `$` alone would also accept a trailing newline.
    return isinstance(value, str) and _PRODUCT_ID_RE.fullmatch(value) is not None


def require_product_id(value: object, field: str = "product_id") -> str:
    """Return `value` if it is a valid product id; raise InvalidValue otherwise."""
    if not is_valid_product_id(value):
        raise InvalidValue(field, f"must match {PRODUCT_ID_PATTERN} ({PRODUCT_ID_TEXT})", value)
    return value


def require_id(value: object, field: str) -> str:
    """Return `value` if it is a non-blank string of at most 128 characters.

    Raises InvalidValue naming `field` otherwise.
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidValue(field, "must be a non-empty string", value)
    if len(value) > MAX_ID_LENGTH:
        raise InvalidValue(field, f"must be at most {MAX_ID_LENGTH} characters", value)
    return value


def require_name(value: object, field: str = "name") -> str:
    """Return `value` if it is a non-blank string of at most 200 characters.

    Raises InvalidValue naming `field` otherwise.
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidValue(field, "must be a non-empty string", value)
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidValue(field, f"must be at most {MAX_NAME_LENGTH} characters", value)
    return value


def is_int(value: object) -> TypeGuard[int]:
    """Return True for a real int; False for bool, which Python counts as an int."""
    return isinstance(value, int) and not isinstance(value, bool)


def money(value: object, field: str = "amount") -> Decimal:
    """Parse an amount of money from a str, int or Decimal.

    Returns a non-negative Decimal with exactly two decimal places
    (`money("5")` is `Decimal("5.00")`), at most MAX_MONEY.
    Raises InvalidValue (a ValueError) for floats, bools, NaN, Infinity,
    negatives, more than two decimal places, unparsable text or too large a
    value; the message names `field`.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        # A float has already lost the cents it was meant to carry (0.1 + 0.2).
        raise InvalidValue(
            field, f"must be a decimal string, int or Decimal, not {type(value).__name__}", value
        )
    if isinstance(value, Decimal):
        amount = value
    else:
        try:
            amount = Decimal(value.strip() if isinstance(value, str) else value)
        except InvalidOperation:
            raise InvalidValue(field, f"{value!r} is not a decimal number", value) from None
    if not amount.is_finite():
        raise InvalidValue(field, "must be a finite number", value)
    if amount < 0:
        raise InvalidValue(field, "must not be negative", value)
    if amount > MAX_MONEY:
        raise InvalidValue(field, f"must be at most {MAX_MONEY}", value)
    cents = amount.quantize(_CENT)
    # Trailing zeros are fine ("1.500" is 1.50); only real sub-cent amounts are refused.
    if cents != amount:
        raise InvalidValue(field, "must have at most 2 decimal places", value)
    # copy_abs turns "-0" into "0.00" rather than "-0.00".
    return cents.copy_abs()


def record_field(record: Mapping[str, object], key: str, kind: type[T], record_name: str) -> T:
    """Return `record[key]` if present and of type `kind` (a bool is not an int).

    For `from_dict` readers of stored or received JSON. Raises InvalidValue
    naming `record_name.key` when the key is missing or holds another type.
    """
    if key not in record:
        raise InvalidValue(f"{record_name}.{key}", "is missing")
    return _typed(record[key], key, kind, record_name)


def optional_record_field(
    record: Mapping[str, object], key: str, kind: type[T], record_name: str
) -> T | None:
    """Like `record_field`, but a missing key or a null gives None."""
    value = record.get(key)
    if value is None:
        return None
    return _typed(value, key, kind, record_name)


def _typed(value: object, key: str, kind: type[T], record_name: str) -> T:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidValue(
            f"{record_name}.{key}",
            f"must be of type {kind.__name__}, not {type(value).__name__}",
            value,
        )
    return value
