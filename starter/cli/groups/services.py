"""Serving others: the HTTP ``api``, its keys (``api-key create|list|revoke``), and the
``codec-server`` the Web UI decrypts payloads through."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from settings import CODEC_TOKEN_ENV, Settings
from starter.cli.arguments import CommandGroup
from starter.cli.render import to_json, when
from starter.codec_server import DEFAULT_HOST as CODEC_HOST
from starter.codec_server import DEFAULT_PORT as CODEC_PORT
from starter.codec_server import DEFAULT_UI_ORIGINS as CODEC_UI_ORIGINS
from starter.errors import InvalidInput, PartyOrderError
from starter.local.up import stop_on_signals
from starter.output import EXIT_ERROR, EXIT_OK, say, setup_logging

commands = CommandGroup()


# ---------------------------------------------------------------- api


def api_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument("--port", type=int, default=8080, help="port (default: %(default)s)")
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="uvicorn's log level; info includes the access log (default: %(default)s)",
    )


@commands.command("api", "serve the HTTP API for parties and originating processes", api_options)
async def cmd_api(args: argparse.Namespace) -> int:
    from starter.api.routes import BASE_PATH
    from starter.api.server import api_server, serve_until

    setup_logging("INFO")
    try:
        server = api_server(args.host, args.port, log_level=args.log_level)
    except ValueError as error:  # a rate limit setting that is not a number
        raise InvalidInput(str(error)) from None
    root = f"http://{args.host}:{args.port}{BASE_PATH}"
    say(f"API on {root} (OpenAPI: {root}/openapi.json, docs: {root}/docs); Ctrl-C stops it")
    stop = asyncio.Event()
    remove = stop_on_signals(stop)
    try:
        await serve_until(server, stop)
    finally:
        remove()
    say("API stopped")
    return EXIT_OK


# ---------------------------------------------------------------- api-key

commands.parent("api-key", "make, list and revoke the HTTP API's keys", "API keys")


def _key_store() -> Any:
    from starter.api.keys import KeyStore

    return KeyStore()


def create_key_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--role", required=True, choices=["party", "process", "manager"])
    parser.add_argument("--party", metavar="PARTY_ID", help="the party a party key is bound to")
    parser.add_argument("--process", metavar="NAME", help="the process a process key is bound to")
    parser.add_argument("--label", help="a note on who holds the key")


@commands.command(
    "api-key create", "make a key (printed once, as the last line)", create_key_options
)
async def cmd_api_key_create(args: argparse.Namespace) -> int:
    from starter.api.keys import ApiKeyError

    store = _key_store()
    try:
        record, key = store.create(
            args.role, party_id=args.party, process=args.process, label=args.label
        )
    except ApiKeyError as error:
        raise InvalidInput(str(error)) from None
    say(f"API key {record.id} for {record.subject} stored (as a hash) in {store.path}.")
    say("The key is shown this once; send it as Authorization: Bearer <key>:")
    say(key)  # the last line of stdout, so scripts can take it with `tail -n 1`
    return EXIT_OK


def list_keys_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")


@commands.command("api-key list", "list the keys (never the keys themselves)", list_keys_options)
async def cmd_api_key_list(args: argparse.Namespace) -> int:
    from starter.api.keys import ApiKeyError, key_summary

    try:
        keys = list(_key_store().keys().values())
    except ApiKeyError as error:
        raise InvalidInput(str(error)) from None
    if args.json:
        say(to_json([key_summary(key) for key in keys]))
        return EXIT_OK
    if not keys:
        say("No API keys (make one with: party-orders api-key create --role ...)")
    for key in keys:
        status = f"revoked {when(key.revoked_at)}" if key.revoked_at else "active"
        label = f"  {key.label}" if key.label else ""
        say(f"{key.id}  {key.subject:<40} created {when(key.created_at)}  {status}{label}")
    return EXIT_OK


def revoke_key_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("key_id", metavar="KEY_ID")


@commands.command("api-key revoke", "revoke a key by its id", revoke_key_options)
async def cmd_api_key_revoke(args: argparse.Namespace) -> int:
    from starter.api.keys import ApiKeyError

    try:
        key = _key_store().revoke(args.key_id)
    except ApiKeyError as error:
        raise InvalidInput(str(error)) from None
    say(f"API key {key.id} ({key.subject}) revoked")
    return EXIT_OK


# ---------------------------------------------------------------- codec-server


def codec_server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default=CODEC_HOST, help="address to listen on (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=CODEC_PORT, help="port to listen on (default: %(default)s)"
    )
    parser.add_argument(
        "--ui-origin",
        action="append",
        metavar="URL",
        help="a Web UI origin allowed by CORS (repeatable; default: "
        + ", ".join(CODEC_UI_ORIGINS)
        + ")",
    )


@commands.command(
    "codec-server",
    "serve /encode and /decode for the Web UI and the temporal CLI"
    " (keys from PARTY_ORDERS_ENCRYPTION_KEYS)",
    codec_server_options,
)
async def cmd_codec_server(args: argparse.Namespace) -> int:
    from starter.codec_server import DEFAULT_UI_ORIGINS, CodecServer, configured_codec

    settings = Settings.from_env()
    codec = configured_codec(settings)
    token = settings.codec_token
    origins = args.ui_origin or list(DEFAULT_UI_ORIGINS)
    server = CodecServer(codec, host=args.host, port=args.port, origins=origins, token=token)
    try:
        await server.start()
    except OSError as error:
        raise PartyOrderError(str(error)) from None
    setup_logging("WARNING")
    say(f"Codec server      {server.url}/decode and /encode (key ids {', '.join(codec.key_ids)})")
    say(f"Web UI origins    {', '.join(origins)}")
    say(f"Bearer token      {'required' if token else f'not required ({CODEC_TOKEN_ENV} unset)'}")
    say(f"temporal CLI      temporal workflow show --codec-endpoint {server.url} -w ...")
    stop = asyncio.Event()
    remove = stop_on_signals(stop)
    try:
        await stop.wait()
    finally:
        remove()
        await server.stop()
    say("Codec server stopped")
    return EXIT_OK


def listen_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="(default: %(default)s)")
    parser.add_argument("--port", type=int, default=9000, help="(default: %(default)s)")
    parser.add_argument(
        "--secret-file",
        metavar="FILE",
        help="where POST /hub's answer was saved: each delivery is verified with its secret",
    )
    parser.add_argument("--count", type=int, help="stop after this many events")
    parser.add_argument(
        "--timeout", type=float, help="give up after this many seconds (exit 1 if short)"
    )


@commands.command(
    "listen",
    "receive the event hub's deliveries on a callback URL and print each event",
    listen_options,
)
async def cmd_listen(args: argparse.Namespace) -> int:
    import uvicorn

    from starter.listener import event_line, listener_app, secret_in

    received: list[str] = []
    done = asyncio.Event()
    secret_file = Path(args.secret_file) if args.secret_file else None

    def on_event(event: dict[str, Any], verified: bool) -> None:
        say(event_line(event, verified))
        if not str(event.get("eventType", "")).startswith("refused"):
            received.append(str(event.get("eventType")))
        if args.count is not None and len(received) >= args.count:
            done.set()

    app = listener_app(lambda: secret_in(secret_file) if secret_file else None, on_event)
    server = uvicorn.Server(
        uvicorn.Config(app, host=args.host, port=args.port, log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    say(f"Listening on http://{args.host}:{args.port}/ (Ctrl-C stops)")
    try:
        await asyncio.wait_for(done.wait(), timeout=args.timeout)
    except TimeoutError:
        say(f"{len(received)} event(s) within {args.timeout:g} s")
        return EXIT_ERROR if args.count is not None else EXIT_OK
    finally:
        server.should_exit = True
        await serving
    return EXIT_OK
