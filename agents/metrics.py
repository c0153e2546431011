"""The worker's own metrics (beside faust's, from its Prometheus sensor): commands applied
and records dead-lettered (inventory.metrics_server.DEAD_LETTERS). Module-level, in the
process's default registry: one worker per process, served by inventory.metrics_server."""

from __future__ import annotations

import functools
from typing import Any

from prometheus_client import REGISTRY, Counter

from inventory.metrics_server import DEAD_LETTERS

__all__ = ["COMMANDS_APPLIED", "DEAD_LETTERS", "commands_applied", "install_faust_sensor"]

COMMANDS_APPLIED = Counter(
    "inventory_worker_commands",
    "Commands the worker decided, by type and outcome (ok or the refusal's code; "
    "duplicate: answered from its applied entry). Includes the pipeline's own commands "
    "(order.expire, reservation.release, ...), which no gateway sees.",
    ["type", "outcome"],
)


@functools.cache
def commands_applied(command_type: str, outcome: str) -> Any:
    """COMMANDS_APPLIED's counter of one type and outcome. `labels()` takes a lock and
    checks its arguments on every call; the worker counts every command, and the pairs
    are few (command types times refusal codes)."""
    return COMMANDS_APPLIED.labels(command_type, outcome)


def install_faust_sensor(app: Any) -> None:
    """faust's own agent, stream, table, commit and send metrics (faust_*), in the same
    registry as ours. faust serves them only through its web server, which the worker
    does not run: inventory.metrics_server serves the registry instead."""
    from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor

    app.monitor = PrometheusMonitor(metrics=FaustMetrics.create(REGISTRY, "faust"))
