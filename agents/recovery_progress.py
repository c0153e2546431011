"""How far the worker's table recovery is: one log line every few seconds while it
recovers, and a status file the gateway's /healthz shows (inventory.worker_status).

faust logs its own recovery tables, but only once it has 1,000 timing samples, spread
over many lines and without the tables' names. This says, in one line, which table
partitions are still being read and how far along each is (offset / highwater).

The status file is `<worker state folder>/recovery.json`, rewritten at every tick and
when a recovery ends:

    {"pid": 123, "updated_at": 1700000000.0, "recovering": true,
     "partitions": [{"table": "stock", "partition": 0, "offset": 1200,
                     "highwater": 5000, "remaining": 3800}, ...]}

`partitions` lists only the active changelog partitions still behind; `recovering`
false with an empty list means the worker is serving. `standby` lists the changelog
partitions this worker keeps a standby copy of, with the offset of the last record it
has read of each (what a takeover would start after):

     "standby": [{"table": "stock", "partition": 1, "offset": 5120}, ...]
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import faust
from faust.tables.recovery import Recovery
from mode.services import ServiceTask

from inventory.worker_status import STATUS_FILE

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 5.0


def _behind(app: Any, tables: dict[str, str]) -> list[dict[str, Any]]:
    """The active changelog partitions still being recovered, table by table."""
    recovery: Any = app.tables.recovery
    offsets, highwaters = recovery.active_offsets, recovery.active_highwaters
    rows = []
    for tp, highwater in sorted(highwaters.items()):
        offset = offsets.get(tp)
        if highwater is None or offset is None or highwater - offset <= 0:
            continue
        rows.append(
            {
                "table": tables.get(tp.topic, tp.topic),
                "partition": tp.partition,
                "offset": offset,
                "highwater": highwater,
                "remaining": highwater - offset,
            }
        )
    return rows


def _standby(app: Any, tables: dict[str, str]) -> list[dict[str, Any]]:
    recovery: Any = app.tables.recovery
    return [
        {"table": tables.get(tp.topic, tp.topic), "partition": tp.partition, "offset": offset}
        for tp, offset in sorted(recovery.standby_offsets.items())
        if tp in recovery.standby_tps and offset is not None
    ]


def write_status(app: Any, tables: dict[str, str], folder: Path) -> list[dict[str, Any]]:
    """Rewrite the status file (atomically: a reader never sees half of it)."""
    recovering = bool(app.tables.recovery.in_recovery)
    rows = _behind(app, tables) if recovering else []
    status = {
        "pid": os.getpid(),
        "updated_at": time.time(),
        "recovering": recovering,
        "partitions": rows,
        "standby": _standby(app, tables),
    }
    tmp = folder / f".{STATUS_FILE}.tmp"
    tmp.write_text(json.dumps(status))
    tmp.replace(folder / STATUS_FILE)
    return rows


def report(app: faust.App, tables: list[Any], folder: Path) -> None:
    """Log recovery progress every INTERVAL_SECONDS while the worker recovers, and keep
    the status file current."""
    names = {table.changelog_topic.get_topic_name(): table.name for table in tables}
    write_status(app, names, folder)
    # Read by the recovery service's task (below): faust's app timers start only once
    # the worker is ready, which is too late for a recovery's progress.
    app._inventory_recovery_progress = (names, folder)  # type: ignore[attr-defined]
    _patch_recovery_stats()
    for table in tables:
        table.on_recover(_status_writer(app, names, folder))


def _patch_recovery_stats() -> None:
    """Run our progress loop beside faust's own recovery statistics task, in the
    recovery service (which runs from the worker's start)."""
    if getattr(Recovery, "_inventory_progress_patched", False):
        return
    faust_stats = Recovery._publish_stats.fun

    async def publish_stats(self: Recovery) -> None:
        await asyncio.gather(faust_stats(self), _progress(self))

    Recovery._publish_stats = ServiceTask(publish_stats)  # type: ignore[assignment]
    Recovery._inventory_progress_patched = True  # type: ignore[attr-defined]


async def _progress(recovery: Recovery) -> None:
    progress = getattr(recovery.app, "_inventory_recovery_progress", None)
    if progress is None:  # an app that did not ask for it
        return
    names, folder = progress
    async for _ in recovery.itertimer(INTERVAL_SECONDS, name="inventory.recovery_progress"):
        rows = write_status(recovery.app, names, folder)
        if rows:
            log.info(
                "recovering tables, %d records to go: %s",
                sum(r["remaining"] for r in rows),
                ", ".join(
                    f"{r['table']}[{r['partition']}] {r['offset']}/{r['highwater']}" for r in rows
                ),
            )


def _status_writer(app: faust.App, names: dict[str, str], folder: Path) -> Any:
    async def recovered() -> None:
        write_status(app, names, folder)

    return recovered
