"""The table and the verdicts of `bench.queries`, as plain text or Markdown."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.order_measure import ComboResult
from bench.report import percentile

FIRST_PAGE_P99_MS = 20.0
DEEP_OVER_FIRST = 2.0

HEADERS = (
    "combination",
    "matching",
    "deep page",
    "first p50/p99",
    "deep p50/p99",
    "deep/first p50, p99",
    "keyset direct p50/p99",
    "OFFSET direct p50/p99",
)


@dataclass(frozen=True)
class Percentiles:
    p50: float  # milliseconds; NaN without samples
    p99: float

    @classmethod
    def of(cls, seconds: list[float]) -> Percentiles:
        return cls(percentile(seconds, 50) * 1000.0, percentile(seconds, 99) * 1000.0)

    def cell(self) -> str:
        return f"{_ms(self.p50)} / {_ms(self.p99)}"


def _ms(value: float) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def _ratio(deep: float, first: float) -> float:
    return deep / first if first > 0 and not math.isnan(deep + first) else math.nan


def deep_ratios(r: ComboResult) -> tuple[float, float]:
    """Deep page over first page, over HTTP, at p50 and at p99."""
    first, deep = Percentiles.of(r.first_http), Percentiles.of(r.deep_http)
    return _ratio(deep.p50, first.p50), _ratio(deep.p99, first.p99)


def _row(r: ComboResult) -> tuple[str, ...]:
    if r.error is not None:
        return (r.combo.label, "", "", f"ERROR: {r.error[:80]}", "", "", "", "")
    deep = r.deep
    depth = f"{deep.number} (row {deep.skipped + 1:,})" if deep else "-"
    p50_ratio, p99_ratio = deep_ratios(r)
    return (
        r.combo.label,
        f"{r.matching:,}" if r.matching is not None else "-",
        depth,
        Percentiles.of(r.first_http).cell(),
        Percentiles.of(r.deep_http).cell(),
        f"{p50_ratio:.2f}x, {p99_ratio:.2f}x",
        Percentiles.of(r.deep_direct).cell(),
        Percentiles.of(r.offset_direct).cell(),
    )


def verdicts(results: list[ComboResult]) -> list[str]:
    """One line per target: met, or which combinations missed it and by how much."""
    measured = [r for r in results if r.error is None and r.first_http]
    slow_first = [
        f"{r.combo.label} ({Percentiles.of(r.first_http).p99:.1f} ms)"
        for r in measured
        if Percentiles.of(r.first_http).p99 > FIRST_PAGE_P99_MS
    ]
    ratios = [(r, *deep_ratios(r)) for r in measured]
    far_p50 = [
        f"{r.combo.label} ({p50:.2f}x)" for r, p50, _ in ratios if not p50 <= DEEP_OVER_FIRST
    ]
    far_p99 = [
        f"{r.combo.label} ({p99:.2f}x)" for r, _, p99 in ratios if not p99 <= DEEP_OVER_FIRST
    ]
    failed = len(results) - len(measured)
    lines = [
        _verdict(f"first page p99 <= {FIRST_PAGE_P99_MS:g} ms over HTTP", measured, slow_first),
        # The target names no percentile: p50 is what a deep page costs, p99 adds this
        # machine's scheduling noise (200 samples: p99 is the second slowest), so both.
        _verdict(f"deep page within {DEEP_OVER_FIRST:g}x of the first, p50", measured, far_p50),
        _verdict(f"deep page within {DEEP_OVER_FIRST:g}x of the first, p99", measured, far_p99),
    ]
    if failed:
        lines.append(f"NOT MEASURED: {failed} combination(s) failed or were skipped, see above")
    return lines


def _verdict(target: str, measured: list[ComboResult], misses: list[str]) -> str:
    if not measured:
        return f"{target}: nothing measured"
    if not misses:
        return f"{target}: MET for all {len(measured)} combinations"
    return f"{target}: MISSED for {len(misses)} of {len(measured)}: " + "; ".join(misses)


def _notes(results: list[ComboResult]) -> list[str]:
    lines = []
    for r in results:
        for note in r.notes:
            lines.append(f"{r.combo.label}: {note}")
        if r.error is not None:
            lines.append(f"{r.combo.label}: {r.error}")
    return lines


def render_text(results: list[ComboResult], context: list[str]) -> str:
    rows = [HEADERS, *(_row(r) for r in results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADERS))]
    lines = [*context, ""]
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    notes = _notes(results)
    if notes:
        lines += ["", *notes]
    return "\n".join([*lines, "", *verdicts(results)])


def render_markdown(results: list[ComboResult], context: list[str]) -> str:
    """The same table for docs/BENCHMARKS.md (times in ms)."""
    lines = [*context, "", "| " + " | ".join(HEADERS) + " |"]
    lines.append("|" + "|".join(["---"] + ["---:"] * (len(HEADERS) - 1)) + "|")
    lines += ["| " + " | ".join(_row(r)) + " |" for r in results]
    notes = _notes(results)
    if notes:
        lines += ["", *(f"- {n}" for n in notes)]
    lines += ["", *(f"- {v}" for v in verdicts(results))]
    return "\n".join(lines)
