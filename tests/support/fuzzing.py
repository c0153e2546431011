"""schemathesis against a running gateway, through its Python engine (what `st run` runs):
the examples, coverage, fuzzing and stateful phases, every check.

The engine rather than `schema.parametrize()`: its stateful phase follows the document's
links against a server whose state moves under it, which a bare hypothesis state
machine reports as flaky data generation; the engine carries on. (pytest 9.2 also broke
schemathesis's fixture-based loader, `schemathesis.pytest.from_fixture`.)
"""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events, from_schema
from schemathesis.hooks import GLOBAL_HOOK_DISPATCHER
from schemathesis.openapi.checks import RejectedPositiveData

from api.dispatch import IDEMPOTENCY_HEADER, IDEMPOTENCY_KEY_PATTERN, MAX_IDEMPOTENCY_KEY
from topics.fields import PRODUCT_ID_PATTERN

CREATE_PRODUCT = "POST /api/products/"
# The list endpoints' rules that span parameters or need the server's key, which no JSON
# Schema can state (the document says them in words): a cursor the server did not make,
# created_to not after created_from, min_total above max_total, until not after since.
# A schema-valid query refused with 400 naming one of these is the document's word.
CROSS_PARAMETER_REFUSALS = {
    "GET /api/orders/": {"cursor", "created_to", "min_total"},
    "GET /api/audit/": {"cursor", "until"},
}
# Body rules JSON Schema cannot state, refused with 422 and this code (the document's
# description of the body says so): a cart naming one product on two lines.
CROSS_FIELD_REFUSALS = {"POST /api/reservations/": "duplicate_line"}


@dataclass(frozen=True)
class Budget:
    """How much to generate: cases per operation in the fuzzing phase, scenarios of the
    stateful phase and steps per scenario. The coverage phase is as large as the document."""

    examples: int
    scenarios: int
    steps: int = 6


@dataclass
class FuzzReport:
    """What one engine run did: cases sent per phase, every distinct problem, and the
    links the stateful phase followed."""

    seed: int
    cases: Counter[str] = field(default_factory=Counter)
    # One entry per distinct (operation, failure title), with its first reproduction.
    failures: dict[tuple[str, str], str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    # "source -> [status] link -> target" -> how often its target answered each status.
    links: dict[str, Counter[int]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.cases.values())

    def summary(self) -> str:
        phases = ", ".join(f"{phase} {count}" for phase, count in sorted(self.cases.items()))
        walked = sum(sum(statuses.values()) for statuses in self.links.values())
        return (
            f"schemathesis seed {self.seed}: {self.total} cases ({phases}); "
            f"{walked} stateful steps along {len(self.links)} links"
        )


def config(base_url: str, seed: int, budget: Budget, api_key: str) -> SchemathesisConfig:
    """Every phase and every check (schemathesis's defaults), reproducibly seeded, with
    `api_key` for the document's bearer scheme (schemathesis also calls each keyed
    operation without it, and expects the documented 401)."""
    return SchemathesisConfig.from_dict(
        {
            "seed": seed,
            "base-url": base_url,
            "auth": {"openapi": {"ApiKey": {"bearer": api_key}}},
            "generation": {"max-examples": budget.examples, "database": "none"},
            "phases": {
                "stateful": {
                    # The document's own links only: links inferred from the list
                    # endpoints would depend on what the shared read models hold.
                    "inference": {"algorithms": []},
                    "max-steps": budget.steps,
                    "generation": {"max-examples": budget.scenarios, "database": "none"},
                }
            },
        }
    )


def _fresh_identities(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    # A valid Idempotency-Key or product id that the generator happens to repeat is
    # answered as documented (422 idempotency_key_reused, 409 product_exists): true, but
    # about the run's history, not the request, and a repeated product id would keep the
    # stateful phase from creating the product its links start from. So valid ones are
    # made unique per request; invalid ones are left alone, and their refusal checked.
    key = (case.headers or {}).get(IDEMPOTENCY_HEADER)
    if (
        isinstance(key, str)
        and len(key) <= MAX_IDEMPOTENCY_KEY
        and re.fullmatch(IDEMPOTENCY_KEY_PATTERN, key)
    ):
        case.headers[IDEMPOTENCY_HEADER] = uuid.uuid4().hex
    if case.operation.label == CREATE_PRODUCT and isinstance(case.body, dict):
        product_id = case.body.get("id")
        if isinstance(product_id, str) and re.fullmatch(PRODUCT_ID_PATTERN, product_id):
            case.body["id"] = f"{product_id[:55]}-{uuid.uuid4().hex[:8]}"


def _error_code(response: Any) -> str | None:
    try:
        return str(json.loads(response.content)["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return None


def _refused_parameter(response: Any) -> str | None:
    try:
        body = json.loads(response.content)
        return str(body["error"]["details"]["parameter"])
    except (ValueError, KeyError, TypeError):
        return None


def _not_a_documented_refusal(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """False (drop the failure) for a valid request refused by a cross-parameter or
    cross-field rule."""
    if not isinstance(failure, RejectedPositiveData):
        return True
    label = case.operation.label
    if response.status_code == 400:
        return _refused_parameter(response) not in CROSS_PARAMETER_REFUSALS.get(label, set())
    if response.status_code == 422:
        return _error_code(response) != CROSS_FIELD_REFUSALS.get(label)
    return True


@contextmanager
def _hooks() -> Iterator[None]:
    # before_call exists only in the global scope: registered for this run, then removed.
    GLOBAL_HOOK_DISPATCHER.register_hook_with_name(_fresh_identities, "before_call")
    try:
        yield
    finally:
        GLOBAL_HOOK_DISPATCHER.unregister(_fresh_identities)


def run(gateway_url: str, *, seed: int, budget: Budget, api_key: str) -> FuzzReport:
    """Run every phase against `gateway_url`'s own /api/openapi.json with an admin
    `api_key`; returns the report."""
    settings = config(gateway_url, seed, budget, api_key)
    schema = schemathesis.openapi.from_url(f"{gateway_url}/api/openapi.json", config=settings)
    schema.hook("filter_failure")(_not_a_documented_refusal)
    report = FuzzReport(seed=seed)
    with _hooks():
        for event in from_schema(schema).execute():
            _record(report, event)
    return report


def _record(report: FuzzReport, event: events.EngineEvent) -> None:
    if isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished):
        phase = getattr(event, "phase", "fuzzing")
        report.cases[str(getattr(phase, "value", phase))] += len(event.recorder.cases)
        _record_failures(report, event.recorder)
        _record_links(report, event.recorder)
    elif isinstance(event, events.NonFatalError):
        report.errors.append(f"{event.label}: {event.info.format()}")
    elif isinstance(event, events.FatalError):
        report.errors.append(f"fatal: {event.exception!r}")


def _record_failures(report: FuzzReport, recorder: Any) -> None:
    for nodes in recorder.checks.values():
        for node in nodes:
            if node.status == Status.FAILURE and node.failure_info is not None:
                info = node.failure_info
                key = (info.failure.operation, info.failure.title)
                report.failures.setdefault(
                    key, f"{key[0]}: {key[1]}\n{info.failure.message}\n{info.code_sample}"
                )


def _record_links(report: FuzzReport, recorder: Any) -> None:
    for case_id, node in recorder.cases.items():
        interaction = recorder.interactions.get(case_id)
        if node.transition is None or interaction is None or interaction.response is None:
            continue
        statuses = report.links.setdefault(node.transition.id, Counter())
        statuses[interaction.response.status_code] += 1
