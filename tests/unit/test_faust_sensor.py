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
