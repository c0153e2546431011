"""derived_id is uuid5 of the role and command id: ids already in tables, events and the
read models stay the ones a redelivered command derives again."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from topics.messages import derived_id


@given(st.text(max_size=80), st.text(max_size=40))
def test_derived_id_is_uuid5(command_id: str, role: str) -> None:
    expected = uuid.uuid5(uuid.NAMESPACE_URL, f"inventory-stream:{role}:{command_id}")
    assert derived_id(command_id, role) == str(expected)


def test_a_known_id() -> None:
    # Pinned, so a change of namespace or name layout cannot pass with uuid5 changed too.
    assert derived_id("c-1", "order") == "f9aae3c1-e906-5634-9143-529efec9d2f1"
