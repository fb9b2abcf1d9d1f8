"""Items and notes, pinned (pure, no server): a completed item counts exactly 100, an order
delivered as a whole completes each item's own percent, and the newest notes come first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from workflows.domain.bounds import NOTE_CHARS
from workflows.domain.items import late_items, weighted_percent
from workflows.domain.model import ItemState, OrderItem, PartyOrderSpec
from workflows.domain.notes import add_note, latest_notes
from workflows.domain.rules import CURRENT_RULES
from workflows.domain.tracker import PartyOrderTracker

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def start(**changes: Any) -> PartyOrderTracker:
    data: dict[str, Any] = {
        "id": "PO-IN",
        "party": {"id": "ACME", "name": "Acme Networks"},
        "orderItems": [{"id": "1", "quantity": 2}, {"id": "2"}],
        "requestedCompletionDate": "2027-03-01T00:00:00Z",
    }
    data.update(changes)
    return PartyOrderTracker.start(
        PartyOrderSpec.model_validate(data), NOW, rules_version=CURRENT_RULES
    )


def test_a_completed_item_counts_exactly_one_hundred_percent() -> None:
    done = OrderItem(id="1", state=ItemState.COMPLETED, percent_complete=40)
    assert weighted_percent([done]) == 100
    half = OrderItem(id="2", state=ItemState.IN_PROGRESS, percent_complete=50)
    assert weighted_percent([done, half]) == 75


def test_an_order_delivered_as_a_whole_completes_every_items_own_percent() -> None:
    tracker = start()
    tracker.handle(
        "report_progress",
        {"orderItems": [{"id": "2", "state": "inProgress", "percentComplete": 30}]},
        NOW + timedelta(days=1),
    )
    tracker.handle("report_progress", {"delivered": True}, NOW + timedelta(days=2))
    assert [(i.state, i.percent_complete) for i in tracker.order.order_items] == [
        (ItemState.COMPLETED, 100),
        (ItemState.COMPLETED, 100),
    ]


def test_the_newest_notes_come_first_and_none_are_asked_for_with_a_count_of_zero() -> None:
    order = start().order
    for n in range(3):
        add_note(order, "ACME", f"note {n}", NOW + timedelta(hours=n))
    assert [n.text for n in latest_notes(order, 1)] == ["note 2"]
    assert [n.text for n in latest_notes(order, 2)] == ["note 2", "note 1"]
    assert [n.text for n in latest_notes(order, 5)] == ["note 2", "note 1", "note 0"]
    assert latest_notes(order, 0) == []
    assert latest_notes(order, -1) == []


def test_a_note_is_kept_whole_up_to_its_limit_and_cut_with_an_ellipsis_past_it() -> None:
    order = start().order
    whole = "x" * NOTE_CHARS
    kept = add_note(order, "ACME", whole, NOW)
    assert kept is not None and kept.text == whole
    cut = add_note(order, "ACME", "y" * (NOTE_CHARS + 1), NOW)
    assert cut is not None and cut.text == "y" * (NOTE_CHARS - 1) + "…"
    assert len(cut.text) == NOTE_CHARS


def test_a_notes_author_is_cut_at_200_characters() -> None:
    order = start().order
    note = add_note(order, "a" * 250, "hello", NOW)
    assert note is not None and note.author == "a" * 200
    assert (note.id, note.date) == ("PO-IN-N-1", NOW)


def test_an_item_forecast_on_the_agreed_date_is_not_late() -> None:
    tracker = start()
    agreed, a_second_later = "2027-03-01T00:00:00Z", "2027-03-01T00:00:01Z"
    tracker.handle(
        "report_progress",
        {
            "orderItems": [
                {"id": "1", "state": "inProgress", "expectedCompletionDate": agreed},
                {
                    "id": "2",
                    "state": "inProgress",
                    "expectedCompletionDate": a_second_later,
                },
            ]
        },
        NOW,
    )
    assert [reason.item_id for reason in late_items(tracker.order)] == ["2"]
