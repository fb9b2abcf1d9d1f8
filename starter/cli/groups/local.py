"""Running the tracker here: ``up`` (a dev server, a worker and the HTTP API), a
``worker`` alone, and the ``demo``."""

from __future__ import annotations

import argparse
import asyncio

import worker
from settings import DEMO_MIN_DURATION, MIN_DURATION_ENV, Settings
from starter.cli.arguments import CommandGroup
from starter.cli.connection import connect_client
from starter.codec_server import DEFAULT_PORT as CODEC_PORT
from starter.local.devserver import default_data_dir
from starter.local.up import serve_worker_metrics, stop_on_signals, up
from starter.output import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_OK, fail, say, setup_logging

commands = CommandGroup()


def up_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        default=str(default_data_dir()),
        help="folder of the database, logs and outbox (default: %(default)s)",
    )
    parser.add_argument(
        "--ip", default="localhost", help="address the server binds to (default: %(default)s)"
    )
    parser.add_argument("--port", type=int, default=7233, help="gRPC port (default: %(default)s)")
    parser.add_argument(
        "--ui-port", type=int, default=8233, help="Web UI port (default: %(default)s)"
    )
    parser.add_argument("--headless", action="store_true", help="no Web UI")
    parser.add_argument(
        "--server-log-level",
        default="warn",
        choices=["debug", "info", "warn", "error"],
        help="dev server log level (default: %(default)s)",
    )
    parser.add_argument(
        "--start-timeout",
        type=float,
        default=60.0,
        help="seconds to wait for the server (default: %(default)s)",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="also start the demo orders, play the demo script and print API keys for it",
    )
    parser.add_argument(
        "--api-port", type=int, default=8080, help="HTTP API port (default: %(default)s)"
    )
    parser.add_argument("--no-api", action="store_true", help="do not serve the HTTP API")
    parser.add_argument(
        "--reset",
        action="store_true",
        help="start afresh: delete the data folder (database, API keys, outbox) first,"
        " after a confirmation",
    )
    parser.add_argument(
        "--yes", action="store_true", help="with --reset: no question asked (for scripts)"
    )
    parser.add_argument(
        "--codec-port",
        type=int,
        default=CODEC_PORT,
        help="port of the codec server the Web UI decrypts through, started when"
        " PARTY_ORDERS_ENCRYPTION_KEYS is set (default: %(default)s)",
    )


# The handler lives with the rest of the local setup (starter/local/up.py).
commands.command(
    "up",
    "run a local Temporal dev server (Web UI, persistent database), a worker and the HTTP API",
    up_options,
)(up)


@commands.command("worker", "run a worker (like `python worker.py`)")
async def cmd_worker(args: argparse.Namespace) -> int:
    from activities.signing import MasterSecretMissing
    from worker import run_worker  # the worker pulls in every workflow and activity

    settings = Settings.from_env()
    try:
        settings.require_master_secret()  # outside `up`, which makes a local one
    except (MasterSecretMissing, ValueError) as missing:
        fail(str(missing))
        return EXIT_BAD_INPUT
    setup_logging("INFO", settings)
    metrics = serve_worker_metrics(settings)
    client = await connect_client(settings)
    stop = asyncio.Event()
    remove = stop_on_signals(stop)
    target = client.client.service_client.config.target_host
    say(f"Worker polling task queue {client.task_queue!r} on {target} (Ctrl-C stops it)")
    if metrics is not None:
        say(f"Metrics at http://{metrics}/metrics")
    try:
        await run_worker(client.client, client.task_queue, stop=stop, worker_settings=settings)
    finally:
        remove()
    say("Worker stopped")
    return EXIT_OK


def demo_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-script", action="store_true", help="only start the orders")


def guess_ui_url() -> str | None:
    """The Web UI of a local dev server (gRPC port + 1000, as ``start-dev`` defaults)."""
    target = str(worker.connect_config().get("target_host", ""))
    host, _, port = target.rpartition(":")
    if host in ("localhost", "127.0.0.1") and port.isdigit():
        return f"http://{host}:{int(port) + 1000}"
    return None


@commands.command(
    "demo", "start sample orders that move within minutes, and play their script", demo_options
)
async def cmd_demo(args: argparse.Namespace) -> int:
    from starter.demo import describe_demo, run_demo_script, start_demo_orders

    # The demo's orders check in every few seconds: the entries' minimum is lowered for them.
    demo = Settings.from_env().with_defaults({MIN_DURATION_ENV: DEMO_MIN_DURATION})
    client = await connect_client(demo)
    orders = await start_demo_orders(client)
    for line in describe_demo(orders, guess_ui_url()):
        say(line)
    if args.no_script:
        return EXIT_OK
    say("Playing the demo script (about 5 minutes; Ctrl-C stops it, the orders go on)")
    stop = asyncio.Event()
    remove = stop_on_signals(stop)
    try:
        script = asyncio.create_task(run_demo_script(client, orders, say))
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({script, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for task in (script, stopper):
            task.cancel()
        failure = script.exception() if script.done() and not script.cancelled() else None
        if failure is not None:
            raise failure
    finally:
        remove()
    return EXIT_INTERRUPTED if stop.is_set() else EXIT_OK
