"""``party-orders up`` with encryption keys: the codec server starts with it, and the Web UI
(headless Chromium) shows an encrypted order's input and current details decoded, while
Temporal itself holds only ciphertext."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.async_api import async_playwright
from temporalio.api.history.v1 import History
from temporalio.client import Client

from privacy.codec import data_converter
from settings import ENCRYPTION_KEYS_ENV, Settings
from starter.client import PartyOrderClient
from starter.samples import example_order
from tests.conftest import unique
from tests.test_cli import REPO, _env, _stop, _wait_for_ui, free_port
from tests.test_web_ui import (
    BROWSER_BUDGET,
    CHROMIUM,
    CHROMIUM_ARGS,
    STEP_TIMEOUT_MS,
    find_in_frames,
)
from workflows.domain.model import track_workflow_id

pytestmark = pytest.mark.browser

EMAIL = "jane.doe@acme.example"


async def test_up_with_keys_decodes_an_encrypted_order_in_the_web_ui(
    tmp_path: Path, output_dir: Path
) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (or deselect -m browser)")
    keys = f"k1:{base64.b64encode(os.urandom(32)).decode()}"
    port, ui_port, codec_port = free_port(), free_port(), free_port()
    task_queue = unique("up-codec")
    up = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "starter",
            "up",
            "--data-dir",
            str(tmp_path / "data"),
            "--port",
            str(port),
            "--ui-port",
            str(ui_port),
            "--codec-port",
            str(codec_port),
        ],
        cwd=REPO,
        env=_env(PARTY_ORDERS_TASK_QUEUE=task_queue, **{ENCRYPTION_KEYS_ENV: keys}),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        await _wait_for_ui(up, ui_port)
        client = await Client.connect(
            f"localhost:{port}",
            data_converter=data_converter(Settings({ENCRYPTION_KEYS_ENV: keys}).encryption_keys()),
        )
        order_id = unique("ENC")
        order = example_order(order_id, datetime.now(UTC))
        order["party"]["contactEmail"] = EMAIL
        orders = PartyOrderClient(client, task_queue)
        await orders.start(order)
        await orders.report_progress(order_id, {"percentComplete": 40}, confirm=True)
        workflow_id = track_workflow_id(order_id)
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        assert EMAIL.encode() not in History(events=history.events).SerializeToString()

        page_url = f"http://localhost:{ui_port}/namespaces/default/workflows/{workflow_id}"
        async with asyncio.timeout(BROWSER_BUDGET), async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page(viewport={"width": 1400, "height": 1000})
                page.set_default_timeout(STEP_TIMEOUT_MS)
                try:
                    await page.goto(page_url)
                    # The start input, decoded through the codec server.
                    await find_in_frames(page, [EMAIL], timeout=25)
                    await page.locator('[data-testid="user-metadata-tab"]').click()
                    await page.wait_for_url(re.compile(r"/user-metadata$"))
                    _, text = await find_in_frames(
                        page, ["State: inProgress", "Percent complete: 40%"], timeout=20
                    )
                    assert order_id in text
                    await page.screenshot(path=output_dir / "web-ui-codec.png", full_page=True)
                except BaseException:
                    await page.screenshot(
                        path=output_dir / "web-ui-codec-failure.png", full_page=True, timeout=10_000
                    )
                    raise
            finally:
                await browser.close()
        code, output, _ = await _stop(up, signal.SIGINT)
        assert code == 0, output
        assert f"Codec server      http://localhost:{codec_port}" in output
        assert keys.split(":", 1)[1] not in output
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
