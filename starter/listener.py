"""A receiver for the event hub's deliveries, for trying the hub out and for scripts:
``party-orders listen``.

It answers every POST with 204 and prints one line per event. Given the subscription's
``secret`` (in the file ``POST /hub``'s answer was saved to, read when the first event
arrives, so the listener may start before the subscription exists), it verifies each
delivery with the ``standardwebhooks`` package, as a real receiver must, and refuses a
delivery whose signature does not hold (401: the hub retries it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def secret_in(path: Path) -> str | None:
    """The ``secret`` of the subscription saved at ``path`` (POST /hub's 201), if it is
    there yet."""
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    secret = saved.get("secret") if isinstance(saved, dict) else None
    return secret if isinstance(secret, str) else None


def event_line(event: dict[str, Any], verified: bool) -> str:
    order = (event.get("event") or {}).get("partyOrder") or {}
    check = "signature verified" if verified else "not verified: no secret given"
    return f"{event.get('eventType', '?')} {order.get('id', '?')} ({check})"


def listener_app(
    secret: Callable[[], str | None], on_event: Callable[[dict[str, Any], bool], None]
) -> Starlette:
    """The receiving app: every path takes POSTs (the callback's path is the sender's
    choice)."""

    async def receive(request: Request) -> Response:
        body = await request.body()
        key = secret()
        try:
            if key is not None:
                event = Webhook(key).verify(body, dict(request.headers))
            else:
                event = json.loads(body)
        except (WebhookVerificationError, ValueError) as error:
            on_event({"eventType": f"refused: {error}"}, False)
            return Response(status_code=401)
        on_event(event if isinstance(event, dict) else {}, key is not None)
        return Response(status_code=204)

    return Starlette(routes=[Route("/{path:path}", receive, methods=["POST"])])
