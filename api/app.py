"""The gateway application factory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from api.auth import auth_middleware, rate_limiter, warn_if_off
from api.bus import Bus, CommandBus
from api.key_cache import KeyCache
from api.keys import (
    BUS,
    ENGINE,
    KEY_CACHE,
    LAG_READER,
    METRICS,
    OPENAPI,
    RATE_LIMITER,
    READ_WAITER,
    SETTINGS,
    STOPPING,
)
from api.metrics import GatewayMetrics
from api.middleware import MAX_BODY_BYTES, error_middleware, request_id_middleware
from api.openapi import build_openapi
from api.read_waiter import ReadModelWaiter
from api.routes import ROUTES
from inventory.kafka_admin import wait_for_topics
from inventory.lag_reader import LagReader
from inventory.settings import Settings
from storage.engine import create_engine
from storage.notify import read_models_channel

CleanupContext = Callable[[web.Application], AsyncIterator[None]]


def _database(engine: AsyncEngine | None) -> CleanupContext:
    """The engine (made from the settings and disposed on cleanup, unless given: then it
    is the caller's) and the read-model waiter on it."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        own = engine is None
        app[ENGINE] = create_engine(app[SETTINGS]) if engine is None else engine
        waiter = ReadModelWaiter(app[ENGINE], read_models_channel(app[SETTINGS].database_schema))
        waiter.start()
        app[READ_WAITER] = waiter
        yield
        await waiter.stop()
        if own:
            await app[ENGINE].dispose()

    return context


def _command_bus(bus: Bus | None) -> CleanupContext:
    """A CommandBus started on the settings' broker and stopped on cleanup; a given
    `bus` is used as it is (its caller starts and stops it)."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        if bus is not None:
            app[BUS] = bus
            yield
            return
        # Like the worker, the gateway starts only once every topic is there: it would
        # otherwise accept commands that no worker can take yet.
        await wait_for_topics(app[SETTINGS])
        own = CommandBus(app[SETTINGS])
        await own.start()
        app[BUS] = own
        yield
        await own.stop()

    return context


async def _lag_reader(app: web.Application) -> AsyncIterator[None]:
    """The consumer-lag reader of /metrics and /api/ops/summary (it connects on first use)."""
    app[LAG_READER] = LagReader(app[SETTINGS])
    yield
    await app[LAG_READER].stop()


async def _end_streams(app: web.Application) -> None:
    # On shutdown, before aiohttp waits for the handlers: the audit feeds end.
    app[STOPPING].set()


def create_app(
    settings: Settings, *, bus: Bus | None = None, engine: AsyncEngine | None = None
) -> web.Application:
    """The gateway for `settings`: routes, middlewares, and (on startup) the database
    engine and the Kafka command bus, closed again on cleanup.

    Startup waits until the broker shows every pipeline topic (inventory.kafka_admin),
    and raises the driver's error if the database cannot be reached.

    `bus` and `engine` replace the ones startup would make, and stay their caller's to
    start and close: a unit test passes a fake bus (api.bus.Bus) and an engine it never
    connects, for routes that need no database.
    """
    # request_id first: it is the outermost, so even error responses carry the id; auth
    # inside the error middleware, so its refusals have the usual shape.
    app = web.Application(
        middlewares=[request_id_middleware, error_middleware, auth_middleware],
        client_max_size=MAX_BODY_BYTES,
    )
    app[SETTINGS] = settings
    app[KEY_CACHE] = KeyCache(settings.auth_cache_seconds)
    app[RATE_LIMITER] = rate_limiter(settings)
    warn_if_off(settings)
    app[OPENAPI] = build_openapi(ROUTES)
    app[METRICS] = GatewayMetrics()
    app[STOPPING] = asyncio.Event()
    app.cleanup_ctx.append(_database(engine))
    app.cleanup_ctx.append(_command_bus(bus))
    app.cleanup_ctx.append(_lag_reader)
    app.on_shutdown.append(_end_streams)
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler, name=route.operation_id)
    return app
