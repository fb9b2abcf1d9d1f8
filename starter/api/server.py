"""Serving the API with uvicorn."""

from __future__ import annotations

import uvicorn

from starter.api.app import create_app
from starter.api.keys import KeyStore

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def server(
    host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *, keys: KeyStore | None = None
) -> uvicorn.Server:
    """A uvicorn server for the API; ``await server.serve()`` runs it until a signal.

    uvicorn's access log names method, path and status only: never a header, so no key.
    """
    config = uvicorn.Config(
        create_app(keys=keys),
        host=host,
        port=port,
        log_level="info",
        proxy_headers=False,
        server_header=False,
    )
    return uvicorn.Server(config)
