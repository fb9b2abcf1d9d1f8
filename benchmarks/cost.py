"""The cost of an order: Temporal Cloud billable actions per order-month, from its history.

Actions are counted from the history events as Temporal Cloud's published action
definitions describe them (queries are actions too, but excluded here: they depend on
who reads, not on tracking):

    WorkflowExecutionStarted                     workflow started (also continue-as-new)
    WorkflowExecutionSignaled                    signal (signal-with-start: start + signal)
    WorkflowExecutionUpdateAccepted              update
    ActivityTaskScheduled                        activity (its first attempt)
    ActivityTaskStarted with attempt n > 1       n - 1 activity retries
    TimerStarted                                 timer
    UpsertWorkflowSearchAttributes               search attribute upsert
    WorkflowPropertiesModified                   memo upsert
    MarkerRecorded                               marker (patch, side effect, local activity)
    SignalExternalWorkflowExecutionInitiated     signal
    StartChildWorkflowExecutionInitiated         child workflow started

What tracking *needs* is the start, every inbound message, every notification's first
attempt and every deadline that falls due (a timer that fired, or that is still
pending). Everything else is surplus and named: retries, timers cancelled because their
deadline was replaced, search attribute upserts (the contract's visibility, not
tracking) and markers.

Two orders, each over its first 30 days (start included), a day scaled to a second:

* typical: weekly check-ins, each answered two hours after it went out; three milestones
  completed ahead of their dates; one change request, accepted the next day;
* quiet: weekly check-ins answered, nothing else.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHandle

from activities.settings import NotificationSettings
from benchmarks.orders import duration, order_payload, start_attributes
from workflows.domain.instants import iso
from workflows.domain.model import PartyOrder, track_workflow_id

MONTH_DAYS = 30
# What stands for a day: the scenario runs in real time on the dev server.
DAY = timedelta(seconds=1)

NEEDED = (
    "workflow started",
    "signal",
    "update",
    "activity",
    "timer (fired)",
    "timer (pending)",
    "child workflow started",
)
SURPLUS = (
    "activity retry",
    "timer (replaced)",
    "search attribute upsert",
    "memo upsert",
    "marker",
)

_SIMPLE = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED: "workflow started",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: "signal",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: "update",
    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: "activity",
    EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: "search attribute upsert",
    EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED: "memo upsert",
    EventType.EVENT_TYPE_MARKER_RECORDED: "marker",
    EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED: "signal",
    EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED: "child workflow started",
}


def billable_actions(events: Iterable[HistoryEvent]) -> Counter[str]:
    """Actions by kind (see the module docstring), queries excluded."""
    actions: Counter[str] = Counter()
    timers: dict[str, str] = {}  # timer id -> how it ended
    for event in events:
        kind = _SIMPLE.get(event.event_type)
        if kind is not None:
            actions[kind] += 1
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            retries = event.activity_task_started_event_attributes.attempt - 1
            if retries > 0:
                actions["activity retry"] += retries
        elif event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            timers[event.timer_started_event_attributes.timer_id] = "timer (pending)"
        elif event.event_type == EventType.EVENT_TYPE_TIMER_FIRED:
            timers[event.timer_fired_event_attributes.timer_id] = "timer (fired)"
        elif event.event_type == EventType.EVENT_TYPE_TIMER_CANCELED:
            timers[event.timer_canceled_event_attributes.timer_id] = "timer (replaced)"
    actions.update(timers.values())
    return actions


@dataclass
class OrderMonth:
    """One order's first 30 days: what happened and the actions it cost."""

    name: str
    check_ins_answered: int
    milestones_completed: int
    change_requests: int
    actions: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.actions.values())

    @property
    def needed(self) -> int:
        return sum(self.actions[kind] for kind in NEEDED)

    @property
    def surplus(self) -> dict[str, int]:
        return {kind: self.actions[kind] for kind in SURPLUS if self.actions[kind]}

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "checkInsAnswered": self.check_ins_answered,
            "milestonesCompleted": self.milestones_completed,
            "changeRequests": self.change_requests,
            "actions": dict(sorted(self.actions.items())),
            "total": self.total,
            "needed": self.needed,
            "surplus": self.surplus,
        }


def cost_table(months: list[OrderMonth]) -> str:
    """The actions of each order-month by kind, needed or surplus, as a text table."""
    kinds = [k for k in (*NEEDED, *SURPLUS) if any(m.actions[k] for m in months)]
    header = ["action", "", *(m.name for m in months)]
    rows = [header]
    for kind in kinds:
        need = "needed" if kind in NEEDED else "surplus"
        rows.append([kind, need, *(str(m.actions[kind]) for m in months)])
    rows.append(["total", "", *(str(m.total) for m in months)])
    rows.append(["needed by tracking", "", *(str(m.needed) for m in months)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            cell.rjust(widths[i]) if i >= 2 else cell.ljust(widths[i]) for i, cell in enumerate(row)
        ).rstrip()
        for row in rows
    )


def scaled_policy(day: timedelta) -> dict[str, Any]:
    """The contract's default tracking policy with ``day`` standing for a day."""
    return {
        "checkInInterval": duration(7 * day),
        "responseWindow": duration(2 * day),
        "warningLeadTime": duration(3 * day),
        "changeResolutionWindow": duration(2 * day),
        "escalation": [
            {"level": 1, "after": "PT0S", "notify": "order-manager"},
            {"level": 2, "after": duration(day), "notify": "operations-lead"},
            {"level": 3, "after": duration(3 * day), "notify": "executive-sponsor"},
        ],
    }


async def order_month(
    client: Client, task_queue: str, *, typical: bool, day: timedelta = DAY
) -> OrderMonth:
    """Run one order for 30 days, ``day`` standing for a day, as its party and its
    originating process would; count the actions of its history.

    On the dev server, in real time: the time-skipping test server fails workflow tasks
    ("invalid history builder state") when a client signals between its time skips, and
    the count of actions depends only on what happens in which order, not on the scale.
    The party answers each check-in ``day / 12`` (two hours) after it went out.
    """
    order_id = f"{'TYPICAL' if typical else 'QUIET'}-{uuid.uuid4().hex[:8]}"
    start = datetime.now(UTC)
    # Each reported completed a day before its warning lead time (3 days) would begin.
    dates = {"m1": 7, "m2": 14, "m3": 23} if typical else {}
    payload = order_payload(
        order_id,
        start,
        due_in=200 * day,
        milestones=[(mid, start + n * day) for mid, n in dates.items()],
        tracking_policy=scaled_policy(day),
    )
    handle: WorkflowHandle[Any, PartyOrder] = await client.start_workflow(
        "TrackPartyOrder",
        payload,
        id=track_workflow_id(order_id),
        task_queue=task_queue,
        result_type=PartyOrder,
        search_attributes=start_attributes(payload),  # as the client API starts it
    )
    planned: list[tuple[datetime, str, dict[str, Any]]] = []
    if typical:
        planned = [
            (start + 3 * day, "report_progress", _milestone("m1", 20)),
            (start + 10 * day, "report_progress", _milestone("m2", 45)),
            (
                start + 15 * day,
                "request_change",
                {
                    "requestId": "CR-1",
                    "reason": "permit delayed",
                    "changes": {"expectedCompletionDate": iso(start + 210 * day)},
                },
            ),
            (
                start + 16 * day,
                "resolve_change",
                {"changeRequestId": "CR-1", "decision": "accepted", "resolvedBy": "SO owner"},
            ),
            (start + 19 * day, "report_progress", _milestone("m3", 70)),
        ]
    answer_after, end = day / 12, start + MONTH_DAYS * day
    answered = 0
    while True:
        order = await handle.query("get_order", result_type=PartyOrder)
        check_ins = order.check_ins
        candidates = [end]
        if check_ins.awaiting_since is not None:
            candidates.append(check_ins.awaiting_since + answer_after)
        elif check_ins.next_at is not None:
            candidates.append(check_ins.next_at + answer_after)
        if planned:
            candidates.append(planned[0][0])
        when = min(candidates)
        wait = (when - datetime.now(UTC)).total_seconds()
        if wait > 0:
            await asyncio.sleep(wait)
        if when == end:
            break
        if planned and planned[0][0] == when:
            _, name, message = planned.pop(0)
            await handle.signal(name, message)
        elif (await handle.query("get_order", result_type=PartyOrder)).check_ins.awaiting_since:
            answered += 1
            await handle.signal("report_progress", {"note": f"on plan (answer {answered})"})
    history = await handle.fetch_history()
    await handle.terminate(reason="benchmark: the month is measured")
    return OrderMonth(
        name="typical" if typical else "quiet",
        check_ins_answered=answered,
        milestones_completed=len(dates),
        change_requests=1 if typical else 0,
        actions=billable_actions(history.events),
    )


async def order_months(
    client: Client, outbox: Path, *, day: timedelta = DAY
) -> tuple[OrderMonth, OrderMonth]:
    """The typical and the quiet order-month, side by side on one worker."""
    from worker import build_worker

    task_queue = f"bench-cost-{uuid.uuid4().hex[:8]}"
    async with build_worker(client, task_queue, settings=NotificationSettings(outbox_path=outbox)):
        typical, quiet = await asyncio.gather(
            order_month(client, task_queue, typical=True, day=day),
            order_month(client, task_queue, typical=False, day=day),
        )
    return typical, quiet


def _milestone(milestone_id: str, percent: int) -> dict[str, Any]:
    return {"percentComplete": percent, "milestones": [{"id": milestone_id, "status": "completed"}]}
