"""Tracking, jeopardy and escalation in the workflow: durable timers that watch an order.

Months run on the time-skipping server; the last test runs seconds-long deadlines on the
real dev server, as an operator would see them.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from starter.samples import example_order
from tests.conftest import get_order, read_outbox, running_worker, start_tracking, unique
from tests.support.clock import skip
from workflows.domain.instants import iso
from workflows.domain.model import PartyOrder, close_workflow_id, track_workflow_id

MINUTE = timedelta(minutes=1)


def sent_at(notification: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(notification["occurredAt"].replace("Z", "+00:00"))


def close_to(actual: datetime, expected: datetime) -> bool:
    return abs(actual - expected) <= MINUTE


async def test_six_month_order_escalates_in_tiers_and_late_delivery_clears(
    time_env: WorkflowEnvironment, outbox: Path
) -> None:
    async with running_worker(time_env.client, outbox) as (_, task_queue):
        began = await time_env.get_current_time()
        order_id = unique()
        order = example_order(order_id, began, milestones=[])
        order["expectedCompletionDate"] = iso(began + timedelta(days=182))
        order["requestedCompletionDate"] = iso(began + timedelta(days=182))
        handle = await start_tracking(time_env, task_queue, order)

        # Weekly check-ins at days 7 and 14 go unanswered (window P2D): at day 16 the
        # second one times out, the limit of 2 is reached and the order is critical.
        await skip(time_env, timedelta(days=15, hours=23))
        before = await get_order(handle)
        assert before.jeopardy.status == "none"
        assert before.check_ins.sent == 2 and before.check_ins.unanswered_streak == 1

        await skip(time_env, timedelta(days=4))  # to day 20: levels at 16, 17 and 19
        during = await get_order(handle)
        assert during.jeopardy.status == "critical"
        assert during.jeopardy.escalation_level == 3
        assert any("check-ins in a row unanswered" in r for r in during.jeopardy.reasons)
        episode = during.jeopardy.since
        assert episode is not None and close_to(episode, began + timedelta(days=16))

        escalations = [n for n in read_outbox(outbox) if n["kind"] == "escalation"]
        assert [(n["recipient"], n["body"]["level"]) for n in escalations] == [
            ("order-manager", 1),
            ("operations-lead", 2),
            ("executive-sponsor", 3),
        ]
        for notice, after in zip(escalations, (0, 1, 3), strict=True):
            assert close_to(sent_at(notice), episode + timedelta(days=after))

        # The party stays silent past the due date; check-ins keep their weekly rhythm.
        await skip(time_env, timedelta(days=200 - 20))
        late = await get_order(handle)
        assert late.check_ins.sent == 200 // 7  # days 7, 14, ..., 196
        assert any("agreed date" in r and "has passed" in r for r in late.jeopardy.reasons)
        # Every level fired: the top contact is reminded daily (escalationRepeatInterval),
        # from level 3 on day 19 to day 200, with the passed due date (day 182, a new
        # critical reason) heard at once in between.
        outbox_now = read_outbox(outbox)
        reminders = [n for n in outbox_now if n["kind"] == "escalationReminder"]
        worsened = [n for n in outbox_now if n["kind"] == "jeopardyWorsened"]
        assert {n["recipient"] for n in reminders + worsened} == {"executive-sponsor"}
        assert len(worsened) == 1 and close_to(sent_at(worsened[0]), began + timedelta(days=182))
        top = sent_at(escalations[2])  # every level has fired from here on
        heard = sorted(sent_at(n) for n in [escalations[2], *reminders, *worsened])
        assert heard[0] == top
        assert max(b - a for a, b in itertools.pairwise(heard)) <= timedelta(days=1, minutes=1)
        assert heard[-1] > began + timedelta(days=199)

        await handle.signal("report_progress", {"delivered": True, "note": "finally live"})
        final = await handle.result()
        assert final.state == "completed"
        assert final.jeopardy.status == "none" and final.jeopardy.escalation_level == 0
        assert [a.jeopardy_type for a in final.jeopardy_alerts] == [
            "critical",
            "critical",  # the passed due date, a new critical reason
            "cleared",
        ]
        de_escalations = [
            n["recipient"] for n in read_outbox(outbox) if n["kind"] == "deEscalation"
        ]
        # Notices go out concurrently, so the outbox order may vary.
        assert sorted(de_escalations) == ["executive-sponsor", "operations-lead", "order-manager"]
        # No level fired twice in the episode.
        assert len([n for n in read_outbox(outbox) if n["kind"] == "escalation"]) == 3
        # Let the close process finish while the worker is still here.
        await time_env.client.get_workflow_handle(close_workflow_id(order_id)).result()


async def test_accepted_date_change_replans_with_no_stale_firing(
    time_env: WorkflowEnvironment, outbox: Path
) -> None:
    async with running_worker(time_env.client, outbox) as (_, task_queue):
        began = await time_env.get_current_time()
        order = example_order(unique(), began)
        order["expectedCompletionDate"] = iso(began + timedelta(days=60))
        order["milestones"] = [{"id": "survey", "milestoneDate": iso(began + timedelta(days=10))}]
        order["trackingPolicy"]["checkInInterval"] = "P90D"
        handle = await start_tracking(time_env, task_queue, order)
        await handle.signal("report_progress", {"percentComplete": 40})

        await skip(time_env, timedelta(days=2))
        moved = began + timedelta(days=30)
        await handle.signal(
            "request_change",
            {
                "requestId": "move-survey",
                "changes": {"milestones": [{"id": "survey", "milestoneDate": iso(moved)}]},
            },
        )
        await handle.signal(
            "resolve_change", {"changeRequestId": "move-survey", "decision": "accepted"}
        )

        # Past the old warning (day 7) and the old date (day 10): nothing fires.
        await skip(time_env, timedelta(days=12))
        quiet = await get_order(handle)
        assert quiet.milestone("survey").status == "yetToReach"  # type: ignore[union-attr]
        assert quiet.jeopardy.status == "none" and quiet.jeopardy_alerts == []

        # The new plan is watched: warning from day 27, violation at day 30.
        await skip(time_env, timedelta(days=14))  # day 28
        warned = await get_order(handle)
        assert warned.jeopardy.status == "hazard"
        assert any("milestone survey" in r for r in warned.jeopardy.reasons)
        await skip(time_env, timedelta(days=3))  # day 31
        violated = await get_order(handle)
        assert violated.milestone("survey").status == "violated"  # type: ignore[union-attr]
        assert violated.jeopardy.status == "critical"
        assert close_to(violated.jeopardy_alerts[-1].alert_date, moved) or close_to(
            violated.jeopardy_alerts[-2].alert_date, moved
        )

        history = await handle.fetch_history()
        fired = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED]
        started = {
            e.timer_started_event_attributes.timer_id: e
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
        }
        # Every timer that fired was the current plan's: none for the old day 7 or day 10.
        for event in fired:
            timer = started[event.timer_fired_event_attributes.timer_id]
            due = timer.event_time.ToDatetime().replace(tzinfo=began.tzinfo) + timedelta(
                seconds=timer.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta().total_seconds()
            )
            for stale in (began + timedelta(days=7), began + timedelta(days=10)):
                assert not close_to(due, stale), f"a stale timer fired at {due}"
        await handle.signal("cancel_order", {"reason": "test over"})
        await handle.result()


async def test_check_in_now_and_party_reports_reset_the_rhythm(
    time_env: WorkflowEnvironment, outbox: Path
) -> None:
    async with running_worker(time_env.client, outbox) as (_, task_queue):
        began = await time_env.get_current_time()
        handle = await start_tracking(
            time_env, task_queue, example_order(unique(), began, milestones=[])
        )
        await skip(time_env, timedelta(days=3))
        await handle.signal("check_in_now", {"requestedBy": "order-manager"})
        await skip(time_env, timedelta(hours=1))
        asked = await get_order(handle)
        assert asked.check_ins.sent == 1
        assert asked.check_ins.next_at is not None
        assert close_to(asked.check_ins.next_at, began + timedelta(days=10))
        await handle.signal("report_progress", {"percentComplete": 30})
        answered = await get_order(handle)
        assert answered.check_ins.answer_by is None and answered.check_ins.unanswered_streak == 0
        # An enterprise report does not answer a check-in.
        await skip(time_env, timedelta(days=7, hours=1))  # check-in 2 went out at day 10h1
        await handle.signal("report_progress", {"source": "enterprise", "note": "internal note"})
        await skip(time_env, timedelta(days=1))
        later = await get_order(handle)
        assert later.check_ins.sent == 2
        assert later.check_ins.answer_by is not None
        assert close_to(later.check_ins.answer_by, began + timedelta(days=12, hours=1))
        # Rules 5 (wakes_when_windows_end): the window is counted when it ends, at day 12h1
        # (rules 4 counted it at the next wake-up, the next check-in at day 17h1).
        await skip(time_env, timedelta(days=1, hours=2))  # day 13h1
        ended = await get_order(handle)
        assert ended.check_ins.answer_by is None and ended.check_ins.unanswered_streak == 1
        await skip(time_env, timedelta(days=5))  # day 18
        counted = await get_order(handle)
        assert counted.check_ins.sent == 3 and counted.check_ins.unanswered_streak == 1
        assert counted.jeopardy.status == "none"
        await skip(time_env, timedelta(days=2))  # day 20, past the window ending at 19h1
        limit = await get_order(handle)
        assert limit.check_ins.unanswered_streak == 2
        assert limit.jeopardy.status == "critical"
        assert limit.jeopardy.since is not None
        assert close_to(limit.jeopardy.since, began + timedelta(days=19, hours=1))
        requested = [n for n in read_outbox(outbox) if n["kind"] == "checkIn"]
        assert requested[0]["body"]["requestedBy"] == "order-manager"
        assert requested[1]["body"]["requestedBy"] == "periodic tracking"
        await handle.signal("cancel_order", {"reason": "test over"})
        await handle.result()


async def _poll(client: Client, order_id: str, check: Any, timeout: float = 40.0) -> PartyOrder:
    handle = client.get_workflow_handle(track_workflow_id(order_id))
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        order = await handle.query("get_order", result_type=PartyOrder)
        if check(order):
            return order
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"order never reached the expected state: {order.to_json_dict()}")
        await asyncio.sleep(0.25)


async def test_seconds_long_deadlines_on_the_dev_server(
    dev_client: Client, dev_task_queue: str, session_outbox: Path
) -> None:
    now = datetime.now().astimezone()
    order_id = unique()
    order = example_order(order_id, now)
    order["expectedCompletionDate"] = iso(now + timedelta(minutes=10))
    order["requestedCompletionDate"] = iso(now + timedelta(minutes=10))
    order["milestones"] = [{"id": "survey", "milestoneDate": iso(now + timedelta(seconds=3))}]
    order["trackingPolicy"] = {
        "checkInInterval": "PT2S",
        "responseWindow": "PT1S",
        "unansweredCheckInLimit": 2,
        "warningLeadTime": "PT1S",
        "changeResolutionWindow": "PT30S",
        "escalation": [
            {"level": 1, "after": "PT0S", "notify": "order-manager"},
            {"level": 2, "after": "PT3S", "notify": "operations-lead"},
            {"level": 3, "after": "PT6S", "notify": "executive-sponsor"},
        ],
    }
    handle = await dev_client.start_workflow(
        "TrackPartyOrder",
        order,
        id=track_workflow_id(order_id),
        task_queue=dev_task_queue,
        result_type=PartyOrder,
    )
    critical = await _poll(dev_client, order_id, lambda o: o.jeopardy.status == "critical")
    assert critical.milestone("survey").status == "violated"  # type: ignore[union-attr]
    assert any(r.startswith("milestone survey violated") for r in critical.jeopardy.reasons)
    assert critical.jeopardy.escalation_level >= 1  # level 1 fires at once (after PT0S)
    since = critical.jeopardy.since
    assert since is not None
    escalated = await _poll(dev_client, order_id, lambda o: o.jeopardy.escalation_level == 3)
    assert escalated.jeopardy.since == since  # hazard turning critical is one episode
    assert any(a.name == "Milestone survey violated" for a in escalated.jeopardy_alerts)
    assert any(a.jeopardy_type == "critical" for a in escalated.jeopardy_alerts)

    await handle.signal(
        "report_progress",
        {"delivered": True, "milestones": [{"id": "survey", "status": "completed"}]},
    )
    final = await handle.result()
    assert final.state == "completed"
    assert final.jeopardy.status == "none"
    assert final.jeopardy_alerts[-1].jeopardy_type == "cleared"
    notices = [n for n in read_outbox(session_outbox) if n["orderId"] == order_id]
    kinds = {n["kind"] for n in notices}
    assert {"checkIn", "milestoneViolated", "escalation", "deEscalation", "completed"} <= kinds
    # Each level once, in turn, to its contact, and none before since + after.
    escalations = [n for n in notices if n["kind"] == "escalation"]
    assert [(n["recipient"], n["body"]["level"]) for n in escalations] == [
        ("order-manager", 1),
        ("operations-lead", 2),
        ("executive-sponsor", 3),
    ]
    for note, after in zip(escalations, (0, 3, 6), strict=True):
        assert sent_at(note) >= since + timedelta(seconds=after), note
    # Periodic check-ins, numbered one by one, never closer than checkInInterval (PT2S).
    check_ins = sorted((n for n in notices if n["kind"] == "checkIn"), key=sent_at)
    assert [n["body"]["checkInNumber"] for n in check_ins] == list(
        range(1, final.check_ins.sent + 1)
    )
    assert final.check_ins.sent >= 2  # the order lived past two intervals (level 3 at 6 s)
    for earlier, later in itertools.pairwise(check_ins):
        assert sent_at(later) - sent_at(earlier) >= timedelta(seconds=2), (earlier, later)
    assert {n["body"]["requestedBy"] for n in check_ins} == {"periodic tracking"}
