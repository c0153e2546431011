"""Run the gateway as a process: bind, announce the address, serve until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

from aiohttp import web

from api.app import create_app
from inventory.settings import Settings


async def serve(settings: Settings) -> None:
    """Serve the gateway on settings.gateway_host/port until SIGTERM, SIGINT or cancellation.

    After binding, prints exactly one line `gateway listening on http://HOST:PORT` (the
    real port when the setting is 0) and flushes stdout, so a parent process can wait
    for it, once the broker shows every pipeline topic. Raises OSError if the address is
    taken.
    """
    # The gateway signs the actor of every command it sends with the same key.
    settings.require_own_command_key("gateway")
    runner = web.AppRunner(create_app(settings))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    try:
        # Inside the try: a failed startup (broker down) still closes what it opened.
        await runner.setup()
        site = web.TCPSite(runner, settings.gateway_host, settings.gateway_port)
        await site.start()
        host, port = runner.addresses[0][:2]
        print(f"gateway listening on http://{host}:{port}", flush=True)
        for sig in (signal.SIGTERM, signal.SIGINT):
            # Not available off the main thread or on Windows: cancellation still works.
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, stop.set)
                handled.append(sig)
        await stop.wait()
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
        await runner.cleanup()


def main() -> None:
    """`python -m api.main`: serve with settings from the environment."""
    from inventory.settings import get_settings

    try:
        asyncio.run(serve(get_settings()))
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
