"""What a party sees of its order (contract, third part: "What a party sees").

Driven through the tracker's public API: the order a party is shown after real messages,
not a hand-made one.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from starter.samples import CONTRACT_EXAMPLE, load_sample
from workflows.domain.model import PartyOrder, PartyOrderSpec
from workflows.domain.party_view import PartyOrderView, party_event, party_view
from workflows.domain.rules import CURRENT_RULES
from workflows.domain.tracker import PartyOrderTracker

NOW = datetime(2026, 11, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def tracker() -> PartyOrderTracker:
    data: dict[str, Any] = load_sample(CONTRACT_EXAMPLE, NOW)
    data["trackingPolicy"]["behindPlanTolerance"] = 100
    return PartyOrderTracker.start(
        PartyOrderSpec.model_validate(data), NOW, rules_version=CURRENT_RULES
    )


def run_until(order: PartyOrderTracker, until: datetime) -> datetime:
    now = NOW
    order.advance(now)
    while (due := order.next_due(now)) is not None and due.at <= until:
        now = due.at
        order.advance(now)
    return now


def busy_order() -> PartyOrder:
    """An order with a party's note, the enterprise's notes, an acknowledged escalation and
    rejected messages from the party and from the enterprise."""
    order = tracker()
    at = NOW + DAY
    order.handle("report_progress", {"percentComplete": 10, "note": "crew booked"}, at)
    order.handle(
        "report_progress",
        {"source": "enterprise", "percentComplete": 20, "note": "considering NORDFIBER"},
        at + DAY,
    )
    order.handle("report_progress", {"percentComplete": 150}, at)  # the party's, refused
    order.handle("change_state", {"state": "bogus", "reason": "x"}, at)  # a process's, refused
    order.handle("request_change", {"origin": "enterprise", "changes": {}}, at)
    at = run_until(order, NOW + 30 * DAY)
    assert order.order.jeopardy.escalation_level >= 1
    # The level reached (rules 5 refuses to acknowledge a lower one).
    level = order.order.jeopardy.escalation_level
    order.handle(
        "acknowledge_escalation",
        {"level": level, "by": "operations-lead", "note": "calling them today"},
        at,
    )
    return order.order


def test_a_party_sees_its_own_notes_and_not_the_enterprise_notes() -> None:
    order = busy_order()
    texts = {note.text: note.visibility for note in order.notes}
    assert texts["crew booked"] == "party"
    assert texts["considering NORDFIBER"] == "internal"
    assert texts["calling them today"] == "internal"  # an acknowledgement's note
    view = party_view(order)
    assert [note.text for note in view.notes] == ["crew booked"]
    assert view.note_count == 1
    assert "NORDFIBER" not in json.dumps(view.to_json_dict())


def test_a_party_does_not_see_the_escalation_chain_or_acknowledgements() -> None:
    order = busy_order()
    assert order.jeopardy.acknowledged_by == "operations-lead"
    body = party_view(order).to_json_dict()
    text = json.dumps(body)
    for contact in ("order-manager", "operations-lead", "executive-sponsor"):
        assert contact not in text
    assert [set(level) for level in body["trackingPolicy"]["escalation"]] == [
        {"level", "after"}
    ] * 3
    assert not any(name.startswith("acknowledged") for name in body["jeopardy"])
    assert body["jeopardy"]["escalationLevel"] == order.jeopardy.escalation_level


def test_a_party_sees_only_its_own_rejected_messages() -> None:
    order = busy_order()
    assert {m.message for m in order.rejected_messages} == {
        "report_progress",
        "change_state",
        "request_change",
    }
    view = party_view(order)
    assert [m.message for m in view.rejected_messages] == ["report_progress"]
    assert view.rejected_message_count == 1


def test_a_last_note_of_the_enterprise_is_not_shown_to_the_party() -> None:
    order = busy_order()
    assert order.last_note == "considering NORDFIBER"
    assert party_view(order).last_note is None
    mine = tracker()
    mine.handle("report_progress", {"percentComplete": 5, "note": "on site"}, NOW)
    assert party_view(mine.order).last_note == "on site"


def test_the_view_keeps_everything_else_of_the_order() -> None:
    order = busy_order()
    whole, seen = order.to_json_dict(), party_view(order).to_json_dict()
    differs = {name for name in whole if whole[name] != seen.get(name)}
    assert differs == {
        "notes",
        "noteCount",
        "lastNote",
        "rejectedMessages",
        "rejectedMessageCount",
        "trackingPolicy",
        "jeopardy",
    }
    assert set(seen) == set(whole)


def test_the_party_shape_is_its_own_schema_without_the_hidden_fields() -> None:
    schema = json.dumps(PartyOrderView.model_json_schema(mode="serialization"))
    for hidden in ("notify", "orderManager", "acknowledgedBy", "acknowledgedNote"):
        assert f'"{hidden}"' not in schema
    assert '"visibility"' in schema


def test_a_party_hub_event_carries_nothing_the_view_hides() -> None:
    envelope = {
        "eventId": "e1",
        "event": {
            "partyOrder": {"id": "PO-1", "state": "held", "notes": [{"text": "internal"}]},
            "notification": {
                "kind": "escalation",
                "level": 2,
                "notify": "operations-lead",
                "jeopardy": {"acknowledgedBy": "ops", "status": "critical"},
            },
        },
    }
    event = party_event(envelope)
    assert event == {
        "eventId": "e1",
        "event": {
            "partyOrder": {"id": "PO-1", "state": "held"},
            "notification": {"kind": "escalation", "level": 2, "jeopardy": {"status": "critical"}},
        },
    }


def test_old_notes_without_visibility_are_internal() -> None:
    data = tracker().order.to_json_dict()
    data["notes"] = [
        {"id": "PO-1001-N-1", "author": "Acme", "date": "2026-11-02T00:00:00Z", "text": "x"}
    ]
    order = PartyOrder.model_validate(data)
    assert order.notes[0].visibility == "internal"
    assert party_view(order).notes == []
