"""Fixtures of the browser tier: Debian's Chromium through Playwright, and the HTTP API
with a worker over the dev server (``live_stack``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright
from temporalio.client import Client

from tests.browser.test_web_ui import CHROMIUM, CHROMIUM_ARGS
from tests.support.live_portal import LiveStack, live_stack


@pytest.fixture
async def stack(dev_client: Client, tmp_path: Path) -> AsyncIterator[LiveStack]:
    async with live_stack(dev_client, tmp_path) as running:
        yield running


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()
