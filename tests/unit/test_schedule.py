"""``deadlines.next_due``: one source of deadlines, each with the summary the Web UI shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from workflows.domain.deadlines import Deadline, deadlines, next_due
from workflows.domain.model import (
    ChangeRequest,
    ChangeSet,
    JeopardyStatus,
    Milestone,
    MilestoneStatus,
    OrderState,
    PartyOrderSpec,
)
from workflows.domain.rules import CURRENT_RULES, RULES_4
from workflows.domain.tracker import PartyOrderTracker

NOW = datetime(2026, 11, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
DAY = timedelta(days=1)


def tracker(
    *, due: datetime = NOW + 60 * DAY, milestones: list[Milestone] | None = None, **policy: object
) -> PartyOrderTracker:
    spec = PartyOrderSpec(
        id="PO-1",
        party={"id": "ACME", "name": "Acme"},
        expected_completion_date=due,
        milestones=milestones or [],
        tracking_policy={"behindPlanTolerance": 100, **policy},
    )
    return PartyOrderTracker.start(spec, NOW, rules_version=CURRENT_RULES)


def whats(found: list[Deadline]) -> dict[str, datetime]:
    return {d.what: d.at for d in found}


def test_a_new_order_waits_for_its_first_check_in() -> None:
    order = tracker().order
    due = next_due(order, NOW, RULES_4)
    assert due == Deadline(NOW + 7 * DAY, "periodic check-in with the party")


def test_every_kind_of_deadline_has_its_summary() -> None:
    t = tracker(
        due=NOW + 60 * DAY,
        milestones=[Milestone(id="survey", milestone_date=NOW + 20 * DAY)],
        behindPlanTolerance=25,
    )
    order = t.order
    order.check_ins.answer_by = NOW + 2 * DAY
    order.check_ins.unanswered_streak = 1  # this one unanswered reaches the limit of 2
    order.change_requests.append(
        ChangeRequest(
            id="CR-9",
            origin="party",
            kind="requested",
            changes=ChangeSet(expected_completion_date=NOW + 90 * DAY),
            received_at=NOW,
        )
    )
    order.jeopardy.status = JeopardyStatus.HAZARD
    order.jeopardy.since = NOW
    assert whats(deadlines(order, RULES_4)) == {
        "periodic check-in with the party": NOW + 7 * DAY,
        "check-in response window ends": NOW + 2 * DAY,
        "milestone survey due": NOW + 20 * DAY,
        "milestone survey warning lead time": NOW + 17 * DAY,
        "order due date": NOW + 60 * DAY,
        "due date warning lead time": NOW + 57 * DAY,
        "progress falls behind plan": NOW + 15 * DAY + US,  # 25% of 60 days, then 1 µs
        "change request CR-9 resolution window ends": NOW + 2 * DAY,
        "escalation level 1": NOW,
    }


def test_next_due_is_the_earliest_strictly_future_deadline() -> None:
    t = tracker(milestones=[Milestone(id="survey", milestone_date=NOW + 5 * DAY)])
    order = t.order
    assert next_due(order, NOW, RULES_4) == Deadline(
        NOW + 2 * DAY, "milestone survey warning lead time"
    )
    # at a deadline, that deadline is handled: the next one is strictly later
    assert next_due(order, NOW + 2 * DAY, RULES_4) == Deadline(
        NOW + 5 * DAY, "milestone survey due"
    )
    assert next_due(order, NOW + 2 * DAY - US, RULES_4) == Deadline(
        NOW + 2 * DAY, "milestone survey warning lead time"
    )
    assert next_due(order, NOW + 5 * DAY, RULES_4) == Deadline(
        NOW + 7 * DAY, "periodic check-in with the party"
    )


def test_a_response_window_is_a_deadline_only_when_it_reaches_the_limit() -> None:
    t = tracker()  # unansweredCheckInLimit 2
    t.advance(NOW + 7 * DAY)  # the first check-in goes out, answer by day 9
    assert t.order.check_ins.answer_by == NOW + 9 * DAY
    # below the limit, the unanswered check-in is counted at the next wake-up
    assert next_due(t.order, NOW + 7 * DAY, RULES_4) == Deadline(
        NOW + 14 * DAY, "periodic check-in with the party"
    )
    t.advance(NOW + 14 * DAY)  # counts the first, sends the second (answer by day 16)
    assert t.order.check_ins.unanswered_streak == 1
    assert next_due(t.order, NOW + 14 * DAY, RULES_4) == Deadline(
        NOW + 16 * DAY, "check-in response window ends"
    )
    t.advance(NOW + 16 * DAY)
    assert t.order.jeopardy.status == JeopardyStatus.CRITICAL


def test_with_a_limit_of_one_the_first_response_window_is_a_deadline() -> None:
    t = tracker(unansweredCheckInLimit=1)
    t.advance(NOW + 7 * DAY)
    assert next_due(t.order, NOW + 7 * DAY, RULES_4) == Deadline(
        NOW + 9 * DAY, "check-in response window ends"
    )
    t.advance(NOW + 9 * DAY)
    assert t.order.jeopardy.status == JeopardyStatus.CRITICAL
    assert next_due(t.order, NOW + 9 * DAY, RULES_4) == Deadline(
        NOW + 10 * DAY, "escalation level 2"
    )


def test_due_date_deadlines_in_turn() -> None:
    t = tracker(due=NOW + 4 * DAY, checkInInterval="P30D")
    assert next_due(t.order, NOW, RULES_4) == Deadline(NOW + DAY, "due date warning lead time")
    assert next_due(t.order, NOW + DAY, RULES_4) == Deadline(NOW + 4 * DAY, "order due date")


def test_no_deadline_once_everything_is_past() -> None:
    t = tracker(due=NOW + 4 * DAY)
    order = t.order
    order.check_ins.next_at = None
    assert next_due(order, NOW + 4 * DAY, RULES_4) is None
    assert next_due(order, NOW + 4 * DAY - US, RULES_4) == Deadline(NOW + 4 * DAY, "order due date")


def test_a_moved_due_date_moves_the_deadline() -> None:
    t = tracker(due=NOW + 4 * DAY, checkInInterval="P30D")
    assert next_due(t.order, NOW + 2 * DAY, RULES_4) == Deadline(NOW + 4 * DAY, "order due date")
    # the agreed date moves by agreement: a change request, accepted
    t.handle(
        "request_change",
        {
            "requestId": "later",
            "changes": {
                "requestedCompletionDate": "2026-11-20T00:00:00Z",
                "expectedCompletionDate": "2026-11-20T00:00:00Z",
            },
        },
        NOW + 2 * DAY,
    )
    t.handle("resolve_change", {"changeRequestId": "later", "decision": "accepted"}, NOW + 2 * DAY)
    found = whats(deadlines(t.order, RULES_4))
    assert found["order due date"] == datetime(2026, 11, 20, tzinfo=UTC)
    assert found["due date warning lead time"] == datetime(2026, 11, 17, tzinfo=UTC)
    assert NOW + 4 * DAY not in {d.at for d in deadlines(t.order, RULES_4)}
    assert next_due(t.order, NOW + 2 * DAY, RULES_4) == Deadline(
        datetime(2026, 11, 17, tzinfo=UTC), "due date warning lead time"
    )


def test_an_accepted_milestone_change_moves_its_deadlines() -> None:
    t = tracker(milestones=[Milestone(id="survey", milestone_date=NOW + 5 * DAY)])
    t.handle(
        "request_change",
        {
            "requestId": "c1",
            "changes": {"milestones": [{"id": "survey", "milestoneDate": "2026-11-25T00:00:00Z"}]},
        },
        NOW,
    )
    assert (
        whats(deadlines(t.order, RULES_4))["milestone survey due"] == NOW + 5 * DAY
    )  # not yet accepted
    t.handle("resolve_change", {"changeRequestId": "c1", "decision": "accepted"}, NOW + DAY)
    found = whats(deadlines(t.order, RULES_4))
    assert found["milestone survey due"] == datetime(2026, 11, 25, tzinfo=UTC)
    assert found["milestone survey warning lead time"] == datetime(2026, 11, 22, tzinfo=UTC)
    assert not any("CR" in what or "c1" in what for what in found)  # resolved: no window


def test_completed_and_violated_milestones_have_no_deadline() -> None:
    t = tracker(
        milestones=[
            Milestone(id="a", milestone_date=NOW + 5 * DAY, status=MilestoneStatus.COMPLETED),
            Milestone(id="b", milestone_date=NOW + 5 * DAY, status=MilestoneStatus.VIOLATED),
            Milestone(id="c"),
        ]
    )
    assert not any(d.what.startswith("milestone") for d in deadlines(t.order, RULES_4))


def test_a_change_request_has_a_deadline_while_open() -> None:
    t = tracker()
    t.handle("request_change", {"requestId": "c1", "changes": {"orderItems": [{"id": "1"}]}}, NOW)
    assert (
        whats(deadlines(t.order, RULES_4))["change request c1 resolution window ends"]
        == NOW + 2 * DAY
    )
    t.change_forwarded("c1")
    assert (
        whats(deadlines(t.order, RULES_4))["change request c1 resolution window ends"]
        == NOW + 2 * DAY
    )
    t.handle("resolve_change", {"changeRequestId": "c1", "decision": "rejected"}, NOW + DAY)
    assert "change request c1 resolution window ends" not in whats(deadlines(t.order, RULES_4))


def test_behind_plan_deadline_moves_with_progress() -> None:
    t = tracker(due=NOW + 100 * DAY, behindPlanTolerance=20)
    assert whats(deadlines(t.order, RULES_4))["progress falls behind plan"] == NOW + 20 * DAY + US
    t.handle("report_progress", {"percentComplete": 30}, NOW + DAY)
    assert whats(deadlines(t.order, RULES_4))["progress falls behind plan"] == NOW + 50 * DAY + US
    t.handle("report_progress", {"percentComplete": 80}, NOW + 2 * DAY)
    assert "progress falls behind plan" not in whats(deadlines(t.order, RULES_4))


# ---------------------------------------------------------------- escalation


def escalation_deadlines(order_level: int, status: JeopardyStatus) -> list[Deadline]:
    order = tracker().order
    order.jeopardy.status = status
    order.jeopardy.since = NOW
    order.jeopardy.escalation_level = order_level
    return [d for d in deadlines(order, RULES_4) if d.what.startswith("escalation")]


@pytest.mark.parametrize("status", [JeopardyStatus.HAZARD, JeopardyStatus.CRITICAL])
@pytest.mark.parametrize(
    ("level", "expected"),
    [
        (0, [Deadline(NOW, "escalation level 1")]),
        (1, [Deadline(NOW + DAY, "escalation level 2")]),
        (2, [Deadline(NOW + 3 * DAY, "escalation level 3")]),
        (3, []),
    ],
)
def test_only_the_next_escalation_level_is_due(
    level: int, expected: list[Deadline], status: JeopardyStatus
) -> None:
    assert escalation_deadlines(level, status) == expected


def test_no_escalation_without_jeopardy() -> None:
    assert escalation_deadlines(0, JeopardyStatus.NONE) == []


def test_escalation_with_gaps_in_level_numbers() -> None:
    t = tracker(
        escalation=[
            {"level": 2, "after": "PT1H", "notify": "a"},
            {"level": 7, "after": "P2D", "notify": "b"},
        ]
    )
    order = t.order
    order.jeopardy.status = JeopardyStatus.CRITICAL
    order.jeopardy.since = NOW
    assert [d for d in deadlines(order, RULES_4) if "escalation" in d.what] == [
        Deadline(NOW + timedelta(hours=1), "escalation level 2")
    ]
    order.jeopardy.escalation_level = 2
    assert [d for d in deadlines(order, RULES_4) if "escalation" in d.what] == [
        Deadline(NOW + 2 * DAY, "escalation level 7")
    ]


def test_next_escalation_is_next_due_when_earliest() -> None:
    t = tracker()
    order = t.order
    order.jeopardy.status = JeopardyStatus.CRITICAL
    order.jeopardy.since = NOW
    order.jeopardy.escalation_level = 1
    assert next_due(order, NOW, RULES_4) == Deadline(NOW + DAY, "escalation level 2")


# ---------------------------------------------------------------- orders no longer watched


@pytest.mark.parametrize(
    "state",
    [
        OrderState.COMPLETED,
        OrderState.CANCELLED,
        OrderState.FAILED,
        OrderState.PENDING_CANCELLATION,
    ],
)
def test_no_deadlines_for_final_or_cancelling_orders(state: OrderState) -> None:
    order = tracker(milestones=[Milestone(id="a", milestone_date=NOW + DAY)]).order
    order.jeopardy.status = JeopardyStatus.CRITICAL
    order.jeopardy.since = NOW
    order.state = state
    assert deadlines(order, RULES_4) == []
    assert next_due(order, NOW, RULES_4) is None


def test_a_completed_order_through_the_tracker_has_no_deadlines() -> None:
    t = tracker()
    t.handle("report_progress", {"delivered": True}, NOW + DAY)
    assert t.order.state == OrderState.COMPLETED
    assert next_due(t.order, NOW + DAY, RULES_4) is None
