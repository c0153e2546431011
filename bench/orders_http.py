"""The HTTP side of `bench.queries`: one keep-alive connection to `GET /api/orders/`."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp

ROUTE = "/api/orders/"
PROBE_ATTEMPT_SECONDS = 3.0


class OrdersApi:
    """Sequential requests on one pooled connection: every timed request pays for
    parsing, the query and serialising, never for a TCP handshake."""

    def __init__(self, base_url: str, timeout: float) -> None:
        self._url = base_url.rstrip("/") + ROUTE
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1),
            timeout=aiohttp.ClientTimeout(total=self._timeout),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("OrdersApi used before start()")
        return self._session

    async def raw(self, query: dict[str, str]) -> bytes:
        """The body of one page; RuntimeError with the answer unless 200. The body is
        read to the end (the connection is reused) but not decoded: the timed part is
        the server's, not the client's JSON parser."""
        async with self.session.get(self._url, params=query) as response:
            body = await response.read()
            if response.status != 200:
                shown = body[:300].decode(errors="replace")
                raise RuntimeError(f"GET {ROUTE} {query}: HTTP {response.status} {shown}")
            return body

    async def page(self, query: dict[str, str]) -> dict[str, Any]:
        """One page as JSON: {"results": [...], "next_cursor": ..., "request_id": ...}."""
        body: dict[str, Any] = json.loads(await self.raw(query))
        return body

    async def wait_served(self, deadline: float) -> None:
        """Poll until the route answers 200. RuntimeError at once on 404 (this checkout's
        gateway has no order list), TimeoutError with the last answer at `deadline`."""
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                async with self.session.get(
                    self._url,
                    params={"limit": "1"},
                    timeout=aiohttp.ClientTimeout(total=PROBE_ATTEMPT_SECONDS),
                ) as response:
                    text = await response.text()
                    if response.status == 200:
                        return
                    if response.status == 404:
                        raise RuntimeError(f"the gateway does not serve GET {ROUTE}: {text[:200]}")
                    last = f"{response.status} {text[:200]}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            await asyncio.sleep(0.2)
        raise TimeoutError(f"GET {ROUTE} did not answer 200: {last}")
