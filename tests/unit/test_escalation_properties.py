"""Laws of rules 2, checked over random sequences of messages and of time.

The tracker is driven as the workflow drives it: a message is applied and ``advance`` runs
at the same instant; otherwise it wakes at ``next_due``. Over every such sequence:

* every worsening (to a worse status, or a new critical reason) produces, at that very
  instant, a JeopardyAlert and at least one notification to an escalation contact;
* while the order is in jeopardy with every level fired and nothing acknowledged, the
  gap between notifications to contacts never exceeds ``escalationRepeatInterval``;
* the agreed date (``requestedCompletionDate``) changes only by an accepted change request
  that asked for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workflows.domain.deadlines import is_acknowledged
from workflows.domain.effects import Effect, ForwardChangeRequest, Notify
from workflows.domain.model import JeopardyStatus, PartyOrderSpec
from workflows.domain.rules import CURRENT_RULES
from workflows.domain.tracker import PartyOrderTracker

NOW = datetime(2027, 3, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
RANK = {JeopardyStatus.NONE: 0, JeopardyStatus.HAZARD: 1, JeopardyStatus.CRITICAL: 2}


def at_offset(hours: int) -> str:
    return (NOW + hours * HOUR).isoformat()


@st.composite
def policies(draw: st.DrawFn) -> dict[str, Any]:
    interval = draw(st.integers(1, 10))
    return {
        "checkInInterval": f"P{interval}D",
        "responseWindow": f"PT{draw(st.integers(1, interval * 24))}H",
        "unansweredCheckInLimit": draw(st.integers(1, 3)),
        "warningLeadTime": f"P{draw(st.integers(0, 7))}D",
        "changeResolutionWindow": f"PT{draw(st.integers(1, 72))}H",
        "behindPlanTolerance": draw(st.integers(0, 60)),
        "escalationRepeatInterval": f"PT{draw(st.integers(1, 48))}H",
        "reopenWithin": f"PT{draw(st.integers(0, 48))}H",
        "escalation": draw(
            st.sampled_from(
                [
                    [],
                    [{"level": 1, "after": "PT0S", "notify": "manager"}],
                    [
                        {"level": 1, "after": "PT6H", "notify": "manager"},
                        {"level": 2, "after": "P2D", "notify": "lead"},
                    ],
                    [
                        {"level": 1, "after": "PT0S", "notify": "order-manager"},
                        {"level": 2, "after": "P1D", "notify": "operations-lead"},
                        {"level": 3, "after": "P3D", "notify": "executive-sponsor"},
                    ],
                ]
            )
        ),
    }


@st.composite
def trackers(draw: st.DrawFn) -> PartyOrderTracker:
    agreed = draw(st.integers(2, 40)) * DAY
    forecast = draw(st.none() | st.integers(1, 60).map(lambda d: d * DAY))
    spec = PartyOrderSpec.model_validate(
        {
            "id": "PO-P",
            "party": {"id": "ACME", "name": "Acme"},
            "requestedCompletionDate": (NOW + agreed).isoformat(),
            "expectedCompletionDate": (NOW + forecast).isoformat() if forecast else None,
            "milestones": [
                {"id": "m0", "milestoneDate": (NOW + draw(st.integers(1, 30)) * DAY).isoformat()}
            ],
            "trackingPolicy": draw(policies()),
        }
    )
    return PartyOrderTracker.start(spec, NOW, rules_version=CURRENT_RULES)


MESSAGES = st.one_of(
    st.builds(lambda p: ("report_progress", {"percentComplete": p}), st.integers(0, 100)),
    st.builds(
        lambda h: ("report_progress", {"expectedCompletionDate": at_offset(h)}),
        st.integers(24, 80 * 24),
    ),
    st.builds(
        lambda s: ("report_progress", {"milestones": [{"id": "m0", "status": s}]}),
        st.sampled_from(["completed", "yetToReach"]),
    ),
    st.builds(
        lambda h: ("request_change", {"changes": {"requestedCompletionDate": at_offset(h)}}),
        st.integers(24, 80 * 24),
    ),
    st.builds(
        lambda c, d: ("resolve_change", {"changeRequestId": c, "decision": d}),
        st.sampled_from(["CR-1", "CR-2", "CR-3"]),
        st.sampled_from(["accepted", "rejected"]),
    ),
    st.just(("check_in_now", {})),
    st.builds(lambda s: ("change_state", {"state": s}), st.sampled_from(["held", "inProgress"])),
    st.builds(
        lambda lvl: ("acknowledge_escalation", {"level": lvl, "by": "someone"}),
        st.integers(1, 3),
    ),
)
# A step: wait (for the next deadline, or a number of hours), or a message after a pause.
STEPS = st.lists(
    st.one_of(
        st.just(None),
        st.tuples(st.integers(0, 72), MESSAGES),
    ),
    min_size=1,
    max_size=40,
)


@dataclass
class Trace:
    last_contact: datetime | None = None


def _contacts(effects: list[Effect]) -> int:
    return sum(
        1
        for e in effects
        if isinstance(e, Notify | ForwardChangeRequest)
        and e.notification.recipient_kind == "contact"
    )


def _check_instant(
    tracker: PartyOrderTracker,
    at: datetime,
    before: tuple[JeopardyStatus, list[str]],
    effects: list[Effect],
    trace: Trace,
) -> None:
    jeopardy = tracker.order.jeopardy
    status, causes = jeopardy.status, jeopardy.critical_causes
    if _contacts(effects):
        trace.last_contact = at
    worse = RANK[status] > RANK[before[0]] or (
        status == JeopardyStatus.CRITICAL and bool(set(causes) - set(before[1]))
    )
    if worse:
        alerts = [
            a
            for a in tracker.order.jeopardy_alerts
            if a.alert_date == at and a.jeopardy_type in ("hazard", "critical")
        ]
        assert alerts, f"worsening at {at} without an alert"
        assert _contacts(effects) >= 1, f"worsening at {at} told no contact"
    levels = tracker.order.tracking_policy.escalation
    all_fired = not levels or jeopardy.escalation_level == levels[-1].level
    # Rules 5 (no_levels_no_reminders): an order without levels is reminded of nothing.
    reminded = bool(levels) or not tracker.tracked_by.no_levels_no_reminders
    if (
        reminded
        and status != JeopardyStatus.NONE
        and all_fired
        and not is_acknowledged(tracker.order, tracker.tracked_by)
        and trace.last_contact is not None
    ):
        gap = at - trace.last_contact
        assert gap <= tracker.order.tracking_policy.escalation_repeat_interval, (at, gap)


def _snapshot(tracker: PartyOrderTracker) -> tuple[JeopardyStatus, list[str]]:
    jeopardy = tracker.order.jeopardy
    return jeopardy.status, list(jeopardy.critical_causes)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tracker=trackers(), steps=STEPS)
def test_worsening_is_heard_at_once_and_reminders_never_lapse(
    tracker: PartyOrderTracker, steps: list[tuple[int, tuple[str, dict[str, Any]]] | None]
) -> None:
    now = NOW
    trace = Trace()
    before = _snapshot(tracker)
    _check_instant(tracker, now, before, tracker.advance(now), trace)
    for step in steps:
        if tracker.order.is_final:
            break
        if step is None:
            due = tracker.next_due(now)
            if due is None:
                break
            now = due.at
            before = _snapshot(tracker)
            _check_instant(tracker, now, before, tracker.advance(now), trace)
            continue
        pause, (name, payload) = step
        target = now + pause * HOUR
        # the workflow wakes at every deadline on the way
        while (due := tracker.next_due(now)) is not None and due.at < target:
            now = due.at
            before = _snapshot(tracker)
            _check_instant(tracker, now, before, tracker.advance(now), trace)
        now = target
        before = _snapshot(tracker)
        agreed = tracker.order.requested_completion_date
        effects = tracker.handle(name, payload, now) + tracker.advance(now)
        _check_agreed_date(tracker, agreed, name, payload)
        _check_instant(tracker, now, before, effects, trace)


def _check_agreed_date(
    tracker: PartyOrderTracker, agreed: datetime | None, name: str, payload: dict[str, Any]
) -> None:
    """The agreed date moves only when an accepted change request asked for that date."""
    order = tracker.order
    if order.requested_completion_date == agreed:
        return
    assert name == "resolve_change" and payload["decision"] == "accepted", (name, payload)
    change = order.change_request(payload["changeRequestId"])
    assert change is not None and change.status == "accepted"
    assert change.changes.requested_completion_date == order.requested_completion_date


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tracker=trackers(), days=st.integers(1, 60))
def test_a_silent_party_is_never_left_in_silence(tracker: PartyOrderTracker, days: int) -> None:
    """With no message at all, only time: the same laws, over the whole life."""
    now = NOW
    trace = Trace()
    before = _snapshot(tracker)
    _check_instant(tracker, now, before, tracker.advance(now), trace)
    while (due := tracker.next_due(now)) is not None and due.at <= NOW + days * DAY:
        now = due.at
        before = _snapshot(tracker)
        _check_instant(tracker, now, before, tracker.advance(now), trace)
