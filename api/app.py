"""The gateway application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from api.bus import CommandBus
from api.keys import BUS, ENGINE, OPENAPI, READ_WAITER, SETTINGS
from api.middleware import MAX_BODY_BYTES, error_middleware, request_id_middleware
from api.openapi import build_openapi
from api.read_waiter import ReadModelWaiter
from api.routes import ROUTES
from inventory.kafka_admin import wait_for_topics
from inventory.settings import Settings
from storage.engine import create_engine
from storage.notify import read_models_channel


async def _database(app: web.Application) -> AsyncIterator[None]:
    engine = create_engine(app[SETTINGS])
    app[ENGINE] = engine
    waiter = ReadModelWaiter(engine, read_models_channel(app[SETTINGS].database_schema))
    waiter.start()
    app[READ_WAITER] = waiter
    yield
    await waiter.stop()
    await engine.dispose()


async def _command_bus(app: web.Application) -> AsyncIterator[None]:
    # Like the worker, the gateway starts only once every topic is there: it would
    # otherwise accept commands that no worker can take yet.
    await wait_for_topics(app[SETTINGS])
    bus = CommandBus(app[SETTINGS])
    await bus.start()
    app[BUS] = bus
    yield
    await bus.stop()


def create_app(settings: Settings) -> web.Application:
    """The gateway for `settings`: routes, middlewares, and (on startup) the database
    engine and the Kafka command bus, closed again on cleanup.

    Startup waits until the broker shows every pipeline topic (inventory.kafka_admin),
    and raises the driver's error if the database cannot be reached.
    """
    # request_id first: it is the outermost, so even error responses carry the id.
    app = web.Application(
        middlewares=[request_id_middleware, error_middleware], client_max_size=MAX_BODY_BYTES
    )
    app[SETTINGS] = settings
    app[OPENAPI] = build_openapi(ROUTES)
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_command_bus)
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler, name=route.operation_id)
    return app
