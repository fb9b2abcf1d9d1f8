"""Parsing the command line: the commands and their options, and arguments as the wire
wants them."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starter.cli.output import PROG
from starter.client import (
    InvalidInput,
)
from starter.codec_server import DEFAULT_HOST as CODEC_HOST
from starter.codec_server import DEFAULT_PORT as CODEC_PORT
from starter.codec_server import DEFAULT_UI_ORIGINS as CODEC_UI_ORIGINS
from starter.dates import parse_instant
from starter.local.devserver import default_data_dir
from starter.query import JEOPARDY_LEVELS, STATES
from starter.schedules import DEFAULT_CRON, DEFAULT_TIME_ZONE
from workflows.domain.instants import iso
from workflows.domain.messages import (
    ChangeRequestMessage,
    ProgressReport,
    StateChangeRequest,
    allowed_values,
)

# States an operator can set with `party-orders state` (the change_state update's domain).
SETTABLE_STATES = allowed_values(StateChangeRequest, "state")


class UsageError(Exception):
    """A command line argparse refused; shown as one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would print usage and exit
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def instant_arg(text: str, what: str) -> str:
    """A date argument as the wire wants it: ISO 8601 with an offset (a date-time without
    one is refused, as the contract refuses it; a date alone means midnight UTC)."""
    try:
        value = parse_instant(text, what=what, now=datetime.now(UTC), naive_is_utc=False)
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    return iso(value)


def pair_arg(text: str, what: str) -> tuple[str, str | None]:
    key, sep, value = text.partition("=")
    if not key:
        raise InvalidInput(f"{what}: expected ID or ID=VALUE, got {text!r}")
    return key, (value if sep else None)


def read_json(path: str) -> Any:
    name = "stdin" if path == "-" else path
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise InvalidInput(f"cannot read {name}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{name} is not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidInput(
            f"{name} is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
        ) from None


Handler = Callable[[argparse.Namespace], Awaitable[int]]


def build_parser(handlers: Mapping[str, Handler]) -> argparse.ArgumentParser:
    """The parser of every command; ``handlers`` maps each command name to its function."""
    parser = Parser(
        prog=PROG,
        description="Track & Manage Party Orders (TM Forum eTOM 1.6.8.3) on Temporal.",
        epilog="Connection: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,"
        " TEMPORAL_TLS_*, TEMPORAL_PROFILE; task queue: PARTY_ORDERS_TASK_QUEUE.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True

    def command(name: str, text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=text, description=text)
        sub.set_defaults(handler=handlers[name])
        return sub

    def order_id(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("order_id", metavar="ID", help="the order id (e.g. PO-1001)")

    def request_id(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--request-id",
            help="idempotency key: a message with an applied id is not applied twice",
        )

    up = command(
        "up",
        "run a local Temporal dev server (Web UI, persistent database), a worker and the HTTP API",
    )
    up.add_argument(
        "--data-dir",
        default=str(default_data_dir()),
        help="folder of the database, logs and outbox (default: %(default)s)",
    )
    up.add_argument(
        "--ip", default="localhost", help="address the server binds to (default: %(default)s)"
    )
    up.add_argument("--port", type=int, default=7233, help="gRPC port (default: %(default)s)")
    up.add_argument("--ui-port", type=int, default=8233, help="Web UI port (default: %(default)s)")
    up.add_argument("--headless", action="store_true", help="no Web UI")
    up.add_argument(
        "--server-log-level",
        default="warn",
        choices=["debug", "info", "warn", "error"],
        help="dev server log level (default: %(default)s)",
    )
    up.add_argument(
        "--start-timeout",
        type=float,
        default=60.0,
        help="seconds to wait for the server (default: %(default)s)",
    )
    up.add_argument(
        "--demo",
        action="store_true",
        help="also start the demo orders, play the demo script and print API keys for it",
    )
    up.add_argument(
        "--api-port", type=int, default=8080, help="HTTP API port (default: %(default)s)"
    )
    up.add_argument("--no-api", action="store_true", help="do not serve the HTTP API")
    up.add_argument(
        "--codec-port",
        type=int,
        default=CODEC_PORT,
        help="port of the codec server the Web UI decrypts through, started when"
        " PARTY_ORDERS_ENCRYPTION_KEYS is set (default: %(default)s)",
    )

    command("worker", "run a worker (like `python worker.py`)")

    demo = command("demo", "start sample orders that move within minutes, and play their script")
    demo.add_argument("--no-script", action="store_true", help="only start the orders")

    start = command("start", "start tracking the party order in FILE.json ('-' reads stdin)")
    start.add_argument("file", metavar="FILE.json")
    start.add_argument("--json", action="store_true", help="print the ids as JSON")
    start.add_argument(
        "--again",
        action="store_true",
        help="track an order whose tracking has ended once more (its party is asked again)",
    )

    show = command("show", "show one order")
    order_id(show)
    show.add_argument("--json", action="store_true", help="print the order as JSON (get_order)")

    listing = command("list", "list orders from the visibility store")
    listing.add_argument("--state", help=f"one of: {', '.join(STATES)}")
    listing.add_argument("--jeopardy", help=f"one of: {', '.join(JEOPARDY_LEVELS)}")
    listing.add_argument("--party", help="party id")
    listing.add_argument("--level", help="escalation level at least N")
    listing.add_argument(
        "--due-before", help="due before this date or date-time (ISO 8601, or +P7D from now)"
    )
    listing.add_argument(
        "--due-after", help="due after this date or date-time (ISO 8601, or +P7D from now)"
    )
    listing.add_argument("--process", help="originating process name")
    listing.add_argument("--open", action="store_true", help="only orders still being tracked")
    listing.add_argument(
        "--limit", type=int, default=500, help="at most N orders (default: %(default)s)"
    )
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.add_argument(
        "--history",
        action="store_true",
        help="every tracking of an order tracked more than once (default: its newest)",
    )

    progress = command("progress", "report progress on an order (report_progress)")
    order_id(progress)
    progress.add_argument("--percent", type=int, help="percent complete, 0 to 100")
    progress.add_argument(
        "--milestone",
        action="append",
        metavar="ID[=completed|yetToReach]",
        help="a milestone's status (repeatable; default completed)",
    )
    progress.add_argument("--expected-date", metavar="DATE", help="new expected completion date")
    progress.add_argument(
        "--delivered", action="store_true", help="the party delivered: completes the order"
    )
    progress.add_argument("--note", help="free text")
    progress.add_argument(
        "--item",
        action="append",
        nargs="+",
        metavar=("ID", "KEY=VALUE"),
        help="one order item's progress (repeatable): state=S, percent=N, expected=DATE,"
        " note=TEXT; e.g. --item 2 state=completed",
    )
    progress.add_argument(
        "--source",
        choices=allowed_values(ProgressReport, "source"),
        default="party",
        help="who reports (default: %(default)s; only the party answers check-ins)",
    )
    request_id(progress)

    change = command("change", "request a change to an order (request_change)")
    order_id(change)
    change.add_argument("--reason")
    change.add_argument(
        "--origin",
        choices=allowed_values(ChangeRequestMessage, "origin"),
        default="party",
        help="who asks (default: %(default)s)",
    )
    change.add_argument(
        "--forced", action="store_true", help="a forced change (kind forced), not a request"
    )
    change.add_argument("--expected-date", metavar="DATE", help="new expected completion date")
    change.add_argument("--requested-date", metavar="DATE", help="new requested completion date")
    change.add_argument(
        "--milestone",
        action="append",
        metavar="ID=DATE",
        help="a milestone's new date (repeatable)",
    )
    change.add_argument(
        "--add-milestone", action="append", metavar="ID=DATE", help="plan a new milestone"
    )
    change.add_argument(
        "--remove-milestone", action="append", metavar="ID", help="take a milestone out"
    )
    change.add_argument(
        "--checkpoint", action="append", metavar="ID=DATE", help="a checkpoint's new date"
    )
    change.add_argument(
        "--add-checkpoint", action="append", metavar="ID=DATE", help="plan a new checkpoint"
    )
    change.add_argument(
        "--remove-checkpoint", action="append", metavar="ID", help="take a checkpoint out"
    )
    change.add_argument(
        "--cancel-item",
        action="append",
        metavar="ID",
        help="cancel an order item once the change is accepted (repeatable)",
    )
    request_id(change)

    resolve = command("resolve", "resolve a change request (resolve_change)")
    order_id(resolve)
    resolve.add_argument("change_id", metavar="CHANGE_ID")
    decision = resolve.add_mutually_exclusive_group(required=True)
    decision.add_argument(
        "--accept", action="store_true", help="accept: the changes are applied to the order"
    )
    decision.add_argument("--reject", action="store_true", help="reject: the order stays as it is")
    resolve.add_argument("--by", help="who resolved it")
    resolve.add_argument("--note")
    request_id(resolve)

    state = command("state", "move an order to another state (change_state update)")
    order_id(state)
    state.add_argument(
        "state", metavar="STATE", choices=SETTABLE_STATES, help=" | ".join(SETTABLE_STATES)
    )
    state.add_argument("--reason", required=True)
    state.add_argument("--note", help="a note kept with the order's notes")
    request_id(state)

    cancel = command("cancel", "cancel an order (cancel_order)")
    order_id(cancel)
    cancel.add_argument("--reason", required=True)
    cancel.add_argument("--by", help="who asks for the cancellation")
    request_id(cancel)

    check_in = command("check-in", "check in with the party now (check_in_now)")
    order_id(check_in)
    check_in.add_argument("--by", help="who asks for the check-in")
    request_id(check_in)

    report = command("report", "counts by state and jeopardy, and the orders needing attention")
    digest = command("digest", "the morning digest of orders in jeopardy (a Temporal Schedule)")
    digest.add_argument(
        "action",
        choices=["schedule", "run"],
        help="schedule: create or update the schedule; run: one digest now",
    )
    digest.add_argument("--cron", default=DEFAULT_CRON, help="when (default: %(default)s)")
    digest.add_argument(
        "--time-zone", default=DEFAULT_TIME_ZONE, help="of the cron (default: %(default)s)"
    )
    report.add_argument("--json", action="store_true", help="print JSON")
    report.add_argument(
        "--by",
        choices=["party"],
        help="party: the supplier scorecard (on-time rate, slip, check-in answers, ...)",
    )
    report.add_argument(
        "--since", metavar="DATE", help="the scorecard of trackings started since DATE (ISO 8601)"
    )
    report.add_argument("--party", metavar="PARTY_ID", help="only this party's orders")
    report.add_argument(
        "--history",
        action="store_true",
        help="count every tracking of an order tracked again (start --again), not the order once",
    )

    api = command("api", "serve the HTTP API for parties and originating processes")
    api.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    api.add_argument("--port", type=int, default=8080, help="port (default: %(default)s)")
    api.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="uvicorn's log level; info includes the access log (default: %(default)s)",
    )

    api_key = commands.add_parser(
        "api-key", help="make, list and revoke the HTTP API's keys", description="API keys"
    )
    key_commands = api_key.add_subparsers(dest="key_command", metavar="ACTION", parser_class=Parser)
    key_commands.required = True
    create = key_commands.add_parser("create", help="make a key (printed once, as the last line)")
    create.set_defaults(handler=handlers["api-key create"])
    create.add_argument("--role", required=True, choices=["party", "process", "manager"])
    create.add_argument("--party", metavar="PARTY_ID", help="the party a party key is bound to")
    create.add_argument("--process", metavar="NAME", help="the process a process key is bound to")
    create.add_argument("--label", help="a note on who holds the key")
    list_keys = key_commands.add_parser("list", help="list the keys (never the keys themselves)")
    list_keys.set_defaults(handler=handlers["api-key list"])
    list_keys.add_argument("--json", action="store_true", help="print JSON")
    revoke = key_commands.add_parser("revoke", help="revoke a key by its id")
    revoke.set_defaults(handler=handlers["api-key revoke"])
    revoke.add_argument("key_id", metavar="KEY_ID")

    codec = command(
        "codec-server",
        "serve /encode and /decode for the Web UI and the temporal CLI"
        " (keys from PARTY_ORDERS_ENCRYPTION_KEYS)",
    )
    codec.add_argument(
        "--host", default=CODEC_HOST, help="address to listen on (default: %(default)s)"
    )
    codec.add_argument(
        "--port", type=int, default=CODEC_PORT, help="port to listen on (default: %(default)s)"
    )
    codec.add_argument(
        "--ui-origin",
        action="append",
        metavar="URL",
        help="a Web UI origin allowed by CORS (repeatable; default: "
        + ", ".join(CODEC_UI_ORIGINS)
        + ")",
    )
    return parser
