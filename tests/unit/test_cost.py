"""Counting billable actions from history events (benchmarks/cost.py), event by event."""

from __future__ import annotations

import re
from collections import Counter

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import (
    ActivityTaskStartedEventAttributes,
    HistoryEvent,
    TimerCanceledEventAttributes,
    TimerFiredEventAttributes,
    TimerStartedEventAttributes,
)

from benchmarks.cost import OrderMonth, billable_actions, cost_table

E = EventType


def event(kind: EventType.ValueType, **attributes: object) -> HistoryEvent:
    return HistoryEvent(event_type=kind, **attributes)  # type: ignore[arg-type]


def timer(kind: EventType.ValueType, timer_id: str) -> HistoryEvent:
    if kind == E.EVENT_TYPE_TIMER_STARTED:
        started = TimerStartedEventAttributes(timer_id=timer_id)
        return event(kind, timer_started_event_attributes=started)
    if kind == E.EVENT_TYPE_TIMER_FIRED:
        fired = TimerFiredEventAttributes(timer_id=timer_id)
        return event(kind, timer_fired_event_attributes=fired)
    canceled = TimerCanceledEventAttributes(timer_id=timer_id)
    return event(kind, timer_canceled_event_attributes=canceled)


def test_each_event_is_counted_by_the_published_definitions() -> None:
    history = [
        event(E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED),
        event(E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED),  # workflow tasks are no actions
        event(E.EVENT_TYPE_WORKFLOW_TASK_STARTED),
        event(E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
        event(E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES),
        timer(E.EVENT_TYPE_TIMER_STARTED, "1"),
        timer(E.EVENT_TYPE_TIMER_FIRED, "1"),
        timer(E.EVENT_TYPE_TIMER_STARTED, "2"),
        timer(E.EVENT_TYPE_TIMER_CANCELED, "2"),
        timer(E.EVENT_TYPE_TIMER_STARTED, "3"),  # still pending
        event(E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED),
        event(
            E.EVENT_TYPE_ACTIVITY_TASK_STARTED,
            activity_task_started_event_attributes=ActivityTaskStartedEventAttributes(attempt=3),
        ),
        event(E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED),
        event(E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED),
        event(E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED),
        event(E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED),
        event(E.EVENT_TYPE_MARKER_RECORDED),
        event(E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED),
    ]
    assert billable_actions(history) == Counter(
        {
            "workflow started": 1,
            "search attribute upsert": 1,
            "timer (fired)": 1,
            "timer (replaced)": 1,
            "timer (pending)": 1,
            "activity": 1,
            "activity retry": 2,
            "signal": 2,
            "update": 1,
            "marker": 1,
        }
    )


def test_needed_and_surplus_add_up_and_the_table_names_the_surplus() -> None:
    month = OrderMonth(
        "quiet",
        check_ins_answered=4,
        milestones_completed=0,
        change_requests=0,
        actions=Counter({"workflow started": 1, "signal": 4, "timer (replaced)": 4}),
    )
    assert (month.total, month.needed, month.surplus) == (9, 5, {"timer (replaced)": 4})
    text = cost_table([month])
    assert re.search(r"^timer \(replaced\) +surplus +4$", text, re.MULTILINE)
    assert re.search(r"^needed by tracking +5$", text, re.MULTILINE)
    assert "activity" not in text  # kinds that never occurred are left out
