"""Turns measurements into the printed table (plain text or Markdown) and the ratios."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.cpu import CpuUsage
from bench.load import Measurement

BASELINE = "c"
# The throughput ratios shown, (mode, against), in this order when both ran. Each
# pipeline mode against the row-lock baseline doing the same work: single-product
# reservations against (c), carts against (e), which locks the cart's rows in id order;
# the plain aiokafka loop (p) against (c) too, and the worker (a) against the plain
# loop (p) under the same client load: how much of a gap to (c) is the worker's own.
# (q), the least HTTP front over the plain loop, bounds (b): q/c and b/q.
COMPARISONS = (
    ("a", "c"),
    ("b", "c"),
    ("p", "c"),
    ("q", "c"),
    ("a", "p"),
    ("b", "q"),
    ("d", "e"),
)
# The processes that apply the commands, by role prefix (bench.stack's `worker`, or
# `worker-1`, `worker-2`; bench.plain_reserve's `plain-p<P>`).
PROCESSOR_ROLES = ("worker", "plain")


@dataclass(frozen=True)
class ModeResult:
    key: str  # "a" to "e", "p" or "q" (bench.reserve.MODES)
    label: str
    measurement: Measurement
    consistency: str  # what the system says was reserved, checked against the client's count
    cpu: CpuUsage | None = None

    @property
    def throughput(self) -> float:
        """Acknowledged reservations per second of wall time in the measured phase."""
        m = self.measurement
        return m.acknowledged / m.elapsed if m.elapsed > 0 else 0.0

    def percentile_ms(self, q: float) -> float:
        return percentile(self.measurement.latencies, q) * 1000.0


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values. Nearest rank never
    invents a latency that no request had, unlike interpolation."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[rank - 1]


def compared(modes: list[str]) -> list[tuple[str, str]]:
    """The COMPARISONS whose two modes are both among `modes`."""
    return [(m, base) for m, base in COMPARISONS if m in modes and base in modes]


def ratios(results: list[ModeResult]) -> dict[str, float]:
    """Throughput of each compared mode divided by the other's, e.g. {"a/c": 12.3,
    "a/p": 0.2}, in COMPARISONS order; none where the divisor had no throughput."""
    by_key = {r.key: r for r in results}
    found = {}
    for m, base in compared(list(by_key)):
        if by_key[base].throughput > 0:
            found[f"{m}/{base}"] = by_key[m].throughput / by_key[base].throughput
    return found


def processor_cpu_ms(result: ModeResult) -> float | None:
    """CPU ms per acknowledged reservation of the processes that applied the commands
    (the workers or the plain loops, summed); None when none of them was metered."""
    if result.cpu is None:
        return None
    per = result.cpu.per_request_ms(result.measurement.acknowledged)
    mine = [ms for role, ms in per.items() if role.startswith(PROCESSOR_ROLES)]
    return sum(mine) if mine else None


def _processor_line(results: list[ModeResult]) -> str:
    """(a) against (p) in CPU per reservation, when both ran and were metered."""
    by_key = {r.key: r for r in results}
    if "a" not in by_key or "p" not in by_key:
        return ""
    worker, plain = processor_cpu_ms(by_key["a"]), processor_cpu_ms(by_key["p"])
    if worker is None or plain is None:
        return ""
    line = f"processor CPU ms per reservation: (a) worker {worker:.2f}, (p) plain loop {plain:.2f}"
    return line + (f", a/p = {worker / plain:.2f}x" if plain > 0 else "")


_HEADERS = ("mode", "ok", "refused", "errors", "seconds", "reservations/s", "p50 ms", "p99 ms")


def _rows(results: list[ModeResult]) -> list[tuple[str, ...]]:
    return [
        (
            f"({r.key}) {r.label}",
            str(r.measurement.acknowledged),
            str(r.measurement.refused),
            str(r.measurement.errors),
            f"{r.measurement.elapsed:.1f}",
            f"{r.throughput:.0f}",
            f"{r.percentile_ms(50):.1f}",
            f"{r.percentile_ms(99):.1f}",
        )
        for r in results
    ]


def _ratio_line(results: list[ModeResult]) -> str:
    found = ratios(results)
    return ", ".join(f"{name} = {value:.2f}x" for name, value in found.items())


def _cpu_line(result: ModeResult) -> str:
    assert result.cpu is not None
    per = result.cpu.per_request_ms(result.measurement.acknowledged)
    parts = ", ".join(f"{role} {ms:.2f}" for role, ms in per.items())
    line = f"CPU ms per reservation: {parts}"
    if result.cpu.machine_busy is not None:
        line += f"; all CPUs {100 * result.cpu.machine_busy:.0f}% busy"
    return line


def render_text(results: list[ModeResult], context: str) -> str:
    """A fixed-width table, the ratios, the consistency checks and any first error."""
    rows = [_HEADERS, *_rows(results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADERS))]
    lines = [context, ""]
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    ratio = _ratio_line(results)
    if ratio:
        lines += ["", f"throughput ratios: {ratio}"]
    processor = _processor_line(results)
    if processor:
        lines.append(processor)
    lines.append("")
    for r in results:
        lines.append(f"({r.key}) check: {r.consistency}")
        trend = r.measurement.throughput_trend()
        if trend:
            spans = ", ".join(f"{v:.0f}" for v in trend)
            lines.append(f"({r.key}) reservations/s by fifth of the phase: {spans}")
        if r.cpu is not None:
            lines.append(f"({r.key}) {_cpu_line(r)}")
        if r.measurement.stopped_early:
            lines.append(f"({r.key}) stopped at the time limit before all requests were sent")
        if r.measurement.first_error:
            lines.append(f"({r.key}) first error: {r.measurement.first_error}")
    return "\n".join(lines)


def render_markdown(results: list[ModeResult], context: str) -> str:
    """The same numbers as a Markdown table, ready for docs/BENCHMARKS.md."""
    lines = [context, "", "| " + " | ".join(_HEADERS) + " |"]
    lines.append("|" + "|".join(["---"] + ["---:"] * (len(_HEADERS) - 1)) + "|")
    lines += ["| " + " | ".join(row) + " |" for row in _rows(results)]
    ratio = _ratio_line(results)
    if ratio:
        lines += ["", f"Throughput ratios: {ratio}."]
    processor = _processor_line(results)
    if processor:
        lines += ["", processor[0].upper() + processor[1:] + "."]
    return "\n".join(lines)
