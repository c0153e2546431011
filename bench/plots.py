"""What the benchmarks' plots share: a log-scaled x axis of a count, labelled, gridded."""

from __future__ import annotations

from typing import Any


def log_x_panel(axis: Any, title: str, xlabel: str, unit: str, legend_size: int = 8) -> None:
    """Style one matplotlib panel whose x axis spans orders of magnitude."""
    axis.set_xscale("log")
    axis.set_xlabel(xlabel)
    axis.set_ylabel(unit)
    axis.set_title(title)
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=legend_size)
