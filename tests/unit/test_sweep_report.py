"""The sweep table of bench.reserve: one row per number of clients, each pipeline
mode's ratio to the PostgreSQL baseline at the same number of clients."""

from __future__ import annotations

from bench.load import Measurement
from bench.report import ModeResult
from bench.sweep_report import render_sweep


def result(key: str, per_second: float) -> ModeResult:
    # 100 answers in one second, each taking 1..100 ms: p99 is 99 ms.
    measurement = Measurement(
        latencies=[(i + 1) / 1000 for i in range(100)],
        finished_at=[i / 100 for i in range(100)],
        elapsed=100 / per_second,
    )
    return ModeResult(key, f"mode {key}", measurement, "ok")


def test_each_level_is_a_row_with_the_ratios_to_the_baseline() -> None:
    levels = [
        (1, [result("a", 500), result("b", 300), result("c", 100)]),
        (50, [result("a", 1000), result("b", 600), result("c", 400)]),
    ]
    table = render_sweep(levels).splitlines()

    assert table[2] == (
        "| clients | (a) res/s | (a) p99 ms | (b) res/s | (b) p99 ms | (c) res/s | (c) p99 ms "
        "| (a) / (c) | (b) / (c) |"
    )
    assert table[4].startswith("| 1 | 500 |") and table[4].endswith("| 5.00x | 3.00x |")
    assert table[5].startswith("| 50 | 1000 |") and table[5].endswith("| 2.50x | 1.50x |")


def test_with_the_plain_loop_the_sweep_also_compares_the_worker_to_it() -> None:
    levels = [(50, [result("a", 500), result("p", 2000), result("c", 400)])]
    table = render_sweep(levels).splitlines()

    assert table[2].endswith("| (a) / (c) | (p) / (c) | (a) / (p) |")
    assert table[4].endswith("| 1.25x | 5.00x | 0.25x |")
