"""`inventory top`: the operations view in the terminal, redrawn in place until Ctrl-C
(or drawn once with `--once`, for scripts and tests)."""

from __future__ import annotations

import asyncio
import contextlib

from rich.console import Console
from rich.live import Live

from inventory.lag_reader import LagReader
from inventory.ops_snapshot import read_snapshot
from inventory.settings import Settings
from inventory.signals import stop_on_signals
from inventory.top_view import render
from storage.engine import create_engine


async def top(
    settings: Settings, *, once: bool, interval: float, console: Console | None = None
) -> None:
    """Draw the snapshot once, or every `interval` seconds in place until SIGINT/SIGTERM.

    Raises the driver's error when the database cannot be read; a broker that does not
    answer shows as unknown lag."""
    console = console or Console()
    engine = create_engine(settings)
    lags = LagReader(settings)
    title = f"inventory-stream {settings.topic_prefix or ''}".rstrip()
    try:
        view = render(await read_snapshot(settings, engine, lags), title)
        if once:
            console.print(view)
            return
        stop = stop_on_signals()
        with Live(view, console=console, auto_refresh=False, screen=False) as live:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval)
                if not stop.is_set():
                    live.update(render(await read_snapshot(settings, engine, lags), title))
                    live.refresh()
    finally:
        await lags.stop()
        await engine.dispose()
