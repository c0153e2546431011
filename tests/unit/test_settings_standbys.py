"""Standby replicas are on by default (one copy of each table partition on another
worker, where there is one): the copies lost records once (docs/RELIABILITY.md, find 6),
which agents.faust_patches fixed; tests/integration/test_standby_replicas.py holds them
to the changelog."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from inventory.settings import Settings


def test_one_standby_replica_by_default() -> None:
    assert Settings().standby_replicas == 1


def test_standby_replicas_may_be_turned_off() -> None:
    assert Settings(standby_replicas=0).standby_replicas == 0


def test_a_negative_count_is_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(standby_replicas=-1)
