"""Race for the last units: one product with stock 5, 50 parallel reservations of 1 unit.

Exits 0 only if exactly 5 reservations succeeded and the product then shows
available 0, reserved 5. Runs against a live gateway (`make run`):

    .venv/bin/python scripts/chaos_test.py [--url http://127.0.0.1:8080] [--clients 50] [--stock 5]
        [--key KEY]  (default: $INVENTORY_API_KEY, else .local/admin.key from `make run`)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import uuid
from pathlib import Path

import aiohttp


async def reserve(session: aiohttp.ClientSession, url: str, product_id: str, n: int) -> int:
    body = {"product_id": product_id, "quantity": 1, "customer_id": f"chaos-{n}"}
    async with session.post(f"{url}/api/reservations/", json=body) as response:
        await response.read()
        return response.status


def default_key() -> str:
    """$INVENTORY_API_KEY, else the key `make run` keeps in .local/admin.key, else ""."""
    if os.environ.get("INVENTORY_API_KEY"):
        return os.environ["INVENTORY_API_KEY"]
    path = Path(__file__).resolve().parent.parent / ".local" / "admin.key"
    return path.read_text().strip() if path.exists() else ""


async def main(url: str, clients: int, stock: int, key: str) -> int:
    product_id = f"chaos-{uuid.uuid4().hex[:12]}"
    timeout = aiohttp.ClientTimeout(total=60)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with aiohttp.ClientSession(timeout=timeout, headers=headers) as session:
        body = {"id": product_id, "name": "Chaos widget", "price": "9.99", "stock": stock}
        async with session.post(f"{url}/api/products/", json=body) as response:
            if response.status != 201:
                print(f"could not create the product: {response.status} {await response.text()}")
                return 2
        statuses = await asyncio.gather(
            *(reserve(session, url, product_id, n) for n in range(clients))
        )
        async with session.get(f"{url}/api/products/{product_id}") as response:
            product = (await response.json())["product"]
    succeeded = statuses.count(201)
    refused = statuses.count(409)
    other = len(statuses) - succeeded - refused
    print(f"{succeeded} of {clients} reservations succeeded ({refused} refused, {other} other)")
    print(
        f"product {product_id}: available {product['available']}, "
        f"reserved {product['reserved']}, sold {product['sold']}"
    )
    ok = (
        succeeded == stock
        and refused == clients - stock
        and product["available"] == 0
        and product["reserved"] == stock
    )
    print("OK" if ok else "FAILED: oversold, undersold or inconsistent")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--stock", type=int, default=5)
    parser.add_argument("--key", default=default_key(), help="an admin API key")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.url.rstrip("/"), args.clients, args.stock, args.key)))
