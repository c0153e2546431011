"""The worker's own metrics (beside faust's, from its Prometheus sensor): commands applied
and records dead-lettered (inventory.metrics_server.DEAD_LETTERS). Module-level, in the
process's default registry: one worker per process, served by inventory.metrics_server."""

from __future__ import annotations

import functools
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter

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


# The labelled metrics faust's sensor touches for every message and event.
PER_EVENT_FAUST_METRICS = (
    "messages_received_per_topics",
    "messages_received_per_topics_partition",
    "total_events_per_stream",
    "table_operations",
    "topic_messages_sent",
)


class CachedLabels:
    """A labelled metric whose children are looked up once per set of label values.
    prometheus_client's `labels()` takes a lock and checks its arguments every time.

    Everything else faust's sensor calls goes to the metric itself. At a rebalance's
    start faust collects and removes the per-partition series from inside the consumer's
    revoke listener: without `collect` it raised there, and the worker's commit before
    the revoke never ran. The cache is dropped with a series, or later counts would go
    to a child no longer exported."""

    def __init__(self, metric: Any) -> None:
        self.metric = metric
        self._children: dict[Any, Any] = {}

    def labels(self, *values: Any, **labels: Any) -> Any:
        key = (values, tuple(labels.items()))
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.metric.labels(*values, **labels)
        return child

    def remove(self, *values: Any) -> None:
        self.metric.remove(*values)
        # Removals come at rebalances only: look every child up afresh after one.
        self._children.clear()

    def clear(self) -> None:
        self.metric.clear()
        self._children.clear()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.metric, name)


def install_faust_sensor(app: Any, registry: CollectorRegistry = REGISTRY) -> None:
    """faust's own agent, stream, table, commit and send metrics (faust_*), in the same
    registry as ours. faust serves them only through its web server, which the worker
    does not run: inventory.metrics_server serves the registry instead.

    faust's sensor costs every command four label lookups and a regular expression (the
    stream's label): ~50 µs of the worker's CPU per command in a drain. The labelled
    metrics are wrapped to look each child up once, and a stream's label is kept."""
    from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor

    class Monitor(PrometheusMonitor):  # type: ignore[misc]
        def __init__(self, metrics: FaustMetrics) -> None:
            wrapped: dict[str, Any] = {
                name: CachedLabels(getattr(metrics, name)) for name in PER_EVENT_FAUST_METRICS
            }
            super().__init__(metrics=metrics._replace(**wrapped))
            self._stream_labels: dict[int, str] = {}

        def _stream_label(self, stream: Any) -> str:
            label = self._stream_labels.get(id(stream))
            if label is None:
                label = self._stream_labels[id(stream)] = super()._stream_label(stream)
            return label

    app.monitor = Monitor(FaustMetrics.create(registry, "faust"))
