"""Rules 2 of the domain core, one test per finding of issue 10 (run against the core).

Each test drives ``PartyOrderTracker`` as the workflow does: apply a message, then
``advance`` at the same instant; otherwise wake at ``next_due`` and ``advance``.
"""

from __future__ import annotations

import itertools
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from workflows.domain.bounds import MAX_CHANGE_REQUESTS, MAX_MILESTONES, ORDER_CHARS_LIMIT
from workflows.domain.deadlines import Deadline, next_due
from workflows.domain.effects import Effect, ForwardChangeRequest, Notification, Notify
from workflows.domain.messages import StateChangeRequest
from workflows.domain.model import JeopardyStatus, MilestoneStatus, OrderState, PartyOrderSpec
from workflows.domain.rules import CURRENT_RULES, RULES_1, RULES_4
from workflows.domain.states import IllegalTransition
from workflows.domain.tracker import PartyOrderTracker, TrackerState

NOW = datetime(2026, 11, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def order_spec(**changes: Any) -> PartyOrderSpec:
    policy = changes.pop("trackingPolicy", {})
    data: dict[str, Any] = {
        "id": "PO-10",
        "party": {"id": "ACME", "name": "Acme Networks"},
        "originatingProcess": {"name": "service-order-handling", "reference": "SO-77"},
        "orderItems": [{"id": "1", "description": "10G circuit", "quantity": 1}],
        "requestedCompletionDate": (NOW + 25 * DAY).isoformat(),
        "trackingPolicy": policy,
    }
    data.update(changes)
    return PartyOrderSpec.model_validate(data)


def start(**changes: Any) -> PartyOrderTracker:
    return PartyOrderTracker.start(order_spec(**changes), NOW, rules_version=CURRENT_RULES)


def notifications(effects: list[Effect]) -> list[Notification]:
    return [e.notification for e in effects if isinstance(e, Notify | ForwardChangeRequest)]


def to_contacts(effects: list[Effect]) -> list[tuple[str, str]]:
    return [(n.recipient, n.kind) for n in notifications(effects) if n.recipient_kind == "contact"]


def send(
    tracker: PartyOrderTracker, name: str, payload: dict[str, Any], at: datetime
) -> list[Effect]:
    """A message, then the wake-up the workflow runs right after it."""
    return tracker.handle(name, payload, at) + tracker.advance(at)


def run_until(
    tracker: PartyOrderTracker, until: datetime, since: datetime = NOW
) -> list[tuple[datetime, list[Effect]]]:
    """Wake at every deadline up to ``until``, as the workflow does; (instant, effects)."""
    woken = [(since, tracker.advance(since))]
    now = since
    while (due := tracker.next_due(now)) is not None and due.at <= until:
        now = due.at
        woken.append((now, tracker.advance(now)))
    return woken


def contact_times(woken: list[tuple[datetime, list[Effect]]]) -> list[datetime]:
    return [at for at, effects in woken for _ in to_contacts(effects)]


def status_turns(tracker: PartyOrderTracker) -> list[tuple[str, datetime]]:
    return [(a.jeopardy_type, a.alert_date) for a in tracker.order.jeopardy_alerts]


# ---------------------------------------------------------------- 1. silent critical


def test_a_silent_25_day_order_is_never_silent_in_jeopardy() -> None:
    tracker = start()
    woken = run_until(tracker, NOW + 30 * DAY)
    order = tracker.order
    alerts = status_turns(tracker)
    # behind plan on day 6 (hazard), two unanswered check-ins on day 16 (critical: the
    # second response window ends), the agreed date on day 25 (a new critical reason)
    hazard_at = alerts[0][1]
    assert alerts[0][0] == "hazard"
    critical_at = next(at for kind, at in alerts if kind == "critical")
    contacts = contact_times(woken)
    assert hazard_at in contacts and critical_at in contacts
    assert NOW + 25 * DAY in contacts  # the passed agreed date is heard at once
    assert order.jeopardy.status == JeopardyStatus.CRITICAL
    assert "agreedDatePassed" in order.jeopardy.critical_causes
    # once every level fired, the top contact hears at least once a day
    all_fired = hazard_at + 3 * DAY
    later = [t for t in contacts if t >= all_fired]
    gaps = [b - a for a, b in itertools.pairwise(later)]
    assert later and max(gaps) <= DAY
    assert later[-1] > NOW + 29 * DAY
    kinds = {kind for _, effects in woken for _, kind in to_contacts(effects)}
    assert kinds == {"escalation", "jeopardyWorsened", "escalationReminder"}


def test_a_long_warning_lead_time_does_not_silence_the_critical_turn() -> None:
    tracker = start(trackingPolicy={"warningLeadTime": "P7D"})
    woken = run_until(tracker, NOW + 26 * DAY)
    for kind, at in status_turns(tracker):
        if kind in ("hazard", "critical"):
            assert at in contact_times(woken), (kind, at)


def test_every_worsening_tells_the_contact_of_the_highest_level_reached() -> None:
    tracker = start()
    woken = dict(run_until(tracker, NOW + 25 * DAY))
    worsened = [
        (at, n.recipient)
        for at, effects in woken.items()
        for n in notifications(effects)
        if n.kind == "jeopardyWorsened"
    ]
    assert worsened, "the critical turn and the passed agreed date are worsenings"
    assert {recipient for _, recipient in worsened} == {"executive-sponsor"}


# ---------------------------------------------------------------- acknowledgement


def _at_top_level() -> tuple[PartyOrderTracker, datetime]:
    tracker = start()
    woken = run_until(tracker, NOW + 12 * DAY)
    assert tracker.order.jeopardy.escalation_level == 3
    return tracker, woken[-1][0]


def test_an_acknowledgement_stops_reminders_until_the_next_worsening() -> None:
    tracker, at = _at_top_level()
    effects = send(
        tracker,
        "acknowledge_escalation",
        {"requestId": "ack-1", "level": 3, "by": "exec", "note": "on it"},
        at,
    )
    assert effects == []
    jeopardy = tracker.order.jeopardy
    assert (jeopardy.acknowledged_by, jeopardy.acknowledged_at, jeopardy.acknowledged_level) == (
        "exec",
        at,
        3,
    )
    assert jeopardy.acknowledged_note == "on it"
    woken = run_until(tracker, NOW + 30 * DAY, since=at)
    contacts = [(t, c) for t, effects in woken for c in to_contacts(effects)]
    first = contacts[0]
    # the next word is the worsening (two unanswered check-ins: critical), no reminder
    assert first[1] == ("executive-sponsor", "jeopardyWorsened")
    assert all(kind != "escalationReminder" for t, (_, kind) in contacts if t < first[0])
    reminders = [t for t, (_, kind) in contacts if kind == "escalationReminder"]
    assert reminders and reminders[0] == first[0] + DAY  # they resume after it


def test_acknowledging_a_level_not_reached_is_refused() -> None:
    tracker = start()
    run_until(tracker, NOW + 7 * DAY)
    assert tracker.order.jeopardy.escalation_level == 1
    tracker.handle("acknowledge_escalation", {"level": 2, "by": "ops"}, NOW + 7 * DAY)
    assert tracker.order.rejected_messages[-1].error == (
        "level: 2 has not been reached; the escalation is at level 1"
    )
    with pytest.raises(ValueError) as raised:
        tracker.validate_update("acknowledge_escalation", {"level": 2})
    assert str(raised.value) == "level: 2 has not been reached; the escalation is at level 1"
    quiet = start()
    with pytest.raises(ValueError) as raised:
        quiet.validate_update("acknowledge_escalation", {"level": 1})
    assert str(raised.value) == (
        "order PO-10 is not in jeopardy: there is no escalation to acknowledge"
    )
    with pytest.raises(ValueError) as raised:
        quiet.validate_update("acknowledge_escalation", {"by": "ops"})
    assert str(raised.value) == "level: is required"


# ---------------------------------------------------------------- 9. flapping


def test_a_flapping_order_continues_its_episode_and_still_climbs() -> None:
    tracker = start(requestedCompletionDate=(NOW + 30 * DAY).isoformat())
    woken: list[tuple[datetime, list[Effect]]] = []
    # about 25 points behind plan for a week: a report every 6 hours, just behind,
    # then just ahead of the tolerance
    at = NOW + 10 * DAY
    for step in range(28):
        elapsed = (at - NOW) / (30 * DAY) * 100
        percent = int(elapsed) - 25 + (-1 if step % 2 == 0 else 2)
        woken.append(
            (
                at,
                send(
                    tracker,
                    "report_progress",
                    {"percentComplete": percent, "source": "enterprise"},
                    at,
                ),
            )
        )
        woken += run_until(tracker, at + 6 * HOUR - timedelta(microseconds=1), since=at)
        at += 6 * HOUR
    escalations = [
        (n.recipient, n.body["level"])
        for _, effects in woken
        for n in notifications(effects)
        if n.kind == "escalation"
    ]
    assert escalations == [("order-manager", 1), ("operations-lead", 2), ("executive-sponsor", 3)]
    de_escalations = [
        c for _, effects in woken for c in to_contacts(effects) if c[1] == "deEscalation"
    ]
    assert de_escalations == []  # the episode never ended: nobody hears "no longer"
    turns = [kind for kind, _ in status_turns(tracker)]
    assert turns.count("cleared") >= 10  # it did flap, all the while


def test_a_jeopardy_that_stays_cleared_is_over_after_reopen_within() -> None:
    tracker = start(requestedCompletionDate=(NOW + 30 * DAY).isoformat())
    run_until(tracker, NOW + 10 * DAY)  # behind plan since day 7.5: level 3 on day 10.5?
    at = NOW + 10 * DAY
    reached = tracker.order.jeopardy.escalation_level
    assert reached >= 2
    effects = send(tracker, "report_progress", {"percentComplete": 60, "source": "enterprise"}, at)
    assert tracker.order.jeopardy.status == JeopardyStatus.NONE
    assert status_turns(tracker)[-1] == ("cleared", at)
    assert to_contacts(effects) == []  # not yet: it may come back within a day
    woken = run_until(tracker, at + DAY, since=at)
    told = [c for _, e in woken for c in to_contacts(e)]
    assert told == [
        (lvl, "deEscalation")
        for lvl in ["order-manager", "operations-lead", "executive-sponsor"][:reached]
    ]
    assert woken[-1][0] == at + DAY


# ---------------------------------------------------------------- 2. agreed date


def test_a_forecast_past_the_agreed_date_is_critical_and_asks_for_agreement() -> None:
    agreed = NOW + 30 * DAY
    tracker = start(requestedCompletionDate=agreed.isoformat())
    tracker.handle("report_progress", {"percentComplete": 50}, NOW + DAY)
    effects = send(
        tracker,
        "report_progress",
        {"expectedCompletionDate": (NOW + 300 * DAY).isoformat()},
        NOW + 2 * DAY,
    )
    order = tracker.order
    assert order.requested_completion_date == agreed  # the party cannot move it
    assert order.jeopardy.status == JeopardyStatus.CRITICAL
    assert order.jeopardy.reasons == [
        "forecast 2027-08-28T00:00:00Z is later than the agreed date 2026-12-01T00:00:00Z"
    ]
    change = order.change_requests[-1]
    assert (change.origin, change.kind, change.changes.requested_completion_date) == (
        "party",
        "requested",
        NOW + 300 * DAY,
    )
    forwarded = [e for e in effects if isinstance(e, ForwardChangeRequest)]
    assert [f.notification.recipient for f in forwarded] == ["service-order-handling"]
    assert to_contacts(effects)  # and the critical turn is heard
    # still critical on day 35, and no second request for the same forecast
    run_until(tracker, NOW + 35 * DAY, since=NOW + 2 * DAY)
    assert order.jeopardy.status == JeopardyStatus.CRITICAL
    assert len(order.change_requests) == 1


def test_the_agreed_date_is_still_checked_when_a_forecast_exists() -> None:
    tracker = start(
        requestedCompletionDate=(NOW + 30 * DAY).isoformat(),
        expectedCompletionDate=(NOW + 45 * DAY).isoformat(),
    )
    effects = tracker.advance(NOW)
    assert tracker.order.jeopardy.status == JeopardyStatus.CRITICAL  # at once
    assert [type(e) for e in effects].count(ForwardChangeRequest) == 1
    run_until(tracker, NOW + 35 * DAY)
    assert "agreedDatePassed" in tracker.order.jeopardy.critical_causes


def test_an_accepted_request_moves_the_agreed_date_a_rejected_one_keeps_it_critical() -> None:
    # Rules 4 asks a rejected date again after a flap; rules 5 does not (test_rules_5.py).
    tracker = PartyOrderTracker.start(
        order_spec(requestedCompletionDate=(NOW + 30 * DAY).isoformat()), NOW, rules_version=4
    )
    later = NOW + 40 * DAY
    send(tracker, "report_progress", {"expectedCompletionDate": later.isoformat()}, NOW + DAY)
    change_id = tracker.order.change_requests[-1].id
    send(
        tracker,
        "resolve_change",
        {"changeRequestId": change_id, "decision": "rejected"},
        NOW + 2 * DAY,
    )
    order = tracker.order
    assert order.requested_completion_date == NOW + 30 * DAY
    assert order.jeopardy.status == JeopardyStatus.CRITICAL
    assert len(order.change_requests) == 1  # not asked again for the same forecast
    # the party forecasts within the agreed date again: no longer critical
    send(
        tracker,
        "report_progress",
        {"expectedCompletionDate": (NOW + 29 * DAY).isoformat(), "percentComplete": 50},
        NOW + 3 * DAY,
    )
    assert order.jeopardy.status == JeopardyStatus.NONE
    # later again: asked again, and this time accepted
    send(tracker, "report_progress", {"expectedCompletionDate": later.isoformat()}, NOW + 4 * DAY)
    assert len(order.change_requests) == 2
    send(
        tracker,
        "resolve_change",
        {"changeRequestId": order.change_requests[-1].id, "decision": "accepted"},
        NOW + 5 * DAY,
    )
    assert order.requested_completion_date == later
    assert order.jeopardy.status == JeopardyStatus.NONE


def test_no_automatic_request_while_one_for_the_agreed_date_is_open() -> None:
    tracker = start(requestedCompletionDate=(NOW + 30 * DAY).isoformat())
    send(
        tracker,
        "request_change",
        {"requestId": "p-1", "changes": {"requestedCompletionDate": (NOW + 50 * DAY).isoformat()}},
        NOW,
    )
    send(
        tracker,
        "report_progress",
        {"expectedCompletionDate": (NOW + 50 * DAY).isoformat()},
        NOW + HOUR,
    )
    assert [c.id for c in tracker.order.change_requests] == ["p-1"]


def test_a_start_with_only_a_forecast_agrees_on_it() -> None:
    tracker = PartyOrderTracker.start(
        order_spec(
            requestedCompletionDate=None, expectedCompletionDate=(NOW + 9 * DAY).isoformat()
        ),
        NOW,
        rules_version=CURRENT_RULES,
    )
    assert tracker.order.requested_completion_date == NOW + 9 * DAY


# ---------------------------------------------------------------- 3. message ids


def test_request_ids_are_unique_per_message_name() -> None:
    tracker = start()
    send(
        tracker,
        "request_change",
        {"requestId": "CR-1", "changes": {"orderItems": [{"id": "2"}]}},
        NOW,
    )
    send(
        tracker,
        "resolve_change",
        {"requestId": "CR-1", "changeRequestId": "CR-1", "decision": "accepted"},
        NOW + HOUR,
    )
    order = tracker.order
    assert order.change_requests[0].status == "accepted"
    assert [i.id for i in order.order_items] == ["1", "2"]
    assert order.rejected_message_count == 0


def test_a_reused_request_id_with_other_content_is_recorded() -> None:
    tracker = start()
    send(tracker, "report_progress", {"requestId": "r1", "percentComplete": 10}, NOW)
    send(tracker, "report_progress", {"percentComplete": 10, "requestId": "r1"}, NOW + HOUR)
    assert tracker.order.rejected_message_count == 0  # the same message, keys reordered
    send(tracker, "report_progress", {"requestId": "r1", "percentComplete": 50}, NOW + HOUR)
    order = tracker.order
    assert order.percent_complete == 10
    rejected = order.rejected_messages[-1]
    assert rejected.error == "requestId 'r1' already used for a different report_progress message"
    assert rejected.request_id == "r1"
    tracker.handle("change_state", {"requestId": "s1", "state": "held"}, NOW)
    with pytest.raises(ValueError) as raised:
        tracker.validate_update("change_state", {"requestId": "s1", "state": "pending"})
    assert str(raised.value) == ("requestId 's1' already used for a different change_state message")


# ---------------------------------------------------------------- 4. failed


@pytest.mark.parametrize("setup", [[], ["pending"], ["inProgress", "held"], ["inProgress"]])
def test_failed_from_every_open_state(setup: list[str]) -> None:
    tracker = start()
    for state in setup:
        send(tracker, "change_state", {"state": state}, NOW)
    effects = send(
        tracker, "change_state", {"state": "failed", "reason": "party insolvent"}, NOW + HOUR
    )
    assert tracker.order.state == OrderState.FAILED
    sent = [(n.recipient_kind, n.kind) for n in notifications(effects)]
    assert ("originatingProcess", "failed") in sent
    failed = next(n for n in notifications(effects) if n.kind == "failed")
    assert failed.body["reason"] == "party insolvent"


def test_failing_a_critical_order_at_level_3_closes_the_jeopardy_quietly() -> None:
    tracker = start()
    run_until(tracker, NOW + 22 * DAY)
    assert tracker.order.jeopardy.status == JeopardyStatus.CRITICAL
    assert tracker.order.jeopardy.escalation_level == 3
    effects = send(
        tracker, "change_state", {"state": "failed", "reason": "site lost"}, NOW + 22 * DAY
    )
    assert [(n.recipient_kind, n.kind) for n in notifications(effects)] == [
        ("originatingProcess", "failed"),
        ("party", "stateChanged"),
    ]
    assert not any("no longer in jeopardy" in n.subject for n in notifications(effects))
    last = tracker.order.jeopardy_alerts[-1]
    assert (last.jeopardy_type, last.alert_date) == ("closed", NOW + 22 * DAY)
    assert "cleared" not in [a.jeopardy_type for a in tracker.order.jeopardy_alerts]
    assert tracker.order.jeopardy.status == JeopardyStatus.NONE


# ---------------------------------------------------------------- 5. loose ends


@pytest.mark.parametrize("ending", ["delivered", "cancelled", "failed"])
def test_open_change_requests_are_withdrawn_when_the_order_ends(ending: str) -> None:
    tracker = start()
    send(
        tracker,
        "request_change",
        {"requestId": "c1", "changes": {"orderItems": [{"id": "2"}]}},
        NOW,
    )
    tracker.change_forwarded("c1")
    at = NOW + HOUR
    if ending == "delivered":
        effects = send(tracker, "report_progress", {"delivered": True}, at)
    elif ending == "cancelled":
        send(tracker, "cancel_order", {"reason": "no longer needed"}, at)
        effects = tracker.finish_cancellation(at)
    else:
        effects = send(tracker, "change_state", {"state": "failed"}, at)
    change = tracker.order.change_requests[0]
    assert (change.status, change.resolved_at) == ("withdrawn", at)
    withdrawn = [n for n in notifications(effects) if n.kind == "changeWithdrawn"]
    assert [(n.recipient_kind, n.body["changeRequest"]["id"]) for n in withdrawn] == [
        ("originatingProcess", "c1")
    ]
    tracker.handle("resolve_change", {"changeRequestId": "c1", "decision": "accepted"}, at + HOUR)
    assert tracker.order.rejected_message_count == 1  # refused, and recorded
    assert tracker.order.rejected_messages[-1].error == (
        f"order PO-10 is {tracker.order.state}: a change resolution is no longer accepted"
    )
    assert tracker.order.state == {"delivered": "completed"}.get(ending, ending)


# ---------------------------------------------------------------- 6. check_in_now


def test_daily_manual_check_ins_do_not_hide_a_silent_party() -> None:
    tracker = PartyOrderTracker.start(
        order_spec(requestedCompletionDate=(NOW + 90 * DAY).isoformat()), NOW, rules_version=4
    )
    for day in range(1, 4):
        send(tracker, "check_in_now", {"requestedBy": "ops"}, NOW + day * DAY)
    order = tracker.order
    assert order.check_ins.unanswered_streak == 2
    assert order.jeopardy.status == JeopardyStatus.CRITICAL
    assert "checkInsUnanswered" in order.jeopardy.critical_causes


# ---------------------------------------------------------------- 7. item changes


def test_an_accepted_item_change_is_merged_field_by_field() -> None:
    tracker = start(
        orderItems=[{"id": "1", "description": "10G circuit", "quantity": 1, "action": "add"}]
    )
    send(
        tracker,
        "request_change",
        {"requestId": "c1", "changes": {"orderItems": [{"id": "1", "quantity": 2}]}},
        NOW,
    )
    send(tracker, "resolve_change", {"changeRequestId": "c1", "decision": "accepted"}, NOW)
    assert [i.to_json_dict() for i in tracker.order.order_items] == [
        {
            "id": "1",
            "description": "10G circuit",
            "quantity": 2,
            "state": "acknowledged",
            "action": "add",
        }
    ]


# ---------------------------------------------------------------- 8. violations


def test_a_re_sent_overdue_milestone_is_violated_once() -> None:
    when = NOW + 5 * DAY
    tracker = start(
        requestedCompletionDate=(NOW + 60 * DAY).isoformat(),
        milestones=[{"id": "survey", "milestoneDate": when.isoformat()}],
    )
    woken = run_until(tracker, when)
    for week in range(1, 5):  # a month of weekly snapshots
        at = when + week * 7 * DAY
        woken.append(
            (
                at,
                send(
                    tracker,
                    "report_progress",
                    {"milestones": [{"id": "survey", "status": "yetToReach"}]},
                    at,
                ),
            )
        )
    violations = [
        n for _, effects in woken for n in notifications(effects) if n.kind == "milestoneViolated"
    ]
    assert len(violations) == 2  # the party and the order manager, once
    names = [a.name for a in tracker.order.jeopardy_alerts]
    assert names.count("Milestone survey violated") == 1
    assert tracker.order.milestones[0].status == MilestoneStatus.VIOLATED
    # completed, then re-opened with the same date: still not violated again
    send(tracker, "report_progress", {"milestones": [{"id": "survey"}]}, when + 40 * DAY)
    effects = send(
        tracker,
        "report_progress",
        {"milestones": [{"id": "survey", "status": "yetToReach"}]},
        when + 41 * DAY,
    )
    assert [n for n in notifications(effects) if n.kind == "milestoneViolated"] == []


# ---------------------------------------------------------------- 10. bounds


def test_thousands_of_milestones_are_refused_naming_the_limit() -> None:
    milestones = [{"id": f"m{i}"} for i in range(5_000)]
    with pytest.raises(ValueError) as raised:
        order_spec(milestones=milestones)
    assert _describe(raised.value) == (
        f"milestones: 5000 entries received, at most {MAX_MILESTONES} allowed"
    )


def test_a_megabyte_requested_by_is_refused() -> None:
    tracker = start()
    tracker.handle("cancel_order", {"requestedBy": "x" * 1_000_000}, NOW)
    error = tracker.order.rejected_messages[-1].error
    assert error == "requestedBy: 1000000 characters received, at most 1000 allowed"
    assert tracker.order.state == OrderState.ACKNOWLEDGED


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        (
            {"orderItems": [{"id": "1"}, {"id": "1"}]},
            "orderItems: id '1' appears twice",
        ),
        (
            {"orderDate": (NOW + 30 * DAY).isoformat()},
            "orderDate: 2026-12-01T00:00:00Z is after requestedCompletionDate 2026-11-26T00:00:00Z;"
            " an order is placed before it is due",
        ),
        (
            {
                "milestones": [
                    {"id": "m", "completedAt": (NOW + 800 * DAY).isoformat(), "status": "completed"}
                ]
            },
            "milestones.completedAt: 2029-01-09T00:00:00Z (milestone m) is in the future;"
            " a completion must lie before 2026-11-02T00:00:00Z",
        ),
        (
            {"milestones": [{"id": "m"}, {"id": "m"}]},
            "(message): milestones: id 'm' appears twice",  # refused by the start input's model
        ),
    ],
)
def test_cross_field_rules_of_the_start_input(changes: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError) as raised:
        PartyOrderTracker.start(order_spec(**changes), NOW, rules_version=CURRENT_RULES)
    refused = raised.value
    text = _describe(refused) if isinstance(refused, ValidationError) else str(refused)
    assert text == error


def test_a_completion_reported_for_next_year_is_refused() -> None:
    tracker = start(milestones=[{"id": "m"}])
    tracker.handle(
        "report_progress",
        {"milestones": [{"id": "m", "completedAt": (NOW + 400 * DAY).isoformat()}]},
        NOW,
    )
    assert tracker.order.rejected_messages[-1].error == (
        "milestones.completedAt: 2027-12-06T00:00:00Z is in the future;"
        " a completion must lie before 2026-11-02T00:00:00Z"
    )
    assert tracker.order.milestones[0].status == MilestoneStatus.YET_TO_REACH


def test_change_requests_are_bounded_and_a_refused_one_changes_nothing() -> None:
    tracker = start()
    for number in range(MAX_CHANGE_REQUESTS):
        tracker.handle("request_change", {"changes": {"orderItems": [{"id": f"i{number}"}]}}, NOW)
    before = tracker.state.model_dump()
    tracker.handle("request_change", {"changes": {"orderItems": [{"id": "one-more"}]}}, NOW)
    error = tracker.order.rejected_messages[-1].error
    assert error == (
        f"changeRequests: order PO-10 has {MAX_CHANGE_REQUESTS} change requests;"
        f" at most {MAX_CHANGE_REQUESTS} are allowed"
    )
    after = tracker.state.model_dump()
    for state in (before, after):
        state["order"].pop("rejectedMessages")
        state["order"].pop("rejectedMessageCount")
    assert after == before


def test_the_order_as_a_whole_is_bounded() -> None:
    tracker = start()
    big = {"id": "", "description": "d" * 3_900}
    refused_at = None
    for number in range(MAX_CHANGE_REQUESTS):
        items = [{**big, "id": f"{number}-{i}", "description": "d" * 1_900} for i in range(3)]
        tracker.handle(
            "request_change", {"reason": "r" * 4_000, "changes": {"orderItems": items}}, NOW
        )
        if tracker.order.rejected_message_count:
            refused_at = number
            break
    assert refused_at is not None
    refusal = re.fullmatch(
        rf"the order would be (\d+) characters of JSON; at most {ORDER_CHARS_LIMIT} are kept"
        r" \(change requests and items are bounded together\)",
        tracker.order.rejected_messages[-1].error,
    )
    assert refusal is not None and int(refusal[1]) > ORDER_CHARS_LIMIT
    size = len(tracker.order.model_dump_json())
    assert size < ORDER_CHARS_LIMIT + 250_000  # the refused message left nothing behind


# ---------------------------------------------------------------- 11. error text


def test_an_illegal_state_value_is_named_without_python_reprs() -> None:
    tracker = start()
    tracker.handle("change_state", {"state": "bogus"}, NOW)
    assert tracker.order.rejected_messages[-1].error == (
        "state: 'bogus' is not one of inProgress, pending, held, failed"
    )
    with pytest.raises(ValueError) as raised:
        tracker.validate_update("change_state", {"state": "bogus"})
    assert str(raised.value) == "state: 'bogus' is not one of inProgress, pending, held, failed"


@pytest.mark.parametrize(
    ("name", "payload", "error"),
    [
        (
            "report_progress",
            {"source": "vendor", "note": "x"},
            "source: 'vendor' is not one of party, enterprise",
        ),
        (
            "report_progress",
            {"percentComplete": "lots"},
            "percentComplete: should be a valid integer, unable to parse string as an integer"
            " (received 'lots')",
        ),
        (
            "resolve_change",
            {"changeRequestId": "c", "decision": "maybe"},
            "decision: 'maybe' is not one of accepted, rejected",
        ),
        (
            "report_progress",
            {"milestones": [{"id": "m", "status": 3}]},
            "milestones.0.status: 3 is not one of yetToReach, completed",
        ),
    ],
)
def test_enumerated_fields_name_the_value_and_the_values_allowed(
    name: str, payload: dict[str, Any], error: str
) -> None:
    # Rules 4's lax models; rules 5's strict wire types: tests/unit/test_rules_5.py.
    tracker = PartyOrderTracker.start(order_spec(milestones=[{"id": "m"}]), NOW, rules_version=4)
    tracker.handle(name, payload, NOW)
    text = tracker.order.rejected_messages[-1].error
    assert text == error
    assert "<" not in text and "OrderState" not in text


def test_a_bad_start_input_names_the_value() -> None:
    with pytest.raises(ValueError) as raised:
        order_spec(party={"id": "A", "name": "A", "role": "vendor"})
    assert _describe(raised.value) == (
        "party.role: 'vendor' is not one of customer, supplier, partner"
    )


def _describe(error: BaseException) -> str:
    from workflows.domain.messages import describe_validation_error

    assert isinstance(error, ValidationError)
    return describe_validation_error(error)


# ---------------------------------------------------------------- versioning


def test_a_state_from_before_rules_versions_keeps_rules_1() -> None:
    # A forecast past the agreed date, and no check-in or behind-plan before either: rules
    # 1 measure the order from the forecast, the later rules from the agreed date, so
    # next_due tells which rules the restored order is scheduled by.
    agreed, forecast = NOW + 25 * DAY, NOW + 35 * DAY
    tracker = start(
        expectedCompletionDate=forecast.isoformat(),
        trackingPolicy={"checkInInterval": "P100D", "behindPlanTolerance": 100},
    )
    data = json.loads(tracker.state.model_dump_json())
    for field in ("rules_version", "rulesVersion", "appliedMessages", "forecastReviewed"):
        data.pop(field, None)
    restored = PartyOrderTracker(TrackerState.model_validate(data))
    assert restored.rules == 1
    with pytest.raises(IllegalTransition):  # rules 1: only an order in progress fails
        restored.validate_state_change(StateChangeRequest(state="failed"))
    assert restored.next_due(NOW) == next_due(restored.order, NOW, rules=RULES_1)
    assert restored.next_due(NOW) == Deadline(forecast - 3 * DAY, "due date warning lead time")
    assert next_due(restored.order, NOW, rules=RULES_4) == Deadline(
        agreed - 3 * DAY, "due date warning lead time"
    )


def test_an_order_moved_onto_rules_2_still_knows_the_ids_applied_before() -> None:
    old = PartyOrderTracker.start(order_spec(), NOW, rules_version=1)
    old.handle("report_progress", {"requestId": "r1", "percentComplete": 10}, NOW)
    carried = PartyOrderTracker(TrackerState.model_validate_json(old.state.model_dump_json()))
    carried.use_rules(2)  # what the workflow does at continue-as-new, with the patch
    carried.handle("report_progress", {"requestId": "r1", "percentComplete": 10}, NOW + HOUR)
    carried.handle("report_progress", {"requestId": "r1", "percentComplete": 90}, NOW + HOUR)
    assert carried.order.percent_complete == 10  # not applied twice
    assert carried.already_applied("r1", "report_progress")
    carried.handle("report_progress", {"requestId": "r2", "percentComplete": 20}, NOW + HOUR)
    assert carried.order.percent_complete == 20
