"""A cap on request bodies, checked before any of the body is parsed.

A declared ``Content-Length`` over the cap is answered at once; a body sent without one
(chunked) is counted as it arrives and refused when it passes the cap, so no request can
make the API hold more than the cap in memory.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_MAX_BODY_BYTES = 256 * 1024


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is larger than {limit} bytes")


def _answer(limit: int) -> bytes:
    return json.dumps(
        {
            "code": "invalidInput",
            "reason": "Bad request",
            "message": f"(body): the request body is larger than {limit} bytes",
            "status": "400",
        }
    ).encode()


class BodySizeLimit:
    """ASGI middleware refusing bodies over ``limit`` bytes with a 400 TMF Error."""

    def __init__(self, app: ASGIApp, limit: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = self.limit + 1  # not a number: refuse rather than guess
                if declared > self.limit:
                    await self._refuse(send)
                    return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        try:
            await self.app(scope, counting_receive, send)
        except BodyTooLarge:
            # Raised while the route reads the body, so nothing has been answered yet.
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = _answer(self.limit)
        await send(
            {
                "type": "http.response.start",
                "status": 400,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
