"""The worker's own metrics (beside faust's, from its Prometheus sensor): commands applied
and records dead-lettered (inventory.metrics_server.DEAD_LETTERS). Module-level, in the
process's default registry: one worker per process, served by inventory.metrics_server."""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY, Counter

from inventory.metrics_server import DEAD_LETTERS

__all__ = ["COMMANDS_APPLIED", "DEAD_LETTERS", "install_faust_sensor"]

COMMANDS_APPLIED = Counter(
    "inventory_worker_commands",
    "Commands the worker decided, by type and outcome (ok or the refusal's code; "
    "duplicate: answered from its applied entry). Includes the pipeline's own commands "
    "(order.expire, reservation.release, ...), which no gateway sees.",
    ["type", "outcome"],
)


def install_faust_sensor(app: Any) -> None:
    """faust's own agent, stream, table, commit and send metrics (faust_*), in the same
    registry as ours. faust serves them only through its web server, which the worker
    does not run: inventory.metrics_server serves the registry instead."""
    from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor

    app.monitor = PrometheusMonitor(metrics=FaustMetrics.create(REGISTRY, "faust"))
