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

    def __init__(self, settings: Settings, product_id: str) -> None:
        self.product_id = product_id
        self.acknowledged = 0
        self._topic = prefixed(settings.topic_prefix, INVENTORY_COMMANDS)
        self._bus = CommandBus(settings)

    async def start(self) -> None:
        await self._bus.start()

    async def create_product(self, stock: int, deadline: float) -> None:
        """Create the product, re-sending the same command until the worker answers.

        This doubles as the readiness probe: the first reply proves the worker has
        joined its group and processes commands. Re-sending the same command id is
        safe, the agent dedupes it and repeats its reply. Raises TimeoutError at
        `deadline` (time.monotonic()), RuntimeError if the pipeline refuses.
        """
        command = CreateProduct(
            id=new_id(),
            key=self.product_id,
            data=CreateProductData(
                product_id=self.product_id,
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
        command = ReserveStock(
            key=self.product_id,
            data=ReserveStockData(
                product_id=self.product_id, quantity=1, customer_id=f"customer-{index % 1000}"
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
