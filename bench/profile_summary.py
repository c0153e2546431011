"""Where a profiled process spent its time: a py-spy speedscope file, summed up.

`python -m bench.profile_summary FILE [--cpu-ms X]` prints the share of samples by thread
and by area (a package, a module of the standard library, or a part of this project)
counted where the time was spent (self), the functions with the most self time, and the
project's functions by inclusive time. With the process's measured CPU ms per
reservation, shares become ms per reservation.

py-spy is meant to leave idle threads out, but on this machine it counts threads that
wait (an event loop in epoll, a thread pool's idle workers on their queue) as active;
samples that end in such a wait are left out here and their share is printed apart.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.stack import ROOT

# (function, end of the file name) of frames in which a thread waits rather than works.
IDLE_LEAVES = (
    ("select", "selectors.py"),
    ("_worker", "concurrent/futures/thread.py"),
    ("wait", "threading.py"),
)
_SITE = re.compile(r"/site-packages/([^/]+)")
_STDLIB = re.compile(r"/lib/python3\.\d+/([^/]+)")


def area(file: str) -> str:
    """The package, standard library module or project part a source file belongs to."""
    site = _SITE.search(file)
    if site:
        name = site.group(1).removesuffix(".py")
        return name.split(".")[0]
    root = str(ROOT) + "/"
    if file.startswith(root):
        return "project " + file[len(root) :].split("/")[0].removesuffix(".py")
    stdlib = _STDLIB.search(file)
    if stdlib:
        return "stdlib " + stdlib.group(1).removesuffix(".py")
    return file


def is_idle(frame: dict[str, object]) -> bool:
    # py-spy names a method Class.method
    name, file = str(frame["name"]).rsplit(".", 1)[-1], str(frame["file"])
    return any(name == n and file.endswith(f) for n, f in IDLE_LEAVES)


@dataclass(frozen=True)
class Summary:
    samples: float  # total weight (seconds of samples), idle ones left out
    idle: float  # share of all samples that ended in a wait
    by_thread: list[tuple[str, float]]
    by_area: list[tuple[str, float]]  # self share, biggest first
    top_self: list[tuple[str, float]]
    project_inclusive: list[tuple[str, float]]


def summarize(path: Path, top: int = 15) -> Summary:
    data = json.loads(path.read_text())
    frames = data["shared"]["frames"]
    # One label per function: py-spy makes a frame per line, summed up here.
    labels = [f"{f['name']} ({_short(f['file'])})" for f in frames]
    areas = [area(f["file"]) for f in frames]
    in_project = [a.startswith("project ") for a in areas]
    idle_frames = {i for i, f in enumerate(frames) if is_idle(f)}
    idle = 0.0
    by_thread: Counter[str] = Counter()
    self_area: Counter[str] = Counter()
    self_frame: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0.0
    for profile in data["profiles"]:
        thread = re.sub(r"^Thread \d+ ", "", profile["name"])
        for stack, weight in zip(profile["samples"], profile["weights"], strict=True):
            if not stack:
                continue
            if stack[-1] in idle_frames:
                idle += weight
                continue
            total += weight
            by_thread[thread] += weight
            self_frame[labels[stack[-1]]] += weight
            self_area[areas[stack[-1]]] += weight
            for label in {labels[i] for i in stack if in_project[i]}:
                inclusive[label] += weight
    if not total:
        raise ValueError(f"{path}: no samples")
    return Summary(
        samples=total,
        idle=idle / (total + idle),
        by_thread=[(t, w / total) for t, w in by_thread.most_common()],
        by_area=[(a, w / total) for a, w in self_area.most_common()],
        top_self=[(label, w / total) for label, w in self_frame.most_common(top)],
        project_inclusive=[(label, w / total) for label, w in inclusive.most_common(top)],
    )


def _short(file: str) -> str:
    site = _SITE.search(file)
    if site:
        return file[site.start() + len("/site-packages/") :]
    root = str(ROOT) + "/"
    if file.startswith(root):
        return file[len(root) :]
    stdlib = _STDLIB.search(file)
    return file[stdlib.start(1) :] if stdlib else file


def render(summary: Summary, cpu_ms: float | None = None, min_share: float = 0.01) -> str:
    """Text tables; with `cpu_ms` (CPU ms per reservation) a column of ms per reservation."""

    def row(name: str, share: float) -> str:
        ms = f"{share * cpu_ms:8.3f}" if cpu_ms is not None else ""
        return f"  {share * 100:5.1f}%  {ms}  {name}"

    unit = "    ms/res" if cpu_ms is not None else ""
    lines = [
        f"{summary.samples:.1f} s of samples, {summary.idle:.0%} more waiting (left out); "
        f"share{unit}",
        "by thread:",
    ]
    lines += [row(t, s) for t, s in summary.by_thread if s >= min_share]
    lines.append("self time by area:")
    shown = [(a, s) for a, s in summary.by_area if s >= min_share]
    lines += [row(a, s) for a, s in shown]
    rest = sum(s for _, s in summary.by_area) - sum(s for _, s in shown)
    if rest > 0:
        lines.append(row(f"(areas under {min_share:.0%} each)", rest))
    lines.append("functions with the most self time:")
    lines += [row(name, s) for name, s in summary.top_self]
    lines.append("project functions, inclusive time:")
    lines += [row(name, s) for name, s in summary.project_inclusive]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_summary", description=__doc__)
    parser.add_argument("file", type=Path, help="py-spy record --format speedscope output")
    parser.add_argument("--cpu-ms", type=float, help="measured CPU ms per reservation")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args(argv)
    print(render(summarize(args.file, args.top), args.cpu_ms))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
