"""storage.cursors: the signed cursor format, and which cursors are refused. No I/O."""

from __future__ import annotations

import base64
import json

import pytest
from itsdangerous.encoding import base64_decode

from storage.cursors import CursorMismatch, InvalidCursor, KeysetCursor
from tests.support.cursors import payload_of, with_fields

ORDERS = KeysetCursor(
    salt="test/orders", query_fields=frozenset({"f"}), position_fields=frozenset({"id"})
)
OTHER = KeysetCursor(
    salt="test/other", query_fields=frozenset({"f"}), position_fields=frozenset({"id"})
)
QUERY = {"f": "filters-1"}


def test_a_cursor_is_the_signed_base64url_json_of_its_fields() -> None:
    cursor = ORDERS.seal(QUERY, {"id": "o-1"})
    payload, signature = cursor.split(".")
    assert json.loads(base64_decode(payload)) == {"f": "filters-1", "id": "o-1"}
    assert len(base64_decode(signature)) == 32  # HMAC-SHA256
    assert "=" not in cursor


def test_a_long_repetitive_payload_is_compressed_and_marked_with_a_dot() -> None:
    position = {"id": "2025-01-01T00:00:00.000000+00:00" * 3}
    cursor = ORDERS.seal(QUERY, position)
    assert cursor.startswith(".")
    assert payload_of(cursor) == {**QUERY, **position}
    assert ORDERS.open(cursor, QUERY) == position


def test_a_cursor_opens_to_its_position_for_its_own_query() -> None:
    cursor = ORDERS.seal(QUERY, {"id": "o-1"})
    assert ORDERS.open(cursor, QUERY) == {"id": "o-1"}


def test_a_cursor_of_another_query_is_a_mismatch() -> None:
    cursor = ORDERS.seal(QUERY, {"id": "o-1"})
    with pytest.raises(CursorMismatch):
        ORDERS.open(cursor, {"f": "filters-2"})


def test_a_cursor_with_an_edited_field_is_refused_as_tampered() -> None:
    forged = with_fields(ORDERS.seal(QUERY, {"id": "o-1"}), id="o-2")
    with pytest.raises(InvalidCursor) as info:
        ORDERS.open(forged, QUERY)
    assert not isinstance(info.value, CursorMismatch)
    assert info.value.name == "cursor"


def test_a_cursor_sealed_with_another_salt_is_refused() -> None:
    with pytest.raises(InvalidCursor):
        ORDERS.open(OTHER.seal(QUERY, {"id": "o-1"}), QUERY)


def test_another_spelling_of_a_genuine_signature_is_refused() -> None:
    # 32 bytes are 43 base64 characters whose last two bits are spare: flipping one
    # spells the same signature, which itsdangerous alone accepts.
    cursor = ORDERS.seal(QUERY, {"id": "o-1"})
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet[alphabet.index(cursor[-1]) ^ 1]
    respelled = cursor[:-1] + last
    assert ORDERS.serializer.loads(respelled) == ORDERS.serializer.loads(cursor)
    with pytest.raises(InvalidCursor):
        ORDERS.open(respelled, QUERY)


def test_a_cursor_of_the_format_before_itsdangerous_is_refused() -> None:
    old = {"f": "filters-1", "id": "o-1", "h": "AAAAAAAAAAAAAAAAAAAAAA"}
    old_cursor = base64.urlsafe_b64encode(json.dumps(old).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidCursor):
        ORDERS.open(old_cursor, QUERY)


@pytest.mark.parametrize(
    "fields",
    [{"f": "filters-1"}, {"f": "filters-1", "id": "o-1", "x": "1"}, {"f": "filters-1", "id": 1}],
)
def test_a_genuine_signature_over_other_fields_is_refused(fields: dict[str, object]) -> None:
    # Signed with the right key and salt, so only the field check can refuse it.
    cursor = ORDERS.serializer.dumps(fields)
    with pytest.raises(InvalidCursor):
        ORDERS.open(cursor, QUERY)


def test_an_oversized_cursor_is_refused_before_it_is_read() -> None:
    with pytest.raises(InvalidCursor):
        ORDERS.open("A" * 2000 + "." + "B" * 43, QUERY)
