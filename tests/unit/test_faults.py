"""Fault points: armed by a spec, each raises its count of times, then never again."""

from __future__ import annotations

import pytest

from agents.faults import APPLY, CRASH_BEFORE_COMMIT, FaultPoints, InjectedFault


def test_an_armed_point_fails_its_count_of_times() -> None:
    points = FaultPoints("apply=2")
    for _ in range(2):
        with pytest.raises(InjectedFault):
            points.hit(APPLY)
    points.hit(APPLY)  # spent: passes from now on


def test_unarmed_points_never_fail() -> None:
    FaultPoints().hit(APPLY)
    FaultPoints("apply=0").hit(APPLY)


@pytest.mark.parametrize("spec", ["apply", "apply=x", "nowhere=1", "apply=-1"])
def test_a_malformed_spec_is_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        FaultPoints(spec)


def test_a_crash_point_is_reached_on_the_passage_its_count_names_only() -> None:
    points = FaultPoints("crash_before_commit=3")
    assert [points.reached(CRASH_BEFORE_COMMIT) for _ in range(5)] == [
        False,
        False,
        True,
        False,
        False,
    ]
    assert not FaultPoints().reached(CRASH_BEFORE_COMMIT)
