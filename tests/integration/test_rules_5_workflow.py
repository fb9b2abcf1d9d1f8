"""Rules 5 in the workflow shell: every message is applied or recorded, to the very end."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from starter.samples import example_order
from tests.conftest import start_tracking, unique
from worker import WORKFLOWS, workflow_runner
from workflows.domain import names
from workflows.domain.effects import Notification
from workflows.domain.model import PartyOrder
from workflows.interceptors import interceptors


class SlowCompletionNotice:
    """Notification activities that hold the party's ``completed`` notice until released,
    as a channel retrying for hours would."""

    def __init__(self) -> None:
        self.completed_on_its_way = asyncio.Event()
        self.release = asyncio.Event()

    async def _deliver(self, notification: Notification) -> Notification | None:
        if notification.kind == "completed" and notification.recipient_kind == "party":
            self.completed_on_its_way.set()
            await self.release.wait()
        return notification

    @activity.defn(name=names.NOTIFY_PARTY)
    async def notify_party(self, notification: Notification) -> Notification | None:
        return await self._deliver(notification)

    @activity.defn(name=names.NOTIFY_ORIGINATING_PROCESS)
    async def notify_originating_process(self, notification: Notification) -> Notification | None:
        return await self._deliver(notification)

    @activity.defn(name=names.NOTIFY_CONTACT)
    async def notify_contact(self, notification: Notification) -> Notification | None:
        return await self._deliver(notification)

    @activity.defn(name=names.INFORM_CLOSE_PROCESS)
    async def inform_close_process(self, order: PartyOrder) -> None:
        return None


async def _closing_handed_over(handle: WorkflowHandle[Any, Any]) -> None:
    """Until the close process was informed and the workflow task after it completed: the
    run is then waiting for its last notifications and nothing else."""
    while True:
        events = [event async for event in handle.fetch_history_events()]
        informed = [
            event.event_id
            for event in events
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            and event.activity_task_scheduled_event_attributes.activity_type.name
            == names.INFORM_CLOSE_PROCESS
        ]
        if informed:
            completed = [
                event.event_id
                for event in events
                if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
                and event.activity_task_completed_event_attributes.scheduled_event_id == informed[0]
            ]
            if completed and any(
                event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
                and event.event_id > completed[0]
                for event in events
            ):
                return
        await asyncio.sleep(0.1)


async def test_a_message_arriving_while_the_last_notices_are_on_their_way_is_recorded(
    dev_env: WorkflowEnvironment,
) -> None:
    client: Client = dev_env.client
    assert client.data_converter is pydantic_data_converter
    channel = SlowCompletionNotice()
    task_queue = unique("tq")
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=[
            channel.notify_party,
            channel.notify_originating_process,
            channel.notify_contact,
            channel.inform_close_process,
        ],
        interceptors=interceptors(),
        workflow_runner=workflow_runner(),
    ):
        order_id = unique()
        handle = await start_tracking(
            dev_env, task_queue, example_order(order_id, datetime.now(UTC))
        )
        await handle.signal(names.REPORT_PROGRESS, {"requestId": "done", "delivered": True})
        await asyncio.wait_for(channel.completed_on_its_way.wait(), timeout=30)
        await asyncio.wait_for(_closing_handed_over(handle), timeout=30)
        await handle.signal(names.REPORT_PROGRESS, {"requestId": "late", "percentComplete": 50})
        channel.release.set()
        order = await asyncio.wait_for(handle.result(), timeout=30)
    assert order.state == "completed"
    late = [m for m in order.rejected_messages if m.request_id == "late"]
    assert len(late) == 1, order.rejected_messages
    assert "completed" in late[0].error
