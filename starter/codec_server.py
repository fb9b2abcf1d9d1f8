"""The codec server: the Web UI and the ``temporal`` CLI decrypt payloads through it.

    party-orders codec-server [--host 127.0.0.1] [--port 8234] [--ui-origin URL ...]

``POST /decode`` and ``POST /encode`` take and return the protobuf JSON of ``Payloads``
(``{"payloads": [{"metadata": {...}, "data": "<base64>"}]}``), as the Web UI
(``--ui-codec-endpoint``, or its "Codec Server" setting) and ``temporal ... --codec-endpoint``
send them. The keys are the same ``PARTY_ORDERS_ENCRYPTION_KEYS`` the worker uses, so the
server is for the people allowed to read orders: it binds to localhost unless told
otherwise, answers browsers only from the Web UI's origin (CORS), and with
``PARTY_ORDERS_CODEC_TOKEN`` set every request must carry ``Authorization: Bearer <token>``
(``temporal ... --codec-auth "Bearer <token>"``).

Decoding fails as a whole, with a 400 naming the key id, when a payload cannot be
decrypted: nothing is passed through as if it were plaintext.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import TYPE_CHECKING

from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from privacy.codec import EncryptionCodec, PayloadDecryptionError, codec_for
from privacy.keys import EncryptionKeyError
from settings import ENCRYPTION_KEYS_ENV, Settings
from starter.errors import PartyOrderError

if TYPE_CHECKING:
    # aiohttp is imported where a server is built: every CLI command reads this module's
    # defaults, and only codec-server and up need the HTTP server.
    from aiohttp import web

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8234
DEFAULT_UI_ORIGINS = ("http://localhost:8233", "http://127.0.0.1:8233")
# A history page can send many payloads at once; one payload may be up to 2 MB.
MAX_REQUEST_BYTES = 32 * 1024 * 1024
# What the Web UI sends along with a codec request.
ALLOWED_HEADERS = "Content-Type, X-Namespace, Authorization"

logger = logging.getLogger(__name__)

Transform = Callable[[Sequence[Payload]], Awaitable[list[Payload]]]


def configured_codec(settings: Settings) -> EncryptionCodec:
    """The codec of ``PARTY_ORDERS_ENCRYPTION_KEYS``; PartyOrderError if unset or malformed."""
    try:
        codec = codec_for(settings.encryption_keys())
    except EncryptionKeyError as error:
        raise PartyOrderError(f"the encryption keys are invalid: {error}") from None
    if codec is None:
        raise PartyOrderError(
            f"{ENCRYPTION_KEYS_ENV} is not set: the codec server needs the keys the worker uses"
        )
    return codec


def _error(status: int, message: str) -> web.Response:
    from aiohttp import web

    return web.json_response({"message": message}, status=status)


def build_app(
    codec: EncryptionCodec,
    *,
    origins: Collection[str] = DEFAULT_UI_ORIGINS,
    token: str | None = None,
) -> web.Application:
    """The codec server's application: ``/encode``, ``/decode`` and their CORS preflights."""
    from aiohttp import web

    allowed = {origin.rstrip("/") for origin in origins}
    expected = f"Bearer {token}".encode() if token else None

    def cors(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is not None and origin.rstrip("/") in allowed:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
            # The Web UI may send its cookies along ("include credentials").
            response.headers["Access-Control-Allow-Credentials"] = "true"
            response.headers["Vary"] = "Origin"
        return response

    async def preflight(request: web.Request) -> web.StreamResponse:
        # A preflight carries no credentials by design: it is answered without the token.
        return cors(request, web.Response(status=204))

    def authorized(request: web.Request) -> bool:
        if expected is None:
            return True
        given = request.headers.get("Authorization", "").encode()
        return hmac.compare_digest(given, expected)

    def handler(transform: Transform) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            if not authorized(request):
                return cors(request, _error(401, "a valid Authorization: Bearer token is required"))
            try:
                body = await request.text()
                payloads = json_format.Parse(body, Payloads())
            except (json_format.ParseError, UnicodeDecodeError, ValueError) as error:
                return cors(request, _error(400, f"expected the JSON of Payloads: {error}"))
            try:
                result = Payloads(payloads=await transform(payloads.payloads))
            except PayloadDecryptionError as error:
                logger.warning("codec server: %s", error)
                return cors(request, _error(400, str(error)))
            response = web.Response(
                text=json_format.MessageToJson(result), content_type="application/json"
            )
            return cors(request, response)

        return handle

    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    app.router.add_post("/encode", handler(codec.encode))
    app.router.add_post("/decode", handler(codec.decode))
    app.router.add_route("OPTIONS", "/encode", preflight)
    app.router.add_route("OPTIONS", "/decode", preflight)
    return app


class CodecServer:
    """The codec server running in this process's event loop, started and stopped in order."""

    def __init__(
        self,
        codec: EncryptionCodec,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        origins: Collection[str] = DEFAULT_UI_ORIGINS,
        token: str | None = None,
    ) -> None:
        self.app = build_app(codec, origins=origins, token=token)
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        host = "localhost" if self.host in ("127.0.0.1", "localhost") else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Listen; OSError (with the address in its text) when the port is taken."""
        from aiohttp import web

        runner = web.AppRunner(self.app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except OSError as error:
            await runner.cleanup()
            raise OSError(
                error.errno,
                f"the codec server cannot listen on {self.host}:{self.port}: {error.strerror}",
            ) from None
        self._runner = runner

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
