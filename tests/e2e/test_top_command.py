"""`inventory top --once` against a running pipeline: the products, the holds about to
expire and the lag of every consumer group, read from the read models and the broker."""

from __future__ import annotations

import asyncio
import os
import sys

import aiohttp
import pytest

from tests.e2e.conftest import OpsPipeline
from tests.support.ids import unique
from tests.support.processes import ROOT, settings_env
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e


async def run_top(ops_pipeline: OpsPipeline) -> str:
    env = {
        **os.environ,
        **settings_env(ops_pipeline.pipeline.settings),
        "COLUMNS": "200",  # rich's width when not on a terminal
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "inventory.cli",
        "top",
        "--once",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_top_once_shows_a_product_its_hold_and_the_lag_of_each_group(
    ops_pipeline: OpsPipeline, ops_http: aiohttp.ClientSession
) -> None:
    product_id = unique("top-p")
    body = {"id": product_id, "name": "Topped", "price": "2.00", "stock": 4}
    async with ops_http.post("/api/products/", json=body) as response:
        assert response.status == 201
    reserve = {"product_id": product_id, "quantity": 1, "customer_id": "c-top"}
    async with ops_http.post("/api/reservations/", json=reserve) as response:
        assert response.status == 201
        reservation_id = (await response.json())["reservation"]["id"]

    def shows_the_hold(text: str) -> bool:
        return product_id in text and reservation_id in text

    text = await eventually(
        lambda: run_top(ops_pipeline), shows_the_hold, interval=0.5, what="top showing the hold"
    )
    settings = ops_pipeline.pipeline.settings
    for group in (settings.app_id, f"{settings.topic_prefix}projector", "read_models"):
        assert group in text, group
