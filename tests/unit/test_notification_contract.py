"""The notifications as receivers get them: one contract-level test per kind.

The outbox line and the webhook body are both ``Notification.to_json_dict()`` (see
``activities/channels.py``), so that is what these tests read. Each pins the envelope
(``orderId``, ``recipientKind``, ``recipient``, ``kind``, ``occurredAt``, ``webhookUrl``) and
the body fields a receiver acts on, including the order summary every body carries:
``order: {id, state, percentComplete, dueDate, jeopardy}``.

The order's party has a webhook URL (which may carry a token), so a test also fails if that
URL is copied onto a notice for anyone but the party. Fields are checked by name rather
than by whole-body equality, because the contract lets code add fields but never rename or
drop one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from starter.samples import CONTRACT_EXAMPLE, load_sample
from workflows.domain.effects import (
    CancelAfterNotice,
    Effect,
    ForwardChangeRequest,
    Notify,
)
from workflows.domain.model import PartyOrderSpec
from workflows.domain.rules import CURRENT_RULES, RULES_V1
from workflows.domain.tracker import PartyOrderTracker

NOW = datetime(2026, 11, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
SURVEY_DATE = datetime(2026, 12, 5, tzinfo=UTC)
PARTY_HOOK = "https://acme.example/hooks/orders?token=s3cret"


def start(rules: int = CURRENT_RULES, **policy: Any) -> PartyOrderTracker:
    """The contract's PO-1001, its party with a webhook, behind-plan off unless asked for."""
    data = load_sample(CONTRACT_EXAMPLE, NOW)
    data["party"]["webhookUrl"] = PARTY_HOOK
    data["trackingPolicy"].update({"behindPlanTolerance": 100, **policy})
    return PartyOrderTracker.start(
        PartyOrderSpec.model_validate(data), NOW, "t1", rules_version=rules
    )


def received(effects: list[Effect], kind: str) -> list[dict[str, Any]]:
    """The notifications of ``kind`` as their receivers get them (outbox line, webhook body)."""
    return [
        e.notification.to_json_dict()
        for e in effects
        if isinstance(e, Notify | ForwardChangeRequest | CancelAfterNotice)
        and e.notification.kind == kind
    ]


def envelope(note: dict[str, Any]) -> dict[str, Any]:
    keys = ("orderId", "recipientKind", "recipient", "kind", "occurredAt", "webhookUrl")
    return {key: note.get(key) for key in keys}


def fields(body: dict[str, Any], *names: str) -> dict[str, Any]:
    """The named fields of a body; a missing one shows up as absent in the diff."""
    return {name: body.get(name, "<absent>") for name in names}


def summary(
    state: str, percent: int, jeopardy: str, due: str = "2027-01-10T00:00:00Z"
) -> dict[str, Any]:
    return {
        "id": "PO-1001",
        "state": state,
        "percentComplete": percent,
        "dueDate": due,
        "jeopardy": jeopardy,
    }


def to_party(kind: str, at: datetime) -> dict[str, Any]:
    return {
        "orderId": "PO-1001",
        "recipientKind": "party",
        "recipient": "ACME",
        "kind": kind,
        "occurredAt": at.isoformat().replace("+00:00", "Z"),
        "webhookUrl": PARTY_HOOK,
    }


def to_other(recipient_kind: str, recipient: str, kind: str, at: datetime) -> dict[str, Any]:
    return {
        "orderId": "PO-1001",
        "recipientKind": recipient_kind,
        "recipient": recipient,
        "kind": kind,
        "occurredAt": at.isoformat().replace("+00:00", "Z"),
        "webhookUrl": None,  # the party's webhook URL is for the party alone
    }


def test_a_notice_has_its_key_a_subject_and_the_order_summary() -> None:
    tracker = start()
    (note,) = received(tracker.advance(NOW + 7 * DAY), "checkIn")
    assert note["idempotencyKey"] == "PO-1001/t1/checkIn-1"
    assert "PO-1001" in note["subject"]
    assert note["body"]["order"] == summary("acknowledged", 0, "none")


def test_check_in() -> None:
    tracker = start()
    tracker.handle("report_progress", {"percentComplete": 20}, NOW)
    at = NOW + 7 * DAY
    (periodic,) = received(tracker.advance(at), "checkIn")
    assert envelope(periodic) == to_party("checkIn", at)
    assert fields(periodic["body"], "requestedBy", "answerBy", "checkInNumber", "order") == {
        "requestedBy": "periodic tracking",
        "answerBy": "2026-11-10T00:00:00Z",  # at + responseWindow (P2D)
        "checkInNumber": 1,
        "order": summary("inProgress", 20, "none"),
    }
    asked = tracker.handle("check_in_now", {"requestedBy": "order-manager"}, at + HOUR)
    (now_note,) = received(asked, "checkIn")
    assert fields(now_note["body"], "requestedBy", "checkInNumber") == {
        "requestedBy": "order-manager",
        "checkInNumber": 2,
    }
    (anonymous,) = received(tracker.handle("check_in_now", {}, at + 2 * HOUR), "checkIn")
    assert anonymous["body"]["requestedBy"] == "enterprise"


def test_change_request_to_the_originating_process() -> None:
    tracker = start()
    at = NOW + HOUR
    effects = tracker.handle(
        "request_change",
        {
            "requestId": "chg-1",
            "origin": "party",
            "kind": "requested",
            "reason": "permit delayed",
            "changes": {"expectedCompletionDate": "2027-02-01T00:00:00Z"},
        },
        at,
    )
    (note,) = received(effects, "changeRequest")
    assert envelope(note) == to_other(
        "originatingProcess", "service-order-handling", "changeRequest", at
    )
    body = note["body"]
    assert body["reference"] == "SO-77"
    assert fields(
        body["changeRequest"], "id", "origin", "kind", "reason", "changes", "status", "receivedAt"
    ) == {
        "id": "chg-1",
        "origin": "party",
        "kind": "requested",
        "reason": "permit delayed",
        "changes": {
            "expectedCompletionDate": "2027-02-01T00:00:00Z",
            "requestedCompletionDate": None,
            "milestones": None,
            "orderItems": None,
        },
        "status": "received",
        "receivedAt": "2026-11-01T01:00:00Z",
    }
    assert body["order"] == summary("acknowledged", 0, "none")  # not applied yet


@pytest.mark.parametrize("decision", ["accepted", "rejected"])
def test_change_resolved_to_the_party(decision: str) -> None:
    tracker = start()
    tracker.handle(
        "request_change",
        {"requestId": "chg-1", "changes": {"expectedCompletionDate": "2027-02-01T00:00:00Z"}},
        NOW,
    )
    at = NOW + DAY
    effects = tracker.handle(
        "resolve_change",
        {"changeRequestId": "chg-1", "decision": decision, "resolvedBy": "SO", "note": "ok"},
        at,
    )
    (note,) = received(effects, "changeResolved")
    assert envelope(note) == to_party("changeResolved", at)
    change = note["body"]["changeRequest"]
    assert fields(change, "id", "status", "resolvedAt", "resolvedBy", "note") == {
        "id": "chg-1",
        "status": decision,
        "resolvedAt": "2026-11-02T00:00:00Z",
        "resolvedBy": "SO",
        "note": "ok",
    }
    due = "2027-02-01T00:00:00Z" if decision == "accepted" else "2027-01-10T00:00:00Z"
    # Accepted, the forecast (1 February) is later than the agreed date (15 January): the
    # order is critical from that instant, and its summary says so.
    jeopardy = "critical" if decision == "accepted" else "none"
    assert note["body"]["order"] == summary("acknowledged", 0, jeopardy, due)


def test_cancelled_to_the_party() -> None:
    tracker = start()
    at = NOW + DAY
    effects = tracker.handle(
        "cancel_order", {"reason": "site decommissioned", "requestedBy": "SO-77"}, at
    )
    (note,) = received(effects, "cancelled")
    assert envelope(note) == to_party("cancelled", at)
    assert fields(note["body"], "reason", "requestedBy", "order") == {
        "reason": "site decommissioned",
        "requestedBy": "SO-77",
        "order": summary("pendingCancellation", 0, "none"),
    }


def test_completed_to_the_party() -> None:
    tracker = start()
    tracker.handle("report_progress", {"percentComplete": 60}, NOW)
    at = NOW + 3 * DAY
    (note,) = received(tracker.handle("report_progress", {"delivered": True}, at), "completed")
    assert envelope(note) == to_party("completed", at)
    assert fields(note["body"], "completionDate", "order") == {
        "completionDate": "2026-11-04T00:00:00Z",
        "order": summary("completed", 100, "none"),
    }


def test_state_changed_to_the_party() -> None:
    tracker = start()
    tracker.handle("report_progress", {"percentComplete": 30}, NOW)
    at = NOW + HOUR
    effects = tracker.handle("change_state", {"state": "held", "reason": "site closed"}, at)
    (note,) = received(effects, "stateChanged")
    assert envelope(note) == to_party("stateChanged", at)
    assert fields(note["body"], "state", "reason", "order") == {
        "state": "held",
        "reason": "site closed",
        "order": summary("held", 30, "none"),
    }


def _violate_the_survey(tracker: PartyOrderTracker) -> list[Effect]:
    tracker.handle("report_progress", {"percentComplete": 40}, NOW)
    tracker.advance(SURVEY_DATE - 3 * DAY)  # the warning lead time: a hazard
    return tracker.advance(SURVEY_DATE)


def test_milestone_violated_to_the_party_and_the_order_manager() -> None:
    tracker = start()
    effects = _violate_the_survey(tracker)
    party, manager = received(effects, "milestoneViolated")
    assert envelope(party) == to_party("milestoneViolated", SURVEY_DATE)
    assert envelope(manager) == to_other(
        "contact", "order-manager", "milestoneViolated", SURVEY_DATE
    )
    for note in (party, manager):
        assert fields(note["body"], "milestoneId", "milestoneDate") == {
            "milestoneId": "survey",
            "milestoneDate": "2026-12-05T00:00:00Z",
        }
        # The summary's jeopardy is the test below (it is stale at this instant).
        order = note["body"]["order"]
        assert fields(order, "id", "state", "percentComplete", "dueDate") == {
            "id": "PO-1001",
            "state": "inProgress",
            "percentComplete": 40,
            "dueDate": "2027-01-10T00:00:00Z",
        }


def test_milestone_violated_summary_says_the_jeopardy_the_violation_causes() -> None:
    # The notices are made on the wake-up before the jeopardy is re-assessed: the summary
    # must still say the status the violation causes, not the previous wake-up's hazard.
    tracker = start()
    for note in received(_violate_the_survey(tracker), "milestoneViolated"):
        assert note["body"]["order"]["jeopardy"] == "critical"


def test_escalation_to_each_level_contact() -> None:
    tracker = start()
    tracker.handle(
        "request_change", {"requestId": "c1", "changes": {"orderItems": [{"id": "2"}]}}, NOW
    )
    since = NOW + 2 * DAY  # the change resolution window (P2D) ends: a hazard
    (first,) = received(tracker.advance(since), "escalation")
    reasons = ["change request c1 unresolved since 2026-11-01T00:00:00Z"]
    assert envelope(first) == to_other("contact", "order-manager", "escalation", since)
    assert fields(first["body"], "level", "reasons", "since", "order") == {
        "level": 1,
        "reasons": reasons,
        "since": "2026-11-03T00:00:00Z",
        "order": summary("acknowledged", 0, "hazard"),
    }
    # Later the order turns critical too: level 2 names every reason that holds then.
    tracker.order.check_ins.unanswered_streak = 2
    (second,) = received(tracker.advance(since + DAY), "escalation")
    assert envelope(second) == to_other("contact", "operations-lead", "escalation", since + DAY)
    assert fields(second["body"], "level", "reasons", "since", "order") == {
        "level": 2,
        "reasons": ["2 check-ins in a row unanswered (limit 2)", *reasons],
        "since": "2026-11-03T00:00:00Z",  # the same episode
        "order": summary("acknowledged", 0, "critical"),
    }
    assert second["body"]["reasons"] == tracker.order.jeopardy.reasons


def test_de_escalation_to_each_contact_escalated_to() -> None:
    # Rules 1, where a jeopardy that clears ends its episode at once (rules 2 keep it for
    # reopenWithin first: tests/unit/test_escalation_rules.py).
    tracker = start(RULES_V1)
    tracker.handle("report_progress", {"percentComplete": 10}, NOW)
    tracker.handle(
        "request_change", {"requestId": "c1", "changes": {"orderItems": [{"id": "2"}]}}, NOW
    )
    tracker.advance(NOW + 2 * DAY)
    tracker.advance(NOW + 3 * DAY)  # levels 1 and 2 have fired
    at = NOW + 3 * DAY + HOUR
    tracker.handle("resolve_change", {"changeRequestId": "c1", "decision": "rejected"}, at)
    notes = received(tracker.advance(at), "deEscalation")
    assert [envelope(n) for n in notes] == [
        to_other("contact", "order-manager", "deEscalation", at),
        to_other("contact", "operations-lead", "deEscalation", at),
    ]
    for level, note in enumerate(notes, start=1):
        assert fields(note["body"], "level", "state", "order") == {
            "level": level,
            "state": "inProgress",
            "order": summary("inProgress", 10, "none"),
        }


def test_de_escalation_names_the_state_the_order_ended_in() -> None:
    tracker = start()
    tracker.handle("report_progress", {"percentComplete": 10}, NOW)
    tracker.order.check_ins.unanswered_streak = 2
    tracker.advance(NOW + DAY)  # critical, level 1 fired
    at = NOW + 2 * DAY
    effects = tracker.handle("report_progress", {"delivered": True}, at)
    (note,) = received(effects, "deEscalation")
    assert envelope(note) == to_other("contact", "order-manager", "deEscalation", at)
    assert fields(note["body"], "level", "state", "order") == {
        "level": 1,
        "state": "completed",
        "order": summary("completed", 100, "none"),
    }
