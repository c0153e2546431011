"""Authentication, rate limits and role checks of the gateway, as one middleware.

Order for a keyed operation: the key (401 `unauthenticated`), then the key's bucket
(429 `rate_limited` with Retry-After), then its role (403 `forbidden`, naming the role
needed). The rules are pure modules (api.permissions, api.token_bucket); this module
only reads the request and the database.

A gateway trusts what it read about a key for `AUTH_CACHE_SECONDS` (at most 2 s), so a
revoked key is refused by every gateway within that, at the cost of one indexed query
per key per period. Neither the key nor its hash is ever logged or answered: a refusal
names the key id at most.
"""

from __future__ import annotations

import logging
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from api.errors import ApiError
from api.keys import ENGINE, KEY_CACHE, RATE_LIMITER, SETTINGS
from api.permissions import (
    ROLES,
    allowed_roles,
    is_open,
    needed_role_text,
)
from api.token_bucket import RateLimiter, retry_after_seconds
from inventory.settings import Settings
from storage.api_keys import ValidKey
from storage.key_material import well_formed
from topics.messages import Actor

log = logging.getLogger(__name__)

# What a request is done as; set by the middleware for every keyed operation.
ACTOR = web.RequestKey("actor", Actor)

# With AUTH=off every request is this actor: an admin nobody checked.
ANONYMOUS_ADMIN = Actor(id="anonymous", role="admin", verified=False)

_BEARER = "bearer "


def rate_limiter(settings: Settings) -> RateLimiter:
    """A limiter with the settings' rate per role."""
    return RateLimiter(
        {role: (settings.rate_limit_of(role), settings.rate_limit_burst_seconds) for role in ROLES}
    )


def request_actor(request: web.Request) -> Actor:
    """Who the request is done as (ANONYMOUS_ADMIN with AUTH=off)."""
    return request.get(ACTOR, ANONYMOUS_ADMIN)


def require_roles(request: web.Request, roles: tuple[str, ...], what: str) -> None:
    """Raise ApiError 403 `forbidden` unless the request's role is one of `roles`."""
    actor = request_actor(request)
    if actor.role not in roles:
        raise _forbidden(actor, roles, what)


def _forbidden(actor: Actor, roles: tuple[str, ...], what: str) -> ApiError:
    needed = needed_role_text(roles)
    return ApiError(
        403,
        "forbidden",
        f"a {actor.role} key may not {what}; it needs the role {needed}",
        {"role": actor.role, "required_roles": list(roles), "key_id": actor.id},
    )


def _unauthenticated(message: str, reason: str) -> ApiError:
    # RFC 6750: a 401 names the scheme; `invalid_token` when a key was presented.
    challenge = "Bearer" if reason == "missing" else 'Bearer error="invalid_token"'
    return ApiError(
        401, "unauthenticated", message, {"reason": reason}, {"WWW-Authenticate": challenge}
    )


async def _authenticate(request: web.Request) -> ValidKey:
    header = request.headers.get("Authorization")
    if header is None:
        raise _unauthenticated(
            "this operation needs an API key: Authorization: Bearer <key>", "missing"
        )
    if not header.lower().startswith(_BEARER):
        raise _unauthenticated("the Authorization header must be `Bearer <key>`", "malformed")
    key = header[len(_BEARER) :].strip()
    if not well_formed(key):
        raise _unauthenticated("the API key is malformed", "malformed")
    found = await request.app[KEY_CACHE].lookup(request.app[ENGINE], key)
    if found is None:
        raise _unauthenticated("the API key is unknown or revoked", "unknown_or_revoked")
    return found


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Inside the error middleware: its ApiErrors become the usual error responses."""
    route = request.match_info.route
    operation = route.name
    # No route (404/405 are answered by aiohttp) or an open operation: no key needed.
    if operation is None or request.match_info.http_exception is not None or is_open(operation):
        return await handler(request)
    if request.app[SETTINGS].auth == "off":
        request[ACTOR] = ANONYMOUS_ADMIN
        return await handler(request)
    key = await _authenticate(request)
    actor = Actor(id=key.id, role=key.role, verified=True)
    request[ACTOR] = actor
    wait = request.app[RATE_LIMITER].take(key.id, key.role, time.monotonic())
    if wait > 0:
        seconds = retry_after_seconds(wait)
        raise ApiError(
            429,
            "rate_limited",
            f"too many requests for this key; retry in {seconds} s",
            {"retry_after_seconds": seconds, "key_id": key.id},
            {"Retry-After": str(seconds)},
        )
    roles = allowed_roles(request.method, operation)
    if key.role not in roles:
        raise _forbidden(actor, roles, f"call {operation}")
    return await handler(request)


def warn_if_off(settings: Settings) -> None:
    """The warning every gateway start logs while AUTH=off."""
    if settings.auth == "off":
        log.warning(
            "AUTH=off: every request is let through as an anonymous admin; for local "
            "experiments only, never where the gateway can be reached by others"
        )
