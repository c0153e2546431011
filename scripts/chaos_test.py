"""Race for the last units: one product with stock 5, 50 parallel reservations of 1 unit.

Exits 0 only if exactly 5 reservations succeeded and the product then shows
available 0, reserved 5. Runs against a live gateway (`make run`):

    .venv/bin/python scripts/chaos_test.py [--url http://127.0.0.1:8080] [--clients 50] [--stock 5]
        [--key KEY]  (default: $INVENTORY_API_KEY, else .local/admin.key from `make run`)

With --carts: products A (stock 5) and B (stock 3), 50 parallel carts of {A: 1, B: 1}.
Exits 0 only if exactly 3 carts succeeded, then A shows available 2 reserved 3 and B
available 0 reserved 3: every refused cart gave back the A it held.
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


async def reserve_cart(
    session: aiohttp.ClientSession, url: str, products: list[str], n: int
) -> int:
    body = {
        "customer_id": f"chaos-{n}",
        "lines": [{"product_id": p, "quantity": 1} for p in products],
    }
    async with session.post(f"{url}/api/reservations/", json=body) as response:
        await response.read()
        return response.status


async def carts(url: str, clients: int, key: str) -> int:
    run = uuid.uuid4().hex[:12]
    stocks = {f"chaos-a-{run}": 5, f"chaos-b-{run}": 3}
    timeout = aiohttp.ClientTimeout(total=60)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with aiohttp.ClientSession(timeout=timeout, headers=headers) as session:
        for product_id, stock in stocks.items():
            body = {"id": product_id, "name": "Chaos widget", "price": "9.99", "stock": stock}
            async with session.post(f"{url}/api/products/", json=body) as response:
                if response.status != 201:
                    print(f"could not create {product_id}: {response.status}")
                    return 2
        statuses = await asyncio.gather(
            *(reserve_cart(session, url, list(stocks), n) for n in range(clients))
        )
        shown = {}
        for product_id in stocks:
            async with session.get(f"{url}/api/products/{product_id}") as response:
                shown[product_id] = (await response.json())["product"]
    succeeded = statuses.count(201)
    refused = statuses.count(409)
    other = len(statuses) - succeeded - refused
    print(f"{succeeded} of {clients} carts succeeded ({refused} refused, {other} other)")
    for product_id, product in shown.items():
        print(
            f"product {product_id}: available {product['available']}, "
            f"reserved {product['reserved']}, sold {product['sold']}"
        )
    a, b = (shown[p] for p in stocks)
    ok = (
        succeeded == 3
        and refused == clients - 3
        and (a["available"], a["reserved"]) == (2, 3)
        and (b["available"], b["reserved"]) == (0, 3)
    )
    print("OK" if ok else "FAILED: oversold, undersold, or a refused cart kept a line")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--stock", type=int, default=5)
    parser.add_argument("--key", default=default_key(), help="an admin API key")
    parser.add_argument("--carts", action="store_true", help="carts of {A: 1, B: 1}, A=5, B=3")
    args = parser.parse_args()
    if args.carts:
        sys.exit(asyncio.run(carts(args.url.rstrip("/"), args.clients, args.key)))
    sys.exit(asyncio.run(main(args.url.rstrip("/"), args.clients, args.stock, args.key)))
