"""PartyOrderTracker end to end, without Temporal: every message, every deadline, every effect."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from starter.samples import CONTRACT_EXAMPLE, load_sample
from workflows.domain.bounds import REJECTED_MESSAGES_KEPT
from workflows.domain.deadlines import Deadline, next_due
from workflows.domain.effects import (
    CancelAfterNotice,
    Effect,
    ForwardChangeRequest,
    InformCloseProcess,
    Notification,
    Notify,
)
from workflows.domain.jeopardy import assess, is_watched
from workflows.domain.messages import (
    MESSAGE_MODELS,
    CancelRequest,
    ChangeRequestMessage,
    ChangeResolution,
    CheckInRequest,
    InboundMessage,
    ProgressReport,
    StateChangeRequest,
)
from workflows.domain.model import (
    JeopardyStatus,
    MilestoneStatus,
    OrderState,
    PartyOrder,
    PartyOrderSpec,
)
from workflows.domain.rules import CURRENT_RULES, RULES_4, RULES_V1, RULES_V2, RULES_V3
from workflows.domain.states import IllegalTransition
from workflows.domain.tracker import PartyOrderTracker, TrackerState

NOW = datetime(2026, 11, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

CONTRACT_ORDER: dict[str, Any] = load_sample(CONTRACT_EXAMPLE, NOW)  # the contract's PO-1001
SURVEY_DATE = datetime(2026, 12, 5, tzinfo=UTC)


def spec(**changes: Any) -> PartyOrderSpec:
    data = json.loads(json.dumps(CONTRACT_ORDER))
    policy = changes.pop("trackingPolicy", {})
    data["trackingPolicy"].update(policy)
    data.update(changes)
    return PartyOrderSpec.model_validate(data)


def start(**changes: Any) -> PartyOrderTracker:
    """The contract's order, tracked from NOW; behind-plan is off unless asked for."""
    changes.setdefault("trackingPolicy", {}).setdefault("behindPlanTolerance", 100)
    return PartyOrderTracker.start(spec(**changes), NOW, rules_version=CURRENT_RULES)


def notifications(effects: list[Effect]) -> list[Notification]:
    return [
        e.notification
        for e in effects
        if isinstance(e, Notify | ForwardChangeRequest | CancelAfterNotice)
    ]


def sent(effects: list[Effect]) -> list[tuple[str, str, str]]:
    """(recipient kind, recipient, kind) of every notification, in order."""
    return [(n.recipient_kind, n.recipient, n.kind) for n in notifications(effects)]


def last_rejection(tracker: PartyOrderTracker) -> str:
    return tracker.order.rejected_messages[-1].error


def in_progress(tracker: PartyOrderTracker, at: datetime = NOW) -> None:
    tracker.handle("change_state", {"state": "inProgress", "reason": "work starts"}, at)
    assert tracker.order.state == OrderState.IN_PROGRESS


# ---------------------------------------------------------------- start


def test_start_acknowledges_and_plans_the_first_check_in() -> None:
    tracker = start()
    order = tracker.order
    assert order.state == OrderState.ACKNOWLEDGED
    assert order.order_date == NOW
    assert order.check_ins.next_at == NOW + 7 * DAY
    assert order.check_ins.sent == 0
    assert order.check_ins.answer_by is None
    assert order.jeopardy.status == JeopardyStatus.NONE
    assert order.percent_complete == 0
    assert [(h.from_state, h.to_state, h.at) for h in order.state_history] == [
        (None, OrderState.ACKNOWLEDGED, NOW)
    ]
    assert order.to_json_dict()["stateHistory"][0]["to"] == "acknowledged"
    assert tracker.advance(NOW) == []  # nothing is due at once


def test_start_keeps_a_given_order_date_and_the_spec() -> None:
    given_spec = spec(orderDate="2026-10-01T00:00:00+02:00")
    before = given_spec.model_dump()
    tracker = PartyOrderTracker.start(given_spec, NOW, rules_version=CURRENT_RULES)
    assert tracker.order.order_date == datetime(2026, 10, 1, tzinfo=timezone(2 * HOUR))
    assert given_spec.model_dump() == before
    tracker.order.milestones[0].status = MilestoneStatus.COMPLETED
    assert given_spec.milestones[0].status == MilestoneStatus.YET_TO_REACH  # no sharing


def test_start_uses_the_policy_interval() -> None:
    tracker = start(trackingPolicy={"checkInInterval": "PT36H", "responseWindow": "PT12H"})
    assert tracker.order.check_ins.next_at == NOW + 36 * HOUR


# ---------------------------------------------------------------- report_progress


def test_first_progress_report_moves_to_in_progress() -> None:
    tracker = start()
    at = NOW + HOUR
    effects = tracker.handle("report_progress", {"percentComplete": 10, "note": "started"}, at)
    order = tracker.order
    # Rules 4: the originating process hears that the work started (the party knows).
    (notice,) = [effect.notification for effect in effects if isinstance(effect, Notify)]
    assert len(effects) == 1
    assert (notice.recipient_kind, notice.recipient, notice.kind) == (
        "originatingProcess",
        order.originating_process.name,
        "stateChanged",
    )
    assert notice.body["state"] == "inProgress"
    assert notice.body["reason"] == "first progress report"
    assert notice.body["reference"] == order.originating_process.reference
    assert notice.occurred_at == at
    assert order.state == OrderState.IN_PROGRESS
    assert order.state_reason == "first progress report"
    assert order.percent_complete == 10
    assert order.last_progress_at == at
    assert order.last_note == "started"
    assert [(h.from_state, h.to_state) for h in order.state_history] == [
        (None, OrderState.ACKNOWLEDGED),
        (OrderState.ACKNOWLEDGED, OrderState.IN_PROGRESS),
    ]
    assert tracker.handle("report_progress", {"percentComplete": 20}, at + HOUR) == []
    assert len(order.state_history) == 2  # only the first report moves the state
    assert order.percent_complete == 20
    assert order.last_note == "started"  # a report without a note keeps the last one


def test_a_delivery_in_the_first_report_is_told_as_the_completion_alone() -> None:
    tracker = start()
    effects = tracker.handle("report_progress", {"delivered": True}, NOW + HOUR)
    assert tracker.order.state == OrderState.COMPLETED
    assert [kind for _, _, kind in sent(effects)] == ["completed"]


@pytest.mark.parametrize("rules", [RULES_V1, RULES_V2, RULES_V3])
def test_before_rules_4_the_process_hears_of_no_state_change(rules: int) -> None:
    """Orders that began under older rules replay as they ran: no notice was sent then."""
    tracker = PartyOrderTracker.start(spec(), NOW, rules_version=rules)
    assert tracker.handle("report_progress", {"percentComplete": 10}, NOW + HOUR) == []
    assert tracker.order.state == OrderState.IN_PROGRESS
    tracker.handle("cancel_order", {"reason": "not needed"}, NOW + 2 * HOUR)
    assert sent(tracker.finish_cancellation(NOW + 3 * HOUR)) == []
    assert tracker.order.state == OrderState.CANCELLED


def test_progress_report_in_pending_or_held_keeps_the_state() -> None:
    tracker = start()
    tracker.handle("change_state", {"state": "pending"}, NOW)
    tracker.handle("report_progress", {"percentComplete": 30}, NOW + HOUR)
    assert tracker.order.state == OrderState.PENDING
    assert tracker.order.percent_complete == 30


def test_progress_report_on_milestones() -> None:
    tracker = start(milestones=[{"id": "survey"}, {"id": "build"}])
    done_at = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    tracker.handle(
        "report_progress",
        {"milestones": [{"id": "survey", "completedAt": "2026-11-02T09:00:00Z"}, {"id": "build"}]},
        NOW + DAY,
    )
    survey, build = tracker.order.milestones
    assert (survey.status, survey.completed_at) == (MilestoneStatus.COMPLETED, done_at)
    assert (build.status, build.completed_at) == (MilestoneStatus.COMPLETED, NOW + DAY)
    tracker.handle(
        "report_progress", {"milestones": [{"id": "build", "status": "yetToReach"}]}, NOW + DAY
    )
    assert (build.status, build.completed_at) == (MilestoneStatus.YET_TO_REACH, None)


def test_progress_report_moves_the_expected_date() -> None:
    tracker = start()
    tracker.handle("report_progress", {"expectedCompletionDate": "2027-02-01T00:00:00-05:00"}, NOW)
    assert tracker.order.due_date == datetime(2027, 2, 1, 5, 0, tzinfo=UTC)


def test_progress_report_on_an_unknown_milestone_is_rejected_whole() -> None:
    tracker = start()
    before = tracker.order.model_dump(exclude={"rejected_messages", "rejected_message_count"})
    effects = tracker.handle(
        "report_progress",
        {"requestId": "r1", "percentComplete": 50, "milestones": [{"id": "nope"}]},
        NOW + HOUR,
    )
    assert effects == []
    order = tracker.order
    assert order.rejected_message_count == 1
    rejected = order.rejected_messages[0]
    assert rejected.message == "report_progress"
    assert rejected.request_id == "r1"
    assert rejected.received_at == NOW + HOUR
    assert rejected.error == "milestones: unknown milestone 'nope'"
    assert json.loads(rejected.payload or "")["percentComplete"] == 50
    after = order.model_dump(exclude={"rejected_messages", "rejected_message_count"})
    assert after == before  # nothing applied, not even the state change
    assert not tracker.already_applied("r1")  # a corrected repeat may still be applied


def test_invalid_progress_report_is_recorded_with_the_field_named() -> None:
    tracker = start()
    tracker.handle("report_progress", {"requestId": "r9", "percentComplete": 101}, NOW)
    assert tracker.order.percent_complete == 0
    assert tracker.order.state == OrderState.ACKNOWLEDGED
    rejected = tracker.order.rejected_messages[-1]
    assert rejected.error == "percentComplete: should be less than or equal to 100 (received 101)"
    assert rejected.request_id == "r9"


@pytest.mark.parametrize(
    "setup",
    [[], ["pending"], ["inProgress", "held"], ["inProgress", "pending"], ["inProgress"]],
)
def test_delivered_completes_the_order_from_any_open_state(setup: list[str]) -> None:
    tracker = start()
    for state in setup:
        tracker.handle("change_state", {"state": state}, NOW)
        assert tracker.order.state == state
    at = NOW + 10 * DAY
    effects = tracker.handle("report_progress", {"delivered": True, "note": "done"}, at)
    order = tracker.order
    assert order.state == OrderState.COMPLETED
    assert order.completion_date == at
    assert order.percent_complete == 100
    assert order.is_final
    assert sent(effects) == [("party", "ACME", "completed")]
    assert isinstance(effects[0], Notify)
    assert effects[0].notification.body["completionDate"] == "2026-11-11T00:00:00Z"
    assert isinstance(effects[-1], InformCloseProcess)
    transitions = [(h.from_state, h.to_state) for h in order.state_history]
    assert transitions[-1] == (OrderState.IN_PROGRESS, OrderState.COMPLETED)
    if setup and setup[-1] in ("pending", "held"):
        assert transitions[-2] == (OrderState(setup[-1]), OrderState.IN_PROGRESS)
        assert order.state_history[-2].reason == "the party reported delivery"
    if not setup:
        assert transitions[-2] == (OrderState.ACKNOWLEDGED, OrderState.IN_PROGRESS)
    assert tracker.advance(at + 100 * DAY) == []  # a closed order has nothing due


def test_delivery_ends_a_jeopardy_episode_with_de_escalation() -> None:
    tracker = start()
    tracker.order.check_ins.unanswered_streak = 2
    tracker.advance(NOW + DAY)
    assert tracker.order.jeopardy.status == JeopardyStatus.CRITICAL
    assert tracker.order.jeopardy.escalation_level == 1
    effects = tracker.handle(
        "report_progress", {"source": "enterprise", "delivered": True}, NOW + 2 * DAY
    )
    assert sent(effects) == [
        ("contact", "order-manager", "deEscalation"),
        ("party", "ACME", "completed"),
    ]
    assert isinstance(effects[-1], InformCloseProcess)
    assert tracker.order.jeopardy.status == JeopardyStatus.NONE
    assert tracker.order.jeopardy_alerts[-1].jeopardy_type == "cleared"


# ---------------------------------------------------------------- change requests


def test_change_request_is_recorded_and_forwarded() -> None:
    # A party with a webhook: its URL (which may carry a token) must not go to the process.
    tracker = start(party={"id": "ACME", "name": "Acme", "webhookUrl": "https://acme.example/h"})
    at = NOW + HOUR
    effects = tracker.handle(
        "request_change",
        {
            "requestId": "chg-1",
            "origin": "party",
            "kind": "forced",
            "reason": "permits delayed",
            "changes": {"expectedCompletionDate": "2027-02-01T00:00:00Z"},
        },
        at,
    )
    (change,) = tracker.order.change_requests
    assert change.id == "chg-1"
    assert (change.origin, change.kind, change.reason) == ("party", "forced", "permits delayed")
    assert change.status == "received"
    assert change.received_at == at
    assert change.resolved_at is None
    assert change.changes.expected_completion_date == datetime(2027, 2, 1, tzinfo=UTC)
    # nothing is applied before the originating process resolves it
    assert tracker.order.due_date == datetime(2027, 1, 10, tzinfo=UTC)
    (effect,) = effects
    assert isinstance(effect, ForwardChangeRequest)
    assert effect.change_request_id == "chg-1"
    note = effect.notification
    assert (note.recipient_kind, note.recipient, note.kind) == (
        "originatingProcess",
        "service-order-handling",
        "changeRequest",
    )
    assert note.body["reference"] == "SO-77"
    assert note.body["changeRequest"]["id"] == "chg-1"
    assert note.body["changeRequest"]["changes"]["expectedCompletionDate"] == (
        "2027-02-01T00:00:00Z"
    )
    assert note.webhook_url is None  # the party's webhook is for the party's notices only
    tracker.change_forwarded("chg-1")
    assert change.status == "forwarded"
    tracker.change_forwarded("unknown")  # harmless


def test_change_request_without_request_id_gets_a_generated_id() -> None:
    tracker = start()
    first = tracker.handle("request_change", {"changes": {"orderItems": [{"id": "2"}]}}, NOW)
    second = tracker.handle("request_change", {"changes": {"orderItems": [{"id": "3"}]}}, NOW)
    ids = [c.id for c in tracker.order.change_requests]
    assert all(re.fullmatch(r"CR-\d+", i) for i in ids)
    assert ids[0] != ids[1]
    assert [e.change_request_id for e in first + second] == ids  # type: ignore[union-attr]


def test_a_request_id_may_not_reuse_an_existing_change_request_id() -> None:
    tracker = start()
    tracker.handle("request_change", {"changes": {"orderItems": [{"id": "2"}]}}, NOW)
    generated = tracker.order.change_requests[0].id
    effects = tracker.handle(
        "request_change", {"requestId": generated, "changes": {"orderItems": [{"id": "3"}]}}, NOW
    )
    assert effects == []
    assert len(tracker.order.change_requests) == 1
    assert last_rejection(tracker) == "requestId: change request 'CR-1' already exists"


def test_change_request_on_an_unknown_milestone_is_rejected() -> None:
    tracker = start()
    payload = {"changes": {"milestones": [{"id": "nope", "milestoneDate": "2027-01-01T00:00:00Z"}]}}
    assert tracker.handle("request_change", payload, NOW) == []
    assert tracker.order.change_requests == []
    assert last_rejection(tracker) == "changes.milestones: unknown milestone 'nope'"


def test_forwarding_does_not_reopen_a_resolved_change() -> None:
    tracker = start()
    tracker.handle(
        "request_change", {"requestId": "c1", "changes": {"orderItems": [{"id": "2"}]}}, NOW
    )
    tracker.handle("resolve_change", {"changeRequestId": "c1", "decision": "accepted"}, NOW)
    tracker.change_forwarded("c1")  # the forwarding activity ended late
    assert tracker.order.change_requests[0].status == "accepted"


def _request_full_change(tracker: PartyOrderTracker, change_id: str = "c1") -> None:
    tracker.handle(
        "request_change",
        {
            "requestId": change_id,
            "changes": {
                "expectedCompletionDate": "2027-02-01T00:00:00Z",
                "requestedCompletionDate": "2027-02-05T00:00:00+01:00",
                "milestones": [{"id": "survey", "milestoneDate": "2026-12-20T00:00:00Z"}],
                "orderItems": [
                    {"id": "1", "description": "10G circuit, diverse route", "quantity": 2},
                    {"id": "2", "description": "cross-connect", "action": "add"},
                ],
            },
        },
        NOW,
    )


def test_accepted_change_is_applied_and_the_party_told() -> None:
    tracker = start()
    _request_full_change(tracker)
    at = NOW + DAY
    effects = tracker.handle(
        "resolve_change",
        {
            "changeRequestId": "c1",
            "decision": "accepted",
            "resolvedBy": "SO-77",
            "note": "agreed",
            "requestId": "res-1",
        },
        at,
    )
    order = tracker.order
    assert order.expected_completion_date == datetime(2027, 2, 1, tzinfo=UTC)
    assert order.requested_completion_date == datetime(2027, 2, 4, 23, 0, tzinfo=UTC)
    assert order.milestones[0].milestone_date == datetime(2026, 12, 20, tzinfo=UTC)
    items = [item.to_json_dict() for item in order.order_items]
    # Rules 3: every item has a state; the one added by the change starts acknowledged.
    assert items == [
        {
            "id": "1",
            "description": "10G circuit, diverse route",
            "quantity": 2,
            "state": "acknowledged",
        },
        {
            "id": "2",
            "description": "cross-connect",
            "quantity": 1,
            "state": "acknowledged",
            "action": "add",
        },
    ]
    change = order.change_requests[0]
    assert (change.status, change.resolved_at, change.resolved_by, change.note) == (
        "accepted",
        at,
        "SO-77",
        "agreed",
    )
    assert sent(effects) == [("party", "ACME", "changeResolved")]
    body = notifications(effects)[0].body
    assert body["changeRequest"]["status"] == "accepted"
    assert body["order"]["dueDate"] == "2027-02-01T00:00:00Z"  # the party sees the new date
    assert tracker.already_applied("res-1", "resolve_change")


def test_rejected_change_leaves_the_order_unchanged_and_the_party_told() -> None:
    tracker = start()
    _request_full_change(tracker)
    # The resolution's note is kept among the notes (rules 3); nothing else changes.
    before = tracker.order.model_dump(exclude={"change_requests", "notes", "note_count"})
    effects = tracker.handle(
        "resolve_change", {"changeRequestId": "c1", "decision": "rejected", "note": "no"}, NOW + DAY
    )
    assert tracker.order.model_dump(exclude={"change_requests", "notes", "note_count"}) == before
    assert [(n.author, n.text) for n in tracker.order.notes] == [("service-order-handling", "no")]
    change = tracker.order.change_requests[0]
    assert (change.status, change.note, change.resolved_at) == ("rejected", "no", NOW + DAY)
    assert sent(effects) == [("party", "ACME", "changeResolved")]
    assert "rejected" in notifications(effects)[0].subject


def test_violated_milestone_given_a_later_date_is_back_on_plan() -> None:
    tracker = start()
    tracker.advance(SURVEY_DATE)
    survey = tracker.order.milestones[0]
    assert survey.status == MilestoneStatus.VIOLATED
    _request_full_change(tracker)  # survey moves to 2026-12-20
    tracker.handle("resolve_change", {"changeRequestId": "c1", "decision": "accepted"}, SURVEY_DATE)
    assert survey.status == MilestoneStatus.YET_TO_REACH
    assert survey.milestone_date == datetime(2026, 12, 20, tzinfo=UTC)


def test_violated_milestone_given_a_past_date_stays_violated() -> None:
    tracker = start()
    tracker.advance(SURVEY_DATE)
    tracker.handle(
        "request_change",
        {
            "requestId": "c1",
            "changes": {"milestones": [{"id": "survey", "milestoneDate": "2026-12-06T00:00:00Z"}]},
        },
        SURVEY_DATE,
    )
    tracker.handle(
        "resolve_change", {"changeRequestId": "c1", "decision": "accepted"}, SURVEY_DATE + 2 * DAY
    )
    assert tracker.order.milestones[0].status == MilestoneStatus.VIOLATED


def test_resolving_twice_or_an_unknown_change_is_rejected_naming_the_field() -> None:
    tracker = start()
    _request_full_change(tracker)
    tracker.handle("resolve_change", {"changeRequestId": "c1", "decision": "rejected"}, NOW)
    again = tracker.handle(
        "resolve_change", {"changeRequestId": "c1", "decision": "accepted"}, NOW + HOUR
    )
    assert again == []
    assert tracker.order.change_requests[0].status == "rejected"
    assert tracker.order.expected_completion_date == datetime(2027, 1, 10, tzinfo=UTC)
    assert last_rejection(tracker) == "changeRequestId: change request c1 was already rejected"
    unknown = tracker.handle(
        "resolve_change", {"changeRequestId": "c404", "decision": "accepted"}, NOW + HOUR
    )
    assert unknown == []
    assert last_rejection(tracker) == "changeRequestId: no change request 'c404' on order PO-1001"
    assert tracker.order.rejected_message_count == 2
    assert [r.message for r in tracker.order.rejected_messages] == ["resolve_change"] * 2


# ---------------------------------------------------------------- cancel_order


@pytest.mark.parametrize("setup", [[], ["pending"], ["inProgress"], ["inProgress", "held"]])
def test_cancellation_goes_through_pending_cancellation(setup: list[str]) -> None:
    tracker = start()
    for state in setup:
        tracker.handle("change_state", {"state": state}, NOW)
    effects = tracker.handle(
        "cancel_order", {"reason": "no longer required", "requestedBy": "SO-77"}, NOW + DAY
    )
    order = tracker.order
    assert order.state == OrderState.PENDING_CANCELLATION
    assert order.cancellation is not None
    assert (order.cancellation.reason, order.cancellation.requested_by) == (
        "no longer required",
        "SO-77",
    )
    assert order.cancellation.cancellation_date is None
    (effect,) = effects
    assert isinstance(effect, CancelAfterNotice)
    note = effect.notification
    assert (note.recipient_kind, note.recipient, note.kind) == ("party", "ACME", "cancelled")
    assert note.subject == "Order PO-1001 is cancelled"
    assert note.body == {
        "reason": "no longer required",
        "requestedBy": "SO-77",
        "order": {
            "id": "PO-1001",
            "state": "pendingCancellation",
            "percentComplete": 0,
            "dueDate": "2027-01-10T00:00:00Z",
            "jeopardy": "none",
        },
    }
    assert tracker.advance(NOW + 60 * DAY) == []  # nothing is watched while cancelling

    # Rules 4: the process hears that the cancellation took effect; nothing else is sent.
    assert sent(tracker.finish_cancellation(NOW + DAY + HOUR)) == [
        ("originatingProcess", order.originating_process.name, "stateChanged")
    ]
    assert order.state == OrderState.CANCELLED
    assert order.cancellation.cancellation_date == NOW + DAY + HOUR
    last = order.state_history[-1]
    assert (last.from_state, last.to_state, last.reason) == (
        OrderState.PENDING_CANCELLATION,
        OrderState.CANCELLED,
        "no longer required",
    )
    assert order.to_json_dict()["cancellation"] == {
        "reason": "no longer required",
        "requestedBy": "SO-77",
        "cancellationDate": "2026-11-02T01:00:00Z",
    }


def test_cancelling_twice_is_rejected() -> None:
    tracker = start()
    tracker.handle("cancel_order", {"reason": "first"}, NOW)
    assert tracker.handle("cancel_order", {"reason": "second"}, NOW) == []
    assert tracker.order.cancellation is not None
    assert tracker.order.cancellation.reason == "first"
    assert last_rejection(tracker) == "order PO-1001 is already being cancelled"


def test_cancellation_of_an_order_in_jeopardy_clears_it() -> None:
    tracker = start()
    tracker.order.check_ins.unanswered_streak = 5
    tracker.advance(NOW)
    assert tracker.order.jeopardy.status == JeopardyStatus.CRITICAL
    tracker.handle("cancel_order", {}, NOW + HOUR)
    effects = tracker.finish_cancellation(NOW + 2 * HOUR)
    assert sent(effects) == [
        ("contact", "order-manager", "deEscalation"),
        ("originatingProcess", tracker.order.originating_process.name, "stateChanged"),
    ]
    assert tracker.order.jeopardy.status == JeopardyStatus.NONE


def test_messages_while_cancelling_are_rejected() -> None:
    tracker = start()
    tracker.handle("cancel_order", {}, NOW)
    tracker.handle("report_progress", {"percentComplete": 50}, NOW)
    tracker.handle("check_in_now", {}, NOW)
    assert tracker.order.percent_complete == 0
    assert tracker.order.check_ins.sent == 0
    assert [r.error for r in tracker.order.rejected_messages] == [
        "order PO-1001 is pendingCancellation: a progress report is no longer accepted",
        "order PO-1001 is pendingCancellation: a check-in is no longer accepted",
    ]


def _closed(how: str) -> PartyOrderTracker:
    tracker = start()
    _request_full_change(tracker, "open-change")
    if how == "completed":
        tracker.handle("report_progress", {"delivered": True}, NOW)
    elif how == "cancelled":
        tracker.handle("cancel_order", {}, NOW)
        tracker.finish_cancellation(NOW)
    else:
        tracker.handle("change_state", {"state": "inProgress"}, NOW)
        tracker.handle("change_state", {"state": "failed", "reason": "site lost"}, NOW)
    assert tracker.order.state == how
    return tracker


CLOSED_MESSAGES: list[tuple[str, dict[str, Any]]] = [
    ("report_progress", {"percentComplete": 50}),
    ("report_progress", {"delivered": True}),
    ("request_change", {"changes": {"orderItems": [{"id": "9"}]}}),
    ("resolve_change", {"changeRequestId": "open-change", "decision": "accepted"}),
    ("cancel_order", {"reason": "late"}),
    ("check_in_now", {}),
    ("change_state", {"state": "inProgress"}),
]
# What each message is called when a closed order refuses it.
CLOSED_REFUSED_AS = {
    "report_progress": "a progress report",
    "request_change": "a change request",
    "resolve_change": "a change resolution",
    "cancel_order": "cancellation",
    "check_in_now": "a check-in",
}


@pytest.mark.parametrize("how", ["completed", "cancelled", "failed"])
@pytest.mark.parametrize(("name", "payload"), CLOSED_MESSAGES)
def test_messages_after_the_order_is_closed_are_rejected_and_recorded(
    how: str, name: str, payload: dict[str, Any]
) -> None:
    tracker = _closed(how)
    before = tracker.order.model_dump(exclude={"rejected_messages", "rejected_message_count"})
    effects = tracker.handle(name, {"requestId": "late-1", **payload}, NOW + DAY)
    assert effects == []
    order = tracker.order
    assert order.model_dump(exclude={"rejected_messages", "rejected_message_count"}) == before
    assert order.rejected_message_count == 1
    rejected = order.rejected_messages[0]
    assert (rejected.message, rejected.request_id, rejected.received_at) == (
        name,
        "late-1",
        NOW + DAY,
    )
    if name == "change_state":  # refused by the state machine: a final state has no way out
        assert rejected.error == (
            f"illegal transition from {how} to inProgress (allowed from {how}: none: the state"
            " is final)"
        )
    else:
        assert rejected.error == (
            f"order PO-1001 is {how}: {CLOSED_REFUSED_AS[name]} is no longer accepted"
        )


# ---------------------------------------------------------------- change_state


def test_legal_state_change_is_applied_and_the_party_told() -> None:
    tracker = start()
    effects = tracker.handle(
        "change_state", {"state": "pending", "reason": "waiting for site access"}, NOW + HOUR
    )
    order = tracker.order
    assert order.state == OrderState.PENDING
    assert order.state_reason == "waiting for site access"
    last = order.state_history[-1]
    assert (last.from_state, last.to_state, last.at) == (
        OrderState.ACKNOWLEDGED,
        OrderState.PENDING,
        NOW + HOUR,
    )
    assert sent(effects) == [("party", "ACME", "stateChanged")]
    assert notifications(effects)[0].body["state"] == "pending"


@pytest.mark.parametrize(
    ("setup", "target", "allowed"),
    [
        ([], "held", "inProgress, pending, pendingCancellation, failed"),
        (["pending"], "held", "inProgress, pendingCancellation, failed"),
        (["pending"], "pending", "inProgress, pendingCancellation, failed"),
        (
            ["inProgress"],
            "inProgress",
            "pending, held, pendingCancellation, completed, failed, partial",
        ),
        (["failed"], "inProgress", "none: the state is final"),
    ],
)
def test_illegal_state_change_is_rejected_naming_both_states(
    setup: list[str], target: str, allowed: str
) -> None:
    tracker = start()
    for state in setup:
        tracker.handle("change_state", {"state": state}, NOW)
    current = tracker.order.state
    request = MESSAGE_MODELS["change_state"].model_validate({"state": target})
    with pytest.raises(IllegalTransition):
        tracker.validate_state_change(request)  # type: ignore[arg-type]
    assert tracker.handle("change_state", {"state": target}, NOW + HOUR) == []
    assert tracker.order.state == current
    assert last_rejection(tracker) == (
        f"illegal transition from {current.value} to {target}"
        f" (allowed from {current.value}: {allowed})"
    )


def test_failing_an_order_in_jeopardy_closes_it_and_tells_the_originating_process() -> None:
    tracker = start()
    in_progress(tracker)
    tracker.order.check_ins.unanswered_streak = 2
    tracker.advance(NOW + DAY)
    tracker.advance(NOW + 2 * DAY)  # escalation level 2
    effects = tracker.handle(
        "change_state", {"state": "failed", "reason": "site lost"}, NOW + 3 * DAY
    )
    assert tracker.order.state == OrderState.FAILED
    assert sent(effects) == [
        ("originatingProcess", "service-order-handling", "failed"),
        ("party", "ACME", "stateChanged"),
    ]
    assert tracker.order.jeopardy_alerts[-1].jeopardy_type == "closed"


def test_rules_1_failing_an_order_in_jeopardy_de_escalates_and_tells_the_party() -> None:
    """Orders started before rules 2 keep the old rules to their end."""
    tracker = PartyOrderTracker.start(spec(), NOW, rules_version=1)
    in_progress(tracker)
    tracker.order.check_ins.unanswered_streak = 2
    tracker.advance(NOW + DAY)
    tracker.advance(NOW + 2 * DAY)  # escalation level 2
    effects = tracker.handle(
        "change_state", {"state": "failed", "reason": "site lost"}, NOW + 3 * DAY
    )
    assert tracker.order.state == OrderState.FAILED
    assert sent(effects) == [
        ("contact", "order-manager", "deEscalation"),
        ("contact", "operations-lead", "deEscalation"),
        ("party", "ACME", "stateChanged"),
    ]


# ---------------------------------------------------------------- idempotency


def test_a_repeated_request_id_is_not_applied_twice() -> None:
    tracker = start()
    tracker.handle("report_progress", {"requestId": "r1", "percentComplete": 10}, NOW)
    assert tracker.handle("report_progress", {"requestId": "r1", "percentComplete": 10}, NOW) == []
    assert tracker.order.percent_complete == 10
    assert tracker.order.rejected_message_count == 0  # a repeat is not an error
    assert tracker.handle("check_in_now", {"requestId": "k1"}, NOW) != []
    assert tracker.handle("check_in_now", {"requestId": "k1"}, NOW) == []
    assert tracker.order.check_ins.sent == 1
    tracker.handle(
        "request_change", {"requestId": "c1", "changes": {"orderItems": [{"id": "2"}]}}, NOW
    )
    tracker.handle(
        "request_change", {"requestId": "c1", "changes": {"orderItems": [{"id": "2"}]}}, NOW
    )
    assert len(tracker.order.change_requests) == 1
    assert tracker.order.rejected_message_count == 0


def test_rules_1_request_ids_are_shared_across_message_kinds() -> None:
    tracker = PartyOrderTracker.start(spec(), NOW, rules_version=1)
    tracker.handle("check_in_now", {"requestId": "same"}, NOW)
    assert tracker.handle("cancel_order", {"requestId": "same"}, NOW) == []
    assert tracker.order.state == OrderState.ACKNOWLEDGED


def test_messages_without_request_id_are_always_applied() -> None:
    tracker = start()
    for _ in range(3):
        tracker.handle("check_in_now", {}, NOW)
    assert tracker.order.check_ins.sent == 3
    assert tracker.state.applied_request_ids == []


def test_applied_request_ids_are_bounded_oldest_first() -> None:
    """Rules 2 to 4 keep the newest 1,000 (rules 5: tests/unit/test_duplicate_window.py)."""
    tracker = PartyOrderTracker.start(spec(), NOW, rules_version=4)
    kept = tracker.limits.applied_messages
    for number in range(kept + 1):
        tracker.handle("report_progress", {"requestId": f"r{number}", "note": str(number)}, NOW)
    ids = list(tracker.state.applied_messages)
    assert len(ids) == kept
    assert ids[0] == "report_progress/r1"
    assert ids[-1] == f"report_progress/r{kept}"
    assert not tracker.already_applied("r0", "report_progress")
    assert tracker.already_applied("r1", "report_progress")
    # the forgotten id is applied again; a remembered one is not
    tracker.handle("report_progress", {"requestId": "r1", "note": "1"}, NOW)
    assert tracker.order.last_note == str(kept)
    tracker.handle("report_progress", {"requestId": "r0", "note": "again"}, NOW)
    assert tracker.order.last_note == "again"
    # what is remembered survives continue-as-new
    restored = PartyOrderTracker(TrackerState.model_validate_json(tracker.state.model_dump_json()))
    assert restored.already_applied("r0", "report_progress")
    assert not restored.already_applied("r1", "report_progress")


def test_rejected_messages_are_bounded_but_all_counted() -> None:
    tracker = start()
    kept = tracker.limits.rejected_messages
    assert kept == 100 and REJECTED_MESSAGES_KEPT == 200  # rules 2 keep fewer than rules 1
    total = kept + 50
    for number in range(total):
        tracker.handle("report_progress", {"requestId": f"bad-{number}"}, NOW)
    order = tracker.order
    assert order.rejected_message_count == total
    assert len(order.rejected_messages) == kept
    assert order.rejected_messages[0].request_id == "bad-50"  # the newest are kept
    assert order.rejected_messages[-1].request_id == f"bad-{total - 1}"


def test_rejected_payload_text_is_kept_and_cut() -> None:
    tracker = start()
    tracker.handle("report_progress", {"note": "x" * 5000}, NOW)
    rejected = tracker.order.rejected_messages[-1]
    assert rejected.error == "note: 5000 characters received, at most 4000 allowed"
    assert rejected.payload is not None
    assert len(rejected.payload) == tracker.limits.rejected_payload_chars
    assert rejected.payload.startswith('{"note": "xxx')
    tracker.reject("report_progress", "not json at all", "payload is not valid JSON", NOW)
    assert tracker.order.rejected_messages[-1].payload == "not json at all"
    tracker.handle("report_progress", {"requestId": 7}, NOW)
    assert tracker.order.rejected_messages[-1].request_id is None  # not a string: not kept


def test_unknown_message_is_recorded() -> None:
    tracker = start()
    assert tracker.handle("reportProgress", {"percentComplete": 1}, NOW) == []
    rejected = tracker.order.rejected_messages[-1]
    assert rejected.message == "reportProgress"
    assert rejected.error == "unknown message 'reportProgress'"


# ---------------------------------------------------------------- check-ins


def test_periodic_check_in_is_sent_at_next_at_and_re_planned() -> None:
    tracker = start()
    at = NOW + 7 * DAY
    assert tracker.advance(at - US) == []
    effects = tracker.advance(at)
    assert sent(effects) == [("party", "ACME", "checkIn")]
    note = notifications(effects)[0]
    assert note.body["checkInNumber"] == 1
    assert note.body["answerBy"] == "2026-11-10T00:00:00Z"
    assert note.body["requestedBy"] == "periodic tracking"
    check_ins = tracker.order.check_ins
    assert (check_ins.sent, check_ins.unanswered_streak) == (1, 0)
    assert check_ins.awaiting_since == at
    assert check_ins.answer_by == at + 2 * DAY
    assert check_ins.next_at == at + 7 * DAY
    assert tracker.advance(at) == []  # the same instant again sends nothing more


def test_party_webhook_is_carried_on_party_notifications() -> None:
    tracker = start(party={"id": "ACME", "name": "Acme", "webhookUrl": "https://acme.example/h"})
    (note,) = notifications(tracker.advance(NOW + 7 * DAY))
    assert note.webhook_url == "https://acme.example/h"
    assert note.order_id == "PO-1001"
    assert note.occurred_at == NOW + 7 * DAY


def test_response_window_expiry_raises_the_unanswered_streak() -> None:
    tracker = start()
    tracker.advance(NOW + 7 * DAY)
    tracker.advance(NOW + 9 * DAY - US)
    assert tracker.order.check_ins.unanswered_streak == 0
    tracker.advance(NOW + 9 * DAY)
    check_ins = tracker.order.check_ins
    assert check_ins.unanswered_streak == 1
    assert (check_ins.answer_by, check_ins.awaiting_since) == (None, None)
    tracker.advance(NOW + 10 * DAY)
    assert check_ins.unanswered_streak == 1  # counted once


def test_party_report_answers_the_check_in_and_restarts_the_rhythm() -> None:
    tracker = start()
    tracker.advance(NOW + 7 * DAY)
    tracker.advance(NOW + 9 * DAY)
    tracker.advance(NOW + 14 * DAY)  # second check-in, awaiting an answer
    answer_at = NOW + 15 * DAY
    tracker.handle("report_progress", {"percentComplete": 20}, answer_at)
    check_ins = tracker.order.check_ins
    assert check_ins.unanswered_streak == 0
    assert (check_ins.answer_by, check_ins.awaiting_since) == (None, None)
    assert check_ins.next_at == answer_at + 7 * DAY
    assert tracker.advance(NOW + 16 * DAY) == []  # the old response window is gone
    assert check_ins.unanswered_streak == 0


def test_enterprise_report_does_not_answer_a_check_in() -> None:
    tracker = start()
    tracker.advance(NOW + 7 * DAY)
    tracker.handle(
        "report_progress", {"source": "enterprise", "percentComplete": 20}, NOW + 8 * DAY
    )
    check_ins = tracker.order.check_ins
    assert check_ins.answer_by == NOW + 9 * DAY
    assert check_ins.next_at == NOW + 14 * DAY
    tracker.advance(NOW + 9 * DAY)
    assert check_ins.unanswered_streak == 1


def test_check_in_now() -> None:
    tracker = PartyOrderTracker.start(spec(), NOW, rules_version=4)
    at = NOW + 3 * DAY
    effects = tracker.handle("check_in_now", {"requestedBy": "ops"}, at)
    assert sent(effects) == [("party", "ACME", "checkIn")]
    assert notifications(effects)[0].body["requestedBy"] == "ops"
    check_ins = tracker.order.check_ins
    assert (check_ins.sent, check_ins.answer_by, check_ins.next_at) == (
        1,
        at + 2 * DAY,
        at + 7 * DAY,
    )
    # another one while the first is open supersedes it: the party gets a full window,
    # and the first counts as unanswered
    tracker.handle("check_in_now", {}, at + HOUR)
    assert (check_ins.sent, check_ins.unanswered_streak) == (2, 1)
    assert check_ins.answer_by == at + HOUR + 2 * DAY
    assert (
        notifications(tracker.handle("check_in_now", {}, at + 2 * HOUR))[0].body["requestedBy"]
        == "enterprise"
    )


def test_unanswered_limit_makes_the_order_critical() -> None:
    tracker = start()
    for day in (7, 9, 14):
        tracker.advance(NOW + day * DAY)
    assert tracker.order.jeopardy.status == JeopardyStatus.NONE
    effects = tracker.advance(NOW + 16 * DAY)
    jeopardy = tracker.order.jeopardy
    assert jeopardy.status == JeopardyStatus.CRITICAL
    assert jeopardy.since == NOW + 16 * DAY
    assert jeopardy.reasons == ["2 check-ins in a row unanswered (limit 2)"]
    assert jeopardy.escalation_level == 1
    assert sent(effects) == [("contact", "order-manager", "escalation")]
    alert = tracker.order.jeopardy_alerts[-1]
    assert (alert.jeopardy_type, alert.alert_date, alert.id) == (
        "critical",
        NOW + 16 * DAY,
        "PO-1001-JA-1",
    )
    assert alert.exception == "2 check-ins in a row unanswered (limit 2)"


# ---------------------------------------------------------------- escalation


def _hazard_from_change(tracker: PartyOrderTracker, at: datetime, change_id: str) -> datetime:
    """An unresolved change request puts the order in hazard two days later."""
    tracker.handle(
        "request_change", {"requestId": change_id, "changes": {"orderItems": [{"id": "9"}]}}, at
    )
    return at + 2 * DAY


def escalations(effects: list[Effect]) -> list[tuple[str, int]]:
    return [
        (n.recipient, n.body["level"]) for n in notifications(effects) if n.kind == "escalation"
    ]


def test_escalation_levels_fire_in_turn_once_per_episode_then_clear() -> None:
    # Contacts hear of the clearing at once when a cleared jeopardy cannot reopen.
    tracker = start(milestones=[], trackingPolicy={"reopenWithin": "PT0S"})
    since = _hazard_from_change(tracker, NOW, "c1")
    jeopardy = tracker.order.jeopardy
    assert tracker.advance(since - US) == []
    effects = tracker.advance(since)
    assert jeopardy.status == JeopardyStatus.HAZARD and jeopardy.since == since
    assert escalations(effects) == [("order-manager", 1)]
    assert notifications(effects)[0].body["since"] == "2026-11-03T00:00:00Z"
    assert tracker.order.jeopardy_alerts[-1].jeopardy_type == "hazard"
    assert escalations(tracker.advance(since)) == []  # each level once
    assert escalations(tracker.advance(since + DAY - US)) == []
    assert escalations(tracker.advance(since + DAY)) == [("operations-lead", 2)]
    assert escalations(tracker.advance(since + 2 * DAY)) == []
    assert escalations(tracker.advance(since + 3 * DAY)) == [("executive-sponsor", 3)]
    assert jeopardy.escalation_level == 3
    # Every level has fired: what is due next is the reminder to the top contact.
    assert next_due(tracker.order, since + 3 * DAY, RULES_4) == Deadline(
        since + 4 * DAY, "remind the top escalation contact"
    )
    assert escalations(tracker.advance(since + 4 * DAY)) == []

    cleared_at = since + 4 * DAY + HOUR
    tracker.handle("resolve_change", {"changeRequestId": "c1", "decision": "rejected"}, cleared_at)
    effects = tracker.advance(cleared_at)
    assert sent(effects) == [
        ("contact", "order-manager", "deEscalation"),
        ("contact", "operations-lead", "deEscalation"),
        ("contact", "executive-sponsor", "deEscalation"),
    ]
    assert [n.body["level"] for n in notifications(effects)] == [1, 2, 3]
    assert (jeopardy.status, jeopardy.since, jeopardy.escalation_level, jeopardy.reasons) == (
        JeopardyStatus.NONE,
        None,
        0,
        [],
    )
    alert = tracker.order.jeopardy_alerts[-1]
    assert (alert.jeopardy_type, alert.alert_date) == ("cleared", cleared_at)
    assert [a.jeopardy_type for a in tracker.order.jeopardy_alerts] == ["hazard", "cleared"]

    # a new episode starts over at level 1
    again = _hazard_from_change(tracker, cleared_at, "c2")
    assert escalations(tracker.advance(again)) == [("order-manager", 1)]
    assert jeopardy.since == again
    assert escalations(tracker.advance(again + DAY)) == [("operations-lead", 2)]


def test_clearing_before_any_level_fired_sends_no_de_escalation() -> None:
    tracker = start(
        trackingPolicy={"escalation": [{"level": 1, "after": "P1D", "notify": "order-manager"}]}
    )
    since = _hazard_from_change(tracker, NOW, "c1")
    # the worsening itself is heard by the level-1 contact, though level 1 is not due
    assert sent(tracker.advance(since)) == [("contact", "order-manager", "jeopardyWorsened")]
    assert tracker.order.jeopardy.escalation_level == 0
    tracker.handle(
        "resolve_change", {"changeRequestId": "c1", "decision": "accepted"}, since + HOUR
    )
    assert tracker.advance(since + HOUR) == []
    assert tracker.order.jeopardy_alerts[-1].jeopardy_type == "cleared"


def test_a_late_wake_up_fires_the_levels_due_in_order() -> None:
    tracker = start()
    since = _hazard_from_change(tracker, NOW, "c1")
    tracker.advance(since)
    assert escalations(tracker.advance(since + 5 * DAY)) == [
        ("operations-lead", 2),
        ("executive-sponsor", 3),
    ]


def test_hazard_turning_critical_is_the_same_episode() -> None:
    tracker = start()
    since = _hazard_from_change(tracker, NOW, "c1")
    tracker.advance(since)
    tracker.order.check_ins.unanswered_streak = 2
    effects = tracker.advance(since + HOUR)
    jeopardy = tracker.order.jeopardy
    assert jeopardy.status == JeopardyStatus.CRITICAL
    assert jeopardy.since == since
    assert jeopardy.escalation_level == 1
    assert escalations(effects) == []
    assert [a.jeopardy_type for a in tracker.order.jeopardy_alerts] == ["hazard", "critical"]
    assert len(jeopardy.reasons) == 2


def test_reasons_are_kept_current_within_a_status() -> None:
    tracker = start()
    since = _hazard_from_change(tracker, NOW, "c1")
    tracker.advance(since)
    _hazard_from_change(tracker, NOW + DAY, "c2")
    tracker.advance(since + DAY)
    assert len(tracker.order.jeopardy.reasons) == 2
    assert len(tracker.order.jeopardy_alerts) == 1  # no new alert for the same status


# ---------------------------------------------------------------- milestones


def test_milestone_violation_alerts_and_notifies_party_and_order_manager() -> None:
    tracker = start(
        trackingPolicy={"orderManager": "pm-team"},
        milestones=[
            {"id": "survey", "name": "Site survey", "milestoneDate": "2026-12-05T00:00:00Z"}
        ],
    )
    tracker.advance(SURVEY_DATE - US)
    assert tracker.order.milestones[0].status == MilestoneStatus.YET_TO_REACH
    effects = tracker.advance(SURVEY_DATE)
    assert tracker.order.milestones[0].status == MilestoneStatus.VIOLATED
    violation = [s for s in sent(effects) if s[2] == "milestoneViolated"]
    assert violation == [
        ("party", "ACME", "milestoneViolated"),
        ("contact", "pm-team", "milestoneViolated"),
    ]
    for note in notifications(effects)[:2]:
        assert note.body["milestoneId"] == "survey"
        assert note.body["milestoneDate"] == "2026-12-05T00:00:00Z"
    alert = next(a for a in tracker.order.jeopardy_alerts if a.exception == "milestoneViolated")
    assert alert.jeopardy_type == "critical"
    assert alert.name == "Milestone survey violated"
    assert "Site survey" in alert.message
    assert tracker.order.jeopardy.status == JeopardyStatus.CRITICAL
    again = tracker.advance(SURVEY_DATE + DAY)
    assert not any(s[2] == "milestoneViolated" for s in sent(again))  # once


def test_completed_milestone_is_not_violated() -> None:
    tracker = start()
    tracker.handle("report_progress", {"milestones": [{"id": "survey"}]}, SURVEY_DATE - DAY)
    effects = tracker.advance(SURVEY_DATE)
    assert tracker.order.milestones[0].status == MilestoneStatus.COMPLETED
    assert not any(s[2] == "milestoneViolated" for s in sent(effects))


def test_completing_a_violated_milestone_clears_that_reason() -> None:
    tracker = start(
        expectedCompletionDate="2027-06-01T00:00:00Z",
        requestedCompletionDate="2027-06-01T00:00:00Z",
    )
    tracker.advance(SURVEY_DATE)
    assert tracker.order.jeopardy.status == JeopardyStatus.CRITICAL
    tracker.handle("report_progress", {"milestones": [{"id": "survey"}]}, SURVEY_DATE + HOUR)
    tracker.advance(SURVEY_DATE + HOUR)
    assert tracker.order.jeopardy.status == JeopardyStatus.NONE


# ---------------------------------------------------------------- delivery outcomes, keys


def test_delivery_failure_is_recorded_and_bounded() -> None:
    tracker = start()
    (note,) = notifications(tracker.advance(NOW + 7 * DAY))
    for _ in range(tracker.limits.delivery_failures + 5):
        tracker.delivery_failed(note, "HTTP 503", NOW + 8 * DAY)
    failures = tracker.order.delivery_failures
    assert len(failures) == tracker.limits.delivery_failures
    assert (failures[0].recipient, failures[0].kind, failures[0].error) == (
        "ACME",
        "checkIn",
        "HTTP 503",
    )


def test_idempotency_keys_are_unique_over_a_run() -> None:
    tracker = start()
    keys = []
    keys += [n.idempotency_key for n in notifications(tracker.handle("check_in_now", {}, NOW))]
    keys += [n.idempotency_key for n in notifications(tracker.handle("check_in_now", {}, NOW))]
    _request_full_change(tracker)
    keys += [n.idempotency_key for n in notifications(tracker.advance(NOW + 30 * DAY))]
    state = TrackerState.model_validate_json(tracker.state.model_dump_json())
    restored = PartyOrderTracker(state)  # continue-as-new keeps numbering
    keys += [n.idempotency_key for n in notifications(restored.handle("check_in_now", {}, NOW))]
    # Numbered in one sequence across kinds and runs (3 went to the change's forward).
    assert keys == [
        "PO-1001/checkIn-1",
        "PO-1001/checkIn-2",
        "PO-1001/checkIn-4",
        "PO-1001/escalation-5",
        "PO-1001/checkIn-6",
    ]


# ---------------------------------------------------------------- six months, deadline by deadline


def _run_until(
    tracker: PartyOrderTracker, now: datetime, end: datetime, on_effects: Any = None
) -> tuple[datetime, list[Effect]]:
    """Drive the tracker as the workflow does: wake at next_due, advance, run the effects."""
    everything: list[Effect] = []
    wake_ups = 0
    while (due := next_due(tracker.order, now, RULES_4)) is not None and due.at <= end:
        assert due.at > now
        now = due.at
        effects = tracker.advance(now)
        if on_effects is not None:
            effects += on_effects(now, effects)
        everything += effects
        wake_ups += 1
        assert wake_ups < 1_000, "the schedule does not move on"
    return now, everything


def _six_month_spec(start_at: datetime) -> PartyOrderSpec:
    return PartyOrderSpec.model_validate(
        {
            "id": "PO-6M",
            "party": {"id": "ACME", "name": "Acme"},
            "orderDate": start_at.isoformat(),
            "expectedCompletionDate": (start_at + 182 * DAY).isoformat(),
            "milestones": [
                {"id": "design", "milestoneDate": (start_at + 30 * DAY).isoformat()},
                {"id": "build", "milestoneDate": (start_at + 120 * DAY).isoformat()},
            ],
        }
    )


def test_six_months_with_a_silent_party() -> None:
    start_at = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
    end = start_at + 182 * DAY
    tracker = PartyOrderTracker.start(
        _six_month_spec(start_at), start_at, rules_version=CURRENT_RULES
    )
    now, effects = _run_until(tracker, start_at, end)
    assert now == end
    check_ins = [n for n in notifications(effects) if n.kind == "checkIn"]
    calendar = [start_at + 7 * DAY * week for week in range(1, 27)]  # every week to the due date
    assert [n.occurred_at for n in check_ins] == calendar
    assert [n.body["checkInNumber"] for n in check_ins] == list(range(1, 27))
    order = tracker.order
    assert order.check_ins.sent == 26
    assert order.check_ins.unanswered_streak == 25  # the last window is still open
    # the second unanswered check-in made the order critical; each level fired once
    assert escalations(effects) == [
        ("order-manager", 1),
        ("operations-lead", 2),
        ("executive-sponsor", 3),
    ]
    # critical since the second check-in's window ended (day 14 + 2), one episode ever since
    assert order.jeopardy.since == start_at + 16 * DAY
    assert [a.jeopardy_type for a in order.jeopardy_alerts].count("cleared") == 0
    assert order.jeopardy.status == JeopardyStatus.CRITICAL
    assert [m.status for m in order.milestones] == [MilestoneStatus.VIOLATED] * 2
    assert order.state == OrderState.ACKNOWLEDGED  # nobody ever reported anything


def test_six_months_with_a_party_answering_every_check_in() -> None:
    start_at = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
    due = start_at + 182 * DAY
    tracker = PartyOrderTracker.start(
        _six_month_spec(start_at), start_at, rules_version=CURRENT_RULES
    )
    answered: list[datetime] = []

    def answer(now: datetime, effects: list[Effect]) -> list[Effect]:
        if not any(n.kind == "checkIn" for n in notifications(effects)):
            return []
        share = (now - start_at) * 100 // (due - start_at)
        milestones = [  # each milestone is done before its warning lead time starts
            m.id
            for m in tracker.order.milestones
            if m.milestone_date and m.milestone_date - now <= 10 * DAY
        ]
        payload: dict[str, Any] = {"requestId": f"answer-{len(answered)}", "percentComplete": share}
        if milestones:
            payload["milestones"] = [{"id": m} for m in milestones]
        answered.append(now)
        more = tracker.handle("report_progress", payload, now)
        return more + tracker.advance(now)  # the workflow advances after every message

    delivered_at = start_at + 176 * DAY
    _, effects = _run_until(tracker, start_at, delivered_at, answer)
    check_ins = [n for n in notifications(effects) if n.kind == "checkIn"]
    assert [n.occurred_at for n in check_ins] == [start_at + 7 * DAY * w for w in range(1, 26)]
    assert answered == [n.occurred_at for n in check_ins]
    order = tracker.order
    assert order.state == OrderState.IN_PROGRESS
    assert order.jeopardy_alerts == []  # on plan all along
    assert escalations(effects) == []
    assert order.check_ins.unanswered_streak == 0
    assert [m.status for m in order.milestones] == [MilestoneStatus.COMPLETED] * 2

    final = tracker.handle("report_progress", {"delivered": True}, delivered_at)
    assert isinstance(final[-1], InformCloseProcess)
    assert order.state == OrderState.COMPLETED
    assert order.check_ins.sent == 25
    assert next_due(order, delivered_at, RULES_4) is None


# ---------------------------------------------------------------- nothing ever raises


@pytest.mark.parametrize(
    ("name", "payload", "field"),
    [
        (
            "report_progress",
            {"expectedCompletionDate": "0001-01-01T00:00:00Z"},
            "expectedCompletionDate",
        ),
        (
            "report_progress",
            {"expectedCompletionDate": "0001-01-02T00:00:00+05:30"},
            "expectedCompletionDate",
        ),
        (
            "report_progress",
            {"expectedCompletionDate": "9999-12-31T23:59:59-08:00"},
            "expectedCompletionDate",
        ),
        (
            "request_change",
            {"changes": {"expectedCompletionDate": "0001-01-01T00:00:00Z"}},
            "changes.expectedCompletionDate",
        ),
        (
            "request_change",
            {"changes": {"milestones": [{"id": "survey", "milestoneDate": "0001-01-01T00:00Z"}]}},
            "changes.milestones.0.milestoneDate",
        ),
    ],
)
def test_dates_at_the_ends_of_time_are_rejected_not_fatal(
    name: str, payload: dict[str, Any], field: str
) -> None:
    """Regression: such a date used to be applied, then ``next_due`` raised OverflowError
    (``due - warningLeadTime``), failing every workflow task of the order from then on."""
    tracker = start()
    assert tracker.handle(name, payload, NOW) == []
    assert last_rejection(tracker) == f"{field}: date-time must lie in the years 1900 to 8999"
    tracker.advance(NOW + HOUR)
    # The order is as it was: its next deadline is the first periodic check-in.
    assert next_due(tracker.order, NOW + HOUR, RULES_4) == Deadline(
        NOW + 7 * DAY, "periodic check-in with the party"
    )


def _base_trackers() -> list[TrackerState]:
    acknowledged = start()
    busy = start()
    busy.handle("report_progress", {"requestId": "known", "percentComplete": 30}, NOW)
    busy.handle(
        "request_change", {"requestId": "CR-open", "changes": {"orderItems": [{"id": "2"}]}}, NOW
    )
    busy.advance(NOW + 7 * DAY)
    held = start()
    held.handle("change_state", {"state": "inProgress"}, NOW)
    held.handle("change_state", {"state": "held"}, NOW)
    cancelling = start()
    cancelling.handle("cancel_order", {}, NOW)
    done = start()
    done.handle("report_progress", {"delivered": True}, NOW)
    return [
        TrackerState.model_validate_json(t.state.model_dump_json())
        for t in (acknowledged, busy, held, cancelling, done)
    ]


BASES = [state.model_dump_json() for state in _base_trackers()]
MESSAGE_NAMES = [*sorted(MESSAGE_MODELS), "unknown_message", ""]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
zones = st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-8 * HOUR)])
instants = st.one_of(
    st.datetimes(
        min_value=datetime(2026, 6, 1), max_value=datetime(2027, 12, 31), timezones=zones
    ).map(datetime.isoformat),
    st.datetimes(timezones=zones).map(datetime.isoformat),  # anywhere from year 1 to 9999
    st.sampled_from(["2027-01-01T00:00:00", "2027-01-01", "soon", ""]),
    st.sampled_from(  # the ends of what datetime holds, and of what the model accepts
        [
            "0001-01-01T00:00:00Z",
            "0001-01-02T00:00:00+05:30",
            "9999-12-31T23:59:59-08:00",
            "1899-12-31T23:59:59.999999Z",
            "1900-01-01T00:00:00Z",
            "8999-12-31T23:59:59Z",
            "9000-01-01T00:00:00Z",
        ]
    ),
)
ids = st.sampled_from(["survey", "nope", "CR-open", "known", "1", "2", ""]) | st.text(max_size=5)
milestone_items = st.fixed_dictionaries(
    {"id": ids},
    optional={
        "status": st.sampled_from(["completed", "yetToReach", "violated"]),
        "completedAt": instants,
        "milestoneDate": instants,
    },
)
changes = st.fixed_dictionaries(
    {},
    optional={
        "expectedCompletionDate": instants,
        "requestedCompletionDate": instants,
        "milestones": st.lists(milestone_items, max_size=2),
        "orderItems": st.lists(
            st.fixed_dictionaries({"id": ids}, optional={"quantity": st.integers(-1, 3)}),
            max_size=2,
        ),
    },
)
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "requestId": ids | st.none() | st.integers(),
    "source": st.sampled_from(["party", "enterprise", "supplier"]),
    "percentComplete": st.integers(-5, 105) | st.none() | st.floats(0, 100),
    "milestones": st.lists(milestone_items, max_size=3) | st.none(),
    "expectedCompletionDate": instants | st.none(),
    "delivered": st.booleans() | st.none(),
    "note": st.text(max_size=20) | st.none(),
    "origin": st.sampled_from(["party", "enterprise", "external", "other"]),
    "kind": st.sampled_from(["requested", "forced", "other"]),
    "reason": st.text(max_size=20) | st.none(),
    "changes": changes | json_values,
    "changeRequestId": ids,
    "decision": st.sampled_from(["accepted", "rejected", "maybe"]),
    "resolvedBy": st.text(max_size=8) | st.none(),
    "requestedBy": st.text(max_size=8) | st.none(),
    "state": st.sampled_from(
        ["inProgress", "pending", "held", "failed", "completed", "acknowledged", "x"]
    ),
}
field_payloads = st.dictionaries(
    st.sampled_from(sorted(FIELD_VALUES)), st.nothing(), max_size=0
) | st.lists(st.sampled_from(sorted(FIELD_VALUES)), unique=True, max_size=6).flatmap(
    lambda keys: st.fixed_dictionaries({key: FIELD_VALUES[key] for key in keys})
)
# Payloads made only of a message's own fields, so that many of them are applied and what
# an applied message did can be checked (random field names are nearly always refused).
# Half the resolutions name the open change request of the busy base, so some apply.
OWN_FIELD_VALUES = {**FIELD_VALUES, "changeRequestId": st.just("CR-open") | ids}
own_field_payloads = st.sampled_from(sorted(MESSAGE_MODELS)).flatmap(
    lambda name: st.tuples(
        st.just(name),
        st.fixed_dictionaries(
            {},
            optional={
                field.alias: OWN_FIELD_VALUES[field.alias]
                for field in MESSAGE_MODELS[name].model_fields.values()
                if field.alias in OWN_FIELD_VALUES
            },
        ),
    )
)
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check_applied(
    message: InboundMessage,
    before: dict[str, Any],
    tracker: PartyOrderTracker,
    effects: list[Effect],
    now: datetime,
) -> None:
    """An applied message did what its name says, not merely changed something."""
    order = tracker.order
    notes = notifications(effects)
    if isinstance(message, ProgressReport):
        assert order.last_progress_at == now
        if message.delivered:
            assert (order.state, order.percent_complete) == (OrderState.COMPLETED, 100)
            assert InformCloseProcess() in effects
        elif message.percent_complete is not None:
            assert order.percent_complete == message.percent_complete
        if message.expected_completion_date is not None:
            assert order.expected_completion_date == message.expected_completion_date
        if message.note is not None:
            assert order.last_note == message.note
        reported = {item.id: item.status for item in message.milestones or []}  # last wins
        for milestone_id, status in reported.items():
            milestone = order.milestone(milestone_id)
            assert milestone is not None and milestone.status == status
    elif isinstance(message, ChangeRequestMessage):
        assert len(order.change_requests) == len(before["changeRequests"]) + 1
        change = order.change_requests[-1]
        assert change.id not in {c["id"] for c in before["changeRequests"]}
        if message.request_id is not None:
            assert change.id == message.request_id
        assert (change.changes, change.status, change.received_at) == (
            message.changes,
            "received",
            now,
        )
        (effect,) = effects
        assert isinstance(effect, ForwardChangeRequest)
        assert effect.change_request_id == change.id
    elif isinstance(message, ChangeResolution):
        resolved = order.change_request(message.change_request_id)
        assert resolved is not None
        assert (resolved.status, resolved.resolved_at) == (message.decision, now)
        assert [n.kind for n in notes] == ["changeResolved"]
    elif isinstance(message, CancelRequest):
        assert order.state == OrderState.PENDING_CANCELLATION
        assert order.state_reason == message.reason
        assert order.cancellation is not None
        assert order.cancellation.reason == message.reason
        (effect,) = effects
        assert isinstance(effect, CancelAfterNotice)
    elif isinstance(message, CheckInRequest):
        assert order.check_ins.sent == before["checkIns"]["sent"] + 1
        open_by = before["checkIns"].get("answerBy")
        if (
            tracker.tracked_by.waits_for_open_windows
            and open_by is not None
            and now < datetime.fromisoformat(open_by)
        ):
            # rules 5: the open window stands
            assert order.check_ins.awaiting_since == datetime.fromisoformat(
                before["checkIns"]["awaitingSince"]
            )
        else:
            assert order.check_ins.awaiting_since == now
        assert [n.kind for n in notes] == ["checkIn"]
    else:
        assert isinstance(message, StateChangeRequest)
        assert (order.state, order.state_reason) == (message.state, message.reason)
        assert order.state_history[-1].to_state == message.state
        assert notes[-1].kind == "stateChanged"


def _check_every_message_is_accounted_for(base: str, name: str, payload: Any) -> None:
    tracker = PartyOrderTracker(TrackerState.model_validate_json(base))
    before = tracker.order.model_dump(mode="json")
    # Ids applied before: any message's under rules 1, this message name's under rules 2.
    applied_before = list(tracker.state.applied_request_ids) + [
        key.split("/", 1)[1] for key in tracker.state.applied_messages if key.startswith(f"{name}/")
    ]
    remembered = (list(tracker.state.applied_request_ids), dict(tracker.state.applied_messages))
    count = tracker.order.rejected_message_count
    now = NOW + 8 * DAY
    request_id = payload.get("requestId") if isinstance(payload, dict) else None

    effects = tracker.handle(name, payload, now)  # never raises

    after = tracker.order.model_dump(mode="json")
    if tracker.order.rejected_message_count == count + 1:
        assert effects == []
        rejected = tracker.order.rejected_messages[-1]
        assert (rejected.message, rejected.received_at) == (name, now)
        assert rejected.error
        for volatile in ("rejectedMessages", "rejectedMessageCount"):
            before.pop(volatile), after.pop(volatile)
        assert after == before  # a rejected message changes nothing else
        assert remembered == (tracker.state.applied_request_ids, tracker.state.applied_messages)
    else:
        assert tracker.order.rejected_message_count == count
        if isinstance(request_id, str) and request_id in applied_before:
            assert (effects, after) == ([], before)  # a repeat: not applied twice
        else:
            assert name in MESSAGE_MODELS
            message = MESSAGE_MODELS[name].model_validate(payload)
            _check_applied(message, before, tracker, effects, now)
            if isinstance(request_id, str):
                assert tracker.already_applied(request_id, name)
    # whatever came in, the order stays trackable and serializable
    later = now + HOUR
    tracker.advance(later)
    due = next_due(tracker.order, later, RULES_4)
    assert due is None or due.at > later
    # After a wake-up the recorded jeopardy is the rule's verdict at that instant.
    assessment = assess(tracker.order, later, RULES_4)
    jeopardy = tracker.order.jeopardy
    if is_watched(tracker.order) or tracker.order.is_final:
        assert (jeopardy.status, tuple(jeopardy.reasons)) == (assessment.status, assessment.reasons)
    else:  # being cancelled: no longer assessed, the record waits for the cancellation
        assert assessment.status == JeopardyStatus.NONE
    PartyOrder.model_validate_json(tracker.order.model_dump_json())
    TrackerState.model_validate_json(tracker.state.model_dump_json())


@FAST
@given(base=st.sampled_from(BASES), name=st.sampled_from(MESSAGE_NAMES), payload=json_values)
def test_handle_never_raises_for_arbitrary_json(base: str, name: str, payload: Any) -> None:
    _check_every_message_is_accounted_for(base, name, payload)


@FAST
@given(base=st.sampled_from(BASES), name=st.sampled_from(MESSAGE_NAMES), payload=field_payloads)
def test_handle_never_raises_for_payloads_with_real_field_names(
    base: str, name: str, payload: dict[str, Any]
) -> None:
    _check_every_message_is_accounted_for(base, name, payload)


@FAST
@given(base=st.sampled_from(BASES), message=own_field_payloads)
def test_handle_applies_what_each_message_says(
    base: str, message: tuple[str, dict[str, Any]]
) -> None:
    name, payload = message
    _check_every_message_is_accounted_for(base, name, payload)
