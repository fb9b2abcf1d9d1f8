"""A few sample orders that move within minutes, to watch in the Web UI.

``party-orders demo`` (or ``party-orders up --demo``) starts five orders from the
templates in ``starter/samples/demo-*.json`` and then plays a short script against them:

* ``DEMO-DELIVER``: the party reports progress and milestones, then delivers (about 2 min);
  the order completes and ``ClosePartyOrder`` runs.
* ``DEMO-CRITICAL``: the party never answers; check-ins go unanswered and the permit
  milestone passes, so the order turns critical and escalates level by level, and stays
  so for an hour (reminders keep coming) before the enterprise gives up and marks it
  failed.
* ``DEMO-CANCEL``: the customer withdraws the order after 20 seconds.
* ``DEMO-CHANGE``: the party asks for new dates, the originating process accepts, the
  order is held and resumed, then delivered (about 3 min).
* ``DEMO-CALENDAR``: a party with a calendar whose working day is over (a zone where it is
  20:00 now): its check-ins are due every minute, yet the first waits for 09:00 its time.

Template dates are written ``+PT1M`` (that long after the demo starts) so the JSON stays
readable; every run appends a timestamp to the ids so runs never collide, and a new run
cancels the orders an earlier one left open, so they do not pile up. The script's last
line says where each order stands (the calendar order stays open).
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from starter.client import PartyOrderClient, PartyOrderError
from starter.dates import resolve_relative_dates
from starter.samples import load_sample
from workflows.domain import names
from workflows.domain.instants import iso
from workflows.domain.model import PartyOrderSpec

DEMO_TEMPLATES = ("demo-deliver", "demo-critical", "demo-cancel", "demo-change", "demo-calendar")
# The demo-calendar party's time zone is chosen when the demo starts: one where it is
# evening now, so that its next check-in visibly waits for the morning.
AFTER_HOURS = "AFTER-HOURS"
Out = Callable[[str], None]

# Every demo order's id starts so (then the template's name and the run's time).
DEMO_ID_PREFIX = "DEMO-"
# The critical order stays open this long, its jeopardy renewing, before the script ends it.
CRITICAL_OPEN_FOR = timedelta(hours=1)


def materialize(template: dict[str, Any], now: datetime, suffix: str) -> PartyOrderSpec:
    """A start input from a template: ``+DURATION`` dates from ``now``, ``-suffix`` on the id."""

    data = resolve_relative_dates(copy.deepcopy(template), now)
    calendar = data.get("party", {}).get("calendar")
    if calendar is not None and calendar.get("timeZone") == AFTER_HOURS:
        calendar["timeZone"] = evening_zone(now)
    data["id"] = f"{data['id']}-{suffix}"
    return PartyOrderSpec.model_validate(data)


def evening_zone(now: datetime) -> str:
    """A fixed-offset zone (``Etc/GMT-3`` is UTC+3) where the local time is now 20:00 to
    20:59: the working day (09:00 to 17:00) is over and the next begins in about 12 h."""
    offset = (20 - now.astimezone(UTC).hour + 12) % 24 - 12  # hours east of UTC, -12..11
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


def demo_suffix(now: datetime) -> str:
    # To the millisecond: a re-run within the same second gets ids of its own.
    utc = now.astimezone(UTC)
    return utc.strftime("%m%d-%H%M%S") + f"{utc.microsecond // 1000:03d}"


@dataclass(frozen=True)
class DemoOrders:
    started_at: datetime
    deliver: str
    critical: str
    cancel: str
    change: str
    calendar: str

    @property
    def ids(self) -> list[str]:
        return [self.deliver, self.critical, self.cancel, self.change, self.calendar]


async def replace_earlier_demo(client: PartyOrderClient) -> list[str]:
    """Cancel the orders an earlier demo left open (a re-run replaces them instead of
    piling them up); the ids cancelled."""
    query = (
        f'WorkflowType = "{names.TRACK_WORKFLOW}" AND ExecutionStatus = "Running"'
        f' AND WorkflowId STARTS_WITH "{names.TRACK_WORKFLOW_ID_PREFIX}{DEMO_ID_PREFIX}"'
    )
    cancelled = []
    async for execution in client.client.list_workflows(query):
        order_id = execution.id.removeprefix(names.TRACK_WORKFLOW_ID_PREFIX)
        try:
            await client.cancel(order_id, {"reason": "replaced by a new demo run"})
            cancelled.append(order_id)
        except PartyOrderError:
            pass  # ended meanwhile, or already being cancelled: nothing to replace
    return cancelled


async def start_demo_orders(client: PartyOrderClient, now: datetime | None = None) -> DemoOrders:
    """Start the demo orders, after cancelling those an earlier demo left open; returns
    their ids."""
    await replace_earlier_demo(client)
    now = now or datetime.now(UTC)
    suffix = demo_suffix(now)
    # Whole seconds: the dates read better in the CLI and the Web UI.
    now = now.replace(microsecond=0)
    ids: list[str] = []
    for name in DEMO_TEMPLATES:
        spec = materialize(load_sample(name), now, suffix)
        await client.start(spec)
        ids.append(spec.id)
    return DemoOrders(now, *ids)


@dataclass(frozen=True)
class Step:
    at: float  # seconds after the demo start
    what: str
    action: Callable[[], Awaitable[object]]


def demo_script(client: PartyOrderClient, orders: DemoOrders) -> list[Step]:
    """What happens to the demo orders, and when (the critical one is left alone until
    the end): each order's story, told together in the order of time."""
    steps = [
        *_delivered_story(client, orders.deliver),
        *_cancelled_story(client, orders.cancel),
        *_changed_story(client, orders),
        *_critical_story(client, orders.critical),
    ]
    return sorted(steps, key=lambda step: step.at)


def _delivered_story(client: PartyOrderClient, d: str) -> list[Step]:
    """Progress, milestones, and a delivery."""
    return [
        Step(
            5,
            f"{d}: party reports 10%",
            lambda: client.report_progress(
                d, {"percentComplete": 10, "note": "Crew booked for the route survey"}
            ),
        ),
        Step(
            40,
            f"{d}: route survey done, 40%",
            lambda: client.report_progress(
                d, {"percentComplete": 40, "milestones": [{"id": "survey"}]}
            ),
        ),
        Step(
            60,
            f"{d}: party reports 60%",
            lambda: client.report_progress(
                d, {"percentComplete": 60, "note": "Fibre pulled, splicing next"}
            ),
        ),
        Step(
            85,
            f"{d}: splicing done, 90%",
            lambda: client.report_progress(
                d, {"percentComplete": 90, "milestones": [{"id": "splice"}]}
            ),
        ),
        Step(
            100,
            f"{d}: party delivers",
            lambda: client.report_progress(
                d, {"delivered": True, "note": "Fibre handed over, test report attached"}
            ),
        ),
    ]


def _cancelled_story(client: PartyOrderClient, c: str) -> list[Step]:
    """Some progress, then the customer withdraws."""
    return [
        Step(
            8,
            f"{c}: party reports 20%",
            lambda: client.report_progress(c, {"percentComplete": 20, "note": "Router shipped"}),
        ),
        Step(
            20,
            f"{c}: customer withdraws the order",
            lambda: client.cancel(
                c,
                {
                    "reason": "Event called off: service order withdrawn by the customer",
                    "requestedBy": "customer-order-handling",
                },
            ),
        ),
    ]


def _changed_story(client: PartyOrderClient, orders: DemoOrders) -> list[Step]:
    """A change of dates asked and accepted, a hold and its release, then a delivery."""
    g = orders.change

    def at(seconds: float) -> str:
        return iso((orders.started_at + timedelta(seconds=seconds)).astimezone(UTC))

    return [
        Step(
            12,
            f"{g}: party reports 30%",
            lambda: client.report_progress(
                g, {"percentComplete": 30, "note": "Design work started"}
            ),
        ),
        Step(
            25,
            f"{g}: party asks for later dates",
            lambda: client.request_change(
                g,
                {
                    "origin": "party",
                    "reason": "Appliance delivery slipped at the vendor",
                    "changes": {
                        "expectedCompletionDate": at(420),
                        "milestones": [{"id": "design", "milestoneDate": at(180)}],
                    },
                },
            ),
        ),
        Step(
            45,
            f"{g}: originating process accepts the change",
            lambda: _accept_open_change(client, g),
        ),
        Step(
            75,
            f"{g}: held (waiting for building access)",
            lambda: client.change_state(
                g, {"state": "held", "reason": "Waiting for building access"}
            ),
        ),
        Step(
            105,
            f"{g}: back in progress",
            lambda: client.change_state(
                g, {"state": "inProgress", "reason": "Building access granted"}
            ),
        ),
        Step(
            120,
            f"{g}: design approved, 70%",
            lambda: client.report_progress(
                g, {"percentComplete": 70, "milestones": [{"id": "design"}]}
            ),
        ),
        Step(
            170,
            f"{g}: party delivers",
            lambda: client.report_progress(g, {"delivered": True, "note": "Edge appliance live"}),
        ),
    ]


def _critical_story(client: PartyOrderClient, k: str) -> list[Step]:
    """Left alone in jeopardy for an hour, so there is something to look at: reminders
    and unanswered check-ins keep coming; one more check-in, and after the hour the
    enterprise gives up."""
    return [
        Step(
            150,
            f"{k}: order manager checks in once more",
            lambda: client.check_in_now(k, {"requestedBy": "order-manager"}),
        ),
        Step(
            CRITICAL_OPEN_FOR.total_seconds(),
            f"{k}: enterprise gives up on the supplier",
            lambda: _give_up(client, k),
        ),
    ]


async def _accept_open_change(client: PartyOrderClient, order_id: str) -> None:
    order = await client.get(order_id)
    for change in order.change_requests:
        if change.open:
            await client.resolve_change(
                order_id,
                {
                    "changeRequestId": change.id,
                    "decision": "accepted",
                    "resolvedBy": "service-order-handling",
                    "note": "New dates agreed",
                },
            )


async def _give_up(client: PartyOrderClient, order_id: str) -> None:
    # Failing needs inProgress first (TMF622: acknowledged cannot go straight to failed).
    await client.report_progress(
        order_id, {"source": "enterprise", "note": "Supplier unresponsive; sourcing elsewhere"}
    )
    await client.change_state(
        order_id,
        {"state": "failed", "reason": "Supplier missed the permit milestone and all check-ins"},
    )


async def run_demo_script(
    client: PartyOrderClient,
    orders: DemoOrders,
    out: Out,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> None:
    """Play the script in real time; a failed step is reported and the script goes on."""
    for step in demo_script(client, orders):
        wait = (orders.started_at + timedelta(seconds=step.at) - clock()).total_seconds()
        if wait > 0:
            await asyncio.sleep(wait)
        try:
            await step.action()
            out(f"[demo +{step.at:>3.0f}s] {step.what}")
        except PartyOrderError as error:
            out(f"[demo +{step.at:>3.0f}s] {step.what}: skipped ({error})")
    out(f"[demo] script finished: {await states_line(client, orders)}")


async def states_line(client: PartyOrderClient, orders: DemoOrders) -> str:
    """Where each demo order stands, as it is: some end, the calendar order stays open."""
    parts = []
    for order_id in orders.ids:
        try:
            order = await client.get(order_id)
            parts.append(f"{order_id} {order.state.value}" + ("" if order.is_final else " (open)"))
        except PartyOrderError as error:
            parts.append(f"{order_id} unknown ({error})")
    return "; ".join(parts)


def describe_demo(orders: DemoOrders, ui_url: str | None) -> list[str]:
    lines = ["Demo orders started:"]
    lines += [f"  {order_id}" for order_id in orders.ids]
    if ui_url:
        query = 'WorkflowType="TrackPartyOrder"'
        lines.append(f"Watch them at {ui_url}/namespaces/default/workflows?query={_url(query)}")
    lines.append("or with: party-orders list --open   /   party-orders show ID")
    return lines


def _url(text: str) -> str:
    from urllib.parse import quote as url_quote

    return url_quote(text, safe="")
