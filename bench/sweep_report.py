"""A `bench.reserve --sweep` run in one table and one plot: throughput and p99 of each
mode against the number of concurrent clients, and each pipeline mode's ratio to the
PostgreSQL baseline at the same number of clients (and the worker's to the plain loop's,
a/p, when (p) ran)."""

from __future__ import annotations

from pathlib import Path

from bench.plots import log_x_panel
from bench.report import ModeResult, compared

# The targets of issue 9 at 50 clients: (a) Kafka direct >= 5x, (b) HTTP >= 3x (c).
TARGETS = {"a": 5.0, "b": 3.0}


def render_sweep(levels: list[tuple[int, list[ModeResult]]]) -> str:
    """Markdown: one row per number of clients, throughput and p99 per mode, ratios."""
    modes = [r.key for r in levels[0][1]]
    labels = {r.key: r.label for r in levels[0][1]}
    header = ["clients"]
    for mode in modes:
        header += [f"({mode}) res/s", f"({mode}) p99 ms"]
    pairs = compared(modes)
    header += [f"({m}) / ({base})" for m, base in pairs]
    lines = [
        "Sweep: " + ", ".join(f"({m}) {labels[m]}" for m in modes),
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---:"] * len(header)) + "|",
    ]
    for clients, results in levels:
        by_mode = {r.key: r for r in results}
        row = [str(clients)]
        for mode in modes:
            r = by_mode[mode]
            row += [f"{r.throughput:.0f}", f"{r.percentile_ms(99):.1f}"]
        for m, against in pairs:
            base = by_mode[against].throughput
            row.append(f"{by_mode[m].throughput / base:.2f}x" if base > 0 else "-")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def plot_sweep(levels: list[tuple[int, list[ModeResult]]], path: Path) -> None:
    """Two panels, log-scaled clients: reservations/s and p99 latency per mode."""
    import matplotlib

    matplotlib.use("Agg")  # no display: a file only
    import matplotlib.pyplot as plt

    clients = [n for n, _ in levels]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for mode, label in ((r.key, r.label) for r in levels[0][1]):
        chosen = [next(r for r in results if r.key == mode) for _, results in levels]
        name = f"({mode}) {label}"
        left.plot(clients, [r.throughput for r in chosen], marker="o", label=name)
        right.plot(clients, [r.percentile_ms(99) for r in chosen], marker="o", label=name)
    for axis, title, unit in (
        (left, "throughput", "reservations/s"),
        (right, "p99 latency", "ms"),
    ):
        log_x_panel(axis, title, "concurrent clients", unit)
    right.set_yscale("log")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
