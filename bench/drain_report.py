"""The results of `make bench-drain` and how they are printed.

Ratios are the worker's against the plain loop's of the same run; with several rounds,
of the medians, and per round too (a round runs the processors one after the other, so
the machine's other load changes less between the two numbers of one ratio).
"""

from __future__ import annotations

import os
import platform
import statistics
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from bench.reserve import kafka_version

TARGET_THROUGHPUT_RATIO = 0.50  # issue 9: the worker >= 50% of the plain loop's throughput
TARGET_CPU_MS = 0.35  # issue 9: <= 0.35 ms CPU per reservation


@dataclass
class DrainResult:
    variant: str
    label: str
    round: int
    reservations: int
    seconds: float  # first to last reply, record timestamps
    cpu_seconds: float  # first reply's timestamp to the last reply read
    startup_seconds: float  # process start to the first reply's timestamp
    startup_cpu_seconds: float
    batches: int  # product row records in the stock changelog: one per batch
    load_before: str
    load_after: str
    records: dict[str, int] = field(default_factory=dict)  # topic -> records in the drain
    record_bytes: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    profile: str | None = None
    failure: str | None = None  # why the processor did not finish its drain

    @classmethod
    def failed(
        cls, variant: str, label: str, round_: int, reservations: int, why: str
    ) -> DrainResult:
        return cls(variant, label, round_, reservations, 0, 0, 0, 0, 0, "", "", failure=why)

    @property
    def per_second(self) -> float:
        return (self.reservations - 1) / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_ms(self) -> float:
        return 1000.0 * self.cpu_seconds / (self.reservations - 1)

    @property
    def records_per_reservation(self) -> float:
        return sum(self.records.values()) / self.reservations

    def as_json(self) -> dict[str, object]:
        return {
            **asdict(self),
            "reservations_per_second": self.per_second,
            "cpu_ms_per_reservation": self.cpu_ms,
            "records_per_reservation": self.records_per_reservation,
        }


@dataclass(frozen=True)
class Ratios:
    throughput: float  # worker / plain
    cpu: float  # worker / plain, per reservation
    worker_cpu_ms: float

    @property
    def throughput_met(self) -> bool:
        return self.throughput >= TARGET_THROUGHPUT_RATIO

    @property
    def cpu_met(self) -> bool:
        return self.worker_cpu_ms <= TARGET_CPU_MS


def medians(results: list[DrainResult], variant: str) -> tuple[float, float] | None:
    """(reservations/s, CPU ms per reservation), medians over the rounds of `variant`."""
    mine = [r for r in results if r.variant == variant and r.failure is None]
    if not mine:
        return None
    return (
        statistics.median(r.per_second for r in mine),
        statistics.median(r.cpu_ms for r in mine),
    )


WORKERS = ("worker",)  # the variants measured against the plain loop


def ratios(results: list[DrainResult], worker_variant: str = "worker") -> Ratios | None:
    """`worker_variant` against the plain loop (medians), None unless both finished."""
    worker, plain = medians(results, worker_variant), medians(results, "plain")
    if worker is None or plain is None:
        return None
    return Ratios(worker[0] / plain[0], worker[1] / plain[1], worker[1])


def render(results: list[DrainResult], partitions: int, rounds: int) -> str:
    reservations = results[0].reservations
    lines = [
        f"{reservations} reservations of one unit per processor and round, queued on one "
        f"product's partition (of {partitions}) with the processor stopped, then drained; "
        f"{rounds} round(s); {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"Kafka {kafka_version()}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "Throughput: (N-1) / (last - first reply's record timestamp). CPU: the processor's "
        "process alone (/proc utime+stime), from the first reply's record timestamp to the "
        "moment the last reply was read, over N-1: start-up and table recovery excluded, "
        "every commit included. Load average: the machine's, other work included.",
        "",
        f"{'processor':<28} {'round':>5} {'reservations':>12} {'seconds':>8} {'res/s':>6} "
        f"{'CPU ms/res':>10} {'records/res':>11} {'batches':>7} {'start-up s':>10}  "
        "load avg before, after",
    ]
    for r in results:
        if r.failure is not None:
            lines.append(f"{r.label:<28} {r.round:>5} {r.reservations:>12}  FAILED, see below")
            continue
        lines.append(
            f"{r.label:<28} {r.round:>5} {r.reservations:>12} {r.seconds:>8.2f} "
            f"{r.per_second:>6.0f} {r.cpu_ms:>10.3f} {r.records_per_reservation:>11.3f} "
            f"{r.batches:>7} {r.startup_seconds:>10.1f}  {r.load_before}, {r.load_after}"
        )
    variants = list(dict.fromkeys(r.variant for r in results))
    if rounds > 1:
        lines.append("")
        for variant in variants:
            found = medians(results, variant)
            if found is None:  # no round finished
                continue
            label = next(r.label for r in results if r.variant == variant)
            lines.append(f"median {label}: {found[0]:.0f} reservations/s, {found[1]:.3f} CPU ms")
    lines.append("")
    for worker in WORKERS:
        ratio = ratios(results, worker)
        if ratio is None:
            continue
        of = "medians" if rounds > 1 else "one round"
        lines.append(
            f"{worker} / plain loop ({of}): throughput {ratio.throughput:.2f}x (target >= "
            f"{TARGET_THROUGHPUT_RATIO:.2f}: {'met' if ratio.throughput_met else 'NOT met'}), "
            f"CPU per reservation {ratio.cpu:.2f}x"
        )
        if rounds > 1:
            lines.append(
                "  per round (throughput / CPU): "
                + ", ".join(_round_ratios(results, worker, "plain"))
            )
        lines.append(
            f"{worker} CPU per reservation: {ratio.worker_cpu_ms:.3f} ms (target <= "
            f"{TARGET_CPU_MS}: {'met' if ratio.cpu_met else 'NOT met'})"
        )
    plain, notxn = medians(results, "plain"), medians(results, "plain-notxn")
    if plain and notxn:
        lines.append(
            f"plain loop with / without transactions: throughput {plain[0] / notxn[0]:.2f}x, "
            f"CPU per reservation {plain[1] / notxn[1]:.2f}x"
        )
    shown: dict[str, Any] = {}
    for r in results:  # the first finished drain of each processor
        if r.failure is None:
            shown.setdefault(r.variant, r)
    if shown:
        lines += ["", records_table(list(shown.values()))]
    for r in results:
        lines += [f"{r.label}, round {r.round}: {problem}" for problem in r.problems]
        if r.failure is not None:
            lines.append(f"{r.label}, round {r.round}: FAILED: {r.failure}")
    return "\n".join(lines)


def _round_ratios(results: list[DrainResult], top: str, bottom: str) -> list[str]:
    by_key = {(r.variant, r.round): r for r in results}
    out = []
    for (variant, round_), r in by_key.items():
        other = by_key.get((bottom, round_))
        if variant == top and other is not None and r.failure is None and other.failure is None:
            out.append(
                f"r{round_} {r.per_second / other.per_second:.2f}x / {r.cpu_ms / other.cpu_ms:.2f}x"
            )
    return out


def records_table(results: list[DrainResult]) -> str:
    """Records per reservation by topic (and bytes per record), processors side by side:
    the plain loop is meant to write exactly what the worker writes."""
    topics = sorted({t for r in results for t in r.records})
    lines = [
        f"{'records per reservation':<26}"
        + "".join(f" {r.variant:>12} {'B/record':>8}" for r in results)
    ]
    for topic in topics:
        cells = []
        for r in results:
            n = r.records.get(topic, 0)
            size = r.record_bytes.get(topic, 0) / n if n else 0
            cells.append(f" {n / r.reservations:>12.4f} {size:>8.0f}")
        lines.append(f"{topic:<26}" + "".join(cells))
    lines.append(
        f"{'total':<26}" + "".join(f" {r.records_per_reservation:>12.4f} {'':>8}" for r in results)
    )
    return "\n".join(lines)
