"""Mode (b): HTTP clients on keep-alive connections to the gateway."""

from __future__ import annotations

import asyncio
import time

import aiohttp

PROBE_ATTEMPT_SECONDS = 3.0


class HttpGateway:
    """`lines` > 1: each request is a cart of that many products (taken in turn), one
    unit each; `acknowledged` counts carts."""

    def __init__(
        self,
        base_url: str,
        product_ids: list[str],
        concurrency: int,
        timeout: float,
        lines: int = 1,
    ) -> None:
        self.label = "HTTP gateway" if lines == 1 else f"HTTP gateway, carts of {lines}"
        self.lines = lines
        self.product_ids = product_ids
        self.acknowledged = 0
        self._base = base_url.rstrip("/")
        self._concurrency = concurrency
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        # One pooled connection per client: keep-alive, no per-request handshakes.
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._concurrency),
            timeout=aiohttp.ClientTimeout(total=self._timeout),
        )

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("HttpGateway used before start()")
        return self._session

    async def wait_healthy(self, deadline: float) -> None:
        """Poll GET /healthz until 200; TimeoutError with the last answer at `deadline`."""
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                async with self.session.get(
                    f"{self._base}/healthz",
                    timeout=aiohttp.ClientTimeout(total=PROBE_ATTEMPT_SECONDS),
                ) as response:
                    if response.status == 200:
                        return
                    last = f"{response.status} {await response.text()}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            await asyncio.sleep(0.2)
        raise TimeoutError(f"gateway not healthy: {last}")

    async def create_products(self, stock: int) -> None:
        """Every product, 50 at a time."""
        for start in range(0, len(self.product_ids), 50):
            chunk = self.product_ids[start : start + 50]
            await asyncio.gather(*(self.create_product(p, stock) for p in chunk))

    async def create_product(self, product_id: str, stock: int) -> None:
        """POST /api/products/; RuntimeError unless 201. The gateway waits for the read
        model before answering, so a 201 also proves the projector is running."""
        body = {"id": product_id, "name": "bench", "price": "1.00", "stock": stock}
        async with self.session.post(f"{self._base}/api/products/", json=body) as response:
            if response.status != 201:
                raise RuntimeError(f"create product: {response.status} {await response.text()}")

    async def reserve(self, index: int) -> bool:
        body: dict[str, object] = {
            # Products in turn: a uniform load over all of them.
            "product_id": self.product_ids[index % len(self.product_ids)],
            "quantity": 1,
            "customer_id": f"customer-{index % 1000}",
        }
        if self.lines > 1:
            count = len(self.product_ids)
            body = {
                "customer_id": body["customer_id"],
                "lines": [
                    {
                        "product_id": self.product_ids[(index * self.lines + k) % count],
                        "quantity": 1,
                    }
                    for k in range(self.lines)
                ],
            }
        async with self.session.post(f"{self._base}/api/reservations/", json=body) as response:
            payload = await response.read()  # always drain, so the connection is reused
            if response.status == 201:
                self.acknowledged += 1
                return True
            if response.status == 409:
                return False
            raise RuntimeError(f"HTTP {response.status}: {payload[:200].decode(errors='replace')}")

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
