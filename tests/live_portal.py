"""A live stack for the check-in page and the mail tests: the dev server, a worker that
signs check-in links (and, when asked, mails parties), and the API served by uvicorn on a
free local port, so that a browser or httpx follows the links as a party would."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.client import Client

from activities.portal import PortalSettings
from activities.settings import NotificationSettings, SmtpSettings
from starter.api.app import create_app
from starter.api.keys import KeyStore
from starter.api.server import ApiServer
from starter.client import PartyOrderClient
from tests.conftest import TEST_ALLOW, read_outbox, unique
from worker import build_worker

PORTAL_SECRET = "check-in-links-secret-for-tests-0123"


@dataclass
class LiveStack:
    base_url: str  # the API's root, as links name it
    orders: PartyOrderClient
    outbox: Path
    portal: PortalSettings

    def check_in_notices(self, order_id: str) -> list[dict[str, Any]]:
        return [
            line
            for line in read_outbox(self.outbox)
            if line["orderId"] == order_id
            and line["kind"] == "checkIn"
            and line["recipientKind"] == "party"
        ]


async def eventually(
    check: Callable[[], Awaitable[Any]], timeout: float = 20.0, what: str = "condition"
) -> Any:
    """The first truthy result of ``check``, polled until ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert loop.time() < deadline, f"{what} not met within {timeout}s"
        await asyncio.sleep(0.2)


@asynccontextmanager
async def live_stack(
    client: Client,
    tmp_path: Path,
    *,
    smtp: SmtpSettings | None = None,
    log_level: str = "warning",
) -> AsyncIterator[LiveStack]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}"
    portal = PortalSettings(secret=PORTAL_SECRET, base_url=base_url)
    outbox = tmp_path / "outbox.jsonl"
    task_queue = unique("tq-portal")
    settings = NotificationSettings(
        outbox_path=outbox, portal=portal, smtp=smtp, callback_allow=TEST_ALLOW
    )
    orders = PartyOrderClient(client, task_queue)
    app = create_app(keys=KeyStore(tmp_path / "keys.json"), client=orders, portal_settings=portal)
    import uvicorn

    server = ApiServer(uvicorn.Config(app, log_level=log_level))
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        async with build_worker(client, task_queue, settings=settings):
            await eventually(lambda: asyncio.sleep(0, server.started), what="API started")
            yield LiveStack(base_url, orders, outbox, portal)
    finally:
        server.should_exit = True
        await serving
        listener.close()
