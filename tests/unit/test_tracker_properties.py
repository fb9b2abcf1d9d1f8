"""Laws of jeopardy and of the schedule, checked on random orders around a fixed instant.

* Monotonic: more progress, later dates, or an answered check-in never raise jeopardy
  (none < hazard < critical).
* One source of deadlines: between ``now`` and ``next_due(order, now)`` no rule flips, so a
  workflow that only wakes at ``next_due`` never misses a change of jeopardy.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from workflows.domain.deadlines import deadlines, next_due
from workflows.domain.jeopardy import Assessment, assess
from workflows.domain.model import (
    ChangeRequest,
    ChangeSet,
    Jeopardy,
    JeopardyStatus,
    Milestone,
    MilestoneStatus,
    OrderState,
    Party,
    PartyOrder,
    TrackingPolicy,
)
from workflows.domain.rules import CURRENT_RULES, RULES_4
from workflows.domain.tracker import PartyOrderTracker

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
US = timedelta(microseconds=1)
DAY = timedelta(days=1)
RANK = {JeopardyStatus.NONE: 0, JeopardyStatus.HAZARD: 1, JeopardyStatus.CRITICAL: 2}

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def rank(assessment: Assessment) -> int:
    return RANK[assessment.status]


# ---------------------------------------------------------------- random orders


@functools.cache  # strategies built once: hypothesis validates each new one, which is slow
def around(low: timedelta, high: timedelta) -> st.SearchStrategy[datetime]:
    """Instants NOW+low..NOW+high, with round values and microsecond edges both likely."""
    return st.one_of(
        st.timedeltas(min_value=low, max_value=high),
        st.integers(int(low / DAY), int(high / DAY)).map(lambda d: d * DAY),
        st.integers(int(low / DAY), int(high / DAY)).map(lambda d: d * DAY + US),
        st.integers(int(low / DAY), int(high / DAY)).map(lambda d: d * DAY - US),
    ).map(lambda delta: NOW + delta)


zones = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(-timedelta(hours=7))])
durations = st.one_of(
    st.timedeltas(min_value=timedelta(0), max_value=10 * DAY),
    st.sampled_from([timedelta(0), US, timedelta(hours=36), 3 * DAY, 7 * DAY]),
)
positive_durations = st.one_of(
    st.timedeltas(min_value=US, max_value=10 * DAY),
    st.sampled_from([US, timedelta(hours=36), 2 * DAY, 7 * DAY]),
)


OPEN_STATES = [OrderState.ACKNOWLEDGED, OrderState.IN_PROGRESS, OrderState.PENDING, OrderState.HELD]
AFTERS = st.lists(durations, max_size=3)
LIMITS = st.integers(1, 4)
TOLERANCES = st.sampled_from([0, 25, 100]) | st.integers(0, 100)
MILESTONE_STATUSES = st.sampled_from([MilestoneStatus.YET_TO_REACH] * 4 + list(MilestoneStatus))
CHANGE_STATUSES = st.sampled_from(["received", "forwarded", "accepted", "rejected"])
COUNTS = st.sampled_from([0, 0, 1, 2, 3])
OPEN_STATE_VALUES = st.sampled_from(OPEN_STATES)
ALL_STATES = st.sampled_from(list(OrderState))
PERCENTS = st.integers(0, 100)
STREAKS = st.just(0) | st.integers(0, 5)
JEOPARDY_STATUSES = st.sampled_from(list(JeopardyStatus))
LEVELS = st.integers(0, 3)


@functools.cache
def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


@st.composite
def policies(draw: st.DrawFn) -> TrackingPolicy:
    afters = sorted(draw(AFTERS))
    # A policy's response window never exceeds its check-in interval.
    interval, window = sorted((draw(positive_durations), draw(positive_durations)), reverse=True)
    return TrackingPolicy(
        check_in_interval=interval,
        response_window=window,
        unanswered_check_in_limit=draw(LIMITS),
        warning_lead_time=draw(durations),
        change_resolution_window=draw(positive_durations),
        behind_plan_tolerance=draw(TOLERANCES),
        escalation=[
            {"level": index + 1, "after": after, "notify": f"contact-{index + 1}"}
            for index, after in enumerate(afters)
        ],
    )


@st.composite
def milestones(draw: st.DrawFn) -> list[Milestone]:
    count = draw(COUNTS)
    return [
        Milestone(
            id=f"m{index}",
            milestone_date=draw(maybe(around(-5 * DAY, 60 * DAY))),
            status=draw(MILESTONE_STATUSES),
        )
        for index in range(count)
    ]


@st.composite
def change_requests(draw: st.DrawFn) -> list[ChangeRequest]:
    count = draw(COUNTS)
    return [
        ChangeRequest(
            id=f"CR-{index}",
            origin="party",
            kind="requested",
            changes=ChangeSet(expected_completion_date=NOW + 90 * DAY),
            received_at=draw(around(-6 * DAY, timedelta(0))),
            status=draw(CHANGE_STATUSES),
        )
        for index in range(count)
    ]


@st.composite
def orders(draw: st.DrawFn, watched_only: bool = True) -> PartyOrder:
    requested = draw(maybe(around(-20 * DAY, 120 * DAY)))
    dates = around(-20 * DAY, 120 * DAY)
    expected = draw(dates if requested is None else maybe(dates))
    zone = draw(zones)
    order = PartyOrder(
        id="PO-P",
        party=Party(id="ACME", name="Acme"),
        order_date=draw(maybe(around(-150 * DAY, 5 * DAY))),
        requested_completion_date=requested.astimezone(zone) if requested else None,
        expected_completion_date=expected,
        milestones=draw(milestones()),
        change_requests=draw(change_requests()),
        tracking_policy=draw(policies()),
        state=draw(OPEN_STATE_VALUES if watched_only else ALL_STATES),
        percent_complete=draw(PERCENTS),
    )
    order.check_ins.unanswered_streak = draw(STREAKS)
    order.check_ins.next_at = draw(maybe(around(timedelta(0), 10 * DAY)))
    order.check_ins.answer_by = draw(maybe(around(-2 * DAY, 3 * DAY)))
    status = draw(JEOPARDY_STATUSES)
    if status != JeopardyStatus.NONE:
        order.jeopardy = Jeopardy(
            status=status,
            since=draw(around(-5 * DAY, timedelta(0))),
            escalation_level=draw(LEVELS),
        )
    return order


def copy(order: PartyOrder) -> PartyOrder:
    return order.model_copy(deep=True)


def critical_instants(*some: PartyOrder) -> list[datetime]:
    """NOW and every instant at which a rule of either order flips, and the µs before it."""
    found = {NOW}
    for order in some:
        for deadline in deadlines(order, RULES_4):
            found |= {deadline.at, deadline.at - US}
    return sorted(found)


def never_higher(better: PartyOrder, worse: PartyOrder) -> None:
    """At every instant that matters, ``better`` is in no more jeopardy than ``worse``."""
    for instant in critical_instants(better, worse):
        assert rank(assess(better, instant, RULES_4)) <= rank(assess(worse, instant, RULES_4)), (
            instant
        )


# ---------------------------------------------------------------- monotonic laws


@FAST
@given(order=orders(), more=st.integers(1, 100))
def test_more_progress_never_raises_jeopardy(order: PartyOrder, more: int) -> None:
    better = copy(order)
    better.percent_complete = min(100, order.percent_complete + more)
    never_higher(better, order)


@FAST
@given(order=orders(), data=st.data())
def test_completing_a_milestone_never_raises_jeopardy(
    order: PartyOrder, data: st.DataObject
) -> None:
    assume(order.milestones)
    index = data.draw(st.integers(0, len(order.milestones) - 1))
    better = copy(order)
    better.milestones[index].status = MilestoneStatus.COMPLETED
    better.milestones[index].completed_at = NOW
    never_higher(better, order)


@FAST
@given(
    order=orders(),
    which=st.sampled_from(["expected", "requested", "milestone"]),
    later=st.one_of(st.timedeltas(min_value=US, max_value=60 * DAY), st.just(US)),
    data=st.data(),
)
def test_later_dates_never_raise_jeopardy(
    order: PartyOrder, which: str, later: timedelta, data: st.DataObject
) -> None:
    moved = copy(order)
    if which == "expected":
        # Rules 2: a forecast past the agreed date is critical, so the forecast moves
        # together with the agreed date (as an accepted change request moves them).
        moved.expected_completion_date = (order.expected_completion_date or order.due_date) + later
        if order.requested_completion_date is not None:
            moved.requested_completion_date = order.requested_completion_date + later
    elif which == "requested":
        assume(order.requested_completion_date is not None)
        assert order.requested_completion_date is not None
        moved.requested_completion_date = order.requested_completion_date + later
    else:
        dated = [i for i, m in enumerate(order.milestones) if m.milestone_date is not None]
        assume(dated)
        index = data.draw(st.sampled_from(dated))
        moved_date = order.milestones[index].milestone_date
        assert moved_date is not None
        moved.milestones[index].milestone_date = moved_date + later
    assert moved.due_date >= order.due_date
    never_higher(moved, order)


@FAST
@given(order=orders(), fewer=st.integers(1, 5))
def test_an_answered_check_in_never_raises_jeopardy(order: PartyOrder, fewer: int) -> None:
    answered = copy(order)
    answered.check_ins.unanswered_streak = max(0, order.check_ins.unanswered_streak - fewer)
    never_higher(answered, order)


@FAST
@given(order=orders(), resolve=st.sampled_from(["accepted", "rejected"]))
def test_resolving_change_requests_never_raises_jeopardy(order: PartyOrder, resolve: str) -> None:
    resolved = copy(order)
    for change in resolved.change_requests:
        change.status = resolve  # type: ignore[assignment]
    never_higher(resolved, order)


@FAST
@given(order=orders(), later=st.timedeltas(min_value=timedelta(0), max_value=200 * DAY))
def test_waiting_never_lowers_jeopardy_without_news(order: PartyOrder, later: timedelta) -> None:
    """With nothing reported, time only makes things worse (except behind-plan giving way
    to the passed due date, which is critical anyway)."""
    assert rank(assess(order, NOW + later, RULES_4)) >= rank(assess(order, NOW, RULES_4))


@FAST
@given(order=orders(), zone=zones)
def test_assessment_does_not_depend_on_the_offset_of_now(order: PartyOrder, zone: Any) -> None:
    assert assess(order, NOW.astimezone(zone), RULES_4) == assess(order, NOW, RULES_4)


@FAST
@given(order=orders(watched_only=False))
def test_final_or_cancelling_orders_are_never_in_jeopardy(order: PartyOrder) -> None:
    if order.is_final or order.state == OrderState.PENDING_CANCELLATION:
        assert assess(order, NOW, RULES_4).status == JeopardyStatus.NONE
        assert deadlines(order, RULES_4) == []
    else:
        assessment = assess(order, NOW, RULES_4)
        assert bool(assessment.reasons) == (assessment.status != JeopardyStatus.NONE)


# ---------------------------------------------------------------- one source of deadlines


@FAST
@given(
    order=orders(watched_only=False), fraction=st.floats(0, 1, exclude_min=True, exclude_max=True)
)
def test_no_rule_flips_before_next_due(order: PartyOrder, fraction: float) -> None:
    at_now = assess(order, NOW, RULES_4)
    due = next_due(order, NOW, RULES_4)
    if due is None:
        samples = [NOW + US, NOW + fraction * 1000 * DAY, NOW + 1000 * DAY]
    else:
        assert due.at > NOW
        assert due.what
        gap = due.at - NOW
        samples = [NOW + US, NOW + gap * fraction, due.at - US]
    for instant in samples:
        if due is not None and not NOW < instant < due.at:
            continue  # a one-microsecond gap has nothing strictly inside
        assert assess(order, instant, RULES_4) == at_now, (instant, due)


@FAST
@given(order=orders(watched_only=False))
def test_next_due_is_the_earliest_deadline_after_now(order: PartyOrder) -> None:
    due = next_due(order, NOW, RULES_4)
    upcoming = [d.at for d in deadlines(order, RULES_4) if d.at > NOW]
    if due is None:
        assert upcoming == []
    else:
        assert due.at > NOW
        assert due.at == min(upcoming)
        assert next_due(order, due.at - US, RULES_4) == due or due.at - US <= NOW


@FAST
@given(order=orders(), data=st.data())
def test_every_flip_of_jeopardy_is_at_a_deadline(order: PartyOrder, data: st.DataObject) -> None:
    """Walking from deadline to deadline, assess only ever changes at a deadline."""
    now = NOW
    for _ in range(6):
        due = next_due(order, now, RULES_4)
        if due is None:
            break
        before = assess(order, due.at - US, RULES_4)
        assert before == assess(order, now, RULES_4) or due.at - US == now
        now = due.at


# ---------------------------------------------------------------- the tracker keeps them


@st.composite
def tracked(draw: st.DrawFn) -> PartyOrderTracker:
    order = draw(orders())
    order.jeopardy = Jeopardy()
    order.check_ins = type(order.check_ins)()
    order.check_ins.next_at = NOW + order.tracking_policy.check_in_interval
    order.state_history = []
    try:
        return PartyOrderTracker.start(order, NOW, rules_version=CURRENT_RULES)
    except ValueError:  # a start input that breaks a cross-field rule is refused
        assume(False)
        raise


MESSAGES = st.sampled_from(
    [
        ("report_progress", {"percentComplete": 50}),
        ("report_progress", {"source": "enterprise", "percentComplete": 10}),
        ("report_progress", {"milestones": [{"id": "m0"}]}),
        ("request_change", {"changes": {"expectedCompletionDate": "2027-06-01T00:00:00Z"}}),
        ("resolve_change", {"changeRequestId": "CR-0", "decision": "accepted"}),
        ("check_in_now", {}),
        ("change_state", {"state": "held"}),
        ("change_state", {"state": "inProgress"}),
    ]
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tracker=tracked(), steps=st.lists(st.none() | MESSAGES, min_size=1, max_size=15))
def test_the_tracker_keeps_jeopardy_equal_to_assess(
    tracker: PartyOrderTracker, steps: list[tuple[str, dict[str, Any]] | None]
) -> None:
    """Driven like the workflow (wake at next_due or on a message, then advance), the
    recorded jeopardy always matches assess, and escalation never skips a level."""
    now = NOW
    tracker.advance(now)
    levels = [lvl.level for lvl in tracker.order.tracking_policy.escalation]
    for step in steps:
        if step is None:
            due = next_due(tracker.order, now, RULES_4)
            if due is None:
                continue
            now = due.at
        else:
            now += timedelta(hours=5)
            tracker.handle(step[0], step[1], now)
        tracker.advance(now)
        order = tracker.order
        jeopardy = order.jeopardy
        assessment = assess(order, now, RULES_4)
        assert jeopardy.status == assessment.status
        assert jeopardy.reasons == list(assessment.reasons)
        assert (jeopardy.since is None) == (jeopardy.status == JeopardyStatus.NONE)
        assert jeopardy.escalation_level in [0, *levels]
        if jeopardy.since is not None:
            for level in order.tracking_policy.escalation:
                fired = level.level <= jeopardy.escalation_level
                assert fired == (now >= jeopardy.since + level.after)
        if not order.is_final and order.state != OrderState.PENDING_CANCELLATION:
            # every milestone whose date has come is completed or marked violated
            for milestone in order.milestones:
                if milestone.milestone_date is not None and milestone.milestone_date <= now:
                    assert milestone.status != MilestoneStatus.YET_TO_REACH
