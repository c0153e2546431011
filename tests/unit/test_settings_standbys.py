"""Standby replicas are refused: the fault campaign found standby copies missing records
their checkpoint claimed, and a takeover from one released a reservation twice
(docs/RELIABILITY.md, find 6). Turning them on again must be a deliberate change."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from inventory.settings import Settings


def test_standby_replicas_default_to_none() -> None:
    assert Settings().standby_replicas == 0


def test_a_standby_replica_is_refused_with_the_reason() -> None:
    with pytest.raises(ValidationError, match="lose changelog records on a takeover"):
        Settings(standby_replicas=1)
