"""``party-orders``: the command line of the party-order tracker.

    party-orders up [--demo]            local Temporal dev server + Web UI + a worker
    party-orders start FILE.json        start tracking an order ("-" reads stdin)
    party-orders show ID [--json]       one order: state, progress, jeopardy, milestones...
    party-orders list [filters] [--json]
    party-orders progress|change|resolve|state|cancel|check-in ID ...
    party-orders report [--json]        counts by state and jeopardy, orders needing someone

People get readable text; ``--json`` gives scripts the camelCase JSON of the contract.
Every failure is one line on stderr and an exit code: 2 bad input, 3 unknown order,
4 Temporal unreachable, 1 anything else (130 when interrupted).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import os
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client

from starter import connection
from starter.client import (
    InvalidInput,
    OrderNotFound,
    OrderSummary,
    PartyOrderClient,
    PartyOrderError,
    PortfolioReport,
    ServerUnavailable,
)
from starter.local.devserver import DevServer, DevServerConfig, DevServerError, default_data_dir
from starter.query import JEOPARDY_LEVELS, STATES, OrderFilters, parse_instant
from workflows.domain.instants import iso
from workflows.domain.model import TRACK_WORKFLOW_ID_PREFIX, PartyOrder

PROG = "party-orders"
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_BAD_INPUT = 2
EXIT_NOT_FOUND = 3
EXIT_UNREACHABLE = 4
EXIT_INTERRUPTED = 130

CONNECT_TIMEOUT_ENV = "PARTY_ORDERS_CONNECT_TIMEOUT"
DEFAULT_CONNECT_SECONDS = 5.0
LOG_LEVEL_ENV = "PARTY_ORDERS_LOG_LEVEL"
# States an operator can set with `party-orders state` (the change_state update's domain).
SETTABLE_STATES = ("inProgress", "pending", "held", "failed")


class UsageError(Exception):
    """A command line argparse refused; shown as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would print usage and exit
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def _print(text: str = "") -> None:
    # Looked up at call time so that redirected/captured stdout is honoured.
    print(text, file=sys.stdout, flush=True)


def _fail(text: str) -> None:
    print(f"{PROG}: error: {' '.join(text.split())}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- formatting


def when(instant: datetime | None) -> str:
    if instant is None:
        return "-"
    return iso(instant.astimezone(UTC), "seconds")


def relative(instant: datetime | None, now: datetime) -> str:
    """``in 3m`` / ``5h ago``: how far ``instant`` is from ``now``, roughly."""
    if instant is None:
        return ""
    seconds = (instant - now).total_seconds()
    size = abs(seconds)
    for unit, length in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if size >= length:
            amount = f"{int(size // length)}{unit}"
            break
    else:
        amount = f"{int(size)}s"
    return f"in {amount}" if seconds >= 0 else f"{amount} ago"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = []
    for row in (headers, *rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return lines


def to_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def order_text(order: PartyOrder, now: datetime) -> list[str]:
    """The order for a person: the facts first, then milestones, changes, alerts."""
    party = order.party
    contact = f" <{party.contact_email}>" if party.contact_email else ""
    process = order.originating_process
    lines = [f"Order {order.id}" + (f": {order.description}" if order.description else "")]

    def row(label: str, text: str) -> None:
        lines.append(f"  {label:<12} {text}")

    row("Party", f"{party.name} ({party.id}, {party.role}){contact}")
    row("Originating", process.name + (f" ({process.reference})" if process.reference else ""))
    row("State", order.state.value + (f": {order.state_reason}" if order.state_reason else ""))
    progress = f"{order.percent_complete}% complete"
    if order.last_progress_at:
        progress += f", last report {when(order.last_progress_at)}"
    if order.last_note:
        progress += f" ({order.last_note})"
    row("Progress", progress)
    due = f"{when(order.due_date)} ({relative(order.due_date, now)})"
    dates = []
    if order.expected_completion_date:
        dates.append(f"expected {when(order.expected_completion_date)}")
    if order.requested_completion_date:
        dates.append(f"requested {when(order.requested_completion_date)}")
    row("Due", f"{due}; " + ", ".join(dates))
    jeopardy = order.jeopardy
    text = jeopardy.status.value
    if jeopardy.since:
        text += f" since {when(jeopardy.since)}"
    text += f", escalation level {jeopardy.escalation_level}"
    row("Jeopardy", text)
    lines += [f"               - {reason}" for reason in jeopardy.reasons]
    check_ins = order.check_ins
    text = f"{check_ins.sent} sent, {check_ins.unanswered_streak} unanswered in a row"
    if check_ins.answer_by and not order.is_final:
        text += f"; answer due by {when(check_ins.answer_by)}"
    if check_ins.next_at and not order.is_final:
        text += f"; next {when(check_ins.next_at)} ({relative(check_ins.next_at, now)})"
    row("Check-ins", text)
    if order.completion_date:
        row("Completed", when(order.completion_date))
    if order.cancellation:
        cancel = order.cancellation
        text = cancel.reason or "no reason given"
        if cancel.requested_by:
            text += f" (by {cancel.requested_by})"
        if cancel.cancellation_date:
            text += f", cancelled {when(cancel.cancellation_date)}"
        row("Cancellation", text)

    if order.milestones:
        lines += ["", "Milestones"]
        lines += [
            "  " + line
            for line in table(
                ["ID", "NAME", "DUE", "STATUS", "COMPLETED"],
                [
                    [
                        m.id,
                        m.name or "",
                        when(m.milestone_date),
                        m.status.value,
                        when(m.completed_at),
                    ]
                    for m in order.milestones
                ],
            )
        ]
    if order.change_requests:
        open_count = sum(1 for c in order.change_requests if c.open)
        lines += ["", f"Change requests ({open_count} open)"]
        lines += [
            "  " + line
            for line in table(
                ["ID", "ORIGIN", "KIND", "STATUS", "RECEIVED", "REASON"],
                [
                    [c.id, c.origin, c.kind, c.status, when(c.received_at), c.reason or ""]
                    for c in sorted(order.change_requests, key=lambda c: not c.open)
                ],
            )
        ]
    if order.jeopardy_alerts:
        lines += ["", "Recent alerts"]
        for alert in order.jeopardy_alerts[-5:]:
            lines.append(
                f"  {when(alert.alert_date)}  {alert.jeopardy_type:<8}"
                f" {alert.name}: {alert.message}"
            )
    lines += ["", f"Rejected messages: {order.rejected_message_count}"]
    if order.rejected_messages:
        last = order.rejected_messages[-1]
        lines[-1] += f" (latest {when(last.received_at)}, {last.message}: {last.error})"
    if order.delivery_failures:
        lines.append(f"Undelivered notifications: {len(order.delivery_failures)}")
    return lines


def list_text(orders: Sequence[OrderSummary], now: datetime) -> list[str]:
    if not orders:
        return ["No orders match."]
    return table(
        ["ORDER", "PARTY", "STATE", "JEOPARDY", "LEVEL", "DUE", "PROCESS", "RUN"],
        [
            [
                o.order_id,
                o.party_id or "-",
                o.state or "-",
                o.jeopardy or "-",
                "-" if o.escalation_level is None else str(o.escalation_level),
                f"{when(o.due_date)} ({relative(o.due_date, now)})" if o.due_date else "-",
                o.originating_process or "-",
                o.status,
            ]
            for o in orders
        ],
    )


def report_text(report: PortfolioReport, now: datetime) -> list[str]:
    lines = [
        f"Party orders at {when(report.generated_at)}: {report.total} tracked, {report.open} open",
        "",
        "By state (all orders)",
    ]
    lines += [f"  {state:<20} {count:>6}" for state, count in report.by_state.items()]
    lines += ["", "By jeopardy (open orders)"]
    lines += [f"  {status:<20} {count:>6}" for status, count in report.by_jeopardy.items()]
    lines += ["", f"Needing attention: {len(report.attention)} (critical or escalated)"]
    if report.attention:
        lines += ["  " + line for line in list_text(report.attention, now)]
    return lines


# ---------------------------------------------------------------- argument helpers


def _instant(text: str, what: str) -> str:
    """A date argument as the wire wants it: ISO 8601 with an offset (naive means UTC)."""
    try:
        value = parse_instant(text, what=what, now=datetime.now(UTC))
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    return iso(value)


def _pair(text: str, what: str) -> tuple[str, str | None]:
    key, sep, value = text.partition("=")
    if not key:
        raise InvalidInput(f"{what}: expected ID or ID=VALUE, got {text!r}")
    return key, (value if sep else None)


def _connect_timeout() -> timedelta:
    raw = os.environ.get(CONNECT_TIMEOUT_ENV)
    if not raw:
        return timedelta(seconds=DEFAULT_CONNECT_SECONDS)
    try:
        seconds = float(raw)
    except ValueError:
        raise InvalidInput(
            f"{CONNECT_TIMEOUT_ENV} must be a number of seconds, got {raw!r}"
        ) from None
    if seconds <= 0:
        raise InvalidInput(f"{CONNECT_TIMEOUT_ENV} must be positive, got {raw!r}")
    return timedelta(seconds=seconds)


async def _client() -> PartyOrderClient:
    return await PartyOrderClient.connect(connect_timeout=_connect_timeout())


def _read_json(path: str) -> Any:
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


def guess_ui_url() -> str | None:
    """The Web UI of a local dev server (gRPC port + 1000, as ``start-dev`` defaults)."""
    target = str(connection.connect_config().get("target_host", ""))
    host, _, port = target.rpartition(":")
    if host in ("localhost", "127.0.0.1") and port.isdigit():
        return f"http://{host}:{int(port) + 1000}"
    return None


async def _state_line(client: PartyOrderClient, order_id: str) -> str:
    order = await client.get(order_id)
    return (
        f"state {order.state.value}, {order.percent_complete}% complete,"
        f" jeopardy {order.jeopardy.status.value}"
    )


# ---------------------------------------------------------------- commands


async def cmd_start(args: argparse.Namespace) -> int:
    data = _read_json(args.file)
    if not isinstance(data, dict):
        raise InvalidInput(f"{args.file}: a party order must be a JSON object")
    client = await _client()
    workflow_id = await client.start(data)
    order_id = workflow_id.removeprefix(TRACK_WORKFLOW_ID_PREFIX)
    if args.json:
        _print(to_json({"orderId": order_id, "workflowId": workflow_id}))
    else:
        _print(
            f"Tracking order {order_id} (workflow {workflow_id}, task queue {client.task_queue})"
        )
    return EXIT_OK


async def cmd_show(args: argparse.Namespace) -> int:
    client = await _client()
    order = await client.get(args.order_id)
    if args.json:
        _print(to_json(order.model_dump(mode="json", by_alias=True)))
    else:
        for line in order_text(order, datetime.now(UTC)):
            _print(line)
    return EXIT_OK


async def cmd_list(args: argparse.Namespace) -> int:
    filters = OrderFilters(
        state=args.state,
        jeopardy=args.jeopardy,
        party=args.party,
        min_level=args.level,
        due_before=args.due_before,
        due_after=args.due_after,
        process=args.process,
        open_only=args.open,
    )
    if args.limit < 1:
        raise InvalidInput(f"--limit: expected a number of orders >= 1, got {args.limit}")
    client = await _client()
    orders = await client.list(filters, limit=args.limit)
    if args.json:
        _print(to_json([o.model_dump(mode="json", by_alias=True) for o in orders]))
    else:
        for line in list_text(orders, datetime.now(UTC)):
            _print(line)
    return EXIT_OK


def _given(fields: dict[str, Any]) -> dict[str, Any]:
    """A message of the fields given on the command line: options left out (None) are
    left out of the message too, so the contract's defaults apply."""
    return {name: value for name, value in fields.items() if value is not None}


async def cmd_progress(args: argparse.Namespace) -> int:
    milestones = None
    if args.milestone:
        milestones = []
        for text in args.milestone:
            milestone_id, status = _pair(text, "--milestone")
            milestones.append({"id": milestone_id, "status": status or "completed"})
    expected = _instant(args.expected_date, "--expected-date") if args.expected_date else None
    report = _given(
        {
            "source": args.source,
            "percentComplete": args.percent,
            "milestones": milestones,
            "expectedCompletionDate": expected,
            "delivered": True if args.delivered else None,
            "note": args.note,
            "requestId": args.request_id or None,
        }
    )
    client = await _client()
    request_id = await client.report_progress(args.order_id, report, confirm=True)
    _print(
        f"Progress report {request_id} applied to {args.order_id}:"
        f" {await _state_line(client, args.order_id)}"
    )
    return EXIT_OK


async def cmd_change(args: argparse.Namespace) -> int:
    changes: dict[str, Any] = {}
    if args.expected_date:
        changes["expectedCompletionDate"] = _instant(args.expected_date, "--expected-date")
    if args.requested_date:
        changes["requestedCompletionDate"] = _instant(args.requested_date, "--requested-date")
    if args.milestone:
        milestones = []
        for text in args.milestone:
            milestone_id, date_text = _pair(text, "--milestone")
            if date_text is None:
                raise InvalidInput(f"--milestone: expected ID=DATE, got {text!r}")
            milestones.append(
                {
                    "id": milestone_id,
                    "milestoneDate": _instant(date_text, f"--milestone {milestone_id}"),
                }
            )
        changes["milestones"] = milestones
    message = _given(
        {
            "origin": args.origin,
            "kind": "forced" if args.forced else "requested",
            "reason": args.reason,
            "changes": changes,
            # A short id a person can type into `resolve` (it becomes the change request's id).
            "requestId": args.request_id or f"CR-{uuid.uuid4().hex[:8]}",
        }
    )
    client = await _client()
    change_id = await client.request_change(args.order_id, message, confirm=True)
    _print(f"Change request {change_id} recorded on {args.order_id}; resolve it with:")
    _print(f"  {PROG} resolve {args.order_id} {change_id} --accept   (or --reject)")
    return EXIT_OK


async def cmd_resolve(args: argparse.Namespace) -> int:
    resolution = _given(
        {
            "changeRequestId": args.change_id,
            "decision": "accepted" if args.accept else "rejected",
            "resolvedBy": args.by,
            "note": args.note,
            "requestId": args.request_id or None,
        }
    )
    client = await _client()
    await client.resolve_change(args.order_id, resolution, confirm=True)
    _print(
        f"Change request {args.change_id} on {args.order_id} {resolution['decision']}:"
        f" {await _state_line(client, args.order_id)}"
    )
    return EXIT_OK


async def cmd_state(args: argparse.Namespace) -> int:
    request = _given(
        {"state": args.state, "reason": args.reason, "requestId": args.request_id or None}
    )
    client = await _client()
    order = await client.change_state(args.order_id, request)
    _print(
        f"Order {order.id} is now {order.state.value}"
        + (f": {order.state_reason}" if order.state_reason else "")
    )
    return EXIT_OK


async def cmd_cancel(args: argparse.Namespace) -> int:
    request = _given(
        {"reason": args.reason, "requestedBy": args.by, "requestId": args.request_id or None}
    )
    client = await _client()
    await client.cancel(args.order_id, request, confirm=True)
    _print(
        f"Cancellation of {args.order_id} accepted: the party is told, then the order is"
        f" cancelled ({await _state_line(client, args.order_id)})"
    )
    return EXIT_OK


async def cmd_check_in(args: argparse.Namespace) -> int:
    request = _given({"requestedBy": args.by, "requestId": args.request_id or None})
    client = await _client()
    await client.check_in_now(args.order_id, request, confirm=True)
    order = await client.get(args.order_id)
    _print(
        f"Check-in {order.check_ins.sent} sent to {order.party.name} for {order.id};"
        f" answer due by {when(order.check_ins.answer_by)}"
    )
    return EXIT_OK


async def cmd_report(args: argparse.Namespace) -> int:
    client = await _client()
    report = await client.report()
    if args.json:
        _print(to_json(report.model_dump(mode="json", by_alias=True)))
    else:
        for line in report_text(report, datetime.now(UTC)):
            _print(line)
    return EXIT_OK


def _stop_on_signals(stop: asyncio.Event) -> Callable[[], None]:
    """SIGINT/SIGTERM set ``stop``; a second one cancels the current task (no more waiting).

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

    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, on_signal)
            installed.append(signum)
        except (RuntimeError, ValueError, NotImplementedError):
            pass

    def remove() -> None:
        for signum in installed:
            loop.remove_signal_handler(signum)

    return remove


def _setup_logging(default: str) -> None:
    logging.basicConfig(
        level=os.environ.get(LOG_LEVEL_ENV, default).upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


async def cmd_worker(args: argparse.Namespace) -> int:
    from worker import run_worker  # the worker pulls in every workflow and activity

    _setup_logging("INFO")
    client = await _client()
    stop = asyncio.Event()
    remove = _stop_on_signals(stop)
    target = client.client.service_client.config.target_host
    _print(f"Worker polling task queue {client.task_queue!r} on {target} (Ctrl-C stops it)")
    try:
        await run_worker(client.client, client.task_queue, stop=stop)
    finally:
        remove()
    _print("Worker stopped")
    return EXIT_OK


async def cmd_demo(args: argparse.Namespace) -> int:
    from starter.demo import describe_demo, run_demo_script, start_demo_orders

    client = await _client()
    orders = await start_demo_orders(client)
    for line in describe_demo(orders, guess_ui_url()):
        _print(line)
    if args.no_script:
        return EXIT_OK
    _print("Playing the demo script (about 5 minutes; Ctrl-C stops it, the orders go on)")
    stop = asyncio.Event()
    remove = _stop_on_signals(stop)
    try:
        script = asyncio.create_task(run_demo_script(client, orders, _print))
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


async def cmd_up(args: argparse.Namespace) -> int:
    from activities.settings import OUTBOX_ENV
    from worker import run_worker

    _setup_logging("WARNING")
    config = DevServerConfig(
        data_dir=Path(args.data_dir),
        ip=args.ip,
        port=args.port,
        ui_port=args.ui_port,
        log_level=args.server_log_level,
        headless=args.headless,
    )
    # Notifications land next to the database unless configured otherwise.
    os.environ.setdefault(OUTBOX_ENV, str((config.data_dir / "outbox.jsonl").resolve()))
    task_queue = connection.task_queue()
    stop = asyncio.Event()
    remove = _stop_on_signals(stop)
    server = DevServer(config)
    _print(f"Starting the Temporal dev server (database {config.db_path}) ...")
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
            _fail(str(error))
            return EXIT_ERROR
        return await _serve(args, config, server, client, task_queue, stop, run_worker)
    finally:
        remove()
        if server.process is not None:
            await server.stop_async()
            _print("Stopped.")


async def _serve(
    args: argparse.Namespace,
    config: DevServerConfig,
    server: DevServer,
    client: Client,
    task_queue: str,
    stop: asyncio.Event,
    run_worker: Callable[..., Coroutine[Any, Any, None]],
) -> int:
    """Run the worker (and the demo) until a signal or a failure, then stop the worker."""
    from activities.settings import OUTBOX_ENV

    _print(f"Temporal Web UI   {config.ui_url}" if not config.headless else "Web UI disabled")
    _print(f"Temporal server   {config.address} (namespace default)")
    _print(f"Database          {config.db_path}   server log {config.log_path}")
    _print(f"Notifications     {os.environ.get(OUTBOX_ENV)}")
    _print(f"Worker            task queue {task_queue!r}")
    if config.address != "localhost:7233":
        _print(f"Other commands    export TEMPORAL_ADDRESS={config.address}")
    _print("Ctrl-C stops the worker, then the server.")

    failure: list[str] = []

    def server_exited(code: int) -> None:
        failure.append(
            f"the Temporal dev server exited unexpectedly (code {code}): {server.log_tail()}"
        )
        stop.set()

    worker = asyncio.create_task(run_worker(client, task_queue, stop=stop))
    watcher = asyncio.create_task(server.watch(server_exited))
    background = [watcher]
    if args.demo:
        background.append(asyncio.create_task(_demo_in_background(client, task_queue, config)))
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
        if not worker.done():
            _print("Stopping the worker ...")
            try:
                await asyncio.wait_for(asyncio.shield(worker), timeout=20)
            except TimeoutError:
                worker.cancel()
                with contextlib.suppress(BaseException):
                    await worker
            except Exception as error:  # reported below; the server must still stop
                failure.append(f"the worker stopped with an error: {error}")
        _print("Stopping the Temporal dev server ...")
    if failure:
        _fail(failure[0])
        return EXIT_ERROR
    return EXIT_OK


async def _demo_in_background(client: Client, task_queue: str, config: DevServerConfig) -> None:
    from starter.demo import describe_demo, run_demo_script, start_demo_orders

    orders_client = PartyOrderClient(client, task_queue)
    try:
        orders = await start_demo_orders(orders_client)
        for line in describe_demo(orders, None if config.headless else config.ui_url):
            _print(line)
        await run_demo_script(orders_client, orders, _print)
    except PartyOrderError as error:
        _fail(f"demo: {error}")


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Track & Manage Party Orders (TM Forum eTOM 1.6.8.3) on Temporal.",
        epilog="Connection: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,"
        " TEMPORAL_TLS_*, TEMPORAL_PROFILE; task queue: PARTY_ORDERS_TASK_QUEUE.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    def command(
        name: str, handler: Callable[[argparse.Namespace], Awaitable[int]], text: str
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=text, description=text)
        sub.set_defaults(handler=handler)
        return sub

    def order_id(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("order_id", metavar="ID", help="the order id (e.g. PO-1001)")

    def request_id(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--request-id",
            help="idempotency key: a message with an applied id is not applied twice",
        )

    up = command(
        "up", cmd_up, "run a local Temporal dev server (Web UI, persistent database) and a worker"
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
        "--demo", action="store_true", help="also start the demo orders and play the demo script"
    )

    command("worker", cmd_worker, "run a worker (like `python worker.py`)")

    demo = command(
        "demo", cmd_demo, "start sample orders that move within minutes, and play their script"
    )
    demo.add_argument("--no-script", action="store_true", help="only start the orders")

    start = command(
        "start", cmd_start, "start tracking the party order in FILE.json ('-' reads stdin)"
    )
    start.add_argument("file", metavar="FILE.json")
    start.add_argument("--json", action="store_true", help="print the ids as JSON")

    show = command("show", cmd_show, "show one order")
    order_id(show)
    show.add_argument("--json", action="store_true", help="print the order as JSON (get_order)")

    listing = command("list", cmd_list, "list orders from the visibility store")
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

    progress = command("progress", cmd_progress, "report progress on an order (report_progress)")
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
        "--source",
        choices=["party", "enterprise"],
        default="party",
        help="who reports (default: %(default)s; only the party answers check-ins)",
    )
    request_id(progress)

    change = command("change", cmd_change, "request a change to an order (request_change)")
    order_id(change)
    change.add_argument("--reason")
    change.add_argument(
        "--origin",
        choices=["party", "enterprise", "external"],
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
    request_id(change)

    resolve = command("resolve", cmd_resolve, "resolve a change request (resolve_change)")
    order_id(resolve)
    resolve.add_argument("change_id", metavar="CHANGE_ID")
    decision = resolve.add_mutually_exclusive_group(required=True)
    decision.add_argument("--accept", action="store_true")
    decision.add_argument("--reject", action="store_true")
    resolve.add_argument("--by", help="who resolved it")
    resolve.add_argument("--note")
    request_id(resolve)

    state = command("state", cmd_state, "move an order to another state (change_state update)")
    order_id(state)
    state.add_argument(
        "state", metavar="STATE", choices=SETTABLE_STATES, help=" | ".join(SETTABLE_STATES)
    )
    state.add_argument("--reason", required=True)
    request_id(state)

    cancel = command("cancel", cmd_cancel, "cancel an order (cancel_order)")
    order_id(cancel)
    cancel.add_argument("--reason", required=True)
    cancel.add_argument("--by", help="who asks for the cancellation")
    request_id(cancel)

    check_in = command("check-in", cmd_check_in, "check in with the party now (check_in_now)")
    order_id(check_in)
    check_in.add_argument("--by", help="who asks for the check-in")
    request_id(check_in)

    report = command(
        "report", cmd_report, "counts by state and jeopardy, and the orders needing attention"
    )
    report.add_argument("--json", action="store_true", help="print JSON")
    return parser


# ---------------------------------------------------------------- entry points


def exit_code_for(error: BaseException) -> int:
    if isinstance(error, (InvalidInput, UsageError)):
        return EXIT_BAD_INPUT
    if isinstance(error, OrderNotFound):
        return EXIT_NOT_FOUND
    if isinstance(error, ServerUnavailable):
        return EXIT_UNREACHABLE
    return EXIT_ERROR


async def run(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the command; returns the exit code, never raises."""
    try:
        return await _run(argv)
    finally:
        # An error's traceback keeps the Temporal client alive in a reference cycle. If the
        # client is only collected while the interpreter shuts down, its Rust runtime may
        # call into Python too late and crash the process (SIGSEGV/SIGABRT instead of our
        # exit code). Collecting it here, while the event loop still runs, avoids that.
        gc.collect()
        await asyncio.sleep(0.05)


async def _run(argv: Sequence[str] | None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except UsageError as error:
        _fail(str(error).removeprefix(f"{PROG}: "))
        return EXIT_BAD_INPUT
    except SystemExit as done:  # --help
        return done.code if isinstance(done.code, int) else EXIT_OK
    try:
        return await args.handler(args)
    except (PartyOrderError, UsageError, DevServerError) as error:
        _fail(str(error))
        return exit_code_for(error)
    except Exception as error:
        if os.environ.get("PARTY_ORDERS_DEBUG"):
            raise
        _fail(
            f"unexpected {type(error).__name__}: {error} (set PARTY_ORDERS_DEBUG=1 for a traceback)"
        )
        return EXIT_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    """The ``party-orders`` entry point; returns the exit code (the console script exits
    with it). Must not be called from a running event loop: use ``run`` there."""
    try:
        return asyncio.run(run(argv))
    except (KeyboardInterrupt, asyncio.CancelledError):  # a second Ctrl-C, or one mid-start
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
