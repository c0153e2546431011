"""The worker's faust sensor: faust's Prometheus metrics, with per-event label lookups
cached (agents.metrics.install_faust_sensor)."""

from __future__ import annotations

from types import SimpleNamespace

from faust.types import TP
from prometheus_client import CollectorRegistry, Counter

from agents.metrics import CachedLabels, install_faust_sensor


def test_a_child_is_looked_up_once_per_set_of_labels() -> None:
    counter = Counter("c", "c", ["topic"], registry=CollectorRegistry())
    cached = CachedLabels(counter)
    assert cached.labels(topic="a") is cached.labels(topic="a")
    cached.labels(topic="a").inc()
    cached.labels(topic="b").inc(2)
    assert counter.labels(topic="a")._value.get() == 1
    assert counter.labels(topic="b")._value.get() == 2


def test_the_sensor_counts_messages_per_topic_through_the_cache() -> None:
    app = SimpleNamespace(monitor=None)
    install_faust_sensor(app)
    monitor = app.monitor
    received = monitor._metrics.messages_received_per_topics
    assert isinstance(received, CachedLabels)
    tp = TP("sensor-test-topic", 0)
    before = received.metric.labels(topic=tp.topic)._value.get()
    for offset in range(3):
        monitor.on_message_in(tp, offset, SimpleNamespace())
    assert received.metric.labels(topic=tp.topic)._value.get() == before + 3


def test_a_rebalance_clears_the_partition_series_and_counting_goes_on() -> None:
    """faust's sensor clears the per-partition series at every rebalance's start, from
    inside the consumer's revoke listener: a failure there skipped the worker's commit
    before the revoke (seen in `make bench-reserve-products`: the first worker, fenced
    by the second one's producer, exited)."""
    app = SimpleNamespace(monitor=None, rebalancing_count=1)
    install_faust_sensor(app, CollectorRegistry())
    monitor = app.monitor
    per_partition = monitor._metrics.messages_received_per_topics_partition
    tp = TP("sensor-rebalance-topic", 3)
    monitor.on_message_in(tp, 5, SimpleNamespace())

    def exported() -> dict[tuple[str, str], float]:
        # The gauge of the last offset received, per topic and partition.
        [family] = per_partition.metric.collect()
        return {(s.labels["topic"], s.labels["partition"]): s.value for s in family.samples}

    assert exported() == {(tp.topic, "3"): 5.0}
    monitor.on_rebalance_start(app)
    assert exported() == {}
    # The cached child went with the series: a message after the rebalance is exported.
    monitor.on_message_in(tp, 7, SimpleNamespace())
    assert exported() == {(tp.topic, "3"): 7.0}
