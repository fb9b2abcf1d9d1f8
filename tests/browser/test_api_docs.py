"""The API's own doors: `/` leads to the docs, and the docs work with no internet
(Swagger UI's assets come from the API itself, not a CDN)."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
from playwright.async_api import Browser, Route

from starter.api.routes import BASE_PATH
from tests.support.live_portal import LiveStack


async def test_the_root_and_the_base_path_lead_to_the_docs(stack: LiveStack) -> None:
    async with httpx.AsyncClient(base_url=stack.base_url) as http:
        for path in ("/", BASE_PATH):
            answer = await http.get(path)
            assert answer.status_code == 307, (path, answer.status_code)
            assert answer.headers["location"] == f"{BASE_PATH}/docs"


async def test_the_docs_render_with_no_internet(stack: LiveStack, browser: Browser) -> None:
    api_host = urlsplit(stack.base_url).netloc
    elsewhere: list[str] = []

    async def only_the_api(route: Route) -> None:
        if urlsplit(route.request.url).netloc == api_host:
            await route.continue_()
        else:  # a CDN: as on a machine without internet
            elsewhere.append(route.request.url)
            await route.abort()

    page = await browser.new_page()
    await page.route("**/*", only_the_api)
    await page.goto(f"{stack.base_url}{BASE_PATH}/docs")
    # Swagger UI has read the OpenAPI document and drawn the operations.
    await page.wait_for_selector(".opblock-summary-path", timeout=15_000)
    paths = await page.locator(".opblock-summary-path").all_inner_texts()
    assert any(path.endswith("/partyOrder") for path in paths), paths
    assert elsewhere == []
