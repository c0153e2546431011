"""The parameters of GET /api/audit/: parsing, validation and the opaque cursor (no I/O)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from multidict import MultiDict

from storage.audit_queries import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    AuditParams,
    CursorMismatch,
    InvalidCursor,
    InvalidParameter,
    build_audit_query,
    decode_audit_cursor,
    encode_audit_cursor,
    parse_audit_params,
)
from storage.order_params import OrderListParams, encode_cursor

T0 = datetime(2025, 1, 31, 12, 0, 0, 123456, tzinfo=UTC)


def blamed(query: dict[str, str] | MultiDict[str]) -> str:
    """The parameter a 400 would name for `query`."""
    with pytest.raises(InvalidParameter) as caught:
        parse_audit_params(query)
    return caught.value.name


def cursor_for(params: AuditParams) -> str:
    return encode_audit_cursor(params, T0, "event-1")


def test_no_parameters_give_the_defaults() -> None:
    assert parse_audit_params({}) == AuditParams(limit=DEFAULT_LIMIT)


def test_every_filter_is_parsed() -> None:
    params = parse_audit_params(
        {
            "entity_type": "order",
            "entity_id": "o-1",
            "type": "order.status_changed",
            "request_id": "req-1",
            "since": "2025-01-31T12:00:00Z",
            "until": "2025-02-01T00:00:00+02:00",
            "limit": "200",
        }
    )
    assert params == AuditParams(
        entity_type="order",
        entity_id="o-1",
        type="order.status_changed",
        request_id="req-1",
        since=datetime(2025, 1, 31, 12, tzinfo=UTC),
        until=datetime(2025, 1, 31, 22, tzinfo=UTC),
        limit=MAX_LIMIT,
    )


def test_a_time_without_offset_is_utc() -> None:
    assert parse_audit_params({"since": "2025-01-31T12:00"}).since == datetime(
        2025, 1, 31, 12, tzinfo=UTC
    )


def test_an_offset_whose_plus_was_not_url_encoded_is_repaired() -> None:
    params = parse_audit_params({"since": "2025-01-31T12:00:00 02:00"})
    assert params.since == datetime(2025, 1, 31, 10, tzinfo=UTC)


def test_a_valid_time_beyond_the_range_python_holds_in_utc_is_clamped_to_it() -> None:
    # Valid RFC 3339 times, but year 0 and year 10000 once in UTC.
    params = parse_audit_params(
        {"since": "0001-01-01T00:00:00+05:00", "until": "9999-12-31T23:59:59-05:00"}
    )
    assert params.since == datetime.min.replace(tzinfo=UTC)
    assert params.until == datetime.max.replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "value"),
    [("entity_id", "a\x00b"), ("request_id", " "), ("entity_id", "x" * 129)],
)
def test_an_id_filter_follows_the_entity_id_rule(name: str, value: str) -> None:
    assert blamed({name: value}) == name


@pytest.mark.parametrize("name", ["entity_id", "since", "until", "limit", "cursor", "type"])
def test_an_empty_value_is_refused_rather_than_taken_as_absent(name: str) -> None:
    # The OpenAPI document describes no empty value (`until=` is no date-time).
    assert blamed({name: ""}) == name


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ({"entity": "order"}, "entity"),
        ({"entity_type": "orders"}, "entity_type"),
        ({"type": "order.creatd"}, "type"),
        ({"entity_id": "x" * 129}, "entity_id"),
        ({"request_id": "a\nb"}, "request_id"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2025-13-01"}, "until"),
        ({"since": "2025-01-02", "until": "2025-01-01"}, "until"),
        ({"since": "2025-01-01T00:00Z", "until": "2025-01-01T01:00+01:00"}, "until"),
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "not a cursor"}, "cursor"),
    ],
)
def test_a_bad_parameter_is_named(query: dict[str, str], name: str) -> None:
    assert blamed(query) == name


def test_a_repeated_parameter_is_refused() -> None:
    assert blamed(MultiDict([("entity_id", "a"), ("entity_id", "b")])) == "entity_id"


def test_the_error_says_what_is_wrong_in_words() -> None:
    with pytest.raises(InvalidParameter) as caught:
        parse_audit_params({"entity_type": "orders"})
    assert "order, product, reservation" in caught.value.message


def test_a_cursor_round_trips_to_its_position() -> None:
    params = AuditParams(entity_type="order", entity_id="o-1")
    parsed = parse_audit_params(
        {"entity_type": "order", "entity_id": "o-1", "cursor": cursor_for(params)}
    )
    position = decode_audit_cursor(parsed)
    assert position is not None
    assert (position.occurred_at, position.event_id) == (T0, "event-1")


def test_a_cursor_survives_another_page_size() -> None:
    cursor = cursor_for(AuditParams(type="order.created", limit=10))
    assert parse_audit_params({"type": "order.created", "limit": "20", "cursor": cursor})


def test_a_cursor_survives_the_same_time_written_in_another_zone() -> None:
    cursor = cursor_for(parse_audit_params({"since": "2025-01-31T12:00:00Z"}))
    assert parse_audit_params({"since": "2025-01-31T14:00:00+02:00", "cursor": cursor})


def test_a_cursor_from_another_filter_set_is_refused() -> None:
    cursor = cursor_for(AuditParams(entity_type="order", entity_id="o-1"))
    with pytest.raises(CursorMismatch):
        parse_audit_params({"entity_type": "order", "entity_id": "o-2", "cursor": cursor})
    with pytest.raises(CursorMismatch):
        parse_audit_params({"cursor": cursor})


def test_a_tampered_cursor_is_refused() -> None:
    cursor = cursor_for(AuditParams())
    for index in range(len(cursor)):
        edited = cursor[:index] + ("A" if cursor[index] != "A" else "B") + cursor[index + 1 :]
        with pytest.raises(InvalidCursor):
            parse_audit_params({"cursor": edited})


def test_a_truncated_or_oversized_cursor_is_refused() -> None:
    cursor = cursor_for(AuditParams())
    for broken in (cursor[:-3], cursor[:10], cursor + "A", "A" * 2000):
        with pytest.raises(InvalidCursor):
            parse_audit_params({"cursor": broken})


def test_an_order_list_cursor_is_not_an_audit_cursor() -> None:
    order_cursor = encode_cursor(OrderListParams(), T0, "o-1")
    assert blamed({"cursor": order_cursor}) == "cursor"


def test_the_query_pages_by_keyset_not_offset() -> None:
    params = AuditParams(entity_type="order", entity_id="o-1", limit=5)
    position = decode_audit_cursor(replace(params, cursor=cursor_for(params)))
    sql = str(build_audit_query(params, position)).lower()
    assert "offset" not in sql
    assert "(audit_log.occurred_at, audit_log.id) <" in sql
    assert "order by audit_log.occurred_at desc, audit_log.id desc" in sql
