"""``party-orders up``: the local stack (dev server, worker, demo) supervised as one.

The server starts first and stops last; Ctrl-C (or SIGTERM) stops the worker, then the
server. A second signal stops waiting."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import signal
from collections.abc import Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from temporalio.client import Client

import worker
from activities.signing import local_master_secret
from settings import (
    API_KEYS_ENV,
    DEMO_MIN_DURATION,
    MIN_DURATION_ENV,
    OUTBOX_ENV,
    PORTAL_BASE_URL_ENV,
    PORTAL_SECRET_ENV,
    SMTP_URL_ENV,
    WEBHOOK_MASTER_SECRET_ENV,
    Settings,
)
from starter.client import (
    InvalidInput,
    PartyOrderClient,
    PartyOrderError,
)
from starter.codec_server import CodecServer, configured_codec
from starter.local.devserver import DevServer, DevServerConfig, DevServerError
from starter.output import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, fail, say, setup_logging
from starter.schedules import DEFAULT_CRON, DEFAULT_TIME_ZONE, ensure_digest_schedule
from workflows.domain import names

if TYPE_CHECKING:  # the API (FastAPI, uvicorn) is imported only when up serves it
    from starter.api.keys import KeyStore
    from starter.api.server import ApiServer
    from starter.local.mailsink import MailSink

PORTAL_SECRET_FILE = "portal-secret"
MAIL_DIR = "mail"


def stop_on_signals(stop: asyncio.Event) -> Callable[[], None]:
    """SIGINT, SIGTERM and SIGHUP (the terminal closed) set ``stop``; a second one cancels
    the current task (no more waiting).

    Returns a function that removes the handlers. Outside the main thread (tests calling
    ``main`` in a thread) signals cannot be handled and nothing is installed.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    installed: list[int] = []

    def on_signal() -> None:
        if stop.is_set() and task is not None:
            task.cancel()
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        try:
            loop.add_signal_handler(signum, on_signal)
            installed.append(signum)
        except (RuntimeError, ValueError, NotImplementedError):
            pass

    def remove() -> None:
        for signum in installed:
            loop.remove_signal_handler(signum)

    return remove


def serve_worker_metrics(settings: Settings) -> str | None:
    """The worker's Prometheus exporter, when PARTY_ORDERS_METRICS_PORT asks for it (before
    the process's first client connects); its address, or None."""
    try:
        address = settings.metrics_address()
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    if address is None:
        return None
    try:
        return worker.serve_metrics(settings)
    except (ValueError, RuntimeError) as error:  # the port is taken, or a runtime exists
        raise PartyOrderError(f"cannot serve metrics on {address}: {error}") from None


def reset_data_dir(data_dir: Path, *, confirmed: bool, ask: Callable[[str], str]) -> bool:
    """Delete ``data_dir`` (the local stack's database, API keys, outbox, secrets) once a
    person has said yes; whether `up` goes on. A stack running on it must be stopped
    first: its server holds the database."""
    if not data_dir.exists():
        return True
    if not (data_dir / "temporal.db").exists() and not (data_dir / "api-keys.json").exists():
        fail(f"--reset: {data_dir} does not look like a folder of `up`; delete it yourself")
        return False
    if not confirmed:
        try:
            answer = ask(
                f"Delete {data_dir.resolve()} (the orders' database, API keys, outbox)? [y/N] "
            )
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            say("Nothing deleted.")
            return False
    shutil.rmtree(data_dir)
    say(f"Deleted {data_dir}: starting afresh.")
    return True


async def up(args: argparse.Namespace) -> int:
    """The local stack: a dev server, a worker and the HTTP API (and the demo). Its own
    settings (the outbox beside the database, a portal secret and a webhook master secret
    shared by the worker and the API, the demo's mail sink and its place on the allow
    list) are derived from the environment's and passed on."""
    from worker import run_worker

    if getattr(args, "reset", False) and not reset_data_dir(
        Path(args.data_dir), confirmed=args.yes, ask=input
    ):
        return EXIT_ERROR
    settings = Settings.from_env()
    setup_logging("WARNING", settings)
    metrics = serve_worker_metrics(settings)
    codec_server = await _start_codec_server(args, settings)
    config = DevServerConfig(
        data_dir=Path(args.data_dir),
        ip=args.ip,
        port=args.port,
        ui_port=args.ui_port,
        log_level=args.server_log_level,
        headless=args.headless,
        codec_endpoint=codec_server.url if codec_server is not None else None,
    )
    # Notifications land next to the database unless configured otherwise.
    settings = settings.with_defaults(
        {OUTBOX_ENV: str((config.data_dir / "outbox.jsonl").resolve())}
    )
    settings = share_portal_secret(config.data_dir, settings)
    settings = local_webhook_master_secret(config.data_dir, settings)
    mail_sink = await _start_mail_sink(config.data_dir, settings) if args.demo else None
    if mail_sink is not None:
        settings = settings.with_defaults({SMTP_URL_ENV: mail_sink.url})
        # The worker may reach the sink it started on loopback.
        settings = settings.with_callback_allowed(f"{mail_sink.host}:{mail_sink.port}")
    if args.demo:
        # The demo's orders check in every few seconds: lower the entries' minimum for them.
        settings = settings.with_defaults({MIN_DURATION_ENV: DEMO_MIN_DURATION})
    stop = asyncio.Event()
    remove = stop_on_signals(stop)
    server = DevServer(config, settings=settings)
    say(f"Starting the Temporal dev server (database {config.db_path}) ...")
    try:
        # Ctrl-C while the server is starting stops the start too.
        starting = asyncio.create_task(server.start(timeout=timedelta(seconds=args.start_timeout)))
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({starting, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if not starting.done():
            starting.cancel()
            with contextlib.suppress(BaseException):
                await starting
            return EXIT_INTERRUPTED
        try:
            client = starting.result()
        except DevServerError as error:
            fail(str(error))
            return EXIT_ERROR
        if metrics is not None:
            say(f"Metrics           http://{metrics}/metrics")
        if mail_sink is not None:
            say(f"Mail (demo)       each mail to a party is a file in {mail_sink.directory}")
        return await _serve(args, config, server, client, settings, stop, run_worker)
    finally:
        remove()
        if server.process is not None:
            await server.stop_async()
            say("Stopped.")
        if codec_server is not None:
            await codec_server.stop()
        if mail_sink is not None:
            await mail_sink.stop()


def share_portal_secret(data_dir: Path, settings: Settings) -> Settings:
    """``settings`` with a portal secret the worker (which signs check-in links) and the
    API (which checks them) share: ``PARTY_ORDERS_PORTAL_SECRET`` when set, else one made
    once and kept in ``data_dir/portal-secret`` (owner-only), so links survive a restart
    of ``up``."""
    if settings.get(PORTAL_SECRET_ENV):
        return settings
    path = data_dir / PORTAL_SECRET_FILE
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        secret = ""
    if not secret:
        data_dir.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(32)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(secret + "\n")
    return settings.with_defaults({PORTAL_SECRET_ENV: secret})


def local_webhook_master_secret(data_dir: Path, settings: Settings) -> Settings:
    """``settings`` with a webhook master secret the worker (which signs every delivery)
    and the API (which hands subscribers their secrets) share:
    ``PARTY_ORDERS_WEBHOOK_MASTER_SECRET`` when set, else one made once and kept in
    ``data_dir/webhook-master-secret`` (activities/signing.py), so the subscribers' secrets
    survive a restart of ``up``."""
    if settings.get(WEBHOOK_MASTER_SECRET_ENV):
        return settings
    return settings.with_defaults({WEBHOOK_MASTER_SECRET_ENV: local_master_secret(data_dir)})


async def _start_mail_sink(data_dir: Path, settings: Settings) -> MailSink | None:
    """For the demo, without ``PARTY_ORDERS_SMTP_URL``: a local SMTP server writing each
    mail to ``data_dir/mail/`` (the worker's email channel is then pointed at it)."""
    from starter.local.mailsink import MailSink

    if settings.get(SMTP_URL_ENV):
        return None
    try:
        sink = await MailSink((data_dir / MAIL_DIR).resolve()).start()
    except OSError as error:
        raise PartyOrderError(f"cannot start the demo's mail sink: {error}") from None
    return sink


async def _start_codec_server(args: argparse.Namespace, settings: Settings) -> CodecServer | None:
    """With encryption keys set, the codec server the Web UI decrypts payloads through.

    It listens on localhost only and answers browsers from the Web UI's origin. The local
    Web UI sends no bearer token, so ``PARTY_ORDERS_CODEC_TOKEN`` is for a codec server run
    on its own (``party-orders codec-server``), not this one.
    """
    if settings.encryption_keys() is None:
        return None
    ui_origins = {f"http://{host}:{args.ui_port}" for host in (args.ip, "localhost", "127.0.0.1")}
    server = CodecServer(configured_codec(settings), port=args.codec_port, origins=ui_origins)
    try:
        await server.start()
    except OSError as error:
        raise PartyOrderError(f"{error} (choose another with --codec-port)") from None
    return server


async def _serve(
    args: argparse.Namespace,
    config: DevServerConfig,
    server: DevServer,
    client: Client,
    settings: Settings,
    stop: asyncio.Event,
    run_worker: Callable[..., Coroutine[Any, Any, None]],
) -> int:
    """Run the worker (and the demo) until a signal or a failure, then stop the worker."""
    task_queue = settings.task_queue
    await _announce_stack(config, client, settings)
    if not args.no_api:
        settings = _api_settings(args, settings)
    api, demo_keys = (None, []) if args.no_api else _api(args, client, settings)
    if config.codec_endpoint:
        say(f"Codec server      {config.codec_endpoint} (payloads encrypted; the Web UI decrypts)")
    for line in other_shells(config.address, None if args.no_api else settings.api_keys_path):
        say(line)
    say("Ctrl-C stops the API and the worker, then the server.")

    failure: list[str] = []

    def server_exited(code: int) -> None:
        failure.append(
            f"the Temporal dev server exited unexpectedly (code {code}): {server.log_tail()}"
        )
        stop.set()

    worker = asyncio.create_task(
        run_worker(client, task_queue, stop=stop, worker_settings=settings)
    )
    watcher = asyncio.create_task(server.watch(server_exited))
    background = [watcher]
    serving = (
        None if api is None else asyncio.create_task(_serve_api(api, stop, failure, demo_keys))
    )
    if args.demo:
        background.append(
            asyncio.create_task(_demo_in_background(client, task_queue, config, settings))
        )
    try:
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({worker, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if worker.done() and not worker.cancelled() and worker.exception() is not None:
            failure.append(f"the worker stopped: {worker.exception()}")
    finally:
        for task in background:
            task.cancel()
        stop.set()
        await _stop_api_then_worker(serving, worker, failure)
        say("Stopping the Temporal dev server ...")
    if failure:
        fail(failure[0])
        return EXIT_ERROR
    return EXIT_OK


async def _announce_stack(config: DevServerConfig, client: Client, settings: Settings) -> None:
    """Say where everything is, and make sure the morning digest is scheduled."""
    say(f"Temporal Web UI   {config.ui_url}" if not config.headless else "Web UI disabled")
    say(f"Temporal server   {config.address} (namespace default)")
    say(f"Database          {config.db_path}   server log {config.log_path}")
    say(f"Notifications     {settings.get(OUTBOX_ENV)}")
    say(f"Worker            task queue {settings.task_queue!r}")
    await ensure_digest_schedule(client, settings.task_queue)
    say(
        f"Digest            schedule {names.DIGEST_SCHEDULE_ID}, {DEFAULT_CRON!r}"
        f" {DEFAULT_TIME_ZONE} (Web UI: Schedules)"
    )


async def _stop_api_then_worker(
    serving: asyncio.Task[None] | None, worker: asyncio.Task[None], failure: list[str]
) -> None:
    """The API finishes the requests it has (briefly), then the worker stops: in time, or
    cancelled. A worker's error is added to ``failure``; the server must still stop."""
    if serving is not None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(serving, timeout=10)
    if worker.done():
        return
    say("Stopping the worker ...")
    try:
        await asyncio.wait_for(asyncio.shield(worker), timeout=20)
    except TimeoutError:
        worker.cancel()
        with contextlib.suppress(BaseException):
            await worker
    except Exception as error:
        failure.append(f"the worker stopped with an error: {error}")


def _api_host(args: argparse.Namespace) -> str:
    return "127.0.0.1" if args.ip == "localhost" else args.ip


def other_shells(address: str, api_keys: Path | None) -> list[str]:
    """What another shell must export to reach this stack: ``party-orders`` commands
    there would otherwise talk to the default server and write API keys where this API
    never reads them (and it would answer 401)."""
    exports = [] if address == "localhost:7233" else [f"TEMPORAL_ADDRESS={address}"]
    if api_keys is not None:
        default = Settings.from_env({}).api_keys_path.resolve()
        if api_keys.resolve() != default:
            exports.append(f"{API_KEYS_ENV}={api_keys}")
    lines = [f"API keys          {api_keys}"] if api_keys is not None else []
    if exports:
        lines.append(f"Other shells      export {' '.join(exports)}")
    return lines


DEMO_KEY_LABEL = "demo"


def revoke_demo_keys(keys: KeyStore) -> list[str]:
    """Revoke the keys an earlier demo made (printed on its terminal, good for that demo
    only); the ids revoked."""
    revoked = []
    for key in keys.keys().values():
        if key.label == DEMO_KEY_LABEL and key.revoked_at is None:
            keys.revoke(key.id)
            revoked.append(key.id)
    return revoked


def _api_settings(args: argparse.Namespace, settings: Settings) -> Settings:
    """``settings`` as the API beside the worker needs them: check-in links point at this
    API and keys live next to the database, unless configured otherwise."""
    return settings.with_defaults(
        {
            PORTAL_BASE_URL_ENV: f"http://{_api_host(args)}:{args.api_port}",
            API_KEYS_ENV: str((Path(args.data_dir) / "api-keys.json").resolve()),
        }
    )


def _api(
    args: argparse.Namespace, client: Client, settings: Settings
) -> tuple[ApiServer, list[str]]:
    """The HTTP API beside the worker, over the same connection; with ``--demo``, the
    lines announcing keys to try it with (made anew each time, listed by ``party-orders
    api-key list``), to print once the API answers."""
    from starter.api.keys import KeyStore
    from starter.api.routes import BASE_PATH
    from starter.api.server import api_server, bind

    host = _api_host(args)
    bind(host, args.api_port).close()  # a taken port is reported now, before anything runs
    root = f"http://{host}:{args.api_port}{BASE_PATH}"
    say(f"HTTP API          {root}   docs {root}/docs   OpenAPI {root}/openapi.json")
    keys = KeyStore(settings.api_keys_path)
    announced: list[str] = []
    if args.demo:
        # The demo's keys live as long as one demo: those of an earlier one are revoked.
        revoke_demo_keys(keys)
        for role, bound in (
            ("manager", {}),
            ("process", {"process": "service-order-handling"}),
            ("party", {"party_id": "ACME"}),
        ):
            record, key = keys.create(role, label=DEMO_KEY_LABEL, **bound)
            announced.append(f"API key           {record.subject:<32} {key}")
    orders = PartyOrderClient(
        client,
        settings.task_queue,
        callback_allow=settings.callback_allow(),
        min_duration=settings.min_duration(),
    )
    # Warnings only (no access log): up's output is the stack's own news and the demo's script.
    server = api_server(
        host, args.api_port, keys=keys, client=orders, log_level="warning", settings=settings
    )
    return server, announced


async def _serve_api(
    api: ApiServer, stop: asyncio.Event, failure: list[str], announce: list[str]
) -> None:
    """Serve the API until ``stop``; ``announce`` is printed once it accepts requests, so
    a key is never shown before it can be used."""
    from starter.api.server import serve_until

    serving = asyncio.create_task(serve_until(api, stop))
    while announce and not api.started and not serving.done():
        await asyncio.sleep(0.05)
    if api.started:
        for line in announce:
            say(line)
    try:
        await serving
    except PartyOrderError as error:
        failure.append(str(error))
        stop.set()


async def _demo_in_background(
    client: Client, task_queue: str, config: DevServerConfig, settings: Settings
) -> None:
    from starter.demo import describe_demo, run_demo_script, start_demo_orders

    # The demo's orders check in every few seconds: up lowered the minimum for them.
    orders_client = PartyOrderClient(
        client,
        task_queue,
        callback_allow=settings.callback_allow(),
        min_duration=settings.min_duration(),
    )
    try:
        orders = await start_demo_orders(orders_client)
        for line in describe_demo(orders, None if config.headless else config.ui_url):
            say(line)
        await run_demo_script(orders_client, orders, say)
    except PartyOrderError as error:
        fail(f"demo: {error}")
