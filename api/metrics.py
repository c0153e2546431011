"""The gateway's Prometheus metrics: what it observes of the commands it sends, and
what it reads at each scrape (read models, consumer offsets).

Each gateway app has its own registry (several apps run in one test process); the
worker and the projector serve theirs on their own ports (inventory.metrics_server).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from inventory.lag import PartitionLag, total_lag

# From a reply in a few milliseconds to the 10 s reply timeout.
COMMAND_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class _ExpiredTotal(Collector):
    """inventory_reservations_expired_total: reservations the read models hold as expired.

    A counter read from the database at each scrape rather than counted in a process:
    it survives restarts of every process and never counts a replayed event twice."""

    def __init__(self) -> None:
        self.value = 0.0

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "inventory_reservations_expired",
            "Reservations that expired (held until their TTL passed), from the read models.",
        )
        family.add_metric([], self.value)
        yield family


class GatewayMetrics:
    """The metrics of one gateway app and the registry /metrics renders."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.commands = Counter(
            "inventory_commands",
            "Commands the gateway sent, by type and outcome: ok, the refusal's code, "
            "timeout (no reply in time) or unavailable (the broker refused it).",
            ["type", "outcome"],
            registry=r,
        )
        self.command_seconds = Histogram(
            "inventory_command_seconds",
            "Seconds from sending a command to its reply, as the gateway saw it, by type.",
            ["type"],
            buckets=COMMAND_BUCKETS,
            registry=r,
        )
        self.reservations_active = Gauge(
            "inventory_reservations_active",
            "Reservations holding stock now, from the read models.",
            registry=r,
        )
        self._expired = _ExpiredTotal()
        r.register(self._expired)
        self.orders = Gauge(
            "inventory_orders",
            "Orders in each status, from the read models.",
            ["status"],
            registry=r,
        )
        self.consumer_lag = Gauge(
            "inventory_consumer_lag",
            "Records of a partition the consumer group has not committed yet.",
            ["group", "topic", "partition"],
            registry=r,
        )
        self.projection_lag = Gauge(
            "inventory_projection_lag_events",
            "Events not yet written to a projection's tables (its group's lag).",
            ["projection"],
            registry=r,
        )
        self.scrape_errors = Counter(
            "inventory_gateway_scrape_errors",
            "Scrapes that could not read the database or the broker (their gauges keep "
            "the last values read).",
            ["source"],
            registry=r,
        )

    @contextmanager
    def command(self, command_type: str) -> Iterator[dict[str, str]]:
        """Time one command; the caller puts its outcome in the yielded dict's
        "outcome" (an exception that escapes counts as "error")."""
        started = time.perf_counter()
        seen = {"outcome": "error"}
        try:
            yield seen
        finally:
            self.command_seconds.labels(command_type).observe(time.perf_counter() - started)
            self.commands.labels(command_type, seen["outcome"]).inc()

    def set_read_models(self, reservations: dict[str, int], orders: dict[str, int]) -> None:
        self.reservations_active.set(reservations.get("active", 0))
        self._expired.value = float(reservations.get("expired", 0))
        for status, count in orders.items():
            self.orders.labels(status).set(count)

    def set_lag(
        self, consumers: dict[str, list[PartitionLag] | None], projections: dict[str, str]
    ) -> None:
        """Replace the lag gauges (groups the broker did not answer about keep theirs)."""
        for group, lags in consumers.items():
            if lags is None:
                continue
            for lag in lags:
                self.consumer_lag.labels(group, lag.topic, str(lag.partition)).set(lag.lag)
        for name, group in projections.items():
            lags = consumers.get(group)
            if lags is not None:
                self.projection_lag.labels(name).set(total_lag(lags))
