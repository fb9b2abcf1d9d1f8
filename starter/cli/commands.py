"""``party-orders``: the command line of the party-order tracker.

    party-orders up [--demo]            local Temporal dev server + Web UI + a worker
    party-orders start FILE.json        start tracking an order ("-" reads stdin)
    party-orders show ID [--json]       one order: state, progress, jeopardy, milestones...
    party-orders list [filters] [--json]
    party-orders progress|change|resolve|state|cancel|check-in ID ...
    party-orders report [--json]        counts by state and jeopardy, orders needing someone
    party-orders api [--host H] [--port P]          the HTTP API (starter/api)
    party-orders api-key create|list|revoke ...     its keys

People get readable text; ``--json`` gives scripts the camelCase JSON of the contract.
Every failure is one line on stderr and an exit code: 2 bad input, 3 unknown order,
4 Temporal unreachable, 1 anything else (130 when interrupted).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import shlex
import sys
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from temporalio.service import RPCError, RPCStatusCode

import worker
from starter.cli import arguments
from starter.cli.arguments import (
    Handler,
    UsageError,
    instant_arg,
    pair_arg,
    read_json,
)
from starter.cli.output import (
    EXIT_BAD_INPUT,
    EXIT_BROKEN_PIPE,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_QUEUED,
    EXIT_UNREACHABLE,
    PROG,
    fail,
    say,
    setup_logging,
)
from starter.cli.render import list_text, order_text, report_text, scorecard_text, to_json, when
from starter.client import (
    DEFAULT_ANSWER_TIMEOUT,
    InvalidInput,
    OrderNotFound,
    PartyOrderClient,
    PartyOrderError,
    ServerUnavailable,
    UpdateQueued,
)
from starter.dates import parse_instant
from starter.local.devserver import DevServerError
from starter.local.up import serve_worker_metrics, stop_on_signals, up
from starter.query import OrderFilters
from starter.schedules import ensure_digest_schedule, run_digest_now
from workflows.domain import names
from workflows.domain.model import TRACK_WORKFLOW_ID_PREFIX

CONNECT_TIMEOUT_ENV = "PARTY_ORDERS_CONNECT_TIMEOUT"
# How long a query or an update may wait for a worker to answer.
ANSWER_TIMEOUT_ENV = "PARTY_ORDERS_ANSWER_TIMEOUT"
DEFAULT_CONNECT_SECONDS = 5.0


def _seconds(env: str, default: float) -> timedelta:
    """A positive number of seconds from the environment variable ``env``."""
    raw = os.environ.get(env)
    if not raw:
        return timedelta(seconds=default)
    try:
        seconds = float(raw)
    except ValueError:
        raise InvalidInput(f"{env} must be a number of seconds, got {raw!r}") from None
    if seconds <= 0:
        raise InvalidInput(f"{env} must be positive, got {raw!r}")
    return timedelta(seconds=seconds)


async def _client() -> PartyOrderClient:
    return await PartyOrderClient.connect(
        connect_timeout=_seconds(CONNECT_TIMEOUT_ENV, DEFAULT_CONNECT_SECONDS),
        answer_timeout=_seconds(ANSWER_TIMEOUT_ENV, DEFAULT_ANSWER_TIMEOUT.total_seconds()),
    )


def guess_ui_url() -> str | None:
    """The Web UI of a local dev server (gRPC port + 1000, as ``start-dev`` defaults)."""
    target = str(worker.connect_config().get("target_host", ""))
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


async def cmd_start(args: argparse.Namespace) -> int:
    data = read_json(args.file)
    if not isinstance(data, dict):
        raise InvalidInput(f"{args.file}: a party order must be a JSON object")
    client = await _client()
    workflow_id = await client.start(data, again=args.again)
    order_id = workflow_id.removeprefix(TRACK_WORKFLOW_ID_PREFIX)
    if args.json:
        say(to_json({"orderId": order_id, "workflowId": workflow_id}))
    else:
        say(f"Tracking order {order_id} (workflow {workflow_id}, task queue {client.task_queue})")
    return EXIT_OK


async def cmd_show(args: argparse.Namespace) -> int:
    client = await _client()
    order = await client.get(args.order_id)
    if args.json:
        say(to_json(order.model_dump(mode="json", by_alias=True)))
    else:
        for line in order_text(order, datetime.now(UTC)):
            say(line)
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
    orders = await client.list(filters, limit=args.limit, history=args.history)
    if args.json:
        say(to_json([o.model_dump(mode="json", by_alias=True) for o in orders]))
    else:
        for line in list_text(orders, datetime.now(UTC)):
            say(line)
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
            milestone_id, status = pair_arg(text, "--milestone")
            milestones.append({"id": milestone_id, "status": status or "completed"})
    expected = instant_arg(args.expected_date, "--expected-date") if args.expected_date else None
    report = _given(
        {
            "source": args.source,
            "percentComplete": args.percent,
            "milestones": milestones,
            "expectedCompletionDate": expected,
            "delivered": True if args.delivered else None,
            "note": args.note,
            "orderItems": [_item_progress(words) for words in args.item] if args.item else None,
            "requestId": args.request_id or None,
        }
    )
    client = await _client()
    request_id = await client.report_progress(args.order_id, report, confirm=True)
    say(
        f"Progress report {request_id} applied to {args.order_id}:"
        f" {await _state_line(client, args.order_id)}"
    )
    return EXIT_OK


# ``--item ID KEY=VALUE ...``: the keys a person types, and the wire field each fills.
ITEM_KEYS = {
    "state": "state",
    "percent": "percentComplete",
    "expected": "expectedCompletionDate",
    "note": "note",
}


def _item_progress(words: list[str]) -> dict[str, Any]:
    """One ``--item`` as ``report_progress.orderItems[]`` wants it."""
    item_id, *pairs = words
    item: dict[str, Any] = {"id": item_id}
    for pair in pairs:
        key, value = pair_arg(pair, f"--item {item_id}")
        if key not in ITEM_KEYS or value is None:
            raise InvalidInput(
                f"--item {item_id}: expected KEY=VALUE with KEY one of"
                f" {', '.join(ITEM_KEYS)}, got {pair!r}"
            )
        if key == "percent":
            try:
                item["percentComplete"] = int(value)
            except ValueError:
                raise InvalidInput(f"--item {item_id}: percent={value!r} is not a number") from None
        elif key == "expected":
            item["expectedCompletionDate"] = instant_arg(value, f"--item {item_id} expected")
        else:
            item[ITEM_KEYS[key]] = value
    return item


def _plan_changes(args: argparse.Namespace, what: str) -> list[dict[str, Any]]:
    """``--WHAT``, ``--add-WHAT`` and ``--remove-WHAT`` as ``changes.<what>s[]`` entries."""
    date_field = "milestoneDate" if what == "milestone" else "date"
    entries: list[dict[str, Any]] = []
    for option, action in ((what, "modify"), (f"add_{what}", "add")):
        for text in getattr(args, option) or []:
            entry_id, date_text = pair_arg(text, f"--{option.replace('_', '-')}")
            if date_text is None:
                raise InvalidInput(f"--{option.replace('_', '-')}: expected ID=DATE, got {text!r}")
            entry: dict[str, Any] = {
                "id": entry_id,
                date_field: instant_arg(date_text, f"--{option.replace('_', '-')} {entry_id}"),
            }
            if action == "add":
                entry["action"] = "add"
            entries.append(entry)
    for entry_id in getattr(args, f"remove_{what}") or []:
        entries.append({"id": entry_id, "action": "delete"})
    return entries


async def cmd_change(args: argparse.Namespace) -> int:
    changes: dict[str, Any] = {}
    if args.expected_date:
        changes["expectedCompletionDate"] = instant_arg(args.expected_date, "--expected-date")
    if args.requested_date:
        changes["requestedCompletionDate"] = instant_arg(args.requested_date, "--requested-date")
    milestones = _plan_changes(args, "milestone")
    if milestones:
        changes["milestones"] = milestones
    checkpoints = _plan_changes(args, "checkpoint")
    if checkpoints:
        changes["checkpoints"] = checkpoints
    if args.cancel_item:
        changes["orderItems"] = [{"id": item, "state": "cancelled"} for item in args.cancel_item]
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
    say(f"Change request {change_id} recorded on {args.order_id}; resolve it with:")
    say(f"  {PROG} resolve {args.order_id} {change_id} --accept   (or --reject)")
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
    say(
        f"Change request {args.change_id} on {args.order_id} {resolution['decision']}:"
        f" {await _state_line(client, args.order_id)}"
    )
    return EXIT_OK


async def cmd_state(args: argparse.Namespace) -> int:
    # The request id is made here, not by the client, so that it can be shown: the same
    # change sent again with it is applied once.
    request_id = args.request_id or str(uuid.uuid4())
    request = _given(
        {"state": args.state, "reason": args.reason, "note": args.note, "requestId": request_id}
    )
    client = await _client()
    try:
        order = await client.change_state(args.order_id, request)
    except UpdateQueued as queued:
        say(f"Queued: {queued}")
        # The very same message: a request id names one message, so the repeat must say
        # exactly what the first one said.
        repeat = [PROG, "state", args.order_id, args.state, "--request-id", queued.request_id]
        if args.reason is not None:
            repeat += ["--reason", args.reason]
        say(f"To confirm later: {shlex.join(repeat)}")
        return EXIT_QUEUED
    say(
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
    say(
        f"Cancellation of {args.order_id} accepted: the party is told, then the order is"
        f" cancelled ({await _state_line(client, args.order_id)})"
    )
    return EXIT_OK


async def cmd_check_in(args: argparse.Namespace) -> int:
    request = _given({"requestedBy": args.by, "requestId": args.request_id or None})
    client = await _client()
    await client.check_in_now(args.order_id, request, confirm=True)
    order = await client.get(args.order_id)
    say(
        f"Check-in {order.check_ins.sent} sent to {order.party.name} for {order.id};"
        f" answer due by {when(order.check_ins.answer_by)}"
    )
    return EXIT_OK


async def cmd_report(args: argparse.Namespace) -> int:
    client = await _client()
    if args.by == "party" and args.history:
        raise InvalidInput("--history: not with --by party (the scorecard scores every tracking)")
    if args.by == "party":
        since = None
        if args.since:
            try:
                since = parse_instant(args.since, what="--since", now=datetime.now(UTC))
            except ValueError as error:
                raise InvalidInput(str(error)) from None
        scores = await client.scorecard(since=since, party=args.party)
        if args.json:
            say(to_json([row.model_dump(mode="json", by_alias=True) for row in scores]))
        else:
            for line in scorecard_text(scores):
                say(line)
        return EXIT_OK
    if args.since:
        raise InvalidInput("--since: only with --by party (the scorecard)")
    report = await client.report(history=args.history, party=args.party)
    if args.json:
        say(to_json(report.model_dump(mode="json", by_alias=True)))
    else:
        for line in report_text(report, datetime.now(UTC)):
            say(line)
    return EXIT_OK


async def cmd_digest(args: argparse.Namespace) -> int:
    client = await _client()
    try:
        if args.action == "run":
            await run_digest_now(client.client)
            say(
                f"Digest run triggered ({names.DIGEST_SCHEDULE_ID}):"
                " see the Web UI's Schedules page"
            )
            return EXIT_OK
        try:
            ZoneInfo(args.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidInput(
                f"--time-zone: {args.time_zone!r} is not an IANA time zone (Europe/Berlin, UTC)"
            ) from None
        created = await ensure_digest_schedule(
            client.client, client.task_queue, cron=args.cron, time_zone=args.time_zone
        )
    except RPCError as error:
        if error.status == RPCStatusCode.INVALID_ARGUMENT:
            raise InvalidInput(f"the Temporal service refused the schedule: {error}") from None
        if error.status == RPCStatusCode.NOT_FOUND:
            raise OrderNotFound(
                f"no schedule {names.DIGEST_SCHEDULE_ID}: create it with {PROG} digest schedule"
            ) from None
        raise ServerUnavailable(f"the Temporal service answered: {error}") from None
    say(
        f"Digest schedule {names.DIGEST_SCHEDULE_ID} {'created' if created else 'updated'}:"
        f" cron {args.cron!r} in {args.time_zone}, task queue {client.task_queue!r}"
    )
    return EXIT_OK


async def cmd_worker(args: argparse.Namespace) -> int:
    from activities.signing import MasterSecretMissing, require_master_secret
    from worker import run_worker  # the worker pulls in every workflow and activity

    try:
        require_master_secret()  # outside `up`, which makes a local one
    except (MasterSecretMissing, ValueError) as missing:
        fail(str(missing))
        return EXIT_BAD_INPUT
    setup_logging("INFO")
    metrics = serve_worker_metrics()
    client = await _client()
    stop = asyncio.Event()
    remove = stop_on_signals(stop)
    target = client.client.service_client.config.target_host
    say(f"Worker polling task queue {client.task_queue!r} on {target} (Ctrl-C stops it)")
    if metrics is not None:
        say(f"Metrics at http://{metrics}/metrics")
    try:
        await run_worker(client.client, client.task_queue, stop=stop)
    finally:
        remove()
    say("Worker stopped")
    return EXIT_OK


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


def _key_store() -> Any:
    from starter.api.keys import KeyStore

    return KeyStore()


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


async def cmd_api_key_revoke(args: argparse.Namespace) -> int:
    from starter.api.keys import ApiKeyError

    try:
        key = _key_store().revoke(args.key_id)
    except ApiKeyError as error:
        raise InvalidInput(str(error)) from None
    say(f"API key {key.id} ({key.subject}) revoked")
    return EXIT_OK


async def cmd_demo(args: argparse.Namespace) -> int:
    from starter.demo import describe_demo, run_demo_script, start_demo_orders

    client = await _client()
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


async def cmd_codec_server(args: argparse.Namespace) -> int:
    from starter.codec_server import (
        CODEC_TOKEN_ENV,
        DEFAULT_UI_ORIGINS,
        CodecServer,
        configured_codec,
    )

    codec = configured_codec()
    token = os.environ.get(CODEC_TOKEN_ENV) or None
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


HANDLERS: dict[str, Handler] = {
    "up": up,
    "worker": cmd_worker,
    "demo": cmd_demo,
    "start": cmd_start,
    "show": cmd_show,
    "list": cmd_list,
    "progress": cmd_progress,
    "change": cmd_change,
    "resolve": cmd_resolve,
    "state": cmd_state,
    "cancel": cmd_cancel,
    "check-in": cmd_check_in,
    "report": cmd_report,
    "digest": cmd_digest,
    "api": cmd_api,
    "api-key create": cmd_api_key_create,
    "api-key list": cmd_api_key_list,
    "api-key revoke": cmd_api_key_revoke,
    "codec-server": cmd_codec_server,
}


def build_parser() -> argparse.ArgumentParser:
    return arguments.build_parser(HANDLERS)


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
        fail(str(error).removeprefix(f"{PROG}: "))
        return EXIT_BAD_INPUT
    except SystemExit as done:  # --help
        return done.code if isinstance(done.code, int) else EXIT_OK
    try:
        return await args.handler(args)
    except (PartyOrderError, UsageError, DevServerError) as error:
        fail(str(error))
        return exit_code_for(error)
    except BrokenPipeError:
        raise  # the reader of our output is gone: nothing to report (see main)
    except Exception as error:
        if os.environ.get("PARTY_ORDERS_DEBUG"):
            raise
        fail(
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
    except BrokenPipeError:
        # The reader went away (`party-orders list | head`): end quietly, as a shell tool
        # does. Point stdout at /dev/null so the interpreter's final flush cannot fail too.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
