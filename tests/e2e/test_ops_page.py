"""The /ops page in a real browser: headless Debian chromium driven by Playwright
(scripts/chromium.sh finds or installs it; Playwright downloads no browser here).

A reservation made through the API shows on the open page without a reload (the
product's reserved count from the summary it polls, the audit row from the live feed),
and its hold leaves the countdown list once it expires. The page asks for an API key
when the gateway answers 401 and sends it with every data request; projection lag turns
red past the threshold while the projector is paused, and back once it caught up."""

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
from playwright.async_api import Browser, Page, Route, async_playwright, expect

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
    await page.goto(f"{ops_pipeline.gateway_url}/ops")

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
    assert not [line for line in console if "error" in line.lower()], console


async def test_the_page_asks_for_a_key_once_and_sends_it_with_every_data_request(
    ops_pipeline: OpsPipeline, page: Page
) -> None:
    # The gateway of this branch asks for no key: the browser plays one that does, for
    # the page's data routes, answering 401 unless the request carries the key.
    key = "viewer-" + unique("key")
    carried: list[str] = []

    async def gate(route: Route) -> None:
        authorization = route.request.headers.get("authorization")
        if authorization != f"Bearer {key}":
            await route.fulfill(status=401, json={"error": {"code": "unauthorized"}})
            return
        carried.append(route.request.url)
        await route.continue_()

    await page.route("**/api/ops/**", gate)
    await page.goto(f"{ops_pipeline.gateway_url}/ops")
    await expect(page.locator("#key-form")).to_be_visible(timeout=SHOWN_WITHIN_MS)
    await expect(page.locator("#summary-state")).to_have_text("key needed")

    await page.fill("#key-input", key)
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
        await page.goto(f"{processes.gateway_url(strict)}/ops")
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
