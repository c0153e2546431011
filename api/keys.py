"""Typed application keys: what create_app() puts on the app for the views."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from api.bus import Bus
from api.key_cache import KeyCache
from api.metrics import GatewayMetrics
from api.read_waiter import ReadModelWaiter
from api.token_bucket import RateLimiter
from inventory.lag_reader import LagReader
from inventory.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
BUS = web.AppKey("bus", Bus)
READ_WAITER = web.AppKey("read_waiter", ReadModelWaiter)
OPENAPI = web.AppKey("openapi", dict[str, Any])
METRICS = web.AppKey("metrics", GatewayMetrics)
LAG_READER = web.AppKey("lag_reader", LagReader)
# Set when the gateway shuts down: long-lived responses (the audit stream) end then.
STOPPING = web.AppKey("stopping", asyncio.Event)
KEY_CACHE = web.AppKey("key_cache", KeyCache)
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)
