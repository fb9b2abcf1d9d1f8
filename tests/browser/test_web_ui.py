"""The Temporal Web UI shows an operator which orders are critical, and why.

Headless Debian Chromium, driven by Playwright for Python, against the dev server's own
Web UI (2.54): a list filtered by the contract's search attributes finds the critical order
and only it, and the order's "User Metadata" tab shows the workflow's current details
(rendered Markdown, inside a frame). Screenshots land in ``tests/output/`` either way.
"""

from __future__ import annotations

import asyncio
import re
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from playwright.async_api import Frame, Page, async_playwright
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tests.conftest import unique
from tests.integration.test_visibility import (
    calm_order,
    critical_order,
    details_containing,
    list_settles_on,
    start_order,
    stop_orders,
    whole_seconds_now,
)

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
BROWSER_BUDGET = 55.0  # seconds for everything done in the browser
STEP_TIMEOUT_MS = 20_000  # for one Playwright wait (the UI is a single-page app)


def web_ui_url(env: WorkflowEnvironment) -> str:
    """The dev server's Web UI.

    ``start_local(ui=True)`` without ``ui_port`` makes the SDK core start the CLI with
    ``--ui-port <gRPC port + 1000>`` on the same ip, so the UI is found from the client's
    target. (A ``dev_ui_url`` fixture in conftest, with an explicit ``ui_port``, would be
    sturdier.)
    """
    host, port = env.client.service_client.config.target_host.rsplit(":", 1)
    return f"http://{host}:{int(port) + 1000}"


def wait_for_http(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.25)


def plain(text: str) -> str:
    """Rendered text with Markdown emphasis marks and runs of whitespace removed."""
    return re.sub(r"\s+", " ", text.replace("*", ""))


async def frame_text(frame: Frame) -> str:
    try:
        return plain(await frame.locator("body").inner_text(timeout=2_000))
    except Exception:  # a frame that is detaching or not loaded yet has no text to give
        return ""


async def find_in_frames(page: Page, parts: list[str], timeout: float) -> tuple[Frame, str]:
    """The first frame (the page or any iframe) whose text has every one of ``parts``."""
    deadline = time.monotonic() + timeout
    while True:
        for frame in page.frames:
            text = await frame_text(frame)
            if all(part in text for part in parts):
                return frame, text
        if time.monotonic() > deadline:
            seen = [(frame.url, (await frame_text(frame))[:300]) for frame in page.frames]
            raise AssertionError(f"no frame shows {parts}; frames: {seen}")
        await asyncio.sleep(0.5)


async def test_web_ui_lists_the_critical_order_and_shows_its_current_details(
    dev_env: WorkflowEnvironment, dev_client: Client, dev_task_queue: str, output_dir: Path
) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (or deselect -m browser)")
    party_id = unique("PARTY")
    now = whole_seconds_now()
    calm = await start_order(dev_client, dev_task_queue, calm_order(unique(), party_id, now))
    critical = await start_order(
        dev_client,
        dev_task_queue,
        critical_order(unique(), party_id, now),
        summary=f"Critical-path survey for {party_id}",
    )
    try:
        query = f'PartyOrderJeopardy="critical" AND PartyId="{party_id}"'
        await list_settles_on(dev_client, query, {critical.id})
        await details_containing(critical, "Jeopardy: **critical**")

        ui = web_ui_url(dev_env)
        await asyncio.to_thread(wait_for_http, ui)
        list_url = f"{ui}/namespaces/default/workflows?query={urllib.parse.quote(query)}"
        async with asyncio.timeout(BROWSER_BUDGET), async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page(viewport={"width": 1400, "height": 1000})
                page.set_default_timeout(STEP_TIMEOUT_MS)
                try:
                    await page.goto(list_url)
                    # The filtered list: a link to the critical order, none to the calm one.
                    row_link = page.get_by_role("link", name=critical.id, exact=True)
                    await row_link.first.wait_for(state="visible")
                    listed = page.locator('a[href*="/namespaces/default/workflows/party-order-"]')
                    hrefs = await listed.evaluate_all("links => links.map(a => a.pathname)")
                    assert all(f"/workflows/{critical.id}/" in href for href in hrefs), hrefs
                    assert await page.locator(f'a[href*="/workflows/{calm.id}/"]').count() == 0

                    await row_link.first.click()
                    await page.wait_for_url(re.compile(rf"/workflows/{re.escape(critical.id)}/"))
                    await page.locator('[data-testid="user-metadata-tab"]').click()
                    await page.wait_for_url(re.compile(r"/user-metadata$"))

                    _, text = await find_in_frames(
                        page,
                        [
                            "State: acknowledged",
                            "Jeopardy: critical",
                            critical.id.removeprefix("party-order-"),
                        ],
                        timeout=20,
                    )
                    assert "Percent complete: 0%" in text
                    assert "Next check-in:" in text
                    await find_in_frames(page, [f"Critical-path survey for {party_id}"], timeout=5)
                    await page.screenshot(path=output_dir / "web-ui.png", full_page=True)
                except BaseException:
                    await page.screenshot(
                        path=output_dir / "web-ui-failure.png", full_page=True, timeout=10_000
                    )
                    raise
            finally:
                await browser.close()
    finally:
        await stop_orders(calm, critical)
