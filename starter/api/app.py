"""The ASGI application: routes, errors, the body cap, and the OpenAPI document.

The app reaches Temporal only through ``PartyOrderClient``. It connects on the first
request that needs Temporal, not at start-up, so the API comes up (and answers 503 with
``Retry-After``) while Temporal is still starting or briefly away.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from activities.portal import PortalSettings
from settings import Settings
from starter.api import document as document_rules
from starter.api import errors, hub, portal
from starter.api.auth import BEARER_SCHEME
from starter.api.keys import KeyStore
from starter.api.limits import DEFAULT_MAX_BODY_BYTES, BodySizeLimit
from starter.api.ratelimit import RateLimit, RateLimiter
from starter.api.routes import BASE_PATH, router
from starter.api.strict import strict_json_body
from starter.client import PartyOrderClient, PartyOrderError, ServerUnavailable

Connect = Callable[[], Awaitable[PartyOrderClient]]

DESCRIPTION = """\
Track & Manage Party Orders (TM Forum eTOM 1.6.8.3) for the parties an order is placed
with and the processes that originate orders. Authenticate with
`Authorization: Bearer <key>` (keys from `party-orders api-key create`). A party key sees
and touches only its party's orders, a process key the orders its process originated, a
manager key every order; an order a key may not see answers 404, exactly like an unknown
one. Errors are TMF Error objects `{"code", "reason", "message", "status"}`.
"""


async def connect_with(settings: Settings | None) -> PartyOrderClient:
    """A client by ``settings`` (default: the environment's), waiting for a worker's answer
    as long as their ``PARTY_ORDERS_ANSWER_TIMEOUT`` says, as the CLI does."""
    settings = settings or Settings.from_env()
    try:
        answer_timeout = settings.answer_timeout
    except ValueError as error:
        raise PartyOrderError(str(error)) from None
    return await PartyOrderClient.connect(settings=settings, answer_timeout=answer_timeout)


class Clients:
    """One PartyOrderClient for the app, connected on first use. After a failed attempt,
    requests are answered 503 at once for ``RECONNECT_PAUSE`` seconds rather than each
    waiting for a connection attempt of its own."""

    RECONNECT_PAUSE = 2.0

    def __init__(
        self,
        connect: Connect | None = None,
        client: PartyOrderClient | None = None,
        settings: Settings | None = None,
    ):
        self._connect = connect or (lambda: connect_with(settings))
        self._client = client
        self._lock = asyncio.Lock()
        self._failed: tuple[float, ServerUnavailable] | None = None

    async def get(self) -> PartyOrderClient:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is not None:
                return self._client
            loop = asyncio.get_running_loop()
            if self._failed is not None and loop.time() - self._failed[0] < self.RECONNECT_PAUSE:
                raise self._failed[1]
            try:
                self._client = await self._connect()
            except PartyOrderError as error:  # unreachable, or broken connection settings
                failure = (
                    error if isinstance(error, ServerUnavailable) else ServerUnavailable(str(error))
                )
                self._failed = (loop.time(), failure)
                raise failure from None
            self._failed = None
            return self._client


def create_app(
    *,
    keys: KeyStore | None = None,
    client: PartyOrderClient | None = None,
    connect: Connect | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    rate_limit: RateLimit | None = None,
    portal_settings: PortalSettings | None = None,
    settings: Settings | None = None,
) -> FastAPI:
    """The API over ``client`` (or one made by ``connect``, by default from Temporal's
    environment configuration), with the keys in ``keys`` and a rate limit per key
    (default from ``PARTY_ORDERS_API_RATE`` and ``PARTY_ORDERS_API_BURST``). The check-in
    page checks links with ``portal_settings`` (default from ``PARTY_ORDERS_PORTAL_SECRET``;
    without a secret it refuses every link). ``settings`` give the defaults (by default
    the environment's)."""
    settings = settings or Settings.from_env()
    app = FastAPI(
        title="Party order tracking",
        version="1.0.0",
        description=DESCRIPTION,
        openapi_url=f"{BASE_PATH}/openapi.json",
        docs_url=None,  # served below, from the package's own Swagger UI assets
        redoc_url=None,
    )
    install_docs(app)
    app.state.settings = settings  # the hub's allow list and master secret
    app.state.keys = keys or KeyStore(settings.api_keys_path)
    app.state.clients = Clients(connect, client, settings)
    app.state.rate_limiter = RateLimiter(rate_limit or RateLimit.from_settings(settings))
    app.state.portal = portal_settings or settings.portal()
    errors.install(app)
    # Every JSON body is read strictly too: nothing coerced (starter/api/strict.py).
    strict = [Depends(strict_json_body)]
    app.include_router(router, dependencies=strict)
    app.include_router(hub.router, dependencies=strict)  # event subscriptions
    app.include_router(portal.router)  # HTML pages, outside the OpenAPI document
    app.add_middleware(BodySizeLimit, limit=max_body_bytes)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi_document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


DOCS_PATH = f"{BASE_PATH}/docs"
DOCS_ASSETS = f"{DOCS_PATH}/assets"


def install_docs(app: FastAPI) -> None:
    """Swagger UI at ``/docs``, its scripts and styles served from the fastapi-offline
    package (Swagger UI 5, which reads OpenAPI 3.1), not a CDN: the docs work on a machine
    without internet. ``/`` and the base path, bare 404s otherwise, point to them."""
    assets = resources.files("fastapi_offline") / "static"
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(assets)), name="swagger-ui")

    @app.get(DOCS_PATH, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=f"{BASE_PATH}/openapi.json",
            title="Party order tracking: API docs",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
        )

    @app.get("/", include_in_schema=False)
    @app.get(BASE_PATH, include_in_schema=False)
    async def to_docs() -> RedirectResponse:
        return RedirectResponse(DOCS_PATH)


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with the bearer scheme, and 400 (not 422) for bad input as the
    API answers it."""
    document = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    components = document.setdefault("components", {})
    components.setdefault("securitySchemes", {})[BEARER_SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "description": "an API key from `party-orders api-key create`",
    }
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            operation.get("responses", {}).pop("422", None)
    schemas = components.get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    document_rules.complete(schemas)
    return document
