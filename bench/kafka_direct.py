"""Mode (a): an outside producer posting ReserveStock straight to the command topic
and awaiting the outcome on its own reply topic (plain aiokafka via api.bus)."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

from api.bus import CommandBus
from inventory.settings import Settings
from topics.messages import (
    CreateProduct,
    CreateProductData,
    ReserveStock,
    ReserveStockData,
    new_id,
)
from topics.names import INVENTORY_COMMANDS, prefixed

PROBE_ATTEMPT_SECONDS = 3.0


class KafkaDirect:
    label = "Kafka commands, reply topic"

    def __init__(self, settings: Settings, product_ids: list[str]) -> None:
        self.product_ids = product_ids
        self.acknowledged = 0
        self._topic = prefixed(settings.topic_prefix, INVENTORY_COMMANDS)
        self._bus = CommandBus(settings)

    async def start(self) -> None:
        await self._bus.start()

    async def create_products(self, stock: int, deadline: float) -> None:
        """Create every product: the first alone (the readiness probe, below), the rest
        50 at a time."""
        first, *rest = self.product_ids
        await self.create_product(first, stock, deadline)
        for start in range(0, len(rest), 50):
            chunk = rest[start : start + 50]
            await asyncio.gather(*(self.create_product(p, stock, deadline) for p in chunk))

    async def create_product(self, product_id: str, stock: int, deadline: float) -> None:
        """Create one product, re-sending the same command until the worker answers.

        This doubles as the readiness probe: the first reply proves the worker has
        joined its group and processes commands. Re-sending the same command id is
        safe, the agent dedupes it and repeats its reply. Raises TimeoutError at
        `deadline` (time.monotonic()), RuntimeError if the pipeline refuses.
        """
        command = CreateProduct(
            id=new_id(),
            key=product_id,
            data=CreateProductData(
                product_id=product_id,
                name="bench",
                price=Decimal("1.00"),
                initial_stock=stock,
            ),
        )
        while True:
            try:
                async with asyncio.timeout(PROBE_ATTEMPT_SECONDS):
                    reply = await self._bus.request(self._topic, command)
            except TimeoutError:
                if time.monotonic() >= deadline:
                    raise TimeoutError("the worker did not answer a CreateProduct") from None
                continue
            if not reply.data.ok:
                raise RuntimeError(f"CreateProduct refused: {reply.data.code} {reply.data.message}")
            return

    async def reserve(self, index: int) -> bool:
        # Products in turn: a uniform load over all of them.
        product_id = self.product_ids[index % len(self.product_ids)]
        command = ReserveStock(
            key=product_id,
            data=ReserveStockData(
                product_id=product_id, quantity=1, customer_id=f"customer-{index % 1000}"
            ),
        )
        reply = await self._bus.request(self._topic, command)
        if reply.data.ok:
            self.acknowledged += 1
            return True
        if reply.data.code == "insufficient_stock":
            return False
        raise RuntimeError(f"refused: {reply.data.code} {reply.data.message}")

    async def stop(self) -> None:
        await self._bus.stop()
