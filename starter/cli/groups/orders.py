"""Orders as a whole: ``start`` tracking one, ``show`` one, ``list`` many."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from starter.cli.arguments import CommandGroup, order_id_arg, read_json
from starter.cli.connection import connect_client
from starter.cli.render import list_text, order_text, to_json, tracking_text
from starter.client import PartyOrderClient
from starter.dates import resolve_relative_dates
from starter.errors import InvalidInput, PartyOrderError
from starter.output import EXIT_OK, say, warn
from starter.query import JEOPARDY_LEVELS, STATES, OrderFilters
from starter.samples import load_sample, sample_names
from workflows.domain import names

commands = CommandGroup()


def start_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE.json")
    parser.add_argument("--json", action="store_true", help="print the ids as JSON")
    parser.add_argument(
        "--again",
        action="store_true",
        help="track an order whose tracking has ended once more (its party is asked again)",
    )


@commands.command(
    "start", "start tracking the party order in FILE.json ('-' reads stdin)", start_options
)
async def cmd_start(args: argparse.Namespace) -> int:
    data = read_json(args.file)
    if not isinstance(data, dict):
        raise InvalidInput(f"{args.file}: a party order must be a JSON object")
    try:
        data = resolve_relative_dates(data, datetime.now(UTC))
    except ValueError as error:
        raise InvalidInput(f"{args.file}: {error}") from None
    client = await connect_client()
    workflow_id = await client.start(data, again=args.again)
    order_id = workflow_id.removeprefix(names.TRACK_WORKFLOW_ID_PREFIX)
    if args.json:
        say(to_json({"orderId": order_id, "workflowId": workflow_id}))
    else:
        say(f"Tracking order {order_id} (workflow {workflow_id}, task queue {client.task_queue})")
    return EXIT_OK


# How many of the latest orders a "did you mean" hint looks through.
HINT_SCAN = 1000


def sample_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", choices=sample_names(), metavar="NAME", help="e.g. PO-1001")
    parser.add_argument("--id", help="the order's id instead of the sample's own")


@commands.command(
    "sample",
    "print a sample order as JSON, its relative dates made absolute from now"
    " (for temporal workflow start --input, or curl)",
    sample_options,
)
async def cmd_sample(args: argparse.Namespace) -> int:
    order = load_sample(args.name, datetime.now(UTC))
    if args.id is not None:
        order["id"] = args.id
    say(json.dumps(order, indent=2))
    return EXIT_OK


def show_options(parser: argparse.ArgumentParser) -> None:
    order_id_arg(parser)
    parser.add_argument("--json", action="store_true", help="print the order as JSON (get_order)")


@commands.command("show", "show one order", show_options)
async def cmd_show(args: argparse.Namespace) -> int:
    client = await connect_client()
    tracking = await client.tracking(args.order_id)
    try:
        order = await client.get(args.order_id)
    except PartyOrderError:
        for line in tracking_text(tracking):
            say(line)
        raise
    if args.json:
        say(to_json(order.model_dump(mode="json", by_alias=True)))
    else:
        for line in [*tracking_text(tracking), *order_text(order, datetime.now(UTC))]:
            say(line)
    return EXIT_OK


def list_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state", help=f"one or more, comma-separated, of: {', '.join(STATES)}")
    parser.add_argument(
        "--jeopardy",
        help=f"one or more, comma-separated, of: {', '.join(JEOPARDY_LEVELS)}"
        " (hazard,critical: every order in jeopardy)",
    )
    parser.add_argument("--party", help="party id")
    parser.add_argument("--level", help="escalation level at least N")
    parser.add_argument(
        "--due-before", help="due before this date or date-time (ISO 8601, or +P7D from now)"
    )
    parser.add_argument(
        "--due-after", help="due after this date or date-time (ISO 8601, or +P7D from now)"
    )
    parser.add_argument("--process", help="originating process name")
    parser.add_argument(
        "--open",
        action="store_true",
        help="only orders still being tracked (the default with --due-before/--due-after)",
    )
    parser.add_argument(
        "--include-ended",
        action="store_true",
        help="with --due-before/--due-after, ended orders too",
    )
    parser.add_argument(
        "--limit", type=int, default=500, help="at most N orders (default: %(default)s)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument(
        "--history",
        action="store_true",
        help="every tracking of an order tracked more than once (default: its newest)",
    )


@commands.command("list", "list orders from the visibility store", list_options)
async def cmd_list(args: argparse.Namespace) -> int:
    filters = OrderFilters(
        state=args.state,
        jeopardy=args.jeopardy,
        party=args.party,
        min_level=args.level,
        due_before=args.due_before,
        due_after=args.due_after,
        process=args.process,
        # An order due before a date is one still to deliver: ended orders are left out
        # unless asked for.
        open_only=args.open or (bool(args.due_before or args.due_after) and not args.include_ended),
    )
    if args.limit < 1:
        raise InvalidInput(f"--limit: expected a number of orders >= 1, got {args.limit}")
    client = await connect_client()
    orders = await client.list(filters, limit=args.limit, history=args.history)
    if args.json:
        say(to_json([o.model_dump(mode="json", by_alias=True) for o in orders]))
    else:
        for line in list_text(orders, datetime.now(UTC)):
            say(line)
    if not orders and args.party:
        for hint in await party_case_hints(client, filters):
            warn(hint)
    return EXIT_OK


async def party_case_hints(client: PartyOrderClient, filters: OrderFilters) -> list[str]:
    """When a party filter finds nothing: the party ids of the latest orders that differ
    from it only in case (party ids are case-sensitive, and ``acme`` is not ``ACME``)."""
    given = filters.party or ""
    recent = await client.list(OrderFilters(), limit=HINT_SCAN)
    others = sorted(
        {
            o.party_id
            for o in recent
            if o.party_id and o.party_id != given and o.party_id.casefold() == given.casefold()
        }
    )
    return [
        f"no orders for party {given!r}; party ids are case-sensitive, and {other!r} has"
        f" orders (--party {other})"
        for other in others
    ]
