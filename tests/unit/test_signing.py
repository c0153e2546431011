"""Signatures of the pipeline's own commands (topics.signing)."""

from __future__ import annotations

from topics.signing import (
    INTERNAL_COMMAND_TYPES,
    PUBLIC_COMMAND_TYPES,
    SIGNATURE_HEADER,
    sign,
    signature_headers,
    verify,
)


def test_a_signature_verifies_under_its_key_only() -> None:
    signature = sign(b"key", b'{"type": "reservation.release"}')
    assert verify(b"key", b'{"type": "reservation.release"}', signature)
    assert not verify(b"other key", b'{"type": "reservation.release"}', signature)


def test_a_changed_value_or_a_missing_signature_fails() -> None:
    signature = sign(b"key", b'{"quantity": 1}')
    assert not verify(b"key", b'{"quantity": 9}', signature)
    assert not verify(b"key", b'{"quantity": 1}', None)
    assert not verify(b"key", b'{"quantity": 1}', b"")


def test_the_header_carries_the_signature() -> None:
    assert signature_headers(b"k", b"v") == [(SIGNATURE_HEADER, sign(b"k", b"v"))]


def test_public_and_internal_command_types_do_not_overlap() -> None:
    assert not INTERNAL_COMMAND_TYPES & set(PUBLIC_COMMAND_TYPES)


def test_every_command_type_is_either_public_or_internal() -> None:
    from topics import messages

    types = {
        cls.model_fields["type"].default
        for cls in vars(messages).values()
        if isinstance(cls, type)
        and issubclass(cls, messages._Command)
        and cls is not messages._Command
    }
    assert types == INTERNAL_COMMAND_TYPES | set(PUBLIC_COMMAND_TYPES)
