"""Mode (q): the least an HTTP front of the plain loop can do, to bound mode (b).

`python -m bench.plain_gateway --port P` serves `POST /api/reservations/` with (b)'s body:
it decodes the JSON, sends a ReserveStock to the plain loops' command topic through the
project's own reply-topic client (api.bus.CommandBus, plain aiokafka) and answers 201
with the reply's result, or 409. Nothing else: no authentication, no request id, no
idempotency key, no metrics, no access log, and no wait for a read model (the plain loop
has none). Whatever it costs per request is less than the gateway's share of (b), so
(q) against (c) says how far any HTTP front of this design can get on this machine.

The process reads its settings (broker, topic prefix) from the environment, as the
plain loops do, and prints `gateway listening on <URL>` once it answers (`--port 0`: any
free port), as the project's gateway does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys

from aiohttp import web

from api.bus import CommandBus
from inventory.settings import Settings
from topics.messages import ReserveStock, ReserveStockData
from topics.names import INVENTORY_COMMANDS, prefixed


def build_app(bus: CommandBus, topic: str) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def reserve(request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
            data = ReserveStockData(
                product_id=body["product_id"],
                quantity=body["quantity"],
                customer_id=body["customer_id"],
            )
        except (ValueError, KeyError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=422)
        reply = await bus.request(topic, ReserveStock(key=data.product_id, data=data))
        if reply.data.ok:
            return web.json_response(reply.data.result, status=201)
        status = 409 if reply.data.code == "insufficient_stock" else 422
        return web.json_response({"error": reply.data.code}, status=status)

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/api/reservations/", reserve)
    return app


async def serve(port: int) -> None:
    settings = Settings()
    bus = CommandBus(settings)
    await bus.start()
    runner = web.AppRunner(
        build_app(bus, prefixed(settings.topic_prefix, INVENTORY_COMMANDS)), access_log=None
    )
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    host, bound = runner.addresses[0][:2]
    # The line the project's gateway prints too (bench.stack.listening_url reads it).
    print(f"gateway listening on http://{host}:{bound}", flush=True)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    try:
        await stopped.wait()
    finally:
        await runner.cleanup()
        await bus.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.plain_gateway")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(serve(args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
