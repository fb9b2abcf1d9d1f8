"""The Temporal Schedule that runs the morning digest (``PartyOrderDigest``).

``party-orders up`` and ``party-orders digest schedule`` create it, or bring an existing one
to the given spec; ``party-orders digest run`` triggers one run now. The schedule shows in
the Web UI's Schedules page and in ``temporal schedule list``, where it can be paused.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from workflows.domain import names

DEFAULT_CRON = "0 8 * * 1-5"  # weekdays at 08:00
DEFAULT_TIME_ZONE = "UTC"
# A digest missed while the server was down is still sent if it is at most this late.
CATCHUP_WINDOW = timedelta(hours=1)


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


async def run_digest_now(client: Client, schedule_id: str = names.DIGEST_SCHEDULE_ID) -> None:
    """Trigger one digest run now (it still skips if a run is going on)."""
    await client.get_schedule_handle(schedule_id).trigger()
