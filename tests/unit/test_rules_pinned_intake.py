"""Rules of the tracker that no other test pinned: intake, counts, ends, notices.

Each test names the behaviour it pins, through the tracker's public methods and the
notices it returns, on the current rules (rules 4 when written; a rule changed on purpose
changes its test with it). Values are exact wherever they are knowable: a field renamed,
nulled or computed otherwise must fail here.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from starter.samples import CONTRACT_EXAMPLE, load_sample
from workflows.domain.effects import (
    CancelAfterNotice,
    Effect,
    ForwardChangeRequest,
    Notification,
    Notify,
    ResolveHolidays,
)
from workflows.domain.holidays import HolidayRequest
from workflows.domain.model import (
    ItemState,
    JeopardyStatus,
    OrderState,
    PartyOrderSpec,
)
from workflows.domain.rules import CURRENT_RULES
from workflows.domain.states import IllegalTransition
from workflows.domain.tracker import PartyOrderTracker, TrackerState

NOW = datetime(2026, 11, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
REFERENCE = "SO-77"  # the contract example's originating-process reference
PROCESS = "service-order-handling"


def start(**changes: Any) -> PartyOrderTracker:
    """The contract's PO-1001 tracked from NOW by the current rules, behind-plan off."""
    data = load_sample(CONTRACT_EXAMPLE, NOW)
    data["trackingPolicy"]["behindPlanTolerance"] = 100
    data["trackingPolicy"].update(changes.pop("trackingPolicy", {}))
    data.update(changes)
    return PartyOrderTracker.start(
        PartyOrderSpec.model_validate(data), NOW, rules_version=CURRENT_RULES
    )


def notices(effects: list[Effect]) -> list[Notification]:
    return [
        e.notification
        for e in effects
        if isinstance(e, Notify | ForwardChangeRequest | CancelAfterNotice)
    ]


def summary(
    state: str,
    jeopardy: str = "none",
    percent: int = 0,
    due: str = "2027-01-10T00:00:00Z",
) -> dict[str, Any]:
    """The order summary every notice body carries (``order``)."""
    return {
        "id": "PO-1001",
        "state": state,
        "percentComplete": percent,
        "dueDate": due,
        "jeopardy": jeopardy,
    }


def last_error(tracker: PartyOrderTracker) -> str:
    return tracker.order.rejected_messages[-1].error


# ---------------------------------------------------------------- repeats and validation


def test_a_retried_update_with_the_same_payload_is_a_repeat_answered_as_the_first() -> None:
    tracker = start()
    payload = {"requestId": "u1", "state": "inProgress", "reason": "work starts"}
    tracker.validate_update("change_state", payload)
    first = tracker.handle("change_state", payload, NOW)
    assert [n.kind for n in notices(first)] == ["stateChanged"]
    history = len(tracker.order.state_history)

    # The client retried (it never saw the answer): the same id and content, whatever the
    # key order of the JSON, is accepted by the validator and not applied a second time.
    retry = {"reason": "work starts", "state": "inProgress", "requestId": "u1"}
    tracker.validate_update("change_state", retry)
    assert tracker.handle("change_state", retry, NOW + HOUR) == []
    assert tracker.order.state == OrderState.IN_PROGRESS
    assert len(tracker.order.state_history) == history
    assert tracker.order.rejected_message_count == 0
    assert tracker.order.rejected_messages == []


def test_another_payload_under_a_used_request_id_is_refused() -> None:
    tracker = start()
    tracker.handle("change_state", {"requestId": "u1", "state": "inProgress"}, NOW)
    other = {"requestId": "u1", "state": "pending", "reason": "waiting for the site"}
    expected = "requestId 'u1' already used for a different change_state message"
    with pytest.raises(ValueError) as refused:
        tracker.validate_update("change_state", other)
    assert str(refused.value) == expected
    assert tracker.handle("change_state", other, NOW + HOUR) == []
    assert tracker.order.state == OrderState.IN_PROGRESS
    assert tracker.order.rejected_message_count == 1
    assert last_error(tracker) == expected


def test_the_same_request_id_under_another_message_name_is_no_repeat() -> None:
    """Request ids are per message name: a progress report's id does not excuse a state
    change from its check (nor is the change refused as a different message)."""
    tracker = start()
    tracker.handle("report_progress", {"requestId": "r1", "percentComplete": 5}, NOW)
    with pytest.raises(IllegalTransition) as refused:
        tracker.validate_update("change_state", {"requestId": "r1", "state": "inProgress"})
    assert str(refused.value) == (
        "illegal transition from inProgress to inProgress"
        " (allowed from inProgress: pending, held, pendingCancellation, completed, failed, partial)"
    )
    tracker.validate_update("change_state", {"requestId": "r1", "state": "held"})


@pytest.mark.parametrize(
    "request_id", [None, "new-id"], ids=["without a request id", "with a new request id"]
)
def test_validate_update_always_checks_the_state_change(request_id: str | None) -> None:
    """A refused update never enters the history: the validator names both states."""
    tracker = start()
    payload: dict[str, Any] = {"state": "held", "reason": "no access"}
    if request_id is not None:
        payload["requestId"] = request_id
    with pytest.raises(IllegalTransition) as refused:
        tracker.validate_update("change_state", payload)
    assert (refused.value.current, refused.value.target) == (
        OrderState.ACKNOWLEDGED,
        OrderState.HELD,
    )
    assert str(refused.value) == (
        "illegal transition from acknowledged to held"
        " (allowed from acknowledged: inProgress, pending, pendingCancellation, failed)"
    )
    # A final order refuses every state change, by the validator as well.
    tracker.handle("change_state", {"state": "failed", "reason": "site lost"}, NOW)
    with pytest.raises(IllegalTransition) as final:
        tracker.validate_update("change_state", {**payload, "state": "inProgress"})
    assert str(final.value) == (
        "illegal transition from failed to inProgress (allowed from failed: none: the state is"
        " final)"
    )


ITEMS = [
    {"id": "1", "description": "10G circuit", "quantity": 1},
    {"id": "2", "description": "rack space", "quantity": 3},
    {"id": "3", "description": "cross-connect", "quantity": 1},
]


def test_a_report_that_names_an_item_twice_is_refused_whole() -> None:
    """Not applied with the last entry winning: nothing of the report is applied."""
    tracker = start(orderItems=ITEMS)
    tracker.handle("report_progress", {"orderItems": [{"id": "1", "percentComplete": 20}]}, NOW)
    assert tracker.order.percent_complete == 4  # (20 * 1) // 5
    report = {
        "percentComplete": 50,
        "note": "two answers for one item",
        "orderItems": [
            {"id": "1", "percentComplete": 30},
            {"id": "3", "state": "inProgress"},
            {"id": "1", "percentComplete": 90, "state": "completed"},
        ],
    }
    assert tracker.handle("report_progress", report, NOW + HOUR) == []
    assert last_error(tracker) == "orderItems: order item '1' is reported twice"
    assert tracker.order.rejected_message_count == 1
    item_1, _, item_3 = tracker.order.order_items
    assert (item_1.state, item_1.percent_complete) == (ItemState.ACKNOWLEDGED, 20)
    assert item_3.state == ItemState.ACKNOWLEDGED
    assert tracker.order.percent_complete == 4
    assert tracker.order.last_note is None


@pytest.mark.parametrize("state", ["completed", "inProgress", "failed"])
def test_a_change_sets_no_item_state_but_cancelled_after_an_entry_without_one(state: str) -> None:
    """The rule (docs/rules.md, "Cancelling an item"): a change may cancel an item; no other item
    state can be agreed by a change. An entry that names no state (a field update) does not
    end the check: each later entry is checked as well."""
    tracker = start(orderItems=ITEMS)
    changes = {
        "orderItems": [{"id": "1", "description": "100G circuit"}, {"id": "2", "state": state}]
    }
    effects = tracker.handle("request_change", {"requestId": "c1", "changes": changes}, NOW)
    assert effects == []
    assert last_error(tracker) == (
        f"changes.orderItems.state: '{state}' cannot be agreed by a change; only cancelled can"
        " (progress is reported with report_progress)"
    )
    assert tracker.order.change_requests == []


def test_a_change_may_cancel_an_item_after_an_entry_without_a_state() -> None:
    tracker = start(orderItems=ITEMS)
    changes = {
        "orderItems": [
            {"id": "1", "description": "100G circuit"},
            {"id": "2", "state": "cancelled"},
        ]
    }
    effects = tracker.handle("request_change", {"requestId": "c1", "changes": changes}, NOW)
    assert [n.kind for n in notices(effects)] == ["changeRequest"]
    tracker.handle("resolve_change", {"changeRequestId": "c1", "decision": "accepted"}, NOW)
    item_1, item_2, _ = tracker.order.order_items
    assert (item_1.description, item_1.state) == ("100G circuit", ItemState.ACKNOWLEDGED)
    assert item_2.state == ItemState.CANCELLED
    assert tracker.order.rejected_message_count == 0


def _large_change(number: int) -> dict[str, Any]:
    """A change request near its largest: MAX_ITEMS_PER_CHANGE items of ~2,000 characters."""
    items = [{"id": f"{number}-{i}", "description": "d" * 1_900} for i in range(50)]
    return {"requestId": f"big-{number}", "reason": "r" * 4_000, "changes": {"orderItems": items}}


SIZE_REFUSAL_END = (
    " characters of JSON; at most 400000 are kept (change requests and items are bounded together)"
)


def assert_rolled_back(tracker: PartyOrderTracker, before: TrackerState) -> None:
    """Everything is as in ``before`` but the record of the refusal itself."""
    assert last_error(tracker).startswith("the order would be ")
    assert last_error(tracker).endswith(SIZE_REFUSAL_END)
    after = tracker.state
    # The tracker's own counters and records.
    assert after.next_sequence == before.next_sequence
    assert after.applied_messages == before.applied_messages
    assert after.applied_request_ids == before.applied_request_ids
    assert after.forecast_reviewed == before.forecast_reviewed
    assert after.rules_version == before.rules_version
    # The order's.
    assert after.order.rejected_message_count == before.order.rejected_message_count + 1
    refusal = {"rejected_messages", "rejected_message_count"}
    assert after.order.model_dump(exclude=refusal) == before.order.model_dump(exclude=refusal)


def fill_with_change_requests(tracker: PartyOrderTracker) -> TrackerState:
    """Large change requests until one is refused for the order's size; the state before
    that one."""
    number = 0
    while True:
        before = tracker.state.model_copy(deep=True)
        if not tracker.handle("request_change", _large_change(number), NOW + HOUR):
            assert number >= 2  # the order grew first, then refused the one too many
            return before
        number += 1


def test_a_change_request_that_fails_half_way_leaves_every_counter_as_it_was() -> None:
    """The change request is numbered and its notice made before the order's size is
    checked; refused for the size, everything goes back, the tracker's own counters too
    (a notice number handed out and then taken back would leave a gap, or worse, be
    reused by the next notice with another content)."""
    tracker = start()
    tracker.handle("report_progress", {"requestId": "p1", "percentComplete": 10}, NOW)
    tracker.handle("check_in_now", {"requestId": "k1"}, NOW)
    before = fill_with_change_requests(tracker)
    assert_rolled_back(tracker, before)
    # The next notice takes the number the refused change had taken, and only it.
    (check_in,) = notices(tracker.handle("check_in_now", {}, NOW + 2 * HOUR))
    assert check_in.idempotency_key == f"PO-1001/checkIn-{before.next_sequence}"


def test_an_accepted_change_that_fails_half_way_leaves_every_counter_as_it_was() -> None:
    """Accepting a change that adds items applies it, tells the party, keeps the note and
    re-derives the percent before the size is checked: all of it goes back."""
    tracker = start()
    tracker.handle("report_progress", {"requestId": "p1", "percentComplete": 55}, NOW)
    fill_with_change_requests(tracker)
    before = tracker.state.model_copy(deep=True)
    resolution = {
        "requestId": "r1",
        "changeRequestId": "big-0",
        "decision": "accepted",
        "resolvedBy": "planner",
        "note": "agreed on the phone",
    }
    assert tracker.handle("resolve_change", resolution, NOW + 2 * HOUR) == []
    assert_rolled_back(tracker, before)
    order = tracker.order
    assert (order.percent_complete, order.note_count, len(order.order_items)) == (55, 0, 1)
    change = order.change_request("big-0")
    assert change is not None
    assert (change.status, change.resolved_by, change.note) == ("received", None, None)
    (check_in,) = notices(tracker.handle("check_in_now", {}, NOW + 3 * HOUR))
    assert check_in.idempotency_key == f"PO-1001/checkIn-{before.next_sequence}"


# ---------------------------------------------------------------- counts and derived values


def test_answered_check_ins_count_up_one_by_one() -> None:
    tracker = start()
    check_ins = tracker.order.check_ins
    answered = []
    last_answer = NOW
    for number in (1, 2, 3):
        due = check_ins.next_at
        assert due is not None
        (check_in,) = notices(tracker.advance(due))
        assert (check_in.kind, check_in.body["checkInNumber"]) == ("checkIn", number)
        last_answer = due + HOUR
        tracker.handle("report_progress", {"percentComplete": 10 * number}, last_answer)
        answered.append(check_ins.answered)
    assert answered == [1, 2, 3]
    assert (check_ins.sent, check_ins.unanswered_streak) == (3, 0)
    assert check_ins.response_seconds == [3600, 3600, 3600]
    # A report that answers no open check-in counts none.
    tracker.handle("report_progress", {"percentComplete": 40}, last_answer + HOUR)
    assert check_ins.answered == 3


def test_a_completed_item_is_100_percent_complete_whatever_the_report_says() -> None:
    tracker = start(orderItems=ITEMS)
    tracker.handle(
        "report_progress",
        {"orderItems": [{"id": "1", "percentComplete": 30}, {"id": "2", "percentComplete": 10}]},
        NOW,
    )
    tracker.handle(
        "report_progress",
        {
            "orderItems": [
                {"id": "1", "state": "completed"},
                {"id": "2", "state": "completed", "percentComplete": 40},
            ]
        },
        NOW + HOUR,
    )
    item_1, item_2, item_3 = tracker.order.order_items
    assert (item_1.state, item_1.percent_complete) == (ItemState.COMPLETED, 100)
    assert (item_2.state, item_2.percent_complete) == (ItemState.COMPLETED, 100)
    assert (item_3.state, item_3.percent_complete) == (ItemState.ACKNOWLEDGED, None)
    assert tracker.order.percent_complete == 80  # (100 * 1 + 100 * 3 + 0 * 1) // 5
    assert tracker.order.state == OrderState.IN_PROGRESS
    assert tracker.order.to_json_dict()["orderItems"][0]["percentComplete"] == 100


def test_a_rejected_change_leaves_the_order_percent_as_reported() -> None:
    """Only an accepted change of items re-derives the order's percent from its items."""
    tracker = start(orderItems=ITEMS)
    tracker.handle("report_progress", {"orderItems": [{"id": "1", "percentComplete": 80}]}, NOW)
    assert tracker.order.percent_complete == 16  # (80 * 1) // 5
    tracker.handle("report_progress", {"percentComplete": 55}, NOW + HOUR)
    cancel_2 = {"changes": {"orderItems": [{"id": "2", "state": "cancelled"}]}}
    tracker.handle("request_change", {"requestId": "c1", **cancel_2}, NOW + HOUR)
    tracker.handle("resolve_change", {"changeRequestId": "c1", "decision": "rejected"}, NOW + HOUR)
    assert tracker.order.percent_complete == 55
    assert tracker.order.order_items[1].state == ItemState.ACKNOWLEDGED
    # Accepted, the same change re-derives it: item 2 is left out, (80 + 0) // 2.
    tracker.handle("request_change", {"requestId": "c2", **cancel_2}, NOW + 2 * HOUR)
    tracker.handle(
        "resolve_change", {"changeRequestId": "c2", "decision": "accepted"}, NOW + 2 * HOUR
    )
    assert tracker.order.percent_complete == 40


# ---------------------------------------------------------------- holidays resolved later

CHRISTMAS_MONDAY = datetime(2028, 12, 25, 9, tzinfo=UTC)  # a Monday, 09:00 in UTC
NEW_YEAR_2029 = date(2029, 1, 1)  # a Monday too: the first periodic check-in falls on it


def calendar_order() -> PartyOrderTracker:
    """An order whose party's country holidays are known through 2028 (as if resolved at
    start) and whose first check-in falls on New Year's Day 2029, not yet known as one."""
    data = load_sample(CONTRACT_EXAMPLE, NOW)
    data.update(
        {
            "orderDate": "2028-12-20T00:00:00Z",
            "requestedCompletionDate": "2029-03-01T00:00:00Z",
            "expectedCompletionDate": "2029-02-20T00:00:00Z",
            "milestones": [],
        }
    )
    data["party"]["calendar"] = {
        "timeZone": "UTC",
        "holidayCountry": "DE",
        "holidays": ["2028-12-26"],
        "holidaysResolvedThrough": "2028-12-31",
    }
    data["trackingPolicy"]["behindPlanTolerance"] = 100
    tracker = PartyOrderTracker.start(
        PartyOrderSpec.model_validate(data), CHRISTMAS_MONDAY, rules_version=CURRENT_RULES
    )
    assert tracker.order.check_ins.next_at == datetime(2029, 1, 1, 9, tzinfo=UTC)
    return tracker


def test_a_check_in_moves_off_a_holiday_resolved_later_and_still_goes_out() -> None:
    tracker = calendar_order()
    at = CHRISTMAS_MONDAY + HOUR
    change = {"requestId": "c1", "changes": {"requestedCompletionDate": "2029-03-15T00:00:00Z"}}
    tracker.handle("request_change", change, at)
    effects = tracker.handle(
        "resolve_change", {"changeRequestId": "c1", "decision": "accepted"}, at
    )
    (asked,) = [e for e in effects if isinstance(e, ResolveHolidays)]
    assert asked.request == HolidayRequest(country="DE", first_year=2029, last_year=2030)

    tracker.holidays_resolved(asked.request, [NEW_YEAR_2029, date(2029, 12, 25)], at)
    calendar = tracker.order.party.calendar
    assert calendar is not None
    assert calendar.holidays == [date(2028, 12, 26), NEW_YEAR_2029, date(2029, 12, 25)]
    assert calendar.holidays_resolved_through == date(2030, 12, 31)
    # The party's next working instant after the holiday: Tuesday, 09:00.
    moved = datetime(2029, 1, 2, 9, tzinfo=UTC)
    assert tracker.order.check_ins.next_at == moved
    due = tracker.next_due(at)  # the timer the workflow sleeps on
    assert due is not None
    assert (due.at, due.what) == (moved, "periodic check-in with the party")
    assert [n.kind for n in notices(tracker.advance(datetime(2029, 1, 1, 9, tzinfo=UTC)))] == []
    (check_in,) = notices(tracker.advance(moved))
    assert (check_in.kind, check_in.occurred_at, check_in.body["checkInNumber"]) == (
        "checkIn",
        moved,
        1,
    )
    assert tracker.order.check_ins.next_at == datetime(2029, 1, 9, 9, tzinfo=UTC)


def test_a_check_in_not_on_a_resolved_holiday_stays_where_it_was() -> None:
    tracker = calendar_order()
    request = HolidayRequest(country="DE", first_year=2029, last_year=2030)
    tracker.holidays_resolved(request, [date(2029, 12, 25)], CHRISTMAS_MONDAY)
    assert tracker.order.check_ins.next_at == datetime(2029, 1, 1, 9, tzinfo=UTC)


def test_holidays_resolved_for_an_order_without_a_calendar_change_nothing() -> None:
    tracker = start()
    assert tracker.order.party.calendar is None
    before = tracker.order.model_dump()
    request = HolidayRequest(country="DE", first_year=2027, last_year=2028)
    tracker.holidays_resolved(request, [date(2027, 1, 1), date(2027, 12, 25)], NOW + HOUR)
    assert tracker.order.model_dump() == before
    assert tracker.order.check_ins.next_at == NOW + 7 * DAY
    assert [n.kind for n in notices(tracker.advance(NOW + 7 * DAY))] == ["checkIn"]


# ---------------------------------------------------------------- ending an order

HAZARD_SINCE = NOW + 2 * DAY  # c1 unresolved for changeResolutionWindow (P2D)
C1_HAZARD = "change request c1 unresolved since 2026-11-01T00:00:00Z"


def withdrawn_change(request_id: str, state: str) -> dict[str, Any]:
    """A change request to the forecast (as ``open_change`` makes it), withdrawn at
    NOW + 2 hours because the order ended ``state``, as notices carry it."""
    return {
        "id": request_id,
        "origin": "party",
        "kind": "requested",
        "reason": None,
        "changes": {
            "expectedCompletionDate": "2027-01-12T00:00:00Z",
            "requestedCompletionDate": None,
            "milestones": None,
            "orderItems": None,
        },
        "status": "withdrawn",
        "receivedAt": "2026-11-01T00:00:00Z",
        "resolvedAt": "2026-11-01T02:00:00Z",
        "resolvedBy": None,
        "note": f"withdrawn: the order is {state}",
    }


def open_change(tracker: PartyOrderTracker, request_id: str, at: datetime = NOW) -> None:
    changes = {"expectedCompletionDate": "2027-01-12T00:00:00Z"}
    effects = tracker.handle("request_change", {"requestId": request_id, "changes": changes}, at)
    assert [n.kind for n in notices(effects)] == ["changeRequest"], last_error(tracker)


def in_hazard() -> PartyOrderTracker:
    """PO-1001 in progress, in hazard from HAZARD_SINCE (change request c1 unresolved),
    its first escalation level fired then."""
    tracker = start(milestones=[])
    tracker.handle("report_progress", {"percentComplete": 10}, NOW)
    open_change(tracker, "c1")
    effects = tracker.advance(HAZARD_SINCE)
    assert [(n.kind, n.body["level"]) for n in notices(effects)] == [("escalation", 1)]
    jeopardy = tracker.order.jeopardy
    assert (jeopardy.status, jeopardy.since, jeopardy.escalation_level) == (
        JeopardyStatus.HAZARD,
        HAZARD_SINCE,
        1,
    )
    return tracker


def test_an_order_failed_in_jeopardy_ends_its_episode_at_level_0() -> None:
    """Failing closes the episode (a ``closed`` alert, nobody told it is over): no level of
    it stays reached, as for an order that was never in jeopardy."""
    tracker = in_hazard()
    tracker.advance(HAZARD_SINCE + DAY)
    assert tracker.order.jeopardy.escalation_level == 2
    at = HAZARD_SINCE + DAY + HOUR
    effects = tracker.handle("change_state", {"state": "failed", "reason": "site lost"}, at)
    jeopardy = tracker.order.jeopardy
    assert jeopardy.escalation_level == 0
    assert (jeopardy.status, jeopardy.reasons, jeopardy.critical_causes, jeopardy.since) == (
        JeopardyStatus.NONE,
        [],
        [],
        None,
    )
    assert jeopardy.cleared_episode is None
    assert tracker.order.to_json_dict()["jeopardy"]["escalationLevel"] == 0
    alert = tracker.order.jeopardy_alerts[-1]
    assert (alert.jeopardy_type, alert.name, alert.exception, alert.message, alert.alert_date) == (
        "closed",
        "Jeopardy closed",
        "orderFailed",
        "Order PO-1001 failed while in hazard jeopardy",
        at,
    )
    assert [(n.recipient_kind, n.kind) for n in notices(effects)] == [
        ("originatingProcess", "failed"),
        ("originatingProcess", "changeWithdrawn"),
        ("party", "stateChanged"),
    ]
    assert tracker.advance(at + 10 * DAY) == []  # nothing more is due, no reminder either


def test_the_failed_notice_body() -> None:
    tracker = in_hazard()
    at = HAZARD_SINCE + HOUR
    effects = tracker.handle("change_state", {"state": "failed", "reason": "site lost"}, at)
    failed = notices(effects)[0]
    assert (failed.recipient_kind, failed.recipient, failed.kind) == (
        "originatingProcess",
        PROCESS,
        "failed",
    )
    assert (failed.subject, failed.occurred_at) == ("Order PO-1001 failed", at)
    assert failed.body == {
        "reason": "site lost",
        "reference": REFERENCE,
        "order": summary("failed", percent=10),
    }


def end_order(tracker: PartyOrderTracker, how: str, at: datetime) -> list[Effect]:
    if how == "failed":
        return tracker.handle("change_state", {"state": "failed", "reason": "site lost"}, at)
    if how == "completed":
        return tracker.handle("report_progress", {"source": "enterprise", "delivered": True}, at)
    notice = tracker.handle("cancel_order", {"reason": "not needed"}, at)
    assert [n.kind for n in notices(notice)] == ["cancelled"]
    return tracker.finish_cancellation(at)


@pytest.mark.parametrize("how", ["failed", "completed", "cancelled"])
def test_every_open_change_request_is_withdrawn_when_the_order_ends(how: str) -> None:
    """Those after a resolved one too: the resolved one keeps its resolution."""
    tracker = start(milestones=[])
    tracker.handle("report_progress", {"percentComplete": 10}, NOW)
    for request_id in ("c1", "c2", "c3", "c4"):
        open_change(tracker, request_id)
    tracker.handle("resolve_change", {"changeRequestId": "c2", "decision": "rejected"}, NOW + HOUR)
    at = NOW + 2 * HOUR
    effects = end_order(tracker, how, at)
    state = tracker.order.state.value
    assert state == how
    statuses = [(c.id, c.status, c.resolved_at) for c in tracker.order.change_requests]
    assert statuses == [
        ("c1", "withdrawn", at),
        ("c2", "rejected", NOW + HOUR),
        ("c3", "withdrawn", at),
        ("c4", "withdrawn", at),
    ]
    withdrawn = [n for n in notices(effects) if n.kind == "changeWithdrawn"]
    assert [(n.recipient_kind, n.recipient, n.occurred_at) for n in withdrawn] == [
        ("originatingProcess", PROCESS, at)
    ] * 3
    percent = 100 if how == "completed" else 10
    for notice, request_id in zip(withdrawn, ("c1", "c3", "c4"), strict=True):
        assert notice.subject == (
            f"Change request {request_id} on order PO-1001 is withdrawn: the order is {state}"
        )
        assert notice.body == {
            "changeRequest": withdrawn_change(request_id, state),
            "reference": REFERENCE,
            "order": summary(state, percent=percent),
        }


def test_de_escalation_notices_carry_the_time_they_are_sent() -> None:
    """A cleared episode is over once it can no longer return (``reopenWithin``, P1D): its
    contacts hear of it when the order wakes up then, or later; the notice says when."""
    tracker = in_hazard()
    tracker.advance(HAZARD_SINCE + DAY)  # level 2: both contacts are to hear it is over
    cleared_at = HAZARD_SINCE + DAY + HOUR
    tracker.handle("resolve_change", {"changeRequestId": "c1", "decision": "rejected"}, cleared_at)
    assert notices(tracker.advance(cleared_at)) == []
    due = tracker.next_due(cleared_at)
    assert due is not None and due.at == cleared_at + DAY
    late = cleared_at + 3 * DAY  # the worker was down when it was due
    effects = tracker.advance(late)
    assert [(n.recipient, n.kind, n.occurred_at) for n in notices(effects)] == [
        ("order-manager", "deEscalation", late),
        ("operations-lead", "deEscalation", late),
    ]
    assert [n.body for n in notices(effects)] == [
        {"level": level, "state": "inProgress", "order": summary("inProgress", percent=10)}
        for level in (1, 2)
    ]
    # Told once: the next wake-up (the periodic check-in) tells no contact again.
    assert [n.kind for n in notices(tracker.advance(late + DAY))] == ["checkIn"]


def test_an_order_ending_within_reopen_within_de_escalates_at_its_end() -> None:
    tracker = in_hazard()
    cleared_at = HAZARD_SINCE + HOUR
    tracker.handle("resolve_change", {"changeRequestId": "c1", "decision": "rejected"}, cleared_at)
    assert notices(tracker.advance(cleared_at)) == []
    ended_at = cleared_at + 2 * HOUR
    effects = end_order(tracker, "completed", ended_at)
    (de_escalation,) = [n for n in notices(effects) if n.kind == "deEscalation"]
    assert (de_escalation.recipient, de_escalation.occurred_at) == ("order-manager", ended_at)
    assert de_escalation.body == {
        "level": 1,
        "state": "completed",
        "order": summary("completed", percent=100),
    }


# ---------------------------------------------------------------- notice bodies to contacts


def test_the_jeopardy_worsened_notice_body() -> None:
    """A worsening before the next level is due is told to the contact of the level
    reached, with the reasons as they now stand and the episode's start."""
    tracker = in_hazard()
    forecast = {"expectedCompletionDate": "2027-02-01T00:00:00Z"}
    tracker.handle("report_progress", forecast, HAZARD_SINCE + 11 * HOUR)
    at = HAZARD_SINCE + 12 * HOUR
    effects = tracker.advance(at)
    assert [(n.recipient, n.kind) for n in notices(effects)] == [
        (PROCESS, "changeRequest"),  # the forecast is past the agreed date: asked to agree
        ("order-manager", "jeopardyWorsened"),
    ]
    worsened = notices(effects)[1]
    assert (worsened.recipient_kind, worsened.occurred_at, worsened.subject) == (
        "contact",
        at,
        "Order PO-1001 in critical jeopardy: it got worse",
    )
    assert worsened.body == {
        "level": 1,
        "reasons": [
            "forecast 2027-02-01T00:00:00Z is later than the agreed date 2027-01-15T00:00:00Z",
            C1_HAZARD,
        ],
        "since": "2026-11-03T00:00:00Z",
        "order": summary("inProgress", "critical", 10, due="2027-02-01T00:00:00Z"),
    }
    assert tracker.order.jeopardy.last_escalated_at == at


def test_without_escalation_levels_a_worsening_goes_to_the_order_manager_at_level_0() -> None:
    tracker = start(milestones=[], trackingPolicy={"escalation": []})
    tracker.handle("report_progress", {"percentComplete": 10}, NOW)
    open_change(tracker, "c1")
    (worsened,) = notices(tracker.advance(HAZARD_SINCE))
    assert (worsened.recipient_kind, worsened.recipient, worsened.kind) == (
        "contact",
        "order-manager",
        "jeopardyWorsened",
    )
    assert worsened.body == {
        "level": 0,
        "reasons": [C1_HAZARD],
        "since": "2026-11-03T00:00:00Z",
        "order": summary("inProgress", "hazard", 10),
    }


def test_the_escalation_reminder_notice_body() -> None:
    """Once every level has fired, the top contact is reminded every
    escalationRepeatInterval (P1D) of the jeopardy as it stands."""
    tracker = in_hazard()
    tracker.advance(HAZARD_SINCE + DAY)
    level_3 = notices(tracker.advance(HAZARD_SINCE + 3 * DAY))
    assert [(n.recipient, n.kind) for n in level_3] == [("executive-sponsor", "escalation")]
    assert notices(tracker.advance(HAZARD_SINCE + 4 * DAY - HOUR)) == []
    at = HAZARD_SINCE + 4 * DAY
    (reminder,) = notices(tracker.advance(at))
    assert (reminder.recipient_kind, reminder.recipient, reminder.kind) == (
        "contact",
        "executive-sponsor",
        "escalationReminder",
    )
    assert (reminder.occurred_at, reminder.subject) == (
        at,
        "Order PO-1001 in hazard jeopardy: still unresolved",
    )
    assert reminder.body == {
        "level": 3,
        "reasons": [C1_HAZARD],
        "since": "2026-11-03T00:00:00Z",
        "order": summary("inProgress", "hazard", 10),
    }


SURVEY_DATE = datetime(2026, 12, 5, tzinfo=UTC)  # the contract example's survey milestone


def test_the_milestone_violated_notice_body() -> None:
    tracker = start()
    effects = tracker.advance(SURVEY_DATE)
    violated = [n for n in notices(effects) if n.kind == "milestoneViolated"]
    assert [(n.recipient_kind, n.recipient) for n in violated] == [
        ("party", "ACME"),
        ("contact", "order-manager"),
    ]
    text = "Milestone survey (Site survey) due 2026-12-05T00:00:00Z was not completed"
    for notice in violated:
        assert (notice.subject, notice.occurred_at) == (text, SURVEY_DATE)
        assert notice.body == {
            "milestoneId": "survey",
            "milestoneDate": "2026-12-05T00:00:00Z",
            "milestones": [{"milestoneId": "survey", "milestoneDate": "2026-12-05T00:00:00Z"}],
            "order": summary("acknowledged", "critical"),
        }


def test_the_milestone_violated_notice_body_lists_every_milestone_of_the_instant() -> None:
    tracker = start(
        milestones=[
            {"id": "survey", "name": "Site survey", "milestoneDate": "2026-12-05T00:00:00Z"},
            {"id": "permit", "milestoneDate": "2026-12-04T00:00:00Z"},
            {"id": "build", "milestoneDate": "2026-12-20T00:00:00Z"},
        ]
    )
    effects = tracker.advance(SURVEY_DATE)
    violated = [n for n in notices(effects) if n.kind == "milestoneViolated"]
    assert [(n.recipient_kind, n.recipient) for n in violated] == [
        ("party", "ACME"),
        ("contact", "order-manager"),
    ]
    for notice in violated:
        assert notice.subject == "2 milestones were not completed by their dates: survey, permit"
        assert notice.body == {
            "milestoneId": "survey",
            "milestoneDate": "2026-12-05T00:00:00Z",
            "milestones": [
                {"milestoneId": "survey", "milestoneDate": "2026-12-05T00:00:00Z"},
                {"milestoneId": "permit", "milestoneDate": "2026-12-04T00:00:00Z"},
            ],
            "order": summary("acknowledged", "critical"),
        }
