"""``assess(order, now)`` at every boundary: each rule flips at one exact instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from workflows.domain.jeopardy import NOT_IN_JEOPARDY, assess, behind_plan_instant, is_watched
from workflows.domain.model import (
    FINAL_STATES,
    ChangeRequest,
    ChangeSet,
    JeopardyStatus,
    Milestone,
    MilestoneStatus,
    OrderState,
    Party,
    PartyOrder,
    TrackingPolicy,
)
from workflows.domain.rules import RULES_1, RULES_4

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
US = timedelta(microseconds=1)
DAY = timedelta(days=1)
NONE, HAZARD, CRITICAL = JeopardyStatus.NONE, JeopardyStatus.HAZARD, JeopardyStatus.CRITICAL


def make_order(
    *,
    due: datetime = NOW + 30 * DAY,
    order_date: datetime | None = NOW - 10 * DAY,
    percent: int = 0,
    tolerance: int = 100,  # behind-plan off unless a test turns it on
    warning: timedelta = 3 * DAY,
    limit: int = 2,
    streak: int = 0,
    milestones: list[Milestone] | None = None,
    changes: list[ChangeRequest] | None = None,
    state: OrderState = OrderState.IN_PROGRESS,
    **policy: Any,
) -> PartyOrder:
    order = PartyOrder(
        id="PO-1",
        party=Party(id="ACME", name="Acme"),
        order_date=order_date,
        expected_completion_date=due,
        requested_completion_date=due,  # agreed and forecast alike unless a test moves one
        milestones=milestones or [],
        change_requests=changes or [],
        tracking_policy=TrackingPolicy(
            behind_plan_tolerance=tolerance,
            warning_lead_time=warning,
            unanswered_check_in_limit=limit,
            **policy,
        ),
        state=state,
        percent_complete=percent,
    )
    order.check_ins.unanswered_streak = streak
    return order


def milestone(
    when: datetime | None, status: MilestoneStatus = MilestoneStatus.YET_TO_REACH, id: str = "m1"
) -> Milestone:
    return Milestone(id=id, milestone_date=when, status=status)


def change(received: datetime, status: str = "received", id: str = "CR-1") -> ChangeRequest:
    return ChangeRequest(
        id=id,
        origin="party",
        kind="requested",
        changes=ChangeSet(expected_completion_date=NOW + 60 * DAY),
        received_at=received,
        status=status,
    )


def status(order: PartyOrder, at: datetime) -> JeopardyStatus:
    return assess(order, at, RULES_4).status


def test_a_quiet_order_is_not_in_jeopardy() -> None:
    assessment = assess(make_order(), NOW, RULES_4)
    assert assessment == NOT_IN_JEOPARDY
    assert assessment.reasons == ()


# ---------------------------------------------------------------- the due date


def test_critical_at_the_exact_due_instant() -> None:
    due = NOW + 5 * DAY
    order = make_order(due=due)
    at_due = assess(order, due, RULES_4)
    assert at_due.status == CRITICAL
    assert at_due.reasons == (
        "agreed date 2026-11-06T12:00:00Z has passed with the order not delivered",
    )
    assert at_due.critical_causes == ("agreedDatePassed",)
    assert status(order, due + 365 * DAY) == CRITICAL


def test_hazard_one_microsecond_before_due() -> None:
    due = NOW + 5 * DAY
    order = make_order(due=due, percent=40)
    before = assess(order, due - US, RULES_4)
    assert before.status == HAZARD
    assert before.reasons == (
        "due date 2026-11-06T12:00:00Z is within the warning lead time with 40% complete",
    )


def test_warning_lead_time_starts_exactly_at_due_minus_lead_time() -> None:
    due = NOW + 5 * DAY
    order = make_order(due=due, warning=timedelta(hours=36))
    start = due - timedelta(hours=36)
    assert status(order, start) == HAZARD
    assert status(order, start - US) == NONE


def test_zero_warning_lead_time_goes_straight_to_critical() -> None:
    due = NOW + 5 * DAY
    order = make_order(due=due, warning=timedelta(0))
    assert status(order, due - US) == NONE
    assert status(order, due) == CRITICAL


def test_requested_date_is_the_due_date_when_nothing_is_expected() -> None:
    order = make_order()
    order.expected_completion_date = None
    order.requested_completion_date = NOW + DAY
    assert status(order, NOW + DAY - US) == HAZARD
    assert status(order, NOW + DAY) == CRITICAL


def test_rules_1_expected_date_wins_over_requested() -> None:
    order = make_order(due=NOW + 20 * DAY)
    order.requested_completion_date = NOW - DAY  # passed, but the expected date rules
    assert assess(order, NOW, rules=RULES_1).status == NONE


def test_a_passed_agreed_date_is_critical_whatever_the_forecast() -> None:
    order = make_order(due=NOW + 20 * DAY)
    order.requested_completion_date = NOW - DAY
    assessment = assess(order, NOW, RULES_4)
    assert assessment.status == CRITICAL
    assert assessment.critical_causes == ("agreedDatePassed", "forecastLate")


def test_due_boundary_is_exact_across_offsets() -> None:
    plus_two = timezone(timedelta(hours=2))
    due = datetime(2026, 11, 6, 14, 0, tzinfo=plus_two)  # 12:00Z
    order = make_order(due=due)
    assert status(order, datetime(2026, 11, 6, 12, 0, tzinfo=UTC)) == CRITICAL
    assert status(order, datetime(2026, 11, 6, 11, 59, 59, 999_999, tzinfo=UTC)) == HAZARD
    minus_five = timezone(timedelta(hours=-5))
    assert status(order, datetime(2026, 11, 3, 7, 0, tzinfo=minus_five)) == HAZARD  # 12:00Z
    assert status(order, datetime(2026, 11, 3, 6, 59, 59, 999_999, tzinfo=minus_five)) == NONE


# ---------------------------------------------------------------- milestones


def test_milestone_due_and_warning_boundaries() -> None:
    when = NOW + 10 * DAY
    order = make_order(milestones=[milestone(when, id="survey")])
    assert status(order, when - 3 * DAY - US) == NONE
    at_warning = assess(order, when - 3 * DAY, RULES_4)
    assert at_warning.status == HAZARD
    assert at_warning.reasons == (
        "milestone survey due 2026-11-11T12:00:00Z is within the warning lead time",
    )
    assert status(order, when - US) == HAZARD
    at_due = assess(order, when, RULES_4)
    assert at_due.status == CRITICAL
    assert at_due.reasons == ("milestone survey violated (due 2026-11-11T12:00:00Z)",)


def test_violated_milestone_status_is_critical_whatever_its_date() -> None:
    for when, due in (
        (NOW + 100 * DAY, "2027-02-09T12:00:00Z"),
        (NOW - DAY, "2026-10-31T12:00:00Z"),
        (None, "?"),
    ):
        order = make_order(milestones=[milestone(when, MilestoneStatus.VIOLATED)])
        assessment = assess(order, NOW, RULES_4)
        assert assessment.status == CRITICAL
        assert assessment.reasons == (f"milestone m1 violated (due {due})",)


def test_completed_milestone_is_never_in_jeopardy() -> None:
    order = make_order(milestones=[milestone(NOW - DAY, MilestoneStatus.COMPLETED)])
    assert status(order, NOW) == NONE
    order = make_order(milestones=[milestone(NOW + DAY, MilestoneStatus.COMPLETED)])
    assert status(order, NOW) == NONE


def test_milestone_without_a_date_is_never_late() -> None:
    order = make_order(milestones=[milestone(None)])
    assert status(order, NOW + 26 * DAY) == NONE  # only the due date warns from 27 days on


def test_each_late_milestone_is_a_reason() -> None:
    order = make_order(
        milestones=[
            milestone(NOW - DAY, id="a"),
            milestone(NOW + DAY, id="b"),
            milestone(NOW + 10 * DAY, id="c"),
            milestone(NOW - DAY, MilestoneStatus.VIOLATED, id="d"),
        ]
    )
    assessment = assess(order, NOW, RULES_4)
    assert assessment.status == CRITICAL
    assert [r.split()[1] for r in assessment.reasons] == ["a", "d", "b"]


# ---------------------------------------------------------------- unanswered check-ins


@pytest.mark.parametrize(
    ("limit", "streak", "expected"),
    [
        (2, 0, NONE),
        (2, 1, NONE),
        (2, 2, CRITICAL),
        (2, 3, CRITICAL),
        (1, 0, NONE),
        (1, 1, CRITICAL),
        (5, 4, NONE),
        (5, 5, CRITICAL),
    ],
)
def test_unanswered_streak_at_limit(limit: int, streak: int, expected: JeopardyStatus) -> None:
    assessment = assess(make_order(limit=limit, streak=streak), NOW, RULES_4)
    assert assessment.status == expected
    if expected == CRITICAL:
        assert assessment.reasons == (f"{streak} check-ins in a row unanswered (limit {limit})",)


# ---------------------------------------------------------------- behind plan


def behind_order(percent: int, tolerance: int, span: timedelta, **kw: Any) -> PartyOrder:
    start = NOW - 50 * DAY
    return make_order(
        order_date=start,
        due=start + span,
        percent=percent,
        tolerance=tolerance,
        warning=timedelta(0),
        **kw,
    )


def _is_behind_by_definition(order: PartyOrder, at: datetime) -> bool:
    def micros(delta: timedelta) -> int:
        return delta // US

    assert order.order_date is not None
    threshold = order.percent_complete + order.tracking_policy.behind_plan_tolerance
    return micros(at - order.order_date) * 100 > threshold * micros(
        order.due_date - order.order_date
    )


@pytest.mark.parametrize(
    ("percent", "tolerance", "span"),
    [
        (10, 25, 100 * DAY),
        (0, 0, 100 * DAY),
        (0, 25, 100 * DAY + 7 * US),  # a span not divisible by 100 µs: rounding matters
        (33, 33, 3 * DAY + 1 * US),
        (98, 1, 365 * DAY + 13 * US),
        (0, 99, timedelta(microseconds=1000)),
        (50, 0, timedelta(microseconds=3)),
    ],
)
def test_behind_plan_flips_exactly_at_behind_plan_instant(
    percent: int, tolerance: int, span: timedelta
) -> None:
    order = behind_order(percent, tolerance, span)
    instant = behind_plan_instant(order, RULES_4)
    assert instant is not None
    assert order.order_date is not None and order.order_date < instant < order.due_date
    # The instant agrees with the rule's definition in whole microseconds ...
    assert _is_behind_by_definition(order, instant)
    assert not _is_behind_by_definition(order, instant - US)
    # ... and assess agrees with both.
    before = assess(order, instant - US, RULES_4)
    assert before.status == NONE
    at = assess(order, instant, RULES_4)
    assert at.status == HAZARD
    assert at.reasons == (f"progress {percent}% is behind plan by more than {tolerance} points",)


def test_behind_plan_instant_for_a_round_schedule() -> None:
    order = behind_order(10, 25, 100 * DAY)
    assert order.order_date is not None
    assert behind_plan_instant(order, RULES_4) == order.order_date + 35 * DAY + US


@pytest.mark.parametrize(("percent", "tolerance"), [(75, 25), (100, 0), (0, 100), (60, 50)])
def test_never_behind_when_percent_plus_tolerance_reaches_100(percent: int, tolerance: int) -> None:
    order = behind_order(percent, tolerance, 100 * DAY)
    assert behind_plan_instant(order, RULES_4) is None
    assert status(order, order.due_date - US) == NONE


def test_never_behind_when_order_date_is_the_due_date() -> None:
    order = make_order(order_date=NOW, due=NOW, tolerance=0, warning=timedelta(0))
    assert behind_plan_instant(order, RULES_4) is None
    assert assess(order, NOW - US, RULES_4) == NOT_IN_JEOPARDY


def test_never_behind_when_order_date_is_after_the_due_date() -> None:
    order = make_order(order_date=NOW + DAY, due=NOW, tolerance=0, warning=timedelta(0))
    assert behind_plan_instant(order, RULES_4) is None


def test_never_behind_without_an_order_date() -> None:
    order = make_order(order_date=None, tolerance=0, warning=timedelta(0))
    assert behind_plan_instant(order, RULES_4) is None
    assert status(order, order.due_date - US) == NONE


def test_behind_plan_gives_way_to_the_passed_due_date() -> None:
    order = behind_order(0, 0, 10 * DAY)
    at_due = assess(order, order.due_date, RULES_4)
    assert at_due.status == CRITICAL
    assert not any("behind plan" in reason for reason in at_due.reasons)


def test_more_progress_moves_behind_plan_later() -> None:
    instants = []
    for percent in range(0, 75, 5):
        instant = behind_plan_instant(behind_order(percent, 25, 100 * DAY), RULES_4)
        assert instant is not None
        instants.append(instant)
    assert instants == sorted(instants)
    assert len(set(instants)) == len(instants)


# ---------------------------------------------------------------- change requests


@pytest.mark.parametrize("open_status", ["received", "forwarded"])
def test_unresolved_change_request_boundary(open_status: str) -> None:
    received = NOW - DAY
    order = make_order(changes=[change(received, open_status)])
    window_end = received + 2 * DAY
    assert status(order, window_end - US) == NONE
    at_end = assess(order, window_end, RULES_4)
    assert at_end.status == HAZARD
    assert at_end.reasons == ("change request CR-1 unresolved since 2026-10-31T12:00:00Z",)


def test_change_resolution_window_comes_from_the_policy() -> None:
    order = make_order(changes=[change(NOW)], change_resolution_window=timedelta(hours=36))
    assert status(order, NOW + timedelta(hours=36) - US) == NONE
    assert status(order, NOW + timedelta(hours=36)) == HAZARD


@pytest.mark.parametrize("closed_status", ["accepted", "rejected"])
def test_resolved_change_requests_are_ignored(closed_status: str) -> None:
    order = make_order(changes=[change(NOW - 20 * DAY, closed_status)])
    assert assess(order, NOW, RULES_4) == NOT_IN_JEOPARDY


def test_each_overdue_change_request_is_a_reason() -> None:
    order = make_order(
        changes=[
            change(NOW - 5 * DAY, id="CR-1"),
            change(NOW - 5 * DAY, "accepted", id="CR-2"),
            change(NOW - 3 * DAY, "forwarded", id="CR-3"),
            change(NOW - DAY, id="CR-4"),
        ]
    )
    assert [r.split()[2] for r in assess(order, NOW, RULES_4).reasons] == [
        "CR-1",
        "CR-3",
    ]


# ---------------------------------------------------------------- states


def _everything_wrong(state: OrderState) -> PartyOrder:
    return make_order(
        due=NOW - DAY,
        streak=10,
        tolerance=0,
        milestones=[milestone(NOW - DAY, MilestoneStatus.VIOLATED)],
        changes=[change(NOW - 10 * DAY)],
        state=state,
    )


@pytest.mark.parametrize("state", sorted(FINAL_STATES | {OrderState.PENDING_CANCELLATION}))
def test_final_and_cancelling_orders_are_never_in_jeopardy(state: OrderState) -> None:
    order = _everything_wrong(state)
    assert not is_watched(order)
    assert assess(order, NOW, RULES_4) == NOT_IN_JEOPARDY


@pytest.mark.parametrize(
    "state",
    [OrderState.ACKNOWLEDGED, OrderState.IN_PROGRESS, OrderState.PENDING, OrderState.HELD],
)
def test_open_orders_are_watched_in_every_open_state(state: OrderState) -> None:
    order = _everything_wrong(state)
    assert is_watched(order)
    assert status(order, NOW) == CRITICAL


# ---------------------------------------------------------------- combining rules


def test_reasons_list_every_true_rule_critical_first() -> None:
    start = NOW - 90 * DAY
    order = make_order(
        order_date=start,
        due=NOW + DAY,  # within the 3-day warning lead time
        percent=10,
        tolerance=25,  # 98.9% of the schedule elapsed, 10% done: behind plan
        streak=2,
        milestones=[
            milestone(NOW - DAY, MilestoneStatus.VIOLATED, id="survey"),
            milestone(NOW + 2 * DAY, id="build"),
        ],
        changes=[change(NOW - 3 * DAY)],
    )
    assessment = assess(order, NOW, RULES_4)
    assert assessment.status == CRITICAL
    assert assessment.reasons == (
        "milestone survey violated (due 2026-10-31T12:00:00Z)",
        "2 check-ins in a row unanswered (limit 2)",
        "due date 2026-11-02T12:00:00Z is within the warning lead time with 10% complete",
        "milestone build due 2026-11-03T12:00:00Z is within the warning lead time",
        "progress 10% is behind plan by more than 25 points",
        "change request CR-1 unresolved since 2026-10-29T12:00:00Z",
    )


def test_critical_outranks_hazard() -> None:
    order = make_order(due=NOW + DAY, streak=2)
    assessment = assess(order, NOW, RULES_4)
    assert assessment.status == CRITICAL
    assert len(assessment.reasons) == 2
    assert "unanswered" in assessment.reasons[0]
    assert "warning lead time" in assessment.reasons[1]


def test_several_hazards_stay_hazard() -> None:
    order = make_order(due=NOW + DAY, changes=[change(NOW - 3 * DAY)])
    assessment = assess(order, NOW, RULES_4)
    assert assessment.status == HAZARD
    assert len(assessment.reasons) == 2


def test_assess_does_not_change_the_order() -> None:
    order = _everything_wrong(OrderState.IN_PROGRESS)
    before = order.model_dump()
    assess(order, NOW, RULES_4)
    assert order.model_dump() == before
