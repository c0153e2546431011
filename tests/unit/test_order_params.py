"""The query string of GET /api/orders/: parsing, validation, the opaque cursor. No I/O."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from storage.cursors import CursorMismatch, InvalidCursor
from storage.order_params import (
    DEFAULT_LIMIT,
    Keyset,
    OrderListParams,
    decode_cursor,
    encode_cursor,
    filter_fingerprint,
    parse_order_list_params,
)
from storage.query_params import InvalidParameter
from tests.support.cursors import with_fields


class MultiDict:
    """The part of aiohttp's MultiDictProxy the parser uses: items() with repeats."""

    def __init__(self, *pairs: tuple[str, str]) -> None:
        self.pairs = list(pairs)

    def items(self) -> list[tuple[str, str]]:
        return list(self.pairs)

    def __getitem__(self, key: str) -> str:  # Mapping protocol, unused by the parser
        return next(v for k, v in self.pairs if k == key)

    def __iter__(self) -> Iterator[str]:
        return iter(k for k, _ in self.pairs)

    def __len__(self) -> int:
        return len(self.pairs)


def invalid(query: object) -> InvalidParameter:
    with pytest.raises(InvalidParameter) as info:
        parse_order_list_params(query)  # type: ignore[arg-type]
    return info.value


def cursor_of(params: OrderListParams, value: datetime | Decimal, order_id: str = "o-1") -> str:
    return encode_cursor(params, value, order_id)


# --- defaults and happy paths ----------------------------------------------------------


def test_no_parameters_gives_newest_first_default_page() -> None:
    params = parse_order_list_params({})
    assert params == OrderListParams(sort="newest", limit=DEFAULT_LIMIT)
    assert params.statuses == () and params.cursor is None


def test_every_filter_is_parsed() -> None:
    params = parse_order_list_params(
        {
            "created_from": "2025-01-01T00:00:00Z",
            "created_to": "2025-02-01T00:00:00+01:00",
            "status": "shipped,pending",
            "min_total": "10",
            "max_total": "99.95",
            "customer_id": "c-1",
            "product_id": "sku-9",
            "sort": "highest_value",
            "limit": "200",
        }
    )
    assert params.created_from == datetime(2025, 1, 1, tzinfo=UTC)
    assert params.created_to == datetime(2025, 1, 31, 23, tzinfo=UTC)
    assert params.statuses == ("pending", "shipped")
    assert params.min_total == Decimal("10") and params.max_total == Decimal("99.95")
    assert (params.customer_id, params.product_id) == ("c-1", "sku-9")
    assert (params.sort, params.limit) == ("highest_value", 200)


def test_times_come_out_in_utc_whatever_zone_they_were_given_in() -> None:
    params = parse_order_list_params({"created_from": "2025-06-01T12:00:00-04:30"})
    assert params.created_from == datetime(2025, 6, 1, 16, 30, tzinfo=UTC)
    assert params.created_from.tzinfo is UTC  # type: ignore[union-attr]


def test_a_time_without_offset_is_taken_as_utc() -> None:
    params = parse_order_list_params({"created_from": "2025-06-01T12:00:00"})
    assert params.created_from == datetime(2025, 6, 1, 12, tzinfo=UTC)


def test_a_date_alone_is_midnight_utc() -> None:
    params = parse_order_list_params({"created_to": "2025-06-01"})
    assert params.created_to == datetime(2025, 6, 1, tzinfo=UTC)


def test_an_offset_whose_plus_was_not_url_encoded_still_parses() -> None:
    # "+02:00" in a query string arrives as " 02:00" when the client forgot to encode it.
    params = parse_order_list_params({"created_from": "2025-06-01T12:00:00 02:00"})
    assert params.created_from == datetime(2025, 6, 1, 10, tzinfo=UTC)


def test_repeated_status_parameters_add_up_and_duplicates_collapse() -> None:
    query = MultiDict(("status", "pending"), ("status", "shipped,pending"))
    assert parse_order_list_params(query).statuses == ("pending", "shipped")  # type: ignore[arg-type]


def test_status_names_may_have_spaces_around_commas() -> None:
    assert parse_order_list_params({"status": "pending, shipped"}).statuses == (
        "pending",
        "shipped",
    )


@pytest.mark.parametrize("name", ["status", "limit", "cursor", "sort", "created_to", "min_total"])
def test_an_empty_value_is_refused_rather_than_taken_as_absent(name: str) -> None:
    # The OpenAPI document describes no empty value (`created_to=` is no date-time).
    with pytest.raises(InvalidParameter) as caught:
        parse_order_list_params({name: ""})
    assert caught.value.name == name


def test_equal_min_and_max_total_is_an_exact_total() -> None:
    params = parse_order_list_params({"min_total": "5.00", "max_total": "5"})
    assert params.min_total == params.max_total == Decimal("5")


# --- each invalid parameter is named --------------------------------------------------


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ({"created_from": "yesterday"}, "created_from"),
        ({"created_to": "2025-13-01"}, "created_to"),
        ({"created_from": "2025-02-30T00:00:00Z"}, "created_from"),
        ({"created_from": "2025-01-02", "created_to": "2025-01-01"}, "created_to"),
        ({"created_from": "2025-01-01", "created_to": "2025-01-01T00:00:00Z"}, "created_to"),
        ({"min_total": "-1"}, "min_total"),
        ({"max_total": "abc"}, "max_total"),
        ({"min_total": "NaN"}, "min_total"),
        ({"min_total": "1e3"}, "min_total"),
        ({"max_total": "Infinity"}, "max_total"),
        ({"max_total": "1" * 40}, "max_total"),
        ({"min_total": "10", "max_total": "9.99"}, "min_total"),
        ({"status": "lost"}, "status"),
        ({"status": "pending,"}, "status"),
        ({"status": "PENDING"}, "status"),
        ({"sort": "cheapest"}, "sort"),
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"limit": "-5"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "1.5"}, "limit"),
        ({"customer_id": "x" * 129}, "customer_id"),
        ({"product_id": "a\nb"}, "product_id"),
        ({"page": "2"}, "page"),
        ({"offset": "100"}, "offset"),
        ({"cursor": "not a cursor"}, "cursor"),
    ],
)
def test_an_invalid_parameter_is_refused_by_name(query: dict[str, str], name: str) -> None:
    err = invalid(query)
    assert err.name == name
    assert err.message and name in str(err)


def test_a_repeated_single_valued_parameter_is_refused() -> None:
    assert invalid(MultiDict(("limit", "10"), ("limit", "20"))).name == "limit"


def test_the_unknown_parameter_message_lists_the_known_ones() -> None:
    assert "created_from" in invalid({"sort_by": "newest"}).message


def test_an_unknown_status_message_lists_the_known_ones() -> None:
    message = invalid({"status": "lost"}).message
    assert "pending" in message and "cancelled" in message


# --- the cursor ----------------------------------------------------------------------


def test_a_cursor_round_trips_to_the_row_it_was_made_from() -> None:
    params = parse_order_list_params({"status": "shipped", "sort": "oldest"})
    at = datetime(2025, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)
    cursor = cursor_of(params, at, "o-42")
    parsed = parse_order_list_params({"status": "shipped", "sort": "oldest", "cursor": cursor})
    assert decode_cursor(parsed) == Keyset(at, "o-42")


def test_a_value_sort_cursor_keeps_the_exact_total() -> None:
    params = OrderListParams(sort="lowest_value")
    cursor = cursor_of(params, Decimal("100.10"))
    assert decode_cursor(replace(params, cursor=cursor)) == Keyset(Decimal("100.1"), "o-1")


def test_the_cursor_is_url_safe_and_without_padding() -> None:
    cursor = cursor_of(OrderListParams(customer_id="ü/+?&"), datetime(2025, 1, 1, tzinfo=UTC))
    assert cursor.replace("-", "").replace("_", "").replace(".", "").isalnum()


def test_a_cursor_survives_a_change_of_limit() -> None:
    params = OrderListParams(limit=10)
    cursor = cursor_of(params, datetime(2025, 1, 1, tzinfo=UTC))
    assert decode_cursor(replace(params, limit=200, cursor=cursor)) is not None


def test_equal_filters_spelled_differently_accept_each_others_cursors() -> None:
    a = parse_order_list_params(
        {"status": "shipped,pending", "min_total": "10", "created_from": "2025-01-01T01:00+01:00"}
    )
    b = parse_order_list_params(
        {"status": "pending,shipped", "min_total": "10.00", "created_from": "2025-01-01T00:00Z"}
    )
    assert filter_fingerprint(a) == filter_fingerprint(b)
    cursor = cursor_of(a, datetime(2025, 2, 1, tzinfo=UTC))
    assert decode_cursor(replace(b, cursor=cursor)) is not None


@pytest.mark.parametrize(
    "other",
    [
        {"sort": "oldest"},
        {"status": "pending"},
        {"status": "shipped,pending"},
        {"created_from": "2025-01-01T00:00:00Z"},
        {"created_to": "2025-01-01T00:00:00Z"},
        {"min_total": "1"},
        {"max_total": "1"},
        {"customer_id": "c-2"},
        {"product_id": "p-2"},
    ],
)
def test_a_cursor_from_another_sort_or_filter_set_is_refused(other: dict[str, str]) -> None:
    first = {"status": "shipped"}
    cursor = cursor_of(parse_order_list_params(first), datetime(2025, 1, 1, tzinfo=UTC))
    query = {**first, **other, "cursor": cursor}
    with pytest.raises(CursorMismatch) as info:
        parse_order_list_params(query)
    assert info.value.name == "cursor"


def test_a_cursor_with_an_edited_position_is_refused_as_tampered() -> None:
    params = OrderListParams()
    cursor = cursor_of(params, datetime(2025, 1, 1, tzinfo=UTC), "o-1")
    with pytest.raises(InvalidCursor) as info:
        parse_order_list_params({"cursor": with_fields(cursor, id="o-2")})
    assert not isinstance(info.value, CursorMismatch)
    assert info.value.name == "cursor"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda c: c[:-1],
        lambda c: c[:10],
        lambda c: c + "A",
        lambda c: c[:5] + ("B" if c[5] != "B" else "C") + c[6:],
        lambda c: c + "=",
        lambda c: "x" * 2000,
        lambda c: base64.urlsafe_b64encode(b"[1, 2]").decode(),
        lambda c: base64.urlsafe_b64encode(b'{"s": 1}').decode(),
    ],
)
def test_a_mangled_cursor_is_refused_without_crashing(mangle: Callable[[str], str]) -> None:
    cursor = cursor_of(OrderListParams(), datetime(2025, 1, 1, tzinfo=UTC))
    with pytest.raises(InvalidCursor):
        parse_order_list_params({"cursor": mangle(cursor)})


def test_decode_cursor_checks_params_built_without_the_parser() -> None:
    cursor = cursor_of(OrderListParams(sort="oldest"), datetime(2025, 1, 1, tzinfo=UTC))
    with pytest.raises(CursorMismatch):
        decode_cursor(OrderListParams(sort="newest", cursor=cursor))
    assert decode_cursor(OrderListParams()) is None
