"""A real HTTP receiver for hub events, for the tests: aiohttp on a free local port.

It records every request as it arrived (headers and exact body bytes), answers 200 by
default, and can hold requests unanswered (to kill a worker while a delivery is in the
middle) or answer them with another status.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from standardwebhooks import Webhook


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def key(self) -> str:
        return self.headers["Idempotency-Key"]

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class HubListener:
    status: int = 200
    hold: asyncio.Event | None = None  # while set to an unset Event, requests wait on it
    received: list[Received] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/events"

    async def start(self) -> HubListener:
        app = web.Application()
        app.router.add_post("/events", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        self.received.append(Received(dict(request.headers), await request.read()))
        if self.hold is not None:
            await self.hold.wait()
        return web.Response(status=self.status, text="ok" if self.status < 300 else "no")

    # ------------------------------------------------------------------ what arrived

    def by_key(self) -> dict[str, list[Received]]:
        """Every delivery, by its idempotency key (a retried one arrives more than once)."""
        keyed: dict[str, list[Received]] = defaultdict(list)
        for item in self.received:
            keyed[item.key].append(item)
        return dict(keyed)

    def events(self) -> list[dict[str, Any]]:
        """One event per idempotency key (as a receiver deduping by it sees them), in the
        order they first arrived. Asserts that every repeat of a key is the same bytes."""
        seen: dict[str, Received] = {}
        for item in self.received:
            first = seen.setdefault(item.key, item)
            assert first.body == item.body, f"{item.key} arrived with different bodies"
        return [item.event for item in seen.values()]

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [event for event in self.events() if event["eventType"] == event_type]

    def assert_signed(self, secret: str) -> None:
        """Every delivery verifies, as a receiver checks it, with the ``standardwebhooks``
        package and the subscription's ``whsec_`` secret (raises otherwise)."""
        assert self.received, "nothing arrived"
        for item in self.received:
            Webhook(secret).verify(item.body, item.headers)
            assert item.headers["webhook-id"] == item.key
