"""Reading workflow histories: events counted by type, sizes, continue-as-new chains."""

from __future__ import annotations

import functools
import itertools
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import History, HistoryEvent
from temporalio.client import Client, WorkflowHistory

from privacy.codec import EncryptionCodec, codec_for
from settings import Settings


def event_name(event: HistoryEvent) -> str:
    """``EVENT_TYPE_TIMER_STARTED`` -> ``TimerStarted``."""
    raw = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
    return "".join(part.capitalize() for part in raw.split("_"))


@dataclass
class RunStats:
    """One run of a workflow: its events, their size, and what it carried in."""

    run_id: str
    events: int
    bytes: int
    input_bytes: int
    signals: int
    by_type: dict[str, int] = field(default_factory=dict)
    continued_as: str | None = None  # the next run's id, if this one continued as new

    def to_json(self) -> dict[str, Any]:
        return {
            "runId": self.run_id,
            "events": self.events,
            "bytes": self.bytes,
            "inputBytes": self.input_bytes,
            "signals": self.signals,
            "byType": self.by_type,
        }


def run_stats(history: WorkflowHistory, run_id: str) -> RunStats:
    events = list(history.events)
    by_type = Counter(event_name(e) for e in events)
    input_bytes = 0
    if events and events[0].HasField("workflow_execution_started_event_attributes"):
        started = events[0].workflow_execution_started_event_attributes
        input_bytes = sum(p.ByteSize() for p in started.input.payloads)
    continued_as = None
    last = events[-1] if events else None
    if last is not None and last.HasField("workflow_execution_continued_as_new_event_attributes"):
        continued_as = (
            last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
        )
    return RunStats(
        run_id=run_id,
        events=len(events),
        # The serialized history: what the server stores and a replaying worker reads.
        bytes=History(events=events).ByteSize(),
        input_bytes=input_bytes,
        signals=by_type.get("WorkflowExecutionSignaled", 0),
        by_type=dict(sorted(by_type.items())),
        continued_as=continued_as,
    )


async def chain(client: Client, workflow_id: str, first_run_id: str) -> list[RunStats]:
    """Every run of a continue-as-new chain, first to last."""
    runs: list[RunStats] = []
    run_id: str | None = first_run_id
    while run_id is not None:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        stats = run_stats(history, run_id)
        runs.append(stats)
        run_id = stats.continued_as
    return runs


@functools.cache
def _codec() -> EncryptionCodec | None:
    return codec_for(Settings.from_env().encryption_keys())


def _activity_kind(event: HistoryEvent) -> str | None:
    """The notification kind an ActivityTaskScheduled event carries (``checkIn``, ...)."""
    if not event.HasField("activity_task_scheduled_event_attributes"):
        return None
    payloads = event.activity_task_scheduled_event_attributes.input.payloads
    if not payloads:
        return None
    payload = payloads[0]
    codec = _codec()
    if codec is not None:  # the benchmark runs encrypted when keys are set
        payload = codec.decrypt(payload)
    try:
        value = json.loads(payload.data)
    except ValueError:
        return None
    kind = value.get("kind") if isinstance(value, dict) else None
    return kind if isinstance(kind, str) else None


def check_in_cycles(history: WorkflowHistory) -> list[list[str]]:
    """The event types of each full period between two consecutive periodic check-ins.

    A cycle runs from the event after one check-in activity is scheduled up to and
    including the scheduling of the next, so it holds exactly one check-in.
    """
    events = list(history.events)
    marks = [i for i, event in enumerate(events) if _activity_kind(event) == "checkIn"]
    return [
        [event_name(e) for e in events[start + 1 : end + 1]]
        for start, end in itertools.pairwise(marks)
    ]


# A quiet check-in at Temporal's floor: its timer, its activity, and the workflow tasks
# that start them and take the activity's result.
QUIET_CHECK_IN_FLOOR = [
    "TimerFired",
    "WorkflowTaskScheduled",
    "WorkflowTaskStarted",
    "WorkflowTaskCompleted",
    "TimerStarted",
    "ActivityTaskScheduled",
    "ActivityTaskStarted",
    "ActivityTaskCompleted",
    "WorkflowTaskScheduled",
    "WorkflowTaskStarted",
    "WorkflowTaskCompleted",
]
