"""Record representative workflow histories for the replay (determinism) tests.

    python -m tests.support.recorder              # every scenario into tests/histories/
    python -m tests.support.recorder --only cancellation --out /tmp/h

Each scenario runs real workflows against real Temporal servers from PyPI (nothing is
downloaded): the time-skipping test server for the lifecycle, cancellation, bad-messages
and invalid-start scenarios (months-long orders in seconds), and a dev server started with
``limit.historyCount.suggestContinueAsNew`` at 40 events for the orders that
continue-as-new: quietly (``continued``), and while notifications are in flight, until a
run hands them over to the next (``continued-carry``), and the rules-2 path in seconds
(``rules-2``: reminders, ``acknowledge_escalation``, failure); the rules-3 path (``rules-3``:
order items ending ``partial``, notes, checkpoints) is a time-skipping scenario. The
time-skipping server never suggests continue-as-new. Every run's history is written as
``history.to_json()`` (the format ``temporal workflow show --output json`` and every SDK's
replayer read) to ``tests/histories/<version>/<scenario>.<track|close>[.runN].json``,
where ``<version>`` is the project's version in pyproject.toml, and that version's
``manifest.json`` lists each file with its workflow id, run id, type, number of events,
last event and the code it came from. Each released version keeps its own set: recording
writes only into the current version's folder, and the replay test replays every version's
set against the current code.

Re-record only after a workflow change that is versioned, adding the new path rather than
replacing the old (see docs/versioning.md): the committed histories stand for orders that
are already running in production, and ``tests/workflow/test_replay.py`` replays them against the
current code. Never edit a history by hand to make a test pass. ``--only`` records some
scenarios and merges them into the version's manifest; without it the version's whole set
is replaced (other versions' sets are never touched).

The scenario functions are also used by the tests, to record fresh histories of the
current code and replay them at once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import tempfile
import tomllib
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import (
    EventType,
    WorkflowTaskFailedCause,
)
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowHistory,
    WorkflowUpdateFailedError,
)
from temporalio.common import RawValue
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.settings import NotificationSettings
from starter.calendars import resolve_holidays
from starter.client import initial_search_attributes
from starter.local.binaries import temporal_cli_path
from tests.support.clock import skip, start_time_skipping
from worker import build_worker
from workflows.domain import names
from workflows.domain.instants import iso
from workflows.domain.model import (
    PartyOrder,
    PartyOrderSpec,
    close_workflow_id,
    track_workflow_id,
)
from workflows.visibility import CONTRACT_SEARCH_ATTRIBUTES

ROOT = Path(__file__).resolve().parents[2]
HISTORIES_DIR = ROOT / "tests" / "histories"  # one folder per released version
MANIFEST = "manifest.json"


def project_version() -> str:
    """The version in pyproject.toml: the name of the folder a recording goes to."""
    with open(ROOT / "pyproject.toml", "rb") as file:
        return str(tomllib.load(file)["project"]["version"])


def version_sets(root: Path = HISTORIES_DIR) -> list[Path]:
    """Every released version's folder of histories, oldest first."""

    def key(folder: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in folder.name.split("."))

    return sorted((d for d in root.iterdir() if (d / MANIFEST).is_file()), key=key)


# The continued-as-new scenario's dev server suggests continue-as-new at this many events.
CAN_SUGGEST_AT = 40


# ---------------------------------------------------------------------- recorded histories


@dataclass(frozen=True)
class Recorded:
    """One run's history, named for the file it is written to."""

    name: str  # e.g. "lifecycle.track" or "continued.track.run2"
    history: WorkflowHistory

    @property
    def workflow_type(self) -> str:
        return self.history.events[0].workflow_execution_started_event_attributes.workflow_type.name

    @property
    def last_event(self) -> str:
        return EventType.Name(self.history.events[-1].event_type)

    def manifest_entry(self, recorded_from: str) -> dict[str, Any]:
        return {
            "file": f"{self.name}.json",
            "workflowId": self.history.workflow_id,
            "runId": self.history.run_id,
            "workflowType": self.workflow_type,
            "events": len(self.history.events),
            "lastEvent": self.last_event,
            "recordedFrom": recorded_from,
        }


async def run_chain(client: Client, workflow_id: str) -> list[WorkflowHistory]:
    """Every run of a workflow id that continued-as-new, oldest first (the latest run back)."""
    histories: list[WorkflowHistory] = []
    run_id: str | None = None
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        histories.append(history)
        started = history.events[0].workflow_execution_started_event_attributes
        if not started.continued_execution_run_id:
            return histories[::-1]
        run_id = started.continued_execution_run_id


def named(prefix: str, histories: Sequence[WorkflowHistory]) -> list[Recorded]:
    if len(histories) == 1:
        return [Recorded(prefix, histories[0])]
    return [Recorded(f"{prefix}.run{n}", h) for n, h in enumerate(histories, start=1)]


def events_of(history: WorkflowHistory, kind: EventType.ValueType) -> list[HistoryEvent]:
    return [event for event in history.events if event.event_type == kind]


# ---------------------------------------------------------------------- scenarios


@dataclass
class Ctx:
    """Where a scenario runs: a client, a task queue with a worker, and the server's clock."""

    env: WorkflowEnvironment
    task_queue: str

    @property
    def client(self) -> Client:
        return self.env.client

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    async def sleep(self, duration: timedelta) -> None:
        await skip(self.env, duration)


def short_order(order_id: str, now: datetime, **overrides: Any) -> dict[str, Any]:
    """A two-week order with a tight policy, so a whole life stays a short history."""
    order: dict[str, Any] = {
        "id": order_id,
        "description": "1G access circuit (replay fixture)",
        "party": {"id": "ACME", "name": "Acme Networks", "role": "supplier"},
        "originatingProcess": {"name": "service-order-handling", "reference": "SO-1"},
        "orderItems": [{"id": "1", "description": "1G circuit", "quantity": 1}],
        "requestedCompletionDate": iso(now + timedelta(days=14)),
        "expectedCompletionDate": iso(now + timedelta(days=12)),
        "milestones": [
            {"id": "survey", "name": "Site survey", "milestoneDate": iso(now + timedelta(days=3))}
        ],
        "trackingPolicy": {
            "checkInInterval": "P4D",
            "responseWindow": "P1D",
            "unansweredCheckInLimit": 2,
            "warningLeadTime": "P1D",
            "changeResolutionWindow": "P2D",
        },
    }
    order.update(overrides)
    return order


def new_order_id(scenario: str) -> str:
    return f"replay-{scenario}-{uuid.uuid4().hex[:8]}"


async def start_order(ctx: Ctx, order: dict[str, Any], *, as_client: bool = False) -> str:
    """Start the order; ``as_client``: with the search attributes the client API sets."""
    workflow_id = track_workflow_id(order["id"])
    attributes = (
        initial_search_attributes(PartyOrderSpec.model_validate(order)) if as_client else None
    )
    await ctx.client.start_workflow(
        names.TRACK_WORKFLOW,
        order,
        id=workflow_id,
        task_queue=ctx.task_queue,
        search_attributes=attributes,
    )
    return workflow_id


async def signal(ctx: Ctx, workflow_id: str, name: str, *args: Any) -> None:
    await ctx.client.get_workflow_handle(workflow_id).signal(name, args=list(args))


async def result(ctx: Ctx, workflow_id: str) -> PartyOrder:
    handle = ctx.client.get_workflow_handle(workflow_id, result_type=PartyOrder)
    return await handle.result()


async def lifecycle(ctx: Ctx) -> list[Recorded]:
    """Progress, a change accepted and one rejected, hold/resume, check-ins, a violated
    milestone with escalation, delivery, and the Close Party Order process."""
    began = await ctx.now()
    order_id = new_order_id("lifecycle")
    wid = await start_order(ctx, short_order(order_id, began), as_client=True)
    await signal(ctx, wid, names.REPORT_PROGRESS, {"requestId": "p-1", "percentComplete": 10})
    await signal(
        ctx,
        wid,
        names.REQUEST_CHANGE,
        {
            "requestId": "CR-A",
            "reason": "permit delayed",
            "changes": {
                "expectedCompletionDate": iso(began + timedelta(days=13)),
                "milestones": [{"id": "survey", "milestoneDate": iso(began + timedelta(days=4))}],
            },
        },
    )
    await signal(
        ctx,
        wid,
        names.REQUEST_CHANGE,
        {
            "requestId": "CR-B",
            "origin": "external",
            "kind": "forced",
            "changes": {"requestedCompletionDate": iso(began + timedelta(days=30))},
        },
    )
    await ctx.sleep(timedelta(hours=1))
    await signal(
        ctx,
        wid,
        names.RESOLVE_CHANGE,
        {"changeRequestId": "CR-A", "decision": "accepted", "resolvedBy": "SO-1 owner"},
    )
    await signal(
        ctx, wid, names.RESOLVE_CHANGE, {"changeRequestId": "CR-B", "decision": "rejected"}
    )
    handle = ctx.client.get_workflow_handle(wid)
    await handle.execute_update(names.CHANGE_STATE, {"requestId": "s-1", "state": "held"})
    await handle.execute_update(names.CHANGE_STATE, {"requestId": "s-2", "state": "inProgress"})
    await signal(
        ctx, wid, names.CHECK_IN_NOW, {"requestId": "ci-1", "requestedBy": "order-manager"}
    )
    # Silence: the survey (day 4) is violated, the order goes critical and escalates in tiers.
    await ctx.sleep(timedelta(days=6))
    await signal(
        ctx,
        wid,
        names.REPORT_PROGRESS,
        {"requestId": "p-2", "percentComplete": 80, "milestones": [{"id": "survey"}]},
    )
    await signal(ctx, wid, names.REPORT_PROGRESS, {"requestId": "p-3", "delivered": True})
    final = await result(ctx, wid)
    assert final.state == "completed", final.state
    assert [c.status for c in final.change_requests] == ["accepted", "rejected"]
    assert "held" in [s.to_state for s in final.state_history]
    assert final.check_ins.sent >= 2
    assert [a.jeopardy_type for a in final.jeopardy_alerts][-2:] == ["critical", "cleared"]
    close = ctx.client.get_workflow_handle(close_workflow_id(order_id))
    await close.result()
    runs = await run_chain(ctx.client, wid)
    contacted = [
        event.activity_task_scheduled_event_attributes.activity_type.name
        for run in runs
        for event in events_of(run, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
    ].count("notify_contact")
    assert contacted >= 4, f"expected escalations and a violated milestone, got {contacted}"
    return [
        *named("lifecycle.track", runs),
        Recorded("lifecycle.close", await close.fetch_history()),
    ]


async def cancellation(ctx: Ctx) -> list[Recorded]:
    """Progress, then another process cancels: pendingCancellation, notice, cancelled."""
    began = await ctx.now()
    wid = await start_order(ctx, short_order(new_order_id("cancellation"), began), as_client=True)
    await signal(ctx, wid, names.REPORT_PROGRESS, {"requestId": "p-1", "percentComplete": 5})
    await ctx.sleep(timedelta(days=1))
    await signal(
        ctx,
        wid,
        names.CANCEL_ORDER,
        {
            "requestId": "c-1",
            "reason": "site decommissioned",
            "requestedBy": "service-order-handling",
        },
    )
    final = await result(ctx, wid)
    assert final.state == "cancelled", final.state
    return named("cancellation.track", await run_chain(ctx.client, wid))


async def temporal_cancel(ctx: Ctx) -> list[Recorded]:
    """Progress, then Temporal's own cancel (the Web UI's button): the order's cancellation,
    by an operator (patch ``temporal-cancel-is-cancellation``)."""
    began = await ctx.now()
    wid = await start_order(ctx, short_order(new_order_id("temporal-cancel"), began))
    await signal(ctx, wid, names.REPORT_PROGRESS, {"requestId": "p-1", "percentComplete": 5})
    await ctx.sleep(timedelta(days=1))
    await ctx.client.get_workflow_handle(wid).cancel()
    final = await result(ctx, wid)
    assert final.state == "cancelled", final.state
    return named("temporal-cancel.track", await run_chain(ctx.client, wid))


async def rules_2(ctx: Ctx) -> list[Recorded]:
    """Rules 2 (patch ``tracking-rules-2``): a forecast past the agreed date opens a change
    request by itself; silence makes the order critical, every level fires and the top
    contact is reminded; an acknowledgement stops the reminders; the order fails from
    ``held``, its jeopardy closed and the open change request withdrawn."""
    began = await ctx.now()
    order = short_order(new_order_id("rules-2"), began)
    # Seconds, not days: recorded on the dev server (real time), where updates after long
    # skipped sleeps do not trip the time-skipping test server.
    order["trackingPolicy"]["escalation"] = [
        {"level": 1, "after": "PT0S", "notify": "order-manager"},
        {"level": 2, "after": "PT3S", "notify": "operations-lead"},
    ]
    order["trackingPolicy"]["escalationRepeatInterval"] = "PT3S"
    wid = await start_order(ctx, order)
    handle = ctx.client.get_workflow_handle(wid)
    await signal(
        ctx,
        wid,
        names.REPORT_PROGRESS,
        {"requestId": "p-1", "expectedCompletionDate": iso(began + timedelta(days=20))},
    )
    await ctx.sleep(timedelta(seconds=8))  # critical, level 1, level 2, reminders
    await handle.execute_update(
        names.ACKNOWLEDGE_ESCALATION, {"requestId": "a-1", "level": 2, "by": "operations-lead"}
    )
    await ctx.sleep(timedelta(seconds=4))  # quiet: acknowledged
    await handle.execute_update(names.CHANGE_STATE, {"requestId": "s-1", "state": "held"})
    await handle.execute_update(
        names.CHANGE_STATE, {"requestId": "s-2", "state": "failed", "reason": "party insolvent"}
    )
    final = await result(ctx, wid)
    assert final.state == "failed", final.state
    assert [c.status for c in final.change_requests] == ["withdrawn"]
    assert final.jeopardy_alerts[-1].jeopardy_type == "closed"
    assert final.jeopardy.acknowledged_level == 2
    runs = await run_chain(ctx.client, wid)
    activities = [
        event.activity_task_scheduled_event_attributes.activity_type.name
        for run in runs
        for event in events_of(run, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
    ]
    assert activities.count("notify_contact") >= 3, activities  # two levels, a reminder
    return named("rules-2.track", runs)


async def rules_3(ctx: Ctx) -> list[Recorded]:
    """Rules 3 (patch ``tracking-rules-3``): a three-item order followed item by item, a
    checkpoint and a check-in ahead of a milestone, an item cancelled by an agreed change
    that also re-plans a checkpoint, an item late past the agreed date in jeopardy by name,
    notes, and the order ending ``partial`` with the close process."""
    began = await ctx.now()
    order_id = new_order_id("rules-3")
    order = short_order(
        order_id,
        began,
        orderItems=[
            {"id": "1", "description": "1G circuit", "quantity": 2},
            {"id": "2", "description": "router"},
            {"id": "3", "description": "rack"},
        ],
        milestones=[
            {
                "id": "survey",
                "name": "Site survey",
                "milestoneDate": iso(began + timedelta(days=3)),
                "orderItemIds": ["1"],
            }
        ],
        checkpoints=[{"id": "design", "date": iso(began + timedelta(days=1))}],
    )
    order["trackingPolicy"]["checkInBeforeMilestone"] = "P1D"
    wid = await start_order(ctx, order)
    # No update here: after skipped sleeps they can trip the time-skipping server.
    await signal(
        ctx,
        wid,
        names.REPORT_PROGRESS,
        {
            "requestId": "p-1",
            "orderItems": [{"id": "1", "state": "inProgress", "percentComplete": 50}],
            "note": "survey booked",
        },
    )
    await ctx.sleep(timedelta(days=1, hours=12))  # the checkpoint's check-in
    await signal(
        ctx,
        wid,
        names.REQUEST_CHANGE,
        {
            "requestId": "CR-rack",
            "origin": "enterprise",
            "changes": {
                "orderItems": [{"id": "3", "state": "cancelled"}],
                "checkpoints": [
                    {"id": "build", "date": iso(began + timedelta(days=5)), "action": "add"}
                ],
            },
        },
    )
    await signal(
        ctx, wid, names.RESOLVE_CHANGE, {"changeRequestId": "CR-rack", "decision": "accepted"}
    )
    await signal(
        ctx,
        wid,
        names.REPORT_PROGRESS,
        {
            "requestId": "p-2",
            "orderItems": [{"id": "2", "expectedCompletionDate": iso(began + timedelta(days=20))}],
        },
    )
    # Ahead of the survey (day 2): a check-in. Not a whole day: a message arriving at the
    # very instant a timer is due (escalation level 2, P1D after the jeopardy began) can
    # trip the time-skipping server.
    await ctx.sleep(timedelta(hours=20))
    await signal(
        ctx,
        wid,
        names.REPORT_PROGRESS,
        {
            "requestId": "p-3",
            "milestones": [{"id": "survey"}],
            "orderItems": [
                {"id": "1", "state": "completed", "note": "circuit live"},
                {"id": "2", "expectedCompletionDate": iso(began + timedelta(days=10))},
            ],
        },
    )
    await signal(
        ctx,
        wid,
        names.REPORT_PROGRESS,
        {"requestId": "p-4", "orderItems": [{"id": "2", "state": "completed"}]},
    )
    final = await result(ctx, wid)
    assert final.state == "partial", final.state
    assert any(alert.order_item for alert in final.jeopardy_alerts)
    assert final.note_count == 2 and final.check_ins.sent >= 2
    close = ctx.client.get_workflow_handle(close_workflow_id(order_id))
    await close.result()
    return [
        *named("rules-3.track", await run_chain(ctx.client, wid)),
        Recorded("rules-3.close", await close.fetch_history()),
    ]


def binary_payload(data: bytes) -> RawValue:
    """A payload that is not JSON at all, as a misbehaving client could send."""
    return RawValue(Payload(metadata={"encoding": b"binary/plain"}, data=data))


async def bad_messages(ctx: Ctx) -> list[Recorded]:
    """Every kind of bad message is recorded; duplicates are not applied twice."""
    began = await ctx.now()
    wid = await start_order(ctx, short_order(new_order_id("bad-messages"), began))
    await signal(ctx, wid, names.REPORT_PROGRESS, {"requestId": "bad-1", "percentComplete": 250})
    await signal(ctx, wid, names.REPORT_PROGRESS, {"milestones": [{"id": "nope"}]})
    await signal(ctx, wid, names.REPORT_PROGRESS, ["not", "an", "object"])
    await signal(ctx, wid, names.REPORT_PROGRESS, binary_payload(b"\xff\x00not json"))
    await signal(ctx, wid, names.REQUEST_CHANGE, {"changes": {}})
    await signal(
        ctx, wid, names.RESOLVE_CHANGE, {"changeRequestId": "CR-404", "decision": "accepted"}
    )
    await signal(ctx, wid, names.CHECK_IN_NOW, {"requestedBy": 7})
    await signal(ctx, wid, "no_such_signal", {"x": 1})
    await signal(ctx, wid, names.CHECK_IN_NOW)  # no payload at all
    await signal(ctx, wid, names.CHECK_IN_NOW, {"requestId": "a"}, {"requestId": "b"})
    await signal(ctx, wid, names.REPORT_PROGRESS, {"requestId": "ok-1", "percentComplete": 10})
    await signal(ctx, wid, names.REPORT_PROGRESS, {"requestId": "ok-1", "percentComplete": 99})
    handle = ctx.client.get_workflow_handle(wid)
    for refused in ({"state": "completed"}, {"state": "pending", "bogus": 1}):
        try:
            await handle.execute_update(names.CHANGE_STATE, refused)
        except WorkflowUpdateFailedError:
            pass
        else:
            raise AssertionError(f"change_state {refused} was not refused")
    await signal(ctx, wid, names.CANCEL_ORDER, {"reason": "done"})
    final = await result(ctx, wid)
    assert final.state == "cancelled" and final.percent_complete == 10, final
    # Ten bad messages, and (rules 2) the reused requestId ok-1 with other content.
    assert final.rejected_message_count == 11, final.rejected_messages
    return named("bad-messages.track", await run_chain(ctx.client, wid))


async def invalid_start(ctx: Ctx) -> list[Recorded]:
    """A start input that fails validation fails the workflow at once (no task retries)."""
    began = await ctx.now()
    order = short_order(new_order_id("invalid-start"), began)
    order["trackingPolicy"]["checkInInterval"] = "weekly"
    wid = await start_order(ctx, order)
    try:
        await result(ctx, wid)
    except WorkflowFailureError:
        pass
    else:
        raise AssertionError("an invalid start input did not fail the workflow")
    return named("invalid-start.track", await run_chain(ctx.client, wid))


async def continued(ctx: Ctx, *, at_least_runs: int = 3) -> list[Recorded]:
    """An order that continues-as-new (needs a server that suggests it early), carrying a
    change request, check-ins and applied requestIds across runs, then is delivered."""
    began = await ctx.now()
    wid = await start_order(ctx, short_order(new_order_id("continued"), began))
    await signal(
        ctx,
        wid,
        names.REQUEST_CHANGE,
        {
            "requestId": "CR-A",
            "changes": {"expectedCompletionDate": iso(began + timedelta(days=13))},
        },
    )
    await signal(ctx, wid, names.CHECK_IN_NOW, {"requestId": "ci-1"})
    sent = 0
    while len(await run_chain(ctx.client, wid)) < at_least_runs:
        if sent >= 400:
            raise AssertionError("the workflow did not continue-as-new: is the server's limit low?")
        sent += 1
        percent = min(sent, 99)
        await signal(
            ctx, wid, names.REPORT_PROGRESS, {"requestId": f"p-{sent}", "percentComplete": percent}
        )
    # A repeat of a requestId applied in the first run is not applied again.
    await signal(ctx, wid, names.REPORT_PROGRESS, {"requestId": "p-1", "percentComplete": 1})
    await signal(
        ctx, wid, names.RESOLVE_CHANGE, {"changeRequestId": "CR-A", "decision": "accepted"}
    )
    await signal(ctx, wid, names.REPORT_PROGRESS, {"requestId": "done", "delivered": True})
    final = await result(ctx, wid)
    assert final.state == "completed" and final.check_ins.sent >= 1, final
    assert final.change_requests[0].status == "accepted", final.change_requests
    return named("continued.track", await run_chain(ctx.client, wid))


def carried_notifications(history: WorkflowHistory) -> int:
    """How many notifications a continued run was handed by the run before it."""
    started = history.events[0].workflow_execution_started_event_attributes
    if not started.continued_execution_run_id:
        return 0
    value = pydantic_data_converter.payload_converter.from_payload(started.input.payloads[0])
    return len(value.get("pending", [])) if isinstance(value, dict) else 0


async def continued_carrying(ctx: Ctx) -> list[Recorded]:
    """Continue-as-new while notifications are on their way (check-ins sent along with
    progress reports): they go over to the next run and are sent from there."""
    prefix = "continued-carry"
    began = await ctx.now()
    wid = await start_order(ctx, short_order(new_order_id(prefix), began))
    await signal(ctx, wid, names.REPORT_PROGRESS, {"requestId": "p-0", "percentComplete": 1})
    sent = 0
    for _ in range(400):
        runs = await run_chain(ctx.client, wid)
        if any(carried_notifications(run) for run in runs) and len(runs) >= 2:
            break
        if len(runs[-1].events) > CAN_SUGGEST_AT + 10:
            await asyncio.sleep(0.05)  # the run is due to continue: stop and let it (small runs)
            continue
        # A progress report and a check-in at once: the check-in's notice is in flight
        # when the run sees that its history is long.
        sent += 1
        await asyncio.gather(
            signal(
                ctx, wid, names.REPORT_PROGRESS, {"requestId": f"p-{sent}", "note": f"n-{sent}"}
            ),
            signal(ctx, wid, names.CHECK_IN_NOW, {"requestId": f"ci-{sent}"}),
        )
    else:
        raise AssertionError(f"{prefix}: the runs did not continue-as-new as expected")
    await signal(ctx, wid, names.REPORT_PROGRESS, {"requestId": "done", "delivered": True})
    final = await result(ctx, wid)
    assert final.state == "completed", final.state
    return named(f"{prefix}.track", await run_chain(ctx.client, wid))


async def calendar_pause(ctx: Ctx) -> list[Recorded]:
    """A Berlin party's calendar (German holidays resolved at start) and stop-the-clock:
    held with ``pauseWhile: ["held"]`` through its check-in, resumed, an accepted change
    moves the agreed date years on (the ``holidays-re-resolved`` patch: the holidays of the
    extra years come through the ``resolve_holidays`` activity), then delivered."""
    began = await ctx.now()
    order = short_order(new_order_id("calendar-pause"), began, orderDate=iso(began))
    order["party"]["calendar"] = {
        "timeZone": "Europe/Berlin",
        "workingHours": {"start": "09:00", "end": "17:00"},
        "holidayCountry": "DE",
    }
    order["trackingPolicy"]["pauseWhile"] = ["held"]
    wid = await start_order(ctx, resolve_holidays(order))
    handle = ctx.client.get_workflow_handle(wid)
    await signal(ctx, wid, names.REPORT_PROGRESS, {"requestId": "p-1", "percentComplete": 10})
    await handle.execute_update(
        names.CHANGE_STATE, {"requestId": "s-1", "state": "held", "reason": "site rebuilt"}
    )
    await ctx.sleep(timedelta(days=5))  # the check-in it would have had waits
    await handle.execute_update(
        names.CHANGE_STATE, {"requestId": "s-2", "state": "inProgress", "reason": "site ready"}
    )
    later = datetime(began.year + 3, 6, 1, tzinfo=began.tzinfo)
    change = {"requestedCompletionDate": iso(later), "expectedCompletionDate": iso(later)}
    await signal(
        ctx,
        wid,
        names.REQUEST_CHANGE,
        {"requestId": "CR-1", "origin": "party", "kind": "requested", "changes": change},
    )
    await ctx.sleep(timedelta(hours=1))
    await signal(
        ctx, wid, names.RESOLVE_CHANGE, {"changeRequestId": "CR-1", "decision": "accepted"}
    )
    await ctx.sleep(timedelta(days=2))  # the check-in goes out, in working time
    await signal(ctx, wid, names.REPORT_PROGRESS, {"requestId": "p-2", "delivered": True})
    final = await result(ctx, wid)
    assert final.state == "completed", final.state
    assert final.paused_for >= timedelta(days=5), final.paused_for
    calendar = final.party.calendar
    assert calendar is not None and calendar.holidays_resolved_through is not None
    assert calendar.holidays_resolved_through.year == later.year + 1
    # The close process ends too: nothing of it is left waiting on the server's clock.
    await ctx.client.get_workflow_handle(close_workflow_id(order["id"])).result()
    return named("calendar-pause.track", await run_chain(ctx.client, wid))


async def calendar_at_start(ctx: Ctx) -> list[Recorded]:
    """A raw start whose calendar names a country alone (the ``holidays-resolved-at-start``
    patch): Bavaria's holidays come through the ``resolve_holidays`` activity before
    tracking starts, and a report sent at once is applied once it has; then delivered."""
    began = await ctx.now()
    order = short_order(new_order_id("calendar-at-start"), began, orderDate=iso(began))
    order["party"]["calendar"] = {
        "timeZone": "Europe/Berlin",
        "workingHours": {"start": "09:00", "end": "17:00"},
        "holidayCountry": "DE",
        "holidaySubdivision": "BY",
    }
    wid = await start_order(ctx, order)
    await signal(ctx, wid, names.REPORT_PROGRESS, {"requestId": "p-1", "percentComplete": 10})
    await ctx.sleep(timedelta(days=2))
    await signal(ctx, wid, names.REPORT_PROGRESS, {"requestId": "p-2", "delivered": True})
    final = await result(ctx, wid)
    assert final.state == "completed", final.state
    calendar = final.party.calendar
    assert calendar is not None and calendar.holidays_resolved_through is not None
    await ctx.client.get_workflow_handle(close_workflow_id(order["id"])).result()
    return named("calendar-at-start.track", await run_chain(ctx.client, wid))


Scenario = Callable[[Ctx], Awaitable[list[Recorded]]]
TIME_SKIPPING_SCENARIOS: dict[str, Scenario] = {
    "lifecycle": lifecycle,
    "cancellation": cancellation,
    "temporal-cancel": temporal_cancel,
    "bad-messages": bad_messages,
    "invalid-start": invalid_start,
    "calendar-pause": calendar_pause,
    "calendar-at-start": calendar_at_start,
    "rules-3": rules_3,
}
DEV_SERVER_SCENARIOS: dict[str, Scenario] = {
    "continued": continued,
    "continued-carry": continued_carrying,
    "rules-2": rules_2,
}


# ---------------------------------------------------------------------- servers


def suggest_continue_as_new_args(events: int) -> list[str]:
    """Dev-server flags that make it suggest continue-as-new once a run has ``events``."""
    return ["--dynamic-config-value", f"limit.historyCount.suggestContinueAsNew={events}"]


async def start_dev_server(suggest_continue_as_new_at: int) -> WorkflowEnvironment:
    return await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        search_attributes=CONTRACT_SEARCH_ATTRIBUTES,
        dev_server_existing_path=temporal_cli_path(),
        dev_server_extra_args=suggest_continue_as_new_args(suggest_continue_as_new_at),
    )


def history_json(history: WorkflowHistory) -> str:
    """``history.to_json()``, without the failures' stack traces: they name files of the
    machine that recorded it, and replay never reads them."""

    def scrub(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: "" if k == "stackTrace" else scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [scrub(v) for v in value]
        return value

    return json.dumps(scrub(json.loads(history.to_json())), indent=2)


async def run_scenarios(
    env: WorkflowEnvironment, scenarios: Sequence[Scenario], outbox_dir: Path
) -> list[Recorded]:
    task_queue = f"replay-recording-{uuid.uuid4().hex[:8]}"
    settings = NotificationSettings(outbox_path=outbox_dir / f"{task_queue}.jsonl")
    recorded: list[Recorded] = []
    async with build_worker(env.client, task_queue, settings=settings):
        ctx = Ctx(env, task_queue)
        for scenario in scenarios:
            recorded += await scenario(ctx)
    return recorded


def failed_workflow_tasks(history: WorkflowHistory) -> list[HistoryEvent]:
    """Workflow tasks that failed, except those the server itself failed.

    Neither is a failure of the workflow code, and nothing is lost (the task is retried
    with every signal; tests/integration/test_responsiveness.py counts them too):

    * UnhandledCommand: a signal arrived while the task that closes the run (completion
      or continue-as-new) was in flight, so the server refused that completion and handed
      the signal over in a new task;
    * ForceCloseCommand: more than the server's buffered-events limit arrived while one
      task ran (a stream of signals to a worker slowed down by a busy machine).
    """
    return [
        event
        for event in events_of(history, EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED)
        if event.workflow_task_failed_event_attributes.cause not in SERVER_MADE_FAILURES
    ]


SERVER_MADE_FAILURES = frozenset(
    {
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND,
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_FORCE_CLOSE_COMMAND,
    }
)


def check_clean(recorded: Sequence[Recorded]) -> None:
    """A history worth committing has no failed workflow task in it."""
    for item in recorded:
        failed = failed_workflow_tasks(item.history)
        if failed:
            cause = failed[0].workflow_task_failed_event_attributes.failure.message
            raise AssertionError(f"{item.name}: {len(failed)} failed workflow task(s): {cause}")


def code_version() -> str:
    """The commit the workflow code was recorded from, and whether it had local changes."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "workflows", "activities"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return f"unknown code, temporalio {version('temporalio')}"
    local = " with uncommitted changes" if changed else ""
    return f"{commit}{local}, temporalio {version('temporalio')}"


def write(
    recorded: Sequence[Recorded], out: Path, *, replace_all: bool, note: str = "", version: str = ""
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    recorded_from = code_version() + (f"; {note}" if note else "")
    manifest_path = out / MANIFEST
    entries: dict[str, dict[str, Any]] = {}
    if manifest_path.exists() and not replace_all:
        for entry in json.loads(manifest_path.read_text())["histories"]:
            entries[entry["file"]] = entry
    if replace_all:
        for old in out.glob("*.json"):
            old.unlink()
    scenarios = {item.name.split(".")[0] for item in recorded}
    for file in [f for f in entries if f.split(".")[0] in scenarios]:  # a scenario re-recorded
        entries.pop(file)
        (out / file).unlink(missing_ok=True)
    for item in recorded:
        (out / f"{item.name}.json").write_text(history_json(item.history) + "\n")
        entries[f"{item.name}.json"] = item.manifest_entry(recorded_from)
    manifest = {
        "about": "Recorded by tests/support/recorder.py; replayed by tests/workflow/test_replay.py."
        " Re-record only after a versioned workflow change (docs/versioning.md).",
        "version": version or out.name,
        "histories": [entries[file] for file in sorted(entries)],
    }
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")


async def record(
    only: Sequence[str], out: Path, note: str = "", version: str = ""
) -> list[Recorded]:
    wanted = set(only) or set(TIME_SKIPPING_SCENARIOS) | set(DEV_SERVER_SCENARIOS)
    unknown = wanted - set(TIME_SKIPPING_SCENARIOS) - set(DEV_SERVER_SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    recorded: list[Recorded] = []
    with tempfile.TemporaryDirectory() as outbox_dir:
        time_scenarios = [s for n, s in TIME_SKIPPING_SCENARIOS.items() if n in wanted]
        if time_scenarios:
            env = await start_time_skipping(pydantic_data_converter)
            try:
                recorded += await run_scenarios(env, time_scenarios, Path(outbox_dir))
            finally:
                await env.shutdown()
        dev_scenarios = [s for n, s in DEV_SERVER_SCENARIOS.items() if n in wanted]
        if dev_scenarios:
            env = await start_dev_server(CAN_SUGGEST_AT)
            try:
                recorded += await run_scenarios(env, dev_scenarios, Path(outbox_dir))
            finally:
                await env.shutdown()
    check_clean(recorded)
    write(recorded, out, replace_all=not only, note=note, version=version)
    return recorded


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="SCENARIO",
        help="record only this scenario (repeatable): "
        + ", ".join([*TIME_SKIPPING_SCENARIOS, *DEV_SERVER_SCENARIOS]),
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="default: tests/histories/<version>, the version from pyproject.toml",
    )
    parser.add_argument("--note", default="", help="added to recordedFrom in the manifest")
    args = parser.parse_args(argv)
    version = project_version()
    if args.out is None:
        args.out = HISTORIES_DIR / version
    recorded = asyncio.run(record(args.only, args.out, args.note, version))
    for item in recorded:
        path = args.out / f"{item.name}.json"
        print(f"{path}: {len(item.history.events)} events, {item.last_event}")


if __name__ == "__main__":
    main()
