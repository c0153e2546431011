"""The printed summary of bench.reserve: the throughput ratios of the modes that ran
(each pipeline mode to the row lock, the worker to the plain loop) and the CPU the
processors spent per reservation."""

from __future__ import annotations

import pytest

from bench.cpu import CpuUsage
from bench.load import Measurement
from bench.report import ModeResult, processor_cpu_ms, ratios, render_markdown, render_text


def result(key: str, per_second: float, cpu: dict[str, float] | None = None) -> ModeResult:
    # 100 answers in 100 / per_second seconds; `cpu` is role -> CPU seconds of the phase.
    measurement = Measurement(
        latencies=[(i + 1) / 1000 for i in range(100)],
        finished_at=[i / 100 for i in range(100)],
        elapsed=100 / per_second,
    )
    usage = CpuUsage(cpu, None) if cpu is not None else None
    return ModeResult(key, f"mode {key}", measurement, "ok", usage)


def test_ratios_compare_each_mode_to_the_row_lock_and_the_worker_to_the_plain_loop() -> None:
    found = ratios([result("a", 500), result("p", 2000), result("c", 400), result("b", 300)])

    assert list(found) == ["a/c", "b/c", "p/c", "a/p"]
    assert found == {"a/c": 1.25, "b/c": 0.75, "p/c": 5.0, "a/p": 0.25}


def test_the_bare_http_front_bounds_the_gateway_mode() -> None:
    found = ratios([result("b", 300), result("c", 400), result("q", 1000)])

    assert found == {"b/c": 0.75, "q/c": 2.5, "b/q": 0.3}


def test_the_bare_http_front_counts_as_no_processor() -> None:
    q = result("q", 1000, {"plain-p2": 0.05, "gateway-plain": 0.04})

    assert processor_cpu_ms(q) == pytest.approx(0.5)  # the loop's 50 ms over 100


def test_no_ratio_names_a_mode_that_did_not_run() -> None:
    assert ratios([result("p", 2000), result("c", 400)]) == {"p/c": 5.0}
    assert ratios([result("a", 500), result("b", 300)]) == {}


def test_processor_cpu_sums_the_workers_or_the_plain_loops_only() -> None:
    two_loops = result("p", 1000, {"bench": 0.05, "plain-p0": 0.02, "plain-p3": 0.01})
    two_workers = result("a", 1000, {"worker-1": 0.1, "worker-2": 0.05, "projector": 0.2})

    assert processor_cpu_ms(two_loops) == pytest.approx(0.3)  # 30 ms over 100 reservations
    assert processor_cpu_ms(two_workers) == pytest.approx(1.5)
    assert processor_cpu_ms(result("c", 400, {"bench": 0.1})) is None


def test_the_summary_shows_the_ratios_and_the_worker_against_the_plain_loop() -> None:
    results = [
        result("a", 500, {"worker": 0.16, "bench": 0.05}),
        result("p", 2000, {"plain-p1": 0.02, "bench": 0.05}),
        result("c", 400, {"bench": 0.1}),
    ]

    text = render_text(results, "context").splitlines()
    markdown = render_markdown(results, "context").splitlines()

    assert "throughput ratios: a/c = 1.25x, p/c = 5.00x, a/p = 0.25x" in text
    line = "processor CPU ms per reservation: (a) worker 1.60, (p) plain loop 0.20, a/p = 8.00x"
    assert line in text
    assert (
        "Processor CPU ms per reservation: (a) worker 1.60, (p) plain loop 0.20, a/p = 8.00x."
        in markdown
    )
