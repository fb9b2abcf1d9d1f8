"""Messages to one order: ``progress``, ``change``, ``resolve``, ``state``, ``cancel`` and
``check-in``. Each option left out is left out of the message, so the contract's defaults
apply."""

from __future__ import annotations

import argparse
import shlex
import uuid
from typing import Any

from starter.cli.arguments import (
    CommandGroup,
    instant_arg,
    order_id_arg,
    pair_arg,
    request_id_arg,
)
from starter.cli.connection import connect_client
from starter.cli.render import when
from starter.client import PartyOrderClient
from starter.errors import InvalidInput, UpdateQueued
from starter.output import EXIT_OK, EXIT_QUEUED, PROG, say
from workflows.domain.messages import (
    ChangeRequestMessage,
    ProgressReport,
    StateChangeRequest,
    allowed_values,
)

commands = CommandGroup()

# States an operator can set with `party-orders state` (the change_state update's domain).
SETTABLE_STATES = allowed_values(StateChangeRequest, "state")


def _given(fields: dict[str, Any]) -> dict[str, Any]:
    """A message of the fields given on the command line: options left out (None) are
    left out of the message too, so the contract's defaults apply."""
    return {name: value for name, value in fields.items() if value is not None}


async def _state_line(client: PartyOrderClient, order_id: str) -> str:
    order = await client.get(order_id)
    return (
        f"state {order.state.value}, {order.percent_complete}% complete,"
        f" jeopardy {order.jeopardy.status.value}"
    )


# ---------------------------------------------------------------- progress


def progress_options(parser: argparse.ArgumentParser) -> None:
    order_id_arg(parser)
    parser.add_argument("--percent", type=int, help="percent complete, 0 to 100")
    parser.add_argument(
        "--milestone",
        action="append",
        metavar="ID[=completed|yetToReach]",
        help="a milestone's status (repeatable; default completed)",
    )
    parser.add_argument("--expected-date", metavar="DATE", help="new expected completion date")
    parser.add_argument(
        "--delivered", action="store_true", help="the party delivered: completes the order"
    )
    parser.add_argument("--note", help="free text")
    parser.add_argument(
        "--item",
        action="append",
        nargs="+",
        metavar=("ID", "KEY=VALUE"),
        help="one order item's progress (repeatable): state=S, percent=N, expected=DATE,"
        " note=TEXT; e.g. --item 2 state=completed",
    )
    parser.add_argument(
        "--source",
        choices=allowed_values(ProgressReport, "source"),
        default="party",
        help="who reports (default: %(default)s; only the party answers check-ins)",
    )
    request_id_arg(parser)


@commands.command("progress", "report progress on an order (report_progress)", progress_options)
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
    client = await connect_client()
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


# ---------------------------------------------------------------- change and resolve


def change_options(parser: argparse.ArgumentParser) -> None:
    order_id_arg(parser)
    parser.add_argument("--reason")
    parser.add_argument(
        "--origin",
        choices=allowed_values(ChangeRequestMessage, "origin"),
        default="party",
        help="who asks (default: %(default)s)",
    )
    parser.add_argument(
        "--forced", action="store_true", help="a forced change (kind forced), not a request"
    )
    parser.add_argument(
        "--expected-date",
        metavar="DATE",
        help="the party's new forecast (expectedCompletionDate). It moves only the forecast:"
        " a forecast past the agreed date makes the order critical, and the order then asks"
        " the originating process itself to move the agreed date",
    )
    parser.add_argument(
        "--requested-date",
        metavar="DATE",
        help="a new agreed date (requestedCompletionDate), moved once the originating"
        " process accepts",
    )
    parser.add_argument(
        "--milestone",
        action="append",
        metavar="ID=DATE",
        help="a milestone's new date (repeatable)",
    )
    parser.add_argument(
        "--add-milestone", action="append", metavar="ID=DATE", help="plan a new milestone"
    )
    parser.add_argument(
        "--remove-milestone", action="append", metavar="ID", help="take a milestone out"
    )
    parser.add_argument(
        "--checkpoint", action="append", metavar="ID=DATE", help="a checkpoint's new date"
    )
    parser.add_argument(
        "--add-checkpoint", action="append", metavar="ID=DATE", help="plan a new checkpoint"
    )
    parser.add_argument(
        "--remove-checkpoint", action="append", metavar="ID", help="take a checkpoint out"
    )
    parser.add_argument(
        "--cancel-item",
        action="append",
        metavar="ID",
        help="cancel an order item once the change is accepted (repeatable)",
    )
    request_id_arg(parser)


@commands.command("change", "request a change to an order (request_change)", change_options)
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
    client = await connect_client()
    change_id = await client.request_change(args.order_id, message, confirm=True)
    say(f"Change request {change_id} recorded on {args.order_id}; resolve it with:")
    say(f"  {PROG} resolve {args.order_id} {change_id} --accept   (or --reject)")
    return EXIT_OK


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


def resolve_options(parser: argparse.ArgumentParser) -> None:
    order_id_arg(parser)
    parser.add_argument("change_id", metavar="CHANGE_ID")
    decision = parser.add_mutually_exclusive_group(required=True)
    decision.add_argument(
        "--accept", action="store_true", help="accept: the changes are applied to the order"
    )
    decision.add_argument("--reject", action="store_true", help="reject: the order stays as it is")
    parser.add_argument("--by", help="who resolved it")
    parser.add_argument("--note")
    request_id_arg(parser)


@commands.command("resolve", "resolve a change request (resolve_change)", resolve_options)
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
    client = await connect_client()
    await client.resolve_change(args.order_id, resolution, confirm=True)
    say(
        f"Change request {args.change_id} on {args.order_id} {resolution['decision']}:"
        f" {await _state_line(client, args.order_id)}"
    )
    return EXIT_OK


# ---------------------------------------------------------------- state, cancel, check-in


def state_options(parser: argparse.ArgumentParser) -> None:
    order_id_arg(parser)
    parser.add_argument(
        "state", metavar="STATE", choices=SETTABLE_STATES, help=" | ".join(SETTABLE_STATES)
    )
    parser.add_argument("--reason", required=True)
    parser.add_argument("--note", help="a note kept with the order's notes")
    request_id_arg(parser)


@commands.command("state", "move an order to another state (change_state update)", state_options)
async def cmd_state(args: argparse.Namespace) -> int:
    # The request id is made here, not by the client, so that it can be shown: the same
    # change sent again with it is applied once.
    request_id = args.request_id or str(uuid.uuid4())
    request = _given(
        {"state": args.state, "reason": args.reason, "note": args.note, "requestId": request_id}
    )
    client = await connect_client()
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


def cancel_options(parser: argparse.ArgumentParser) -> None:
    order_id_arg(parser)
    parser.add_argument("--reason", required=True)
    parser.add_argument("--by", help="who asks for the cancellation")
    request_id_arg(parser)


@commands.command("cancel", "cancel an order (cancel_order)", cancel_options)
async def cmd_cancel(args: argparse.Namespace) -> int:
    request = _given(
        {"reason": args.reason, "requestedBy": args.by, "requestId": args.request_id or None}
    )
    client = await connect_client()
    await client.cancel(args.order_id, request, confirm=True)
    say(
        f"Cancellation of {args.order_id} accepted: the party is told, then the order is"
        f" cancelled ({await _state_line(client, args.order_id)})"
    )
    return EXIT_OK


def ack_options(parser: argparse.ArgumentParser) -> None:
    order_id_arg(parser)
    parser.add_argument(
        "--level", type=int, help="the level taken in hand (default: the order's current level)"
    )
    parser.add_argument("--by", help="who takes it in hand (an escalation contact)")
    parser.add_argument("--note", help="what they are doing about it")
    request_id_arg(parser)


@commands.command(
    "ack",
    "acknowledge an order's escalation: reminders stop until its jeopardy worsens again"
    " (acknowledge_escalation)",
    ack_options,
)
async def cmd_ack(args: argparse.Namespace) -> int:
    client = await connect_client()
    level = args.level
    if level is None:
        level = (await client.get(args.order_id)).jeopardy.escalation_level
        if level < 1:
            raise InvalidInput(
                f"order {args.order_id} has not been escalated: nothing to acknowledge"
            )
    request = _given(
        {"level": level, "by": args.by, "note": args.note, "requestId": args.request_id or None}
    )
    order = await client.acknowledge_escalation(args.order_id, request)
    say(
        f"Escalation of {args.order_id} acknowledged at level {level}"
        + (f" by {args.by}" if args.by else "")
        + f": reminders stop until its jeopardy worsens ({order.jeopardy.status.value})"
    )
    return EXIT_OK


def check_in_options(parser: argparse.ArgumentParser) -> None:
    order_id_arg(parser)
    parser.add_argument("--by", help="who asks for the check-in")
    request_id_arg(parser)


@commands.command("check-in", "check in with the party now (check_in_now)", check_in_options)
async def cmd_check_in(args: argparse.Namespace) -> int:
    request = _given({"requestedBy": args.by, "requestId": args.request_id or None})
    client = await connect_client()
    await client.check_in_now(args.order_id, request, confirm=True)
    order = await client.get(args.order_id)
    say(
        f"Check-in {order.check_ins.sent} sent to {order.party.name} for {order.id};"
        f" answer due by {when(order.check_ins.answer_by)}"
    )
    return EXIT_OK
