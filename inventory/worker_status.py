"""Where workers on this machine say how far their table recovery is, and how the
gateway reads it back for /healthz.

A worker keeps its tables in a folder of its own under `state_base()` (agents.state_dir)
and rewrites `recovery.json` there every few seconds (agents.recovery_progress). The
gateway lists those files: one per worker that shares its disk (`make run`, or a shared
volume). A file not rewritten for `STALE_AFTER_SECONDS` belongs to a worker that has
stopped, and is left out rather than reported as recovering forever.

No faust here: the gateway imports this module.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

STATUS_FILE = "recovery.json"
# The worker rewrites its file every 5 s (agents.recovery_progress.INTERVAL_SECONDS); three
# missed rewrites mean it is gone (or so busy that its status says nothing anyway).
STALE_AFTER_SECONDS = 15.0


def state_base(app_id: str) -> Path:
    """The folder under which each worker of the app claims `worker-<n>`."""
    return Path(".local") / "faust" / app_id


def status_files(base: Path, configured: str = "") -> list[Path]:
    """Every worker's status file under `base`, and the configured folder's if any."""
    files = sorted(base.glob(f"worker-*/{STATUS_FILE}"))
    if configured:
        files.append(Path(configured) / STATUS_FILE)
    return [f for f in dict.fromkeys(files) if f.is_file()]


def read_statuses(files: list[Path], now: float) -> list[dict[str, Any]]:
    """The live workers' statuses: a file that is fresh, whole and well formed.

    Each: {"folder", "recovering", "partitions", "updated_at"}, `partitions` naming the
    table partitions still being read (table, partition, offset, highwater, remaining).
    """
    out = []
    for path in files:
        try:
            status = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # vanished or being replaced between the listing and the read
        live = live_status(status, now)
        if live is not None:
            out.append({"folder": path.parent.name, **live})
    return out


def live_status(status: Any, now: float) -> dict[str, Any] | None:
    """The part of one status file /healthz shows, or None if it is stale or malformed."""
    if not isinstance(status, dict):
        return None
    updated = status.get("updated_at")
    if not isinstance(updated, (int, float)) or now - updated > STALE_AFTER_SECONDS:
        return None
    partitions = status.get("partitions")
    if not isinstance(partitions, list):
        return None
    return {
        "recovering": bool(status.get("recovering")),
        "partitions": partitions,
        "updated_at": float(updated),
    }
