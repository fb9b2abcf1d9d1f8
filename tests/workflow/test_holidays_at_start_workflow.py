"""A raw ``temporal workflow start`` whose calendar names a country alone, on the
time-skipping test server.

* The contract's example order with the contract's calendar (Berlin, Mon-Fri 09:00-17:00,
  ``holidayCountry: DE``, ``holidaySubdivision: BY``), started with a plain
  ``start_workflow``: the workflow resolves Bavaria's holidays through the
  ``resolve_holidays`` activity, stores what the client API would have stored, and its
  first check-in skips a Bavarian holiday.
* An unknown country fails the order with ``InvalidPartyOrder`` naming the field; an input
  wrong anyway fails at once, with no activity.
* While the holidays are being resolved, a signal is queued, an update waits, and a query
  says why there is no order yet; once tracking starts, both messages are applied in order.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import pytest
from temporalio.client import (
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateStage,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.calendars import resolve_holidays as resolve_holidays_activity
from starter.calendars import resolve_holidays
from starter.samples import example_order
from tests.conftest import get_order, read_outbox, running_worker, unique
from tests.support.clock import skip_to, start_time_skipping
from tests.support.processes import eventually
from worker import WORKFLOWS, workflow_runner
from workflows.domain import names
from workflows.domain.calendar import PartyCalendar
from workflows.domain.model import OrderState, PartyOrder, track_workflow_id
from workflows.interceptors import interceptors
from workflows.patches import HOLIDAYS_AT_START_PATCH

BERLIN = ZoneInfo("Europe/Berlin")
DAY = timedelta(days=1)
# The calendar of the contract's example ("Calendars, stop-the-clock and the daily digest").
CONTRACT_CALENDAR: dict[str, Any] = {
    "timeZone": "Europe/Berlin",
    "workingDays": ["Mon", "Tue", "Wed", "Thu", "Fri"],
    "workingHours": {"start": "09:00", "end": "17:00"},
    "holidays": ["2026-12-25"],
    "holidayCountry": "DE",
    "holidaySubdivision": "BY",
}


def raw_order(order_id: str, now: datetime, **calendar: Any) -> dict[str, Any]:
    """The contract's example order (weekly check-ins) with the contract's calendar, as
    typed into ``temporal workflow start --input``: the country's holidays unresolved."""
    order = example_order(order_id, now)
    order["party"]["calendar"] = {**CONTRACT_CALENDAR, **calendar}
    return order


async def start_raw(
    env: WorkflowEnvironment, task_queue: str, order: dict[str, Any]
) -> WorkflowHandle[Any, PartyOrder]:
    return await env.client.start_workflow(
        "TrackPartyOrder",
        order,
        id=track_workflow_id(order["id"]),
        task_queue=task_queue,
        result_type=PartyOrder,
    )


def bavarian_holiday(day: date) -> bool:
    return day in holidays.country_holidays("DE", subdiv="BY", years=day.year) or (
        day.isoformat() in CONTRACT_CALENDAR["holidays"]
    )


def next_weekday_holiday(after: datetime) -> date:
    """The first Bavarian public holiday on a Monday to Friday more than a week after
    ``after``."""
    day = after.astimezone(BERLIN).date() + 8 * DAY
    while day.weekday() >= 5 or not bavarian_holiday(day):
        day += DAY
    return day


def first_working_day_after(day: date) -> date:
    day += DAY
    while day.weekday() >= 5 or bavarian_holiday(day):
        day += DAY
    return day


async def activities_scheduled(handle: WorkflowHandle[Any, Any]) -> list[str]:
    history = await handle.fetch_history()
    return [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]


async def failure_of(env: WorkflowEnvironment, handle: WorkflowHandle[Any, Any]) -> BaseException:
    """Why the workflow failed, read from its history once it has.

    Not ``handle.result()``: on the time-skipping server, waiting for a result lets the
    shared clock run on (years ahead for an order failing at start), which later tests
    of the session would start from.
    """

    async def failed() -> BaseException | None:
        history = await handle.fetch_history()
        for event in history.events:
            if event.HasField("workflow_execution_failed_event_attributes"):
                failure = event.workflow_execution_failed_event_attributes.failure
                return await env.client.data_converter.decode_failure(failure)
        return None

    return await eventually(failed, timeout=60, what="the order failed")


async def patches(handle: WorkflowHandle[Any, Any]) -> list[str]:
    """The ids of the patch markers in the history."""
    history = await handle.fetch_history()
    return [
        json.loads(e.marker_recorded_event_attributes.details["patch-data"].payloads[0].data)["id"]
        for e in history.events
        if e.HasField("marker_recorded_event_attributes")
        and e.marker_recorded_event_attributes.marker_name == "core_patch"
    ]


async def test_a_raw_start_with_the_contracts_calendar_resolves_its_holidays_and_skips_them(
    time_env: WorkflowEnvironment, outbox: Path
) -> None:
    async with running_worker(time_env.client, outbox) as (_, task_queue):
        # 10:00 Berlin a week before a Bavarian holiday on a weekday: the weekly check-in
        # falls due on the holiday itself.
        holiday = next_weekday_holiday(await time_env.get_current_time())
        start = datetime.combine(holiday - 7 * DAY, time(10), tzinfo=BERLIN)
        await skip_to(time_env, start)
        began = await time_env.get_current_time()
        order = raw_order(unique("CAL"), began)
        handle = await start_raw(time_env, task_queue, order)
        # The check-in goes out at 09:00 on the first Bavarian working day after it.
        expected = datetime.combine(first_working_day_after(holiday), time(9), tzinfo=BERLIN)
        await skip_to(time_env, expected + timedelta(hours=1))

        tracked = await get_order(handle)
        assert tracked.state == OrderState.ACKNOWLEDGED
        # What the client API would have stored for the same input, started then.
        client_side = resolve_holidays(order, today=began.date())
        assert tracked.party.calendar == PartyCalendar.model_validate(
            client_side["party"]["calendar"]
        )
        assert tracked.party.calendar is not None and holiday in tracked.party.calendar.holidays
        check_ins = [
            datetime.fromisoformat(line["occurredAt"])
            for line in read_outbox(outbox)
            if line["orderId"] == order["id"] and line["kind"] == "checkIn"
        ]
        assert check_ins, "no check-in went out"
        assert check_ins[0].astimezone(BERLIN).date() != holiday
        assert abs(check_ins[0] - expected) < timedelta(seconds=1)
        # The dates came through the activity, so the history holds them.
        assert (await activities_scheduled(handle)).count(names.RESOLVE_HOLIDAYS) == 1
        assert HOLIDAYS_AT_START_PATCH in await patches(handle)
        await handle.terminate("seen enough")


async def test_an_unknown_country_fails_the_order_naming_the_field(
    time_env: WorkflowEnvironment, outbox: Path
) -> None:
    async with running_worker(time_env.client, outbox) as (_, task_queue):
        now = await time_env.get_current_time()
        unknown = await start_raw(
            time_env, task_queue, raw_order(unique("CAL"), now, holidayCountry="XQ")
        )
        cause = await failure_of(time_env, unknown)
        assert isinstance(cause, ApplicationError)
        assert cause.type == "InvalidPartyOrder"
        assert "party.calendar.holidayCountry" in cause.message and "XQ" in cause.message
        assert await activities_scheduled(unknown) == [names.RESOLVE_HOLIDAYS]

        # An input wrong anyway is refused at once, before any holidays are looked up.
        wrong = raw_order(unique("CAL"), now)
        wrong["orderDate"] = wrong["requestedCompletionDate"]
        wrong["requestedCompletionDate"] = wrong["expectedCompletionDate"]
        refused = await start_raw(time_env, task_queue, wrong)
        cause = await failure_of(time_env, refused)
        assert isinstance(cause, ApplicationError) and cause.type == "InvalidPartyOrder"
        assert "orderDate" in cause.message
        assert await activities_scheduled(refused) == []


@pytest.fixture
async def own_time_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of the test's own. An update accepted while an order waits
    for an activity, and answered in a later workflow task, leaves that server's clock
    locked for good (a fault of the test server: every later skip waits forever), so the
    session's server is kept clear of it."""
    env = await start_time_skipping(pydantic_data_converter)
    try:
        yield env
    finally:
        await env.shutdown()


async def test_messages_that_come_while_the_holidays_are_resolved_are_applied_in_order(
    own_time_env: WorkflowEnvironment,
) -> None:
    client = own_time_env.client
    task_queue = unique("tq")
    # Workflows only: the holidays are looked up once an activity worker joins.
    workflows = Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        workflow_runner=workflow_runner(),
        interceptors=interceptors(),
    )
    async with workflows:
        now = await own_time_env.get_current_time()
        handle = await start_raw(own_time_env, task_queue, raw_order(unique("CAL"), now))
        await handle.signal(
            names.REPORT_PROGRESS, {"requestId": "r-1", "percentComplete": 20, "note": "survey"}
        )
        held = await handle.start_update(
            names.CHANGE_STATE,
            {"state": "held", "reason": "site access blocked"},
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
            result_type=PartyOrder,
        )
        with pytest.raises(WorkflowQueryFailedError, match="holidays of 'DE' are resolved"):
            await get_order(handle)

        activities = Worker(client, task_queue=task_queue, activities=[resolve_holidays_activity])
        async with activities:
            order = await held.result()
        assert order.party.calendar is not None
        assert order.party.calendar.holidays_resolved_through is not None
        # The report came first, then the update: acknowledged -> inProgress -> held.
        assert [change.to_state for change in order.state_history] == [
            OrderState.ACKNOWLEDGED,
            OrderState.IN_PROGRESS,
            OrderState.HELD,
        ]
        assert order.percent_complete == 20
        assert order.rejected_messages == []
        await handle.terminate("seen enough")


async def test_a_start_whose_holidays_are_listed_looks_nothing_up_and_records_no_marker(
    time_env: WorkflowEnvironment, outbox: Path
) -> None:
    async with running_worker(time_env.client, outbox) as (_, task_queue):
        now = await time_env.get_current_time()
        order = resolve_holidays(raw_order(unique("CAL"), now), today=now.date())
        handle = await start_raw(time_env, task_queue, order)
        tracked = await get_order(handle)
        assert tracked.party.calendar == PartyCalendar.model_validate(order["party"]["calendar"])
        assert await activities_scheduled(handle) == []
        assert HOLIDAYS_AT_START_PATCH not in await patches(handle)
        await handle.terminate("seen enough")
