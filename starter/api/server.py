"""Serving the API with uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn

from starter.api.app import create_app
from starter.api.keys import KeyStore
from starter.client import PartyOrderError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


class ApiServerError(PartyOrderError):
    """The API could not be served (for example, its port is taken)."""


class ApiServer(uvicorn.Server):
    """uvicorn, stopped through ``serve_until``'s event rather than signal handlers of its
    own: uvicorn's re-raise the signal once it has shut down, so the process would die by
    the signal instead of exiting 0, and ``party-orders up`` stops it with everything else."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def api_server(
    host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *, keys: KeyStore | None = None
) -> ApiServer:
    """uvicorn serving the API. Its access log names method, path and status only, never
    a header, so no key is ever logged."""
    config = uvicorn.Config(
        create_app(keys=keys),
        host=host,
        port=port,
        log_level="info",
        proxy_headers=False,
        server_header=False,
    )
    return ApiServer(config)


async def serve_until(server: ApiServer, stop: asyncio.Event) -> None:
    """Serve until ``stop`` is set (or uvicorn stops by itself); then shut down gracefully."""

    async def watch() -> None:
        await stop.wait()
        server.should_exit = True

    watcher = asyncio.create_task(watch())
    try:
        # In this task, not one of its own: uvicorn raises SystemExit when it cannot bind,
        # and a task would hand that to the event loop instead of to us.
        await server.serve()
    except SystemExit:  # uvicorn has logged why
        config = server.config
        raise ApiServerError(f"cannot serve the API on {config.host}:{config.port}") from None
    finally:
        watcher.cancel()
