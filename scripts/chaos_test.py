"""Race for the last units: one product with stock 5, 50 parallel reservations of 1 unit.

Exits 0 only if exactly 5 reservations succeeded and the product then shows
available 0, reserved 5. With `--locations`, the stock is spread over two new
locations (2 + 3 for stock 5: the first gets stock // 2) and every location must then
show available 0. Runs against a live gateway (`make run`):

    .venv/bin/python scripts/chaos_test.py [--url http://127.0.0.1:8080] [--clients 50] [--stock 5]
        [--locations | --carts] [--key KEY]  (default: $INVENTORY_API_KEY, else
        .local/admin.key from `make run`)

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


async def post(session: aiohttp.ClientSession, url: str, body: dict[str, object]) -> bool:
    async with session.post(url, json=body) as response:
        if response.status in (200, 201):
            return True
        print(f"POST {url} {body}: {response.status} {await response.text()}")
        return False


async def spread_stock(
    session: aiohttp.ClientSession, url: str, product_id: str, stock: int, run: str
) -> dict[str, int] | None:
    """Two new locations holding `stock` between them (stock // 2 and the rest)."""
    parts = {f"chaos-{run}-a": stock // 2, f"chaos-{run}-b": stock - stock // 2}
    for priority, (location_id, units) in enumerate(parts.items(), start=1):
        body = {"id": location_id, "name": f"Chaos {location_id}", "priority": priority}
        if not await post(session, f"{url}/api/locations/", body):
            return None
        adjust = {"delta": units, "reason": "chaos", "location_id": location_id}
        if units and not await post(
            session, f"{url}/api/products/{product_id}/adjust_stock/", adjust
        ):
            return None
    return parts


async def main(url: str, clients: int, stock: int, key: str, locations: bool = False) -> int:
    run = uuid.uuid4().hex[:12]
    product_id = f"chaos-{run}"
    timeout = aiohttp.ClientTimeout(total=60)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with aiohttp.ClientSession(timeout=timeout, headers=headers) as session:
        initial = 0 if locations else stock
        body = {"id": product_id, "name": "Chaos widget", "price": "9.99", "stock": initial}
        if not await post(session, f"{url}/api/products/", body):
            return 2
        parts = await spread_stock(session, url, product_id, stock, run) if locations else {}
        if parts is None:
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
    at = {loc["location_id"]: loc for loc in product["locations"]}
    for location_id, loc in at.items():
        print(
            f"  at {location_id}: available {loc['available']}, reserved {loc['reserved']}, "
            f"sold {loc['sold']}"
        )
    ok = (
        succeeded == stock
        and refused == clients - stock
        and product["available"] == 0
        and product["reserved"] == stock
        and all(loc["available"] == 0 for loc in at.values())
        and all(at[lid]["reserved"] == units for lid, units in (parts or {}).items())
        and sum(loc["reserved"] for loc in at.values()) == stock
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
    parser.add_argument(
        "--locations",
        action="store_true",
        help="spread the stock over two new locations; every one must end at available 0",
    )
    args = parser.parse_args()
    if args.carts:
        sys.exit(asyncio.run(carts(args.url.rstrip("/"), args.clients, args.key)))
    sys.exit(
        asyncio.run(main(args.url.rstrip("/"), args.clients, args.stock, args.key, args.locations))
    )
