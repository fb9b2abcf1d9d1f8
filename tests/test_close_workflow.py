"""ClosePartyOrder's closure notices as local activities (patch ``closure-notices-local``).

On the time-skipping test server, with an originating-process channel that fails the way a
receiver does: the notices are retried and delivered inside the close process's one
workflow task, and a notice the receiver refuses is recorded as a delivery failure while
the other still goes out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.close_process import inform_close_process
from activities.failures import REJECTED
from activities.registry import PartyOrderActivities
from activities.settings import NotificationSettings
from starter.samples import example_order
from tests.conftest import local_activity_markers, of_type, start_tracking, unique
from worker import build_worker
from workflows.close_party_order import ClosureRecord
from workflows.domain.effects import Notification
from workflows.domain.model import PartyOrder, close_workflow_id


class ClosingProcessChannel:
    """The originating process's receiver: fails its ``orderClosed`` notice ``failures``
    times (or refuses it for good), takes everything else at once."""

    def __init__(self, failures: int = 0, *, refuse: bool = False) -> None:
        self.failures = failures
        self.refuse = refuse
        self.attempts = 0
        self.delivered: list[Notification] = []

    async def deliver(self, notification: Notification) -> None:
        if notification.kind == "orderClosed":
            self.attempts += 1
            if self.refuse:
                raise ApplicationError("no such order here", type=REJECTED, non_retryable=True)
            if self.attempts <= self.failures:
                raise RuntimeError("receiver unavailable")
        self.delivered.append(notification)


@dataclass
class Closed:
    """An order tracked to completion and closed, on a worker still running."""

    task_queue: str
    final: PartyOrder
    closure: ClosureRecord
    events: list[HistoryEvent]  # the close process's history


@asynccontextmanager
async def closed_order(
    env: WorkflowEnvironment, activities: PartyOrderActivities
) -> AsyncIterator[Closed]:
    task_queue = unique("tq")
    async with build_worker(env.client, task_queue, activities=activities):
        order_id = unique()
        handle = await start_tracking(
            env, task_queue, example_order(order_id, await env.get_current_time())
        )
        await handle.signal("report_progress", {"requestId": "done", "delivered": True})
        final = await handle.result()
        assert final.state == "completed"
        close = env.client.get_workflow_handle(
            close_workflow_id(order_id), result_type=ClosureRecord
        )
        closure = await close.result()
        events = [event async for event in close.fetch_history_events()]
        yield Closed(task_queue, final, closure, events)


def with_process_channel(outbox: Path, channel: ClosingProcessChannel) -> PartyOrderActivities:
    return PartyOrderActivities(NotificationSettings(outbox_path=outbox), process=channel)


async def test_closure_notices_are_local_activities_retried_in_one_workflow_task(
    time_env: WorkflowEnvironment, outbox: Path
) -> None:
    channel = ClosingProcessChannel(failures=1)
    async with closed_order(time_env, with_process_channel(outbox, channel)) as closed:
        closure, events = closed.closure, closed.events

    assert closure.party_notified and closure.originating_process_notified
    assert closure.delivery_failures == []
    # No activity task: the notices ran in the close process's only workflow task.
    assert of_type(events, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) == []
    assert len(of_type(events, EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)) == 1
    patches = [
        event.marker_recorded_event_attributes.details["patch-data"].payloads[0].data
        for event in of_type(events, EventType.EVENT_TYPE_MARKER_RECORDED)
        if event.marker_recorded_event_attributes.marker_name == "core_patch"
    ]
    assert len(patches) == 1 and b"closure-notices-local" in patches[0]

    # Each marker keeps what was sent (the activity's result), and the retry.
    sent = {
        bookkeeping["activity_type"]: (
            bookkeeping,
            pydantic_data_converter.payload_converter.from_payload(
                marker.details["result"].payloads[0], Notification
            ),
        )
        for bookkeeping, marker in local_activity_markers(events)
    }
    assert set(sent) == {"notify_party", "notify_originating_process"}
    bookkeeping, notice = sent["notify_originating_process"]
    assert bookkeeping["attempt"] == 2 and channel.attempts == 2
    assert notice.kind == "orderClosed" and notice.recipient_kind == "originatingProcess"
    assert [n.idempotency_key for n in channel.delivered if n.kind == "orderClosed"] == [
        notice.idempotency_key
    ]
    assert sent["notify_party"][1].kind == "orderClosed"
    assert sent["notify_party"][1].recipient_kind == "party"


async def test_a_refused_closure_notice_is_recorded_and_the_other_still_sent(
    time_env: WorkflowEnvironment, outbox: Path
) -> None:
    channel = ClosingProcessChannel(refuse=True)
    async with closed_order(time_env, with_process_channel(outbox, channel)) as closed:
        closure, events = closed.closure, closed.events

    assert closure.party_notified and not closure.originating_process_notified
    assert channel.attempts == 1  # refused: not retried
    [failure] = closure.delivery_failures
    assert failure.kind == "orderClosed" and "no such order here" in failure.error
    assert of_type(events, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) == []
    refused = [marker for _, marker in local_activity_markers(events) if marker.HasField("failure")]
    assert len(refused) == 1


async def test_a_retried_hand_off_finds_the_close_process_and_starts_no_other(
    time_env: WorkflowEnvironment, outbox: Path
) -> None:
    """The first attempt of ``inform_close_process`` signal-with-starts at once; a retry
    (the first attempt started the close process, then its completion was lost) looks
    first and leaves the close process of this tracking alone."""
    activities = PartyOrderActivities(NotificationSettings(outbox_path=outbox))
    async with closed_order(time_env, activities) as closed:
        close = time_env.client.get_workflow_handle(close_workflow_id(closed.final.id))
        ran = (await close.describe()).run_id

        retry = ActivityEnvironment(client=time_env.client)
        retry.info = dataclasses.replace(retry.info, attempt=2, task_queue=closed.task_queue)
        await retry.run(inform_close_process, closed.final)

        # No new run: a signal-with-start would have started one (the close process ended).
        assert (await close.describe()).run_id == ran
