"""Order items tracked one by one (rules 3): roll-up, weighted percent, item jeopardy,
cancelling an item by an agreed change, notes, and what older rules still refuse."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workflows.domain.bounds import MAX_NOTES_KEPT
from workflows.domain.effects import (
    CancelAfterNotice,
    Effect,
    ForwardChangeRequest,
    InformCloseProcess,
    Notify,
)
from workflows.domain.items import roll_up, weighted_percent
from workflows.domain.messages import MESSAGE_MODELS, InboundMessage
from workflows.domain.model import ItemState, OrderItem, OrderState, PartyOrderSpec
from workflows.domain.rules import CURRENT_RULES, RULES_4, RULES_V2
from workflows.domain.tracker import PartyOrderTracker
from workflows.visibility import details_markdown

NOW = datetime(2026, 11, 1, tzinfo=UTC)
DAY = timedelta(days=1)
AGREED = datetime(2027, 3, 1, tzinfo=UTC)
FINAL = [ItemState.COMPLETED, ItemState.CANCELLED, ItemState.FAILED]
OPEN = [ItemState.ACKNOWLEDGED, ItemState.IN_PROGRESS, ItemState.PENDING, ItemState.HELD]


def order_input(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "PO-3",
        "party": {"id": "ACME", "name": "Acme Networks"},
        "orderItems": [
            {"id": "1", "description": "fibre", "quantity": 3},
            {"id": "2", "description": "router", "quantity": 1},
            {"id": "3", "description": "rack", "quantity": 1},
        ],
        "requestedCompletionDate": "2027-03-01T00:00:00Z",
        "trackingPolicy": {"behindPlanTolerance": 100},
    }
    data.update(changes)
    return data


def start(rules: int | None = None, **changes: Any) -> PartyOrderTracker:
    spec = PartyOrderSpec.model_validate(order_input(**changes))
    if rules is None:
        return PartyOrderTracker.start(spec, NOW, rules_version=CURRENT_RULES)
    return PartyOrderTracker.start(spec, NOW, rules_version=rules)


def report(tracker: PartyOrderTracker, at: datetime = NOW, **payload: Any) -> list[Effect]:
    return tracker.handle("report_progress", payload, at)


def kinds(effects: list[Effect]) -> list[str]:
    out = []
    for effect in effects:
        if isinstance(effect, Notify | ForwardChangeRequest | CancelAfterNotice):
            out.append(effect.notification.kind)
        elif isinstance(effect, InformCloseProcess):
            out.append("informCloseProcess")
    return out


def items(*states: ItemState | None, quantities: list[int] | None = None) -> list[OrderItem]:
    quantities = quantities or [1] * len(states)
    return [
        OrderItem(id=str(n), quantity=q, state=s)
        for n, (s, q) in enumerate(zip(states, quantities, strict=True), start=1)
    ]


# ---------------------------------------------------------------- the roll-up rule


@pytest.mark.parametrize(
    "states", [c for n in (1, 2, 3) for c in itertools.product(FINAL, repeat=n)], ids=str
)
def test_roll_up_of_every_combination_of_final_item_states(states: tuple[ItemState, ...]) -> None:
    outcome = roll_up(items(*states))
    completed = states.count(ItemState.COMPLETED)
    if completed == len(states):
        assert outcome == OrderState.COMPLETED
    elif completed:
        assert outcome == OrderState.PARTIAL
    elif ItemState.FAILED in states:
        assert outcome == OrderState.FAILED
    else:
        assert outcome == OrderState.CANCELLED


@given(st.lists(st.sampled_from([*FINAL, *OPEN, None]), min_size=0, max_size=8))
def test_roll_up_properties(states: list[ItemState | None]) -> None:
    outcome = roll_up(items(*states))
    completed = sum(1 for s in states if s == ItemState.COMPLETED)
    if not states or any(s not in FINAL for s in states):
        assert outcome is None  # an open (or older, stateless) item keeps the order open
        return
    assert outcome is not None
    if outcome == OrderState.COMPLETED:
        assert completed >= 1 and completed == len(states)
    if outcome == OrderState.PARTIAL:
        assert 1 <= completed < len(states)
    if outcome in (OrderState.CANCELLED, OrderState.FAILED):
        assert completed == 0
    assert (outcome == OrderState.FAILED) == (completed == 0 and ItemState.FAILED in states)


def test_all_items_cancelled_is_never_completed() -> None:
    assert roll_up(items(ItemState.CANCELLED, ItemState.CANCELLED)) == OrderState.CANCELLED
    assert roll_up([]) is None


# ---------------------------------------------------------------- the weighted percent


def test_percent_is_the_mean_weighted_by_quantity_rounded_down() -> None:
    listed = items(ItemState.IN_PROGRESS, ItemState.IN_PROGRESS, quantities=[3, 1])
    listed[0].percent_complete = 50
    listed[1].percent_complete = 100
    assert weighted_percent(listed) == (3 * 50 + 1 * 100) // 4  # 62
    listed[1].percent_complete = 1
    assert weighted_percent(listed) == 37  # 151 / 4 = 37.75, rounded down


def test_completed_items_count_full_and_cancelled_ones_not_at_all() -> None:
    listed = items(
        ItemState.COMPLETED, ItemState.CANCELLED, ItemState.ACKNOWLEDGED, quantities=[1, 5, 1]
    )
    assert weighted_percent(listed) == 50
    assert weighted_percent(items(ItemState.CANCELLED, ItemState.FAILED)) is None


@given(
    st.lists(
        st.tuples(st.integers(1, 50), st.integers(0, 100), st.sampled_from([*OPEN, *FINAL])),
        min_size=1,
        max_size=10,
    )
)
def test_weighted_percent_properties(rows: list[tuple[int, int, ItemState]]) -> None:
    listed = [
        OrderItem(id=str(n), quantity=q, percent_complete=p, state=s)
        for n, (q, p, s) in enumerate(rows)
    ]
    percent = weighted_percent(listed)
    counted = [
        (q, 100 if s == ItemState.COMPLETED else p)
        for q, p, s in rows
        if s not in (ItemState.CANCELLED, ItemState.FAILED)
    ]
    if not counted:
        assert percent is None
        return
    assert percent is not None and 0 <= percent <= 100
    assert min(p for _, p in counted) <= percent <= max(p for _, p in counted)
    assert (percent == 100) == all(p == 100 for _, p in counted)


def test_item_reports_derive_the_order_percent() -> None:
    tracker = start()
    report(
        tracker, orderItems=[{"id": "1", "percentComplete": 40}, {"id": "2", "state": "completed"}]
    )
    order = tracker.order
    assert order.state == OrderState.IN_PROGRESS  # the first report starts the work
    assert order.order_item("2").state == ItemState.COMPLETED  # type: ignore[union-attr]
    assert order.percent_complete == (3 * 40 + 100 + 0) // 5  # 44
    # A report without items sets the order's percent as before.
    report(tracker, percentComplete=70)
    assert order.percent_complete == 70


# ---------------------------------------------------------------- reports of items


def test_an_unknown_item_is_a_recorded_rejection_naming_it() -> None:
    tracker = start()
    report(tracker, orderItems=[{"id": "1", "percentComplete": 10}, {"id": "9", "state": "held"}])
    rejected = tracker.order.rejected_messages[-1]
    assert rejected.error == "orderItems: unknown order item '9'"
    assert tracker.order.order_item("1").percent_complete is None  # type: ignore[union-attr]


def test_a_final_item_state_does_not_change_and_a_bad_state_lists_the_allowed() -> None:
    tracker = start()
    report(tracker, orderItems=[{"id": "1", "state": "completed"}])
    report(tracker, orderItems=[{"id": "1", "state": "inProgress"}])
    assert tracker.order.rejected_messages[-1].error == (
        "orderItems: order item '1' is completed, a final state; it cannot become inProgress"
    )
    report(tracker, orderItems=[{"id": "2", "state": "bogus"}])
    assert tracker.order.rejected_messages[-1].error == (
        "orderItems.0.state: 'bogus' is not one of acknowledged, inProgress, pending, held,"
        " completed, cancelled, failed"
    )


def test_items_ending_some_completed_the_rest_failed_make_the_order_partial() -> None:
    tracker = start()
    report(tracker, orderItems=[{"id": "1", "state": "completed"}, {"id": "2", "state": "failed"}])
    assert tracker.order.state == OrderState.IN_PROGRESS
    effects = report(tracker, orderItems=[{"id": "3", "state": "completed"}])
    order = tracker.order
    assert order.state == OrderState.PARTIAL and order.is_final
    assert order.percent_complete == 100 and order.completion_date == NOW
    assert kinds(effects)[-2:] == ["completed", "informCloseProcess"]
    party = next(e for e in effects if isinstance(e, Notify) and e.notification.kind == "completed")
    assert party.notification.body["deliveredItems"] == [{"id": "1"}, {"id": "3"}]
    assert party.notification.body["state"] == "partial"


def test_every_item_completed_makes_the_order_completed() -> None:
    tracker = start()
    effects = report(tracker, orderItems=[{"id": n, "state": "completed"} for n in ("1", "2", "3")])
    assert tracker.order.state == OrderState.COMPLETED
    assert kinds(effects) == ["completed", "informCloseProcess"]


def test_no_item_completed_and_one_failed_fails_the_order() -> None:
    tracker = start(rules=4)  # rules 5: tests/unit/test_rules_5.py
    effects = report(
        tracker,
        orderItems=[
            {"id": "1", "state": "cancelled"},
            {"id": "2", "state": "failed"},
            {"id": "3", "state": "cancelled"},
        ],
    )
    assert tracker.order.state == OrderState.FAILED
    # The originating process must re-source, the party hears of the state; nothing closes.
    assert kinds(effects) == ["failed", "stateChanged"]


def test_every_item_cancelled_cancels_the_order_after_the_party_is_told() -> None:
    tracker = start(rules=4)  # rules 5: tests/unit/test_rules_5.py
    effects = report(tracker, orderItems=[{"id": n, "state": "cancelled"} for n in ("1", "2", "3")])
    assert tracker.order.state == OrderState.PENDING_CANCELLATION
    # The process hears that the work started; the party, that the order is cancelled
    # (the cancellation takes effect once that notice is delivered).
    assert kinds(effects) == ["stateChanged", "cancelled"]
    assert isinstance(effects[-1], CancelAfterNotice)
    assert effects[-1].notification.body["reason"] == "every order item is cancelled"
    tracker.finish_cancellation(NOW)
    assert tracker.order.state == OrderState.CANCELLED
    assert tracker.order.cancellation is not None
    assert tracker.order.cancellation.reason == "every order item is cancelled"


def test_delivered_completes_every_open_item() -> None:
    tracker = start()
    report(tracker, orderItems=[{"id": "2", "state": "failed"}])
    effects = report(tracker, delivered=True)
    order = tracker.order
    assert [i.state for i in order.order_items] == [
        ItemState.COMPLETED,
        ItemState.FAILED,
        ItemState.COMPLETED,
    ]
    assert order.state == OrderState.PARTIAL
    assert kinds(effects) == ["completed", "informCloseProcess"]
    # An order without items completes as it always did.
    plain = start(orderItems=[])
    report(plain, delivered=True)
    assert plain.order.state == OrderState.COMPLETED


def test_items_start_acknowledged_and_an_order_of_final_items_is_refused() -> None:
    assert {i.state for i in start().order.order_items} == {ItemState.ACKNOWLEDGED}
    spec = PartyOrderSpec.model_validate(
        order_input(orderItems=[{"id": "1", "state": "cancelled"}])
    )
    with pytest.raises(ValueError) as raised:
        PartyOrderTracker.start(spec, NOW, rules_version=CURRENT_RULES)
    assert str(raised.value) == (
        "orderItems: every item is already final; there is nothing to track"
    )


# ---------------------------------------------------------------- item jeopardy


def test_an_item_forecast_past_the_agreed_date_is_critical_naming_the_item() -> None:
    tracker = start(rules=4)  # rules 5: tests/unit/test_rules_5.py
    report(tracker, orderItems=[{"id": "2", "expectedCompletionDate": "2027-03-10T00:00:00Z"}])
    tracker.advance(NOW)
    jeopardy = tracker.order.jeopardy
    assert jeopardy.status == "critical"
    assert jeopardy.reasons == [
        "order item 2 forecast 2027-03-10T00:00:00Z is later than the agreed date"
        " 2027-03-01T00:00:00Z"
    ]
    alert = tracker.order.jeopardy_alerts[-1]
    assert alert.jeopardy_type == "critical"
    assert alert.to_json_dict()["orderItem"] == [{"id": "2"}]
    # Within the agreed date again: it clears; an item that is cancelled is not late.
    report(
        tracker,
        DAY + NOW,
        orderItems=[{"id": "2", "expectedCompletionDate": "2027-02-10T00:00:00Z"}],
    )
    tracker.advance(NOW + DAY)
    assert tracker.order.jeopardy.status == "none"
    assert tracker.order.jeopardy_alerts[-1].order_item is None


def test_a_second_late_item_is_a_new_worsening() -> None:
    tracker = start()
    late = "2027-04-01T00:00:00Z"
    report(tracker, orderItems=[{"id": "1", "expectedCompletionDate": late}])
    tracker.advance(NOW)
    hour = timedelta(hours=1)  # before level 2 is due (P1D): the worsening is its own notice
    report(tracker, NOW + hour, orderItems=[{"id": "3", "expectedCompletionDate": late}])
    effects = tracker.advance(NOW + hour)
    assert kinds(effects) == ["jeopardyWorsened"]
    assert tracker.order.jeopardy_alerts[-1].to_json_dict()["orderItem"] == [
        {"id": "1"},
        {"id": "3"},
    ]


def test_a_violated_milestone_names_its_items() -> None:
    tracker = start(
        milestones=[
            {"id": "m", "milestoneDate": "2026-12-01T00:00:00Z", "orderItemIds": ["1", "3"]}
        ]
    )
    tracker.advance(datetime(2026, 12, 1, tzinfo=UTC))
    alerts = [a.to_json_dict() for a in tracker.order.jeopardy_alerts]
    assert {"id": "1"} in alerts[-1]["orderItem"] and {"id": "3"} in alerts[-1]["orderItem"]
    assert "for order items 1, 3" in tracker.order.jeopardy.reasons[0]


def test_milestone_items_must_be_items_of_the_order() -> None:
    spec = PartyOrderSpec.model_validate(
        order_input(
            milestones=[{"id": "m", "milestoneDate": "2026-12-01T00:00:00Z", "orderItemIds": ["7"]}]
        )
    )
    with pytest.raises(ValueError) as raised:
        PartyOrderTracker.start(spec, NOW, rules_version=CURRENT_RULES)
    assert str(raised.value) == (
        "milestones.orderItemIds: milestone m names unknown order item '7'"
    )


# ---------------------------------------------------------------- cancelling an item


def cancel_item(tracker: PartyOrderTracker, item_id: str, request_id: str) -> list[Effect]:
    return tracker.handle(
        "request_change",
        {
            "requestId": request_id,
            "reason": "no longer needed",
            "changes": {"orderItems": [{"id": item_id, "state": "cancelled"}]},
        },
        NOW,
    )


def test_an_item_is_cancelled_only_when_the_change_is_accepted() -> None:
    tracker = start()
    effects = cancel_item(tracker, "3", "CR-3")
    assert kinds(effects) == ["changeRequest"]  # forwarded to the originating process
    assert tracker.order.order_item("3").state == ItemState.ACKNOWLEDGED  # type: ignore[union-attr]
    tracker.handle("resolve_change", {"changeRequestId": "CR-3", "decision": "rejected"}, NOW)
    assert tracker.order.order_item("3").state == ItemState.ACKNOWLEDGED  # type: ignore[union-attr]
    cancel_item(tracker, "3", "CR-4")
    tracker.handle("resolve_change", {"changeRequestId": "CR-4", "decision": "accepted"}, NOW)
    assert tracker.order.order_item("3").state == ItemState.CANCELLED  # type: ignore[union-attr]


def test_cancelling_the_last_open_item_rolls_the_order_up() -> None:
    tracker = start()
    report(
        tracker, orderItems=[{"id": "1", "state": "completed"}, {"id": "2", "state": "completed"}]
    )
    cancel_item(tracker, "3", "CR-1")
    effects = tracker.handle(
        "resolve_change", {"changeRequestId": "CR-1", "decision": "accepted"}, NOW + DAY
    )
    assert tracker.order.state == OrderState.PARTIAL
    assert kinds(effects) == ["changeResolved", "completed", "informCloseProcess"]


def test_a_change_may_only_cancel_an_open_known_item() -> None:
    tracker = start()
    tracker.handle(
        "request_change",
        {"changes": {"orderItems": [{"id": "1", "state": "completed"}]}},
        NOW,
    )
    assert tracker.order.rejected_messages[-1].error == (
        "changes.orderItems.state: 'completed' cannot be agreed by a change; only cancelled"
        " can (progress is reported with report_progress)"
    )
    cancel_item(tracker, "9", "CR-9")
    assert tracker.order.rejected_messages[-1].error == (
        "changes.orderItems: unknown order item '9'; a new item cannot be added cancelled"
    )
    report(tracker, orderItems=[{"id": "2", "state": "completed"}])
    cancel_item(tracker, "2", "CR-2")
    assert tracker.order.rejected_messages[-1].error == (
        "changes.orderItems: order item '2' is completed, a final state; it cannot be cancelled"
    )
    assert tracker.order.change_requests == []


# ---------------------------------------------------------------- notes


def test_every_note_is_kept_with_author_and_date() -> None:
    tracker = start()
    report(tracker, note="survey booked", orderItems=[{"id": "1", "note": "duct found"}])
    report(tracker, NOW + DAY, source="enterprise", note="checked with the party")
    # An update reaches the core through apply(), as the workflow's update handler does.
    tracker.apply(
        "change_state",
        tracker_message(
            "change_state", {"state": "held", "reason": "permit", "note": "waiting for the council"}
        ),
        {},
        NOW + 2 * DAY,
    )
    notes = [(n.author, n.date, n.text) for n in tracker.order.notes]
    assert notes == [
        ("Acme Networks", NOW, "survey booked"),
        ("Acme Networks", NOW, "Order item 1: duct found"),
        ("enterprise", NOW + DAY, "checked with the party"),
        ("enterprise", NOW + 2 * DAY, "waiting for the council"),
    ]
    assert tracker.order.note_count == 4
    assert [n.id for n in tracker.order.notes] == [f"PO-3-N-{n}" for n in (1, 2, 3, 4)]
    assert tracker.order.last_note == "checked with the party"  # still read back as before


def tracker_message(name: str, payload: dict[str, Any]) -> InboundMessage:
    return MESSAGE_MODELS[name].model_validate(payload)


def test_the_newest_notes_are_kept_and_all_counted() -> None:
    tracker = start()
    for n in range(MAX_NOTES_KEPT + 5):
        report(tracker, NOW + n * timedelta(minutes=1), note=f"note {n}")
    order = tracker.order
    assert order.note_count == MAX_NOTES_KEPT + 5
    assert len(order.notes) == MAX_NOTES_KEPT
    assert order.notes[0].text == "note 5" and order.notes[-1].text == f"note {MAX_NOTES_KEPT + 4}"


# ---------------------------------------------------------------- older rules


def test_rules_2_refuse_what_their_models_did_not_know() -> None:
    tracker = start(rules=RULES_V2)
    report(tracker, orderItems=[{"id": "1", "state": "completed"}])
    assert tracker.order.rejected_messages[-1].error == "orderItems: Extra inputs are not permitted"
    tracker.handle(
        "request_change",
        {
            "changes": {
                "checkpoints": [{"id": "c", "date": "2027-01-01T00:00:00Z", "action": "add"}]
            }
        },
        NOW,
    )
    assert tracker.order.rejected_messages[-1].error == (
        "changes.checkpoints: Extra inputs are not permitted"
    )
    tracker.handle(
        "request_change",
        {
            "changes": {
                "milestones": [
                    {"id": "x", "milestoneDate": "2027-01-01T00:00:00Z", "action": "add"}
                ]
            }
        },
        NOW,
    )
    assert tracker.order.rejected_messages[-1].error == (
        "changes.milestones.0.action: Extra inputs are not permitted"
    )
    with pytest.raises(ValueError) as raised:
        tracker.validate_update("change_state", {"state": "held", "note": "x"})
    assert str(raised.value) == "note: Extra inputs are not permitted"
    # Item states, notes and the roll-up stay out of an older order.
    report(tracker, note="a note", delivered=True)
    assert tracker.order.state == OrderState.COMPLETED
    assert tracker.order.notes == [] and tracker.order.last_note == "a note"
    assert all(i.state is None for i in tracker.order.order_items)
    assert "state" not in tracker.order.order_items[0].to_json_dict()


def test_rules_2_refuse_a_start_input_with_rules_3_fields() -> None:
    for changes, error in (
        (
            {"checkpoints": [{"id": "c", "date": "2027-01-01T00:00:00Z"}]},
            "checkpoints: Extra inputs are not permitted",
        ),
        (
            {"trackingPolicy": {"checkInBeforeMilestone": "P2D"}},
            "trackingPolicy.checkInBeforeMilestone: Extra inputs are not permitted",
        ),
        (
            {
                "milestones": [
                    {"id": "m", "milestoneDate": "2027-01-01T00:00:00Z", "orderItemIds": ["1"]}
                ]
            },
            "milestones: milestone m: Extra inputs are not permitted",
        ),
    ):
        spec = PartyOrderSpec.model_validate(order_input(**changes))
        with pytest.raises(ValueError) as raised:
            PartyOrderTracker.start(spec, NOW, rules_version=RULES_V2)
        assert str(raised.value) == error


# ---------------------------------------------------------------- what operators see


def test_the_web_ui_details_show_items_notes_and_the_next_checkpoint() -> None:
    tracker = start(
        checkpoints=[{"id": "design", "name": "Design review", "date": "2026-11-20T10:00:00Z"}]
    )
    report(
        tracker,
        note="kick-off done",
        orderItems=[
            {"id": "1", "state": "inProgress", "percentComplete": 40},
            {"id": "2", "expectedCompletionDate": "2027-02-01T00:00:00Z", "note": "router ordered"},
        ],
    )
    details = details_markdown(tracker.order, NOW, RULES_4)
    lines = details.splitlines()
    assert "- Item 1 (fibre): **inProgress**, 40%" in lines
    assert "- Item 2 (router): **acknowledged**, forecast 2027-02-01T00:00:00Z" in lines
    assert "- Item 3 (rack): **acknowledged**" in lines
    assert "- Next checkpoint: checkpoint design check-in at 2026-11-20T10:00:00Z" in lines
    # Newest first, flat bullets (the Web UI's Markdown does not nest them).
    assert lines[-3:-1] == [
        "- Note 2026-11-01T00:00:00Z, Acme Networks: Order item 2: router ordered",
        "- Note 2026-11-01T00:00:00Z, Acme Networks: kick-off done",
    ]
    assert not any(line.startswith("  ") for line in lines)


def test_an_older_order_shows_no_item_lines() -> None:
    tracker = start(rules=RULES_V2)
    assert "Item" not in details_markdown(tracker.order, NOW, RULES_4)
