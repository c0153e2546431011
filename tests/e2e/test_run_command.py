"""`inventory run` (what `make run` ends in): the whole pipeline as one foreground
command, healthy, answering, and gone after Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import uuid

import aiohttp
import pytest

from inventory.settings import Settings
from tests.conftest import RUN_ID
from tests.support.keys import bearer, make_key
from tests.support.pipeline import isolated, own_schema
from tests.support.processes import ROOT, settings_env
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_inventory_run_serves_until_ctrl_c(settings: Settings) -> None:
    port = free_port()
    own = isolated(settings, "run", gateway_port=port)
    key = await make_key(own)  # migrates the run's schema, as `make run` does before it
    log_path = ROOT / ".local" / "test-logs" / RUN_ID / "inventory-run.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "inventory.cli",
            "run",
            cwd=ROOT,
            env={**os.environ, **settings_env(own), "PYTHONUNBUFFERED": "1"},
            stdout=log_file,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the whole process group, as in a shell
        )
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", headers=bearer(key)) as http:

            async def health() -> int:
                try:
                    async with http.get("/healthz") as response:
                        return response.status
                except aiohttp.ClientError:
                    return 0

            await eventually(health, lambda s: s == 200, within=90, what="healthy pipeline")
            product_id = f"run-{uuid.uuid4().hex[:8]}"
            async with http.post(
                "/api/products/", json={"id": product_id, "name": "R", "price": "1", "stock": 2}
            ) as response:
                assert response.status == 201, await response.text()
            async with http.post(
                "/api/reservations/",
                json={"product_id": product_id, "quantity": 2, "customer_id": "c"},
            ) as response:
                assert response.status == 201
            async with http.get(f"/api/products/{product_id}") as response:
                assert (await response.json())["product"]["reserved"] == 2
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            await asyncio.wait_for(process.wait(), 40)
        except TimeoutError:
            os.killpg(process.pid, signal.SIGKILL)
            raise
    output = log_path.read_text(errors="replace")
    assert "pipeline running" in output and "gateway listening on" in output
    assert process.returncode == 0, output[-2000:]
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0, "the gateway still listens"
    async with own_schema(own):  # `inventory run` migrated it; this drops it again
        pass
