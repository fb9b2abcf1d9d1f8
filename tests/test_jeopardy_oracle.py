"""The jeopardy and escalation rules of docs/rules.md, restated here and checked against the core.

``oracle`` is written from docs/rules.md's "Tracking, jeopardy and escalation" section, not from
``workflows/domain/jeopardy.py``: it shares no helper with it, works in exact fractions
rather than in the core's microsecond arithmetic, and names each rule that holds as a
category instead of a text. The tests compare the core with it on random orders
(``tests/test_tracker_properties.py`` builds them), at random instants and at the instants
where a rule of docs/rules.md flips, and drive a tracker from wake-up to wake-up against the
docs/rules.md's escalation rule.

When a rule changes on purpose (issue 10 adds escalation reminders, separates the agreed
date from the forecast), change it here in the same words as in docs/rules.md.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from fractions import Fraction

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.test_tracker_properties import DAY, MESSAGES, NOW, US, orders
from workflows.domain.deadlines import next_due
from workflows.domain.effects import Effect, Notify
from workflows.domain.jeopardy import Assessment, assess
from workflows.domain.model import Jeopardy, PartyOrder
from workflows.domain.rules import RULES_1, RULES_V1
from workflows.domain.tracker import PartyOrderTracker


@st.composite
def tracked_by_rules_1(draw: st.DrawFn) -> PartyOrderTracker:
    """An order tracked by rules 1, the rules this oracle restates (docs/rules.md's rules as
    they stood before rules 2; orders that began before rules 2 keep them)."""
    order = draw(orders())
    order.jeopardy = Jeopardy()
    order.check_ins = type(order.check_ins)()
    order.state_history = []
    try:
        return PartyOrderTracker.start(order, NOW, rules_version=RULES_V1)
    except ValueError:  # a start input that breaks a cross-field rule is refused
        assume(False)
        raise


FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

Rule = tuple[str, ...]  # ("milestone violated", "m1"), ("due date passed",), ...
CRITICAL_RULES = {"due date passed", "milestone violated", "check-ins unanswered"}


# ---------------------------------------------------------------- the oracle


def oracle(order: PartyOrder, now: datetime) -> tuple[str, set[Rule]]:
    """(status, rules that hold), as docs/rules.md states the rules."""
    # "Final and cancelling orders are never in jeopardy."
    if order.state in ("completed", "partial", "cancelled", "failed", "pendingCancellation"):
        return "none", set()
    policy = order.tracking_policy
    lead = policy.warning_lead_time
    # "the due date (expectedCompletionDate, else requestedCompletionDate)"
    due = order.expected_completion_date or order.requested_completion_date
    assert due is not None
    rules: set[Rule] = set()

    # critical: "the due date has passed"; hazard: "the due date is within warningLeadTime"
    if now >= due:
        rules.add(("due date passed",))
    elif due - now <= lead:
        rules.add(("due date near",))

    for milestone in order.milestones:
        date = milestone.milestone_date
        if milestone.status == "completed":
            continue
        # critical: "a milestone is violated" (a milestone not completed by its date is)
        if milestone.status == "violated" or (date is not None and now >= date):
            rules.add(("milestone violated", milestone.id))
        # hazard: "a milestone's date is within warningLeadTime"
        elif date is not None and date - now <= lead:
            rules.add(("milestone near", milestone.id))

    # critical: "unansweredCheckInLimit check-ins in a row went unanswered"
    if order.check_ins.unanswered_streak >= policy.unanswered_check_in_limit:
        rules.add(("check-ins unanswered",))

    # hazard, "behind plan": the elapsed share of the schedule, from orderDate to the due
    # date, in percent, exceeds percentComplete by more than behindPlanTolerance. Once the
    # due date has passed that is critical anyway, and docs/rules.md lists only that.
    start = order.order_date
    if start is not None and start < due and now < due:
        elapsed = Fraction(_micros(now - start) * 100, _micros(due - start))
        if elapsed - order.percent_complete > policy.behind_plan_tolerance:
            rules.add(("behind plan",))

    # hazard: "a change request is unresolved changeResolutionWindow after it arrived"
    for change in order.change_requests:
        unresolved = change.status in ("received", "forwarded")
        if unresolved and now - change.received_at >= policy.change_resolution_window:
            rules.add(("change request unresolved", change.id))

    if any(rule[0] in CRITICAL_RULES for rule in rules):
        return "critical", rules
    return ("hazard" if rules else "none"), rules


def flip_instants(order: PartyOrder) -> set[datetime]:
    """Where, by docs/rules.md, a rule of the order may flip (the instant and the µs before)."""
    policy = order.tracking_policy
    due = order.expected_completion_date or order.requested_completion_date
    assert due is not None
    found = {due, due - policy.warning_lead_time}
    for milestone in order.milestones:
        if milestone.milestone_date is not None:
            found |= {milestone.milestone_date, milestone.milestone_date - policy.warning_lead_time}
    for change in order.change_requests:
        found.add(change.received_at + policy.change_resolution_window)
    start = order.order_date
    if start is not None and start < due:
        # the first whole microsecond at which the elapsed share exceeds the threshold
        threshold = Fraction(order.percent_complete + policy.behind_plan_tolerance, 100)
        first = int(threshold * _micros(due - start)) + 1
        found.add(start + timedelta(microseconds=first))
    return found | {instant - US for instant in found}


def _micros(delta: timedelta) -> int:
    return delta // US


# ---------------------------------------------------------------- the core, read as rules

REASON_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("due date passed", re.compile(r"due date \S+ has passed with the order not delivered")),
    (
        "due date near",
        re.compile(r"due date \S+ is within the warning lead time with \d+% complete"),
    ),
    ("milestone violated", re.compile(r"milestone (\S+) violated \(due .+\)")),
    ("milestone near", re.compile(r"milestone (\S+) due \S+ is within the warning lead time")),
    ("check-ins unanswered", re.compile(r"\d+ check-ins in a row unanswered \(limit \d+\)")),
    ("behind plan", re.compile(r"progress \d+% is behind plan by more than \d+ points")),
    ("change request unresolved", re.compile(r"change request (\S+) unresolved since \S+")),
]


def rules_of(assessment: Assessment) -> list[Rule]:
    """The core's reasons as rules; a reason of no known shape fails the test."""
    found: list[Rule] = []
    for reason in assessment.reasons:
        for name, pattern in REASON_PATTERNS:
            match = pattern.fullmatch(reason)
            if match:
                found.append((name, *match.groups()))
                break
        else:
            raise AssertionError(f"reason of no known rule: {reason!r}")
    return found


def check_against_oracle(order: PartyOrder, now: datetime) -> None:
    status, rules = oracle(order, now)
    assessment = assess(order, now, RULES_1)
    found = rules_of(assessment)
    assert (assessment.status.value, set(found)) == (status, rules), now
    assert len(found) == len(set(found)), "a rule is listed twice"
    # "jeopardy.reasons lists every rule that holds": critical ones first.
    kinds = [rule[0] in CRITICAL_RULES for rule in found]
    assert kinds == sorted(kinds, reverse=True), found


# ---------------------------------------------------------------- assess against the oracle


@FAST
@given(order=orders(watched_only=False), offset=st.timedeltas(-30 * DAY, 200 * DAY))
def test_assess_agrees_with_the_readme_at_a_random_instant(
    order: PartyOrder, offset: timedelta
) -> None:
    check_against_oracle(order, NOW + offset)


@FAST
@given(order=orders())
def test_assess_agrees_with_the_readme_where_its_rules_flip(order: PartyOrder) -> None:
    for instant in sorted(flip_instants(order) | {NOW}):
        check_against_oracle(order, instant)


# ---------------------------------------------------------------- escalation, wake-up to wake-up


class EscalationOracle:
    """docs/rules.md's escalation rule, followed from wake-up to wake-up.

    "When an episode starts (none to hazard or critical), the policy's levels fire in turn,
    level n at since + after, each once per episode, each a notify_contact to its notify
    contact with the order and the reasons. When jeopardy clears [...] each contact that
    was escalated to gets a deEscalation notice; the next episode starts over at level 1."
    """

    def __init__(self, order: PartyOrder) -> None:
        self.levels = list(order.tracking_policy.escalation)
        self.since: datetime | None = None
        self.fired: list[int] = []

    def wake(self, status: str, now: datetime) -> list[tuple[str, str, int]]:
        """(kind, contact, level) of each notice due at this wake-up, in order."""
        if status == "none":
            cleared = [("deEscalation", lvl.notify, lvl.level) for lvl in self.levels]
            notices = [n for n in cleared if n[2] in self.fired]
            self.since, self.fired = None, []
            return notices
        if self.since is None:
            self.since = now
        notices = []
        for level in self.levels:
            if level.level not in self.fired and now >= self.since + level.after:
                self.fired.append(level.level)
                notices.append(("escalation", level.notify, level.level))
        return notices


def escalation_notices(effects: list[Effect]) -> list[tuple[str, str, int]]:
    return [
        (e.notification.kind, e.notification.recipient, e.notification.body["level"])
        for e in effects
        if isinstance(e, Notify) and e.notification.kind in ("escalation", "deEscalation")
    ]


def wake_and_check(
    tracker: PartyOrderTracker, escalation: EscalationOracle, effects: list[Effect], now: datetime
) -> None:
    effects = effects + tracker.advance(now)
    order = tracker.order
    status, _ = oracle(order, now)
    assert order.jeopardy.status.value == status, now
    expected = escalation.wake(status, now)
    assert escalation_notices(effects) == expected, now
    assert order.jeopardy.since == escalation.since
    assert order.jeopardy.escalation_level == max(escalation.fired, default=0)


# Messages that end an episode and ones that start one, so that episodes come and go.
EPISODE_MESSAGES = st.sampled_from(
    [
        ("report_progress", {"percentComplete": 90, "expectedCompletionDate": "2027-12-01T00:00Z"}),
        *[("report_progress", {"milestones": [{"id": f"m{i}"}]}) for i in range(3)],
        *[
            ("resolve_change", {"changeRequestId": f"CR-{i}", "decision": "rejected"})
            for i in range(3)
        ],
        ("report_progress", {"percentComplete": 0, "expectedCompletionDate": "2027-03-01T00:00Z"}),
        ("report_progress", {"milestones": [{"id": "m0", "status": "yetToReach"}]}),
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tracker=tracked_by_rules_1(),
    steps=st.lists(
        st.none() | st.timedeltas(US, 5 * DAY) | MESSAGES | EPISODE_MESSAGES,
        min_size=1,
        max_size=20,
    ),
)
def test_a_tracker_escalates_as_the_readme_says(
    tracker: PartyOrderTracker, steps: list[object]
) -> None:
    """Woken at next_due, after a pause, or by a message, the tracker's jeopardy and its
    escalation and de-escalation notices are the oracle's."""
    escalation = EscalationOracle(tracker.order)
    now = NOW
    wake_and_check(tracker, escalation, [], now)
    for step in steps:
        effects: list[Effect] = []
        if step is None:  # the workflow's timer: the next deadline
            due = next_due(tracker.order, now, RULES_1)
            if due is None:
                continue
            now = due.at
        elif isinstance(step, timedelta):  # a late wake-up (a worker was down)
            now += step
        else:
            assert isinstance(step, tuple)
            now += timedelta(hours=5)
            effects = tracker.handle(step[0], step[1], now)
        wake_and_check(tracker, escalation, effects, now)
