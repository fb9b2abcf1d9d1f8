"""Rules of the tracker that the broader tests in test_tracker.py left unpinned.

Each test names the rule it pins. They are written for the rules as they stand; when a rule
is changed on purpose (issue 10 changes some), the test for it changes with it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from starter.samples import CONTRACT_EXAMPLE, load_sample
from workflows.domain.effects import Effect, ForwardChangeRequest, Notification, Notify
from workflows.domain.model import MilestoneStatus, OrderState, PartyOrderSpec
from workflows.domain.rules import CURRENT_RULES, RULES_V1
from workflows.domain.tracker import PartyOrderTracker, TrackerState

NOW = datetime(2026, 11, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
SURVEY_DATE = datetime(2026, 12, 5, tzinfo=UTC)  # the contract example's survey milestone


def start(tracking_id: str | None = None, **changes: Any) -> PartyOrderTracker:
    """The contract's PO-1001 tracked from NOW, behind-plan off (tolerance 100)."""
    data = load_sample(CONTRACT_EXAMPLE, NOW)
    data["trackingPolicy"]["behindPlanTolerance"] = 100
    data.update(changes)
    return PartyOrderTracker.start(
        PartyOrderSpec.model_validate(data), NOW, tracking_id, rules_version=CURRENT_RULES
    )


def notifications(effects: list[Effect]) -> list[Notification]:
    return [e.notification for e in effects if isinstance(e, Notify | ForwardChangeRequest)]


def violation_notices(effects: list[Effect]) -> list[tuple[str, str]]:
    """(recipient kind, recipient) of each milestoneViolated notice; escalations go on."""
    return [
        (n.recipient_kind, n.recipient)
        for n in notifications(effects)
        if n.kind == "milestoneViolated"
    ]


def violation_alerts(tracker: PartyOrderTracker) -> list[str]:
    return [a.name for a in tracker.order.jeopardy_alerts if a.exception == "milestoneViolated"]


# ---------------------------------------------------------------- a violated milestone's new date


def _move_survey(tracker: PartyOrderTracker, new_date: datetime, at: datetime) -> list[Effect]:
    """An accepted change request, resolved at ``at``, that moves the survey to ``new_date``."""
    tracker.handle(
        "request_change",
        {
            "requestId": "move-survey",
            "changes": {"milestones": [{"id": "survey", "milestoneDate": new_date.isoformat()}]},
        },
        at - HOUR,
    )
    return tracker.handle(
        "resolve_change", {"changeRequestId": "move-survey", "decision": "accepted"}, at
    )


def test_a_violated_milestone_given_exactly_now_as_its_new_date_stays_violated() -> None:
    """The boundary of "a later date puts it back on plan": ``now`` itself is not later.

    Were it put back on plan, the same instant would violate it again: a second
    JeopardyAlert and a duplicate milestoneViolated notice to the party and the manager.
    """
    tracker = start()
    tracker.advance(SURVEY_DATE)
    survey = tracker.order.milestones[0]
    assert survey.status == MilestoneStatus.VIOLATED
    assert len(violation_alerts(tracker)) == 1

    at = SURVEY_DATE + 2 * DAY
    resolved = _move_survey(tracker, at, at)
    assert [n.kind for n in notifications(resolved)] == ["changeResolved"]
    assert survey.milestone_date == at
    assert survey.status == MilestoneStatus.VIOLATED

    assert violation_notices(tracker.advance(at)) == []
    assert survey.status == MilestoneStatus.VIOLATED
    assert len(violation_alerts(tracker)) == 1


def test_a_violated_milestone_given_a_date_one_microsecond_later_is_back_on_plan() -> None:
    tracker = start()
    tracker.advance(SURVEY_DATE)
    at = SURVEY_DATE + 2 * DAY
    _move_survey(tracker, at + US, at)
    survey = tracker.order.milestones[0]
    assert survey.status == MilestoneStatus.YET_TO_REACH
    assert violation_notices(tracker.advance(at)) == []
    # ...and at its new date it is violated again, once, as any milestone would be.
    assert violation_notices(tracker.advance(at + US)) == [
        ("party", "ACME"),
        ("contact", "order-manager"),
    ]
    assert survey.status == MilestoneStatus.VIOLATED
    assert len(violation_alerts(tracker)) == 2


# ---------------------------------------------------------------- generated change-request ids


def _request(tracker: PartyOrderTracker, request_id: str | None = None) -> list[Effect]:
    payload: dict[str, Any] = {"changes": {"orderItems": [{"id": "2"}]}}
    if request_id is not None:
        payload["requestId"] = request_id
    return tracker.handle("request_change", payload, NOW)


def test_generated_change_request_ids_count_in_arrival_order() -> None:
    """``CR-n`` is the n-th change request of the order, whoever named the others."""
    tracker = start()
    _request(tracker)
    _request(tracker)
    _request(tracker, "client-chosen")
    _request(tracker)
    assert [c.id for c in tracker.order.change_requests] == [
        "CR-1",
        "CR-2",
        "client-chosen",
        "CR-4",
    ]
    assert tracker.order.rejected_messages == []


def test_a_generated_id_skips_one_a_client_already_used() -> None:
    """After a client has used ``CR-2``, the second change request without an id is CR-3."""
    tracker = start()
    _request(tracker, "CR-2")
    effects = _request(tracker)
    assert tracker.order.rejected_messages == []  # applied, not refused as a duplicate id
    assert [c.id for c in tracker.order.change_requests] == ["CR-2", "CR-3"]
    (forward,) = effects
    assert isinstance(forward, ForwardChangeRequest)
    assert forward.change_request_id == "CR-3"
    # The next one is counted from there, and skips nothing it does not have to.
    _request(tracker)
    assert tracker.order.change_requests[-1].id == "CR-4"


def test_a_generated_id_skips_a_run_of_used_ones() -> None:
    tracker = start()
    for client_id in ("CR-3", "CR-2"):
        _request(tracker, client_id)
    _request(tracker)
    assert tracker.order.change_requests[-1].id == "CR-4"


# ---------------------------------------------------------------- notification numbering


def test_notifications_are_numbered_one_by_one_across_kinds_and_runs() -> None:
    """Idempotency keys are ``{orderId}/{trackingId}/{kind}-{n}``, n counting every notice.

    Receivers deduplicate on the key, so a number skipped is harmless but a number reused
    loses a notice; and the count must survive continue-as-new (the state's JSON).
    """
    tracker = start(tracking_id="run-a")
    assert tracker.state.next_sequence == 1
    keys = [n.idempotency_key for n in notifications(tracker.advance(NOW + 7 * DAY))]
    _request(tracker)
    keys += [n.idempotency_key for n in notifications(_request(tracker))]
    assert keys == ["PO-1001/run-a/checkIn-1", "PO-1001/run-a/changeRequest-3"]
    assert tracker.state.next_sequence == 4

    carried = PartyOrderTracker(TrackerState.model_validate_json(tracker.state.model_dump_json()))
    effects = carried.handle("check_in_now", {}, NOW + 8 * DAY)
    assert [n.idempotency_key for n in notifications(effects)] == ["PO-1001/run-a/checkIn-4"]
    assert carried.state.next_sequence == 5


def test_generated_change_request_ids_do_not_use_the_notification_sequence() -> None:
    """``CR-n`` counts change requests, not notifications: a check-in does not shift it."""
    tracker = start()
    tracker.handle("check_in_now", {}, NOW)
    tracker.handle("check_in_now", {}, NOW)
    _request(tracker)
    assert tracker.order.change_requests[-1].id == "CR-1"


# ---------------------------------------------------------------- tracking id


def test_the_tracking_id_is_kept_on_the_order_and_in_every_key() -> None:
    """Each tracking of an order (a new workflow run chain) has keys of its own."""
    tracker = start(tracking_id="tracking-7")
    assert tracker.order.tracking_id == "tracking-7"
    assert tracker.order.to_json_dict()["trackingId"] == "tracking-7"
    carried = TrackerState.model_validate_json(tracker.state.model_dump_json())
    assert carried.order.tracking_id == "tracking-7"
    (note,) = notifications(tracker.advance(NOW + 7 * DAY))
    assert note.idempotency_key == "PO-1001/tracking-7/checkIn-1"
    # Without one (a tracker started outside a workflow) the key is still the order's own.
    (untracked,) = notifications(start().advance(NOW + 7 * DAY))
    assert untracked.idempotency_key == "PO-1001/checkIn-1"


# ---------------------------------------------------------------- cancellation reason


def test_the_cancellation_reason_is_the_state_reason_at_both_steps() -> None:
    tracker = start()
    tracker.handle("report_progress", {"percentComplete": 10}, NOW)
    tracker.handle(
        "cancel_order", {"reason": "site decommissioned", "requestedBy": "SO-77"}, NOW + DAY
    )
    order = tracker.order
    assert (order.state, order.state_reason) == (
        OrderState.PENDING_CANCELLATION,
        "site decommissioned",
    )
    tracker.finish_cancellation(NOW + DAY + HOUR)
    assert (order.state, order.state_reason) == (OrderState.CANCELLED, "site decommissioned")
    steps = [(s.from_state, s.to_state, s.reason) for s in order.state_history[-2:]]
    assert steps == [
        (OrderState.IN_PROGRESS, OrderState.PENDING_CANCELLATION, "site decommissioned"),
        (OrderState.PENDING_CANCELLATION, OrderState.CANCELLED, "site decommissioned"),
    ]
    wire = order.to_json_dict()
    assert wire["stateReason"] == "site decommissioned"
    assert [s["reason"] for s in wire["stateHistory"][-2:]] == ["site decommissioned"] * 2


# ---------------------------------------------------------------- rejected messages


def test_an_unknown_message_is_recorded_with_its_payload_and_request_id() -> None:
    """The payload is kept so that an operator can see, and resend, what was sent."""
    tracker = start()
    payload = {"requestId": "typo-1", "percentComplete": 40, "note": "survey done"}
    assert tracker.handle("reportProgress", payload, NOW + HOUR) == []
    rejected = tracker.order.rejected_messages[-1]
    assert (rejected.message, rejected.request_id, rejected.received_at) == (
        "reportProgress",
        "typo-1",
        NOW + HOUR,
    )
    assert rejected.error == "unknown message 'reportProgress'"
    assert rejected.payload is not None
    assert json.loads(rejected.payload) == payload
    assert tracker.order.rejected_message_count == 1


def test_cancelling_a_closed_order_is_refused_as_closed_not_as_a_transition() -> None:
    """The reason names the order's state and the message, not the state machine's table."""
    tracker = start()
    tracker.handle("report_progress", {"delivered": True}, NOW)
    assert tracker.handle("cancel_order", {"reason": "too late"}, NOW + HOUR) == []
    assert tracker.order.rejected_messages[-1].error == (
        "order PO-1001 is completed: cancellation is no longer accepted"
    )


def milestones_due_together(rules: int) -> tuple[PartyOrderTracker, datetime]:
    data = load_sample(CONTRACT_EXAMPLE, NOW)
    due = datetime(2026, 12, 5, tzinfo=UTC)
    data["milestones"] = [
        {"id": f"m{n}", "name": f"Step {n}", "milestoneDate": "2026-12-05T00:00:00Z"}
        for n in range(3)
    ]
    tracker = PartyOrderTracker.start(PartyOrderSpec.model_validate(data), NOW, rules_version=rules)
    return tracker, due


def test_milestones_violated_at_one_instant_make_one_notice_per_recipient() -> None:
    tracker, due = milestones_due_together(CURRENT_RULES)
    notices = [
        e.notification
        for e in tracker.advance(due)
        if isinstance(e, Notify) and e.notification.kind == "milestoneViolated"
    ]
    assert [(n.recipient_kind, n.recipient) for n in notices] == [
        ("party", "ACME"),
        ("contact", "order-manager"),
    ]
    for notice in notices:
        assert [m["milestoneId"] for m in notice.body["milestones"]] == ["m0", "m1", "m2"]
        assert notice.subject == "3 milestones were not completed by their dates: m0, m1, m2"
    # Each milestone still has its own TMF JeopardyAlert.
    alerts = [a for a in tracker.order.jeopardy_alerts if a.exception == "milestoneViolated"]
    assert [a.name for a in alerts] == [f"Milestone m{n} violated" for n in range(3)]


def test_rules_1_keep_a_notice_per_milestone() -> None:
    tracker, due = milestones_due_together(RULES_V1)
    kinds = [
        (e.notification.recipient, e.notification.body["milestoneId"])
        for e in tracker.advance(due)
        if isinstance(e, Notify) and e.notification.kind == "milestoneViolated"
    ]
    assert kinds == [
        (recipient, milestone)
        for milestone in ("m0", "m1", "m2")
        for recipient in ("ACME", "order-manager")
    ]
