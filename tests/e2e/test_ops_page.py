"""The /ops page in a real browser: headless Debian chromium driven by Playwright
(scripts/chromium.sh finds or installs it; Playwright downloads no browser here).

A reservation made through the API shows on the open page without a reload (the
product's reserved count from the summary it polls, the audit row from the live feed),
and its hold leaves the countdown list once it expires. The page itself loads without a
key, asks for one when the gateway answers 401, and sends it with every data request;
projection lag turns red past the threshold while the projector is paused, and back
once it caught up."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.conftest import RUN_ID
from tests.e2e.conftest import OpsPipeline
from tests.support.ids import unique
from tests.support.processes import ROOT

pytestmark = pytest.mark.e2e

# Waits, not thresholds: how long Playwright keeps polling before it gives up.
SHOWN_WITHIN_MS = 30_000
EXPIRED_WITHIN_MS = 90_000
SCREENSHOTS = ROOT / ".local" / "test-logs" / RUN_ID


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's chromium, installed first when missing (as root: CI)."""
    found = subprocess.run(
        [str(ROOT / "scripts" / "chromium.sh")], capture_output=True, text=True, check=False
    )
    assert found.returncode == 0, found.stderr
    return found.stdout.strip()


@pytest.fixture(scope="module")
async def browser(chromium: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        # --no-sandbox: CI runs as root, where chromium's sandbox refuses to start.
        launched = await playwright.chromium.launch(
            executable_path=chromium, headless=True, args=["--no-sandbox"]
        )
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    opened = await context.new_page()
    yield opened
    await context.close()


async def post(http: aiohttp.ClientSession, path: str, body: dict[str, Any]) -> Any:
    async with http.post(path, json=body) as response:
        assert response.status == 201, await response.text()
        return await response.json()


async def sign_in(page: Page, url: str, key: str) -> None:
    """Open the page and give it the viewer key it asks for."""
    await page.goto(url)
    await expect(page.locator("#key-form")).to_be_visible(timeout=SHOWN_WITHIN_MS)
    await page.fill("#key-input", key)
    await page.click("#key-form button[type=submit]")
    await expect(page.locator("#key-form")).to_be_hidden()


async def screenshot(page: Page, name: str, run_notes: list[str]) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    await page.screenshot(path=str(path), full_page=True)
    run_notes.append(f"/ops screenshot: {path}")
    return path


async def test_a_reservation_shows_live_and_its_hold_leaves_the_countdown_when_it_expires(
    ops_pipeline: OpsPipeline,
    ops_http: aiohttp.ClientSession,
    page: Page,
    run_notes: list[str],
) -> None:
    product_id = unique("ops-p")
    await post(
        ops_http,
        "/api/products/",
        {"id": product_id, "name": "Watched", "price": "3.00", "stock": 5},
    )
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"page error: {error}"))
    await sign_in(page, f"{ops_pipeline.gateway_url}/ops", ops_pipeline.viewer_key)

    product = page.locator(f'#stock .product[data-product="{product_id}"]')
    await expect(product.locator('[data-field="available"]')).to_have_text(
        "5", timeout=SHOWN_WITHIN_MS
    )
    await expect(product.locator('[data-field="reserved"]')).to_have_text("0")
    # The feed reads from the end of the audit topic: reserve only once it is in place.
    await expect(page.locator("#stream-state")).to_have_text("audit live", timeout=SHOWN_WITHIN_MS)

    reserved = await post(
        ops_http,
        "/api/reservations/",
        {"product_id": product_id, "quantity": 2, "customer_id": "c-ops"},
    )
    reservation_id = reserved["reservation"]["id"]

    await expect(product.locator('[data-field="reserved"]')).to_have_text(
        "2", timeout=SHOWN_WITHIN_MS
    )
    await expect(product.locator('[data-field="available"]')).to_have_text("3")
    audit_row = page.locator(
        f'#audit tr[data-type="reservation.created"][data-product="{product_id}"]'
    )
    await expect(audit_row).to_be_visible(timeout=SHOWN_WITHIN_MS)
    hold = page.locator(f'#holds li[data-reservation="{reservation_id}"]')
    await expect(hold).to_have_count(1, timeout=SHOWN_WITHIN_MS)
    await expect(page.locator('#orders tr[data-status="pending"] td.num')).not_to_have_text("0")
    await screenshot(page, "ops-page.png", run_notes)

    # The audit filter hides the rows of other products, and shows them again.
    await page.fill("#audit-filter", "some-other-product")
    await expect(audit_row).to_be_hidden()
    await page.fill("#audit-filter", product_id)
    await expect(audit_row).to_be_visible()

    # The hold expires (OPS_TTL_SECONDS): it leaves the list, the stock comes back.
    await expect(hold).to_have_count(0, timeout=EXPIRED_WITHIN_MS)
    await expect(product.locator('[data-field="reserved"]')).to_have_text(
        "0", timeout=SHOWN_WITHIN_MS
    )
    await expect(product.locator('[data-field="available"]')).to_have_text("5")
    await expect(
        page.locator(f'#audit tr[data-type="reservation.expired"][data-product="{product_id}"]')
    ).to_be_visible(timeout=SHOWN_WITHIN_MS)
    await screenshot(page, "ops-page-expired.png", run_notes)
    # The 401s before the key was given are the browser's only complaints.
    errors = [line for line in console if "error" in line.lower() and "401" not in line]
    assert not errors, console


async def test_the_page_asks_for_a_key_once_and_sends_it_with_every_data_request(
    ops_pipeline: OpsPipeline, page: Page
) -> None:
    refused: list[str] = []
    carried: list[str] = []

    def seen(response: Any) -> None:
        url = response.url
        if "/api/ops/" not in url:
            return
        if response.status == 401:
            refused.append(url)
        elif response.request.headers.get("authorization") == f"Bearer {ops_pipeline.viewer_key}":
            carried.append(url)

    page.on("response", seen)
    await page.goto(f"{ops_pipeline.gateway_url}/ops")
    await expect(page.locator("#key-form")).to_be_visible(timeout=SHOWN_WITHIN_MS)
    await expect(page.locator("#summary-state")).to_have_text("key needed")
    assert refused, "the gateway answered the page's data requests without a key"

    # A key the gateway does not know is refused as none.
    await page.fill("#key-input", "not-a-key")
    await page.click("#key-form button[type=submit]")
    await expect(page.locator("#key-form")).to_be_visible(timeout=SHOWN_WITHIN_MS)

    await page.fill("#key-input", ops_pipeline.viewer_key)
    await page.click("#key-form button[type=submit]")
    await expect(page.locator("#key-form")).to_be_hidden()
    await expect(page.locator("#summary-state")).to_have_text(
        "summary live", timeout=SHOWN_WITHIN_MS
    )
    await expect(page.locator("#stream-state")).to_have_text("audit live", timeout=SHOWN_WITHIN_MS)
    assert any(url.endswith("/api/ops/summary") for url in carried), carried
    assert any("/api/ops/audit/stream" in url for url in carried), carried
    # Kept for this tab: a reload does not ask again.
    await page.reload()
    await expect(page.locator("#summary-state")).to_have_text(
        "summary live", timeout=SHOWN_WITHIN_MS
    )
    await expect(page.locator("#key-form")).to_be_hidden()


OVER = re.compile(r"\bover\b")


async def test_projection_lag_turns_red_past_the_threshold_and_back_when_it_catches_up(
    ops_pipeline: OpsPipeline, page: Page
) -> None:
    processes = ops_pipeline.pipeline.processes
    # A gateway for which any lag at all is too much.
    strict = processes.start("gateway", OPS_LAG_THRESHOLD="0")
    try:
        await sign_in(page, f"{processes.gateway_url(strict)}/ops", ops_pipeline.viewer_key)
        read_models = page.locator('#projections tr[data-projection="read_models"]')
        await ops_pipeline.pipeline.settled()
        await expect(read_models).not_to_have_class(OVER, timeout=SHOWN_WITHIN_MS)

        [projector] = [p for p in processes.processes if p.role == "projector"]
        os.kill(projector.popen.pid, signal.SIGSTOP)  # events pile up unprojected
        try:
            await ops_pipeline.pipeline.create_product(unique("lag-p"), 1)
            await expect(read_models).to_have_class(OVER, timeout=SHOWN_WITHIN_MS)
            await expect(read_models.locator("td.num")).not_to_have_text("0")
        finally:
            os.kill(projector.popen.pid, signal.SIGCONT)
        await expect(read_models).not_to_have_class(OVER, timeout=EXPIRED_WITHIN_MS)
    finally:
        strict.stop()
