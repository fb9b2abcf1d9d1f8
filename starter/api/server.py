"""Serving the API with uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections.abc import Iterator

import uvicorn

from settings import Settings
from starter.api.app import create_app
from starter.api.keys import KeyStore
from starter.client import PartyOrderClient, PartyOrderError

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
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    keys: KeyStore | None = None,
    client: PartyOrderClient | None = None,
    log_level: str = "info",
    settings: Settings | None = None,
) -> ApiServer:
    """uvicorn serving the API (over ``client``, else one from Temporal's environment
    configuration). Its access log names method, path and status only, never a header, so
    no key is ever logged."""
    config = uvicorn.Config(
        create_app(keys=keys, client=client, settings=settings),
        host=host,
        port=port,
        log_level=log_level,
        proxy_headers=False,
        server_header=False,
    )
    return ApiServer(config)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so that a taken port is an error to report, not
    uvicorn's SystemExit from inside a task."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        listener = socket.socket(family, kind, proto)
    except OSError as error:
        raise ApiServerError(f"cannot serve the API on {host}:{port}: {error}") from None
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
    except OSError as error:
        listener.close()
        reason = "the port is in use" if error.errno == errno.EADDRINUSE else str(error)
        raise ApiServerError(f"cannot serve the API on {host}:{port}: {reason}") from None
    listener.set_inheritable(True)
    return listener


async def serve_until(server: ApiServer, stop: asyncio.Event) -> None:
    """Serve until ``stop`` is set; then shut down gracefully (open requests finish)."""
    config = server.config
    listener = bind(config.host, config.port)

    async def watch() -> None:
        await stop.wait()
        server.should_exit = True

    watcher = asyncio.create_task(watch())
    try:
        await server.serve(sockets=[listener])
    finally:
        watcher.cancel()
        listener.close()
