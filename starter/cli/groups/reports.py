"""Reports over many orders: the portfolio ``report`` (or the supplier scorecard), and the
morning ``digest``."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from temporalio.service import RPCError, RPCStatusCode

from starter.cli.arguments import CommandGroup
from starter.cli.connection import connect_client
from starter.cli.render import report_text, scorecard_text, to_json
from starter.dates import parse_instant
from starter.errors import InvalidInput, OrderNotFound, ServerUnavailable
from starter.output import EXIT_OK, PROG, say
from starter.schedules import (
    DEFAULT_CRON,
    DEFAULT_TIME_ZONE,
    DigestRun,
    ensure_digest_schedule,
    run_digest_now,
)
from workflows.domain import names

commands = CommandGroup()


def report_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument(
        "--by",
        choices=["party"],
        help="party: the supplier scorecard (on-time rate, slip, check-in answers, ...)",
    )
    parser.add_argument(
        "--since", metavar="DATE", help="the scorecard of trackings started since DATE (ISO 8601)"
    )
    parser.add_argument("--party", metavar="PARTY_ID", help="only this party's orders")
    parser.add_argument(
        "--history",
        action="store_true",
        help="count every tracking of an order tracked again (start --again), not the order once",
    )


@commands.command(
    "report", "counts by state and jeopardy, and the orders needing attention", report_options
)
async def cmd_report(args: argparse.Namespace) -> int:
    client = await connect_client()
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


# How long `digest run` waits to say what the run did.
DIGEST_WAIT = timedelta(seconds=30)


def digest_run_text(run: DigestRun) -> str:
    """Where the digest went, as far as the run tells."""
    if run.workflow_id is None:
        return (
            f"Digest run triggered ({names.DIGEST_SCHEDULE_ID}), but the schedule started none"
            " (a run is going on, or the schedule is paused): see the Web UI's Schedules page"
        )
    if run.result is None:
        return (
            f"Digest run triggered: workflow {run.workflow_id} has not finished within"
            f" {DIGEST_WAIT.seconds} s (is a worker running?); see it in the Web UI"
        )
    result = run.result
    failed = len(result.delivery_failures)
    return (
        f"Digest run triggered: {run.workflow_id} listed {result.orders} open order(s) in"
        f" jeopardy and sent {result.notices} digest notification(s), one to each order"
        " manager and escalation contact concerned, through the worker's channels (its"
        " outbox, mail or webhooks)" + (f"; {failed} could not be delivered" if failed else "")
    )


def digest_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action",
        choices=["schedule", "run"],
        help="schedule: create or update the schedule; run: one digest now",
    )
    parser.add_argument("--cron", default=DEFAULT_CRON, help="when (default: %(default)s)")
    parser.add_argument(
        "--time-zone", default=DEFAULT_TIME_ZONE, help="of the cron (default: %(default)s)"
    )


@commands.command(
    "digest", "the morning digest of orders in jeopardy (a Temporal Schedule)", digest_options
)
async def cmd_digest(args: argparse.Namespace) -> int:
    client = await connect_client()
    try:
        if args.action == "run":
            run = await run_digest_now(client.client, wait=DIGEST_WAIT)
            say(digest_run_text(run))
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
