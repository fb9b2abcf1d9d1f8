"""The Temporal Schedule that runs the morning digest (``PartyOrderDigest``).

``party-orders up`` and ``party-orders digest schedule`` create it, or bring an existing one
to the given spec; ``party-orders digest run`` triggers one run now. The schedule shows in
the Web UI's Schedules page and in ``temporal schedule list``, where it can be paused.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from workflows.digest import DigestResult
from workflows.domain import names

DEFAULT_CRON = "0 8 * * 1-5"  # weekdays at 08:00
DEFAULT_TIME_ZONE = "UTC"
# A digest missed while the server was down is still sent if it is at most this late.
CATCHUP_WINDOW = timedelta(hours=1)
# This machine's clock and the server's may differ a little: a run started this long
# before the trigger was asked still counts as the triggered one.
CLOCK_SKEW = timedelta(seconds=5)


def digest_schedule(task_queue: str, cron: str, time_zone: str) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            names.DIGEST_WORKFLOW,
            id=f"{names.DIGEST_SCHEDULE_ID}-run",  # the schedule appends the run's time
            task_queue=task_queue,
            static_summary="Morning digest of party orders in jeopardy",
        ),
        spec=ScheduleSpec(cron_expressions=[cron], time_zone_name=time_zone),
        # Never two digests at once; a late one within the window is still worth sending.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=CATCHUP_WINDOW),
    )


async def ensure_digest_schedule(
    client: Client,
    task_queue: str,
    *,
    cron: str = DEFAULT_CRON,
    time_zone: str = DEFAULT_TIME_ZONE,
    schedule_id: str = names.DIGEST_SCHEDULE_ID,
) -> bool:
    """Create the digest schedule, or update the one there to this spec (its paused state
    and history kept). Returns True when it was created."""
    wanted = digest_schedule(task_queue, cron, time_zone)
    try:
        await client.create_schedule(schedule_id, wanted)
        return True
    except ScheduleAlreadyRunningError:
        pass

    def update(current: ScheduleUpdateInput) -> ScheduleUpdate:
        schedule = current.description.schedule
        schedule.action = wanted.action
        schedule.spec = wanted.spec
        schedule.policy = wanted.policy
        return ScheduleUpdate(schedule=schedule)

    await client.get_schedule_handle(schedule_id).update(update)
    return False


async def run_digest_now(
    client: Client, schedule_id: str = names.DIGEST_SCHEDULE_ID, *, wait: timedelta | None = None
) -> DigestRun:
    """Trigger one digest run now (it still skips if a run is going on): the workflow it
    started, and with ``wait``, what it did if a worker finished it in that time."""
    handle = client.get_schedule_handle(schedule_id)
    triggered = datetime.now(UTC)
    await handle.trigger()
    deadline = asyncio.get_running_loop().time() + (wait or timedelta(seconds=10)).total_seconds()
    workflow_id: str | None = None
    while workflow_id is None:
        for action in (await handle.describe()).info.recent_actions:
            started = action.action
            # A manual trigger is stamped with when it was asked (the server's clock).
            if isinstance(started, ScheduleActionExecutionStartWorkflow) and (
                action.started_at >= triggered - CLOCK_SKEW
            ):
                workflow_id = started.workflow_id
        if workflow_id is None:
            if asyncio.get_running_loop().time() > deadline:
                return DigestRun(workflow_id=None, result=None)
            await asyncio.sleep(0.2)
    if wait is None:
        return DigestRun(workflow_id=workflow_id, result=None)
    try:
        result = await asyncio.wait_for(
            client.get_workflow_handle(workflow_id, result_type=DigestResult).result(),
            timeout=max(0.0, deadline - asyncio.get_running_loop().time()),
        )
    except TimeoutError:
        result = None
    return DigestRun(workflow_id=workflow_id, result=result)


@dataclass(frozen=True)
class DigestRun:
    """One digest run asked for now: its workflow (None if the schedule started none, say
    because a run was going on), and what it did if it ended in time."""

    workflow_id: str | None
    result: DigestResult | None
