"""Escalation that never goes silent, in the workflow (time-skipping server).

The silent 25-day order of issue 10: the party never answers. Every worsening reaches an
escalation contact at once, the top contact is reminded every ``escalationRepeatInterval``
once every level has fired, and an acknowledgement stops the reminders until the next
worsening.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from starter.samples import example_order
from tests.conftest import get_order, read_outbox, running_worker, start_tracking, unique
from tests.integration.test_timers_workflow import close_to, sent_at
from tests.support.clock import skip
from workflows.domain import names
from workflows.domain.model import PartyOrder

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


async def test_the_silent_25_day_order_is_heard_until_acknowledged(
    time_env: WorkflowEnvironment, outbox: Path
) -> None:
    async with running_worker(time_env.client, outbox) as (_, task_queue):
        began = await time_env.get_current_time()
        order = example_order(
            unique(), began, milestones=[], expected_in=25 * DAY, requested_in=25 * DAY
        )
        handle = await start_tracking(time_env, task_queue, order)

        await skip(time_env, DAY)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(
                names.ACKNOWLEDGE_ESCALATION, {"level": 1, "by": "order-manager"}
            )
        assert "not in jeopardy" in str(refused.value.cause)

        # Behind plan at a quarter of the schedule (day 6.25): levels 1, 2, 3 in turn.
        await skip(time_env, 9 * DAY + HOUR)  # day 10, 1 h
        contacts = [n for n in read_outbox(outbox) if n["recipientKind"] == "contact"]
        assert [(n["recipient"], n["kind"]) for n in contacts] == [
            ("order-manager", "escalation"),
            ("operations-lead", "escalation"),
            ("executive-sponsor", "escalation"),
        ]
        hazard = began + timedelta(days=6, hours=6)
        for notice, after in zip(contacts, (0, 1, 3), strict=True):
            assert close_to(sent_at(notice), hazard + after * DAY), notice

        with pytest.raises(WorkflowUpdateFailedError) as too_high:
            await handle.execute_update(names.ACKNOWLEDGE_ESCALATION, {"level": 4})
        assert "level: 4 has not been reached" in str(too_high.value.cause)
        acknowledged = await handle.execute_update(
            names.ACKNOWLEDGE_ESCALATION,
            {"requestId": "ack-1", "level": 3, "by": "executive-sponsor", "note": "on it"},
            result_type=PartyOrder,
        )
        assert acknowledged.jeopardy.acknowledged_by == "executive-sponsor"
        assert acknowledged.jeopardy.acknowledged_level == 3
        acknowledged_at = acknowledged.jeopardy.acknowledged_at
        assert acknowledged_at is not None and close_to(acknowledged_at, began + 10 * DAY + HOUR)

        # Acknowledged: quiet until the next worsening, the second unanswered check-in
        # (critical on day 16); then daily reminders, and the passed due date on day 25.
        await skip(time_env, 15 * DAY + 11 * HOUR)  # day 25, 12 h
        after_ack = [
            n
            for n in read_outbox(outbox)
            if n["recipientKind"] == "contact" and sent_at(n) > acknowledged_at
        ]
        expected = [
            (16, "jeopardyWorsened"),
            *((day, "escalationReminder") for day in range(17, 25)),
            (25, "jeopardyWorsened"),
        ]
        assert [(n["recipient"], n["kind"]) for n in after_ack] == [
            ("executive-sponsor", kind) for _, kind in expected
        ]
        for notice, (day, _) in zip(after_ack, expected, strict=True):
            assert close_to(sent_at(notice), began + day * DAY), notice
        gaps = [sent_at(b) - sent_at(a) for a, b in itertools.pairwise(after_ack)]
        assert max(gaps) <= DAY + timedelta(minutes=1)

        late = await get_order(handle)
        assert late.jeopardy.status == "critical"
        assert late.jeopardy.escalation_level == 3
        worsened_alerts = [a.jeopardy_type for a in late.jeopardy_alerts]
        assert worsened_alerts == ["hazard", "critical", "critical"]
        await handle.signal(names.CANCEL_ORDER, {"reason": "test over"})
        await handle.result()
