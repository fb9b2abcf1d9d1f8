"""Rules 5 (issue 22, the second review of the rules), each from the scenario that broke
rules 4: every test runs the scenario on both and shows where they part."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from workflows.domain.deadlines import deadlines
from workflows.domain.effects import Effect, ForwardChangeRequest, Notification, Notify
from workflows.domain.instants import iso
from workflows.domain.model import JeopardyStatus, MilestoneStatus, OrderState, PartyOrderSpec
from workflows.domain.rules import RULES_V4, RULES_V5
from workflows.domain.tracker import PartyOrderTracker

T0 = datetime(2027, 1, 4, 9, tzinfo=UTC)  # a Monday, 09:00
AGREED = T0 + timedelta(days=100)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
BOTH = pytest.mark.parametrize("rules", [RULES_V4, RULES_V5])


def order_input(**changes: Any) -> dict[str, Any]:
    """A quiet order (no behind-plan, no warning lead time, a monthly check-in), so that
    only the rule under test speaks."""
    policy: dict[str, Any] = {
        "checkInInterval": "P30D",
        "responseWindow": "P2D",
        "warningLeadTime": "PT0S",
        "behindPlanTolerance": 100,
    }
    policy.update(changes.pop("trackingPolicy", {}))
    policy = {name: value for name, value in policy.items() if value is not None}  # None: unset
    data: dict[str, Any] = {
        "id": "PO-R5",
        "party": {"id": "ACME", "name": "Acme Networks"},
        "originatingProcess": {"name": "service-order-handling", "reference": "SO-5"},
        "orderDate": iso(T0),
        "orderItems": [{"id": "1"}, {"id": "2"}, {"id": "3"}],
        "requestedCompletionDate": iso(AGREED),
        "trackingPolicy": policy,
    }
    data.update(changes)
    return data


def start(rules: int, **changes: Any) -> PartyOrderTracker:
    spec = PartyOrderSpec.model_validate(order_input(**changes))
    return PartyOrderTracker.start(spec, T0, rules_version=rules)


def send(
    tracker: PartyOrderTracker, name: str, payload: dict[str, Any], at: datetime
) -> list[Effect]:
    """A message at ``at`` and the wake-up after it, as the workflow does."""
    refused = tracker.order.rejected_message_count
    effects = tracker.handle(name, payload, at)
    assert tracker.order.rejected_message_count == refused, tracker.order.rejected_messages
    return effects + tracker.advance(at)


def notifications(effects: list[Effect]) -> list[Notification]:
    return [e.notification for e in effects if isinstance(e, Notify | ForwardChangeRequest)]


def change_requests_opened(effects: list[Effect]) -> list[str | None]:
    """The agreed date each change request opened by these effects asks for."""
    return [
        n.body["changeRequest"]["changes"].get("requestedCompletionDate")
        for n in notifications(effects)
        if n.kind == "changeRequest"
    ]


# ---------------------------------------------------------------- 3. a second slip


@BOTH
def test_a_slip_while_a_request_is_open_is_asked_once_that_request_is_closed(rules: int) -> None:
    tracker = start(rules)
    first, second = AGREED + 5 * DAY, AGREED + 10 * DAY
    effects = send(tracker, "report_progress", {"expectedCompletionDate": iso(first)}, T0 + DAY)
    assert change_requests_opened(effects) == [iso(first)]
    effects = send(
        tracker, "report_progress", {"expectedCompletionDate": iso(second)}, T0 + 2 * DAY
    )
    assert change_requests_opened(effects) == []  # one request for the agreed date at a time
    effects = send(
        tracker, "resolve_change", {"changeRequestId": "CR-1", "decision": "accepted"}, T0 + 3 * DAY
    )
    order = tracker.order
    assert order.requested_completion_date == first
    assert order.jeopardy.status == JeopardyStatus.CRITICAL  # the forecast is past it
    assert change_requests_opened(effects) == ([iso(second)] if rules == RULES_V5 else [])


def test_a_slip_to_the_date_an_open_request_asks_for_is_not_asked_again() -> None:
    tracker = start(RULES_V5)
    first = AGREED + 5 * DAY
    send(tracker, "report_progress", {"expectedCompletionDate": iso(first)}, T0 + DAY)
    send(
        tracker, "resolve_change", {"changeRequestId": "CR-1", "decision": "rejected"}, T0 + 2 * DAY
    )
    effects = tracker.advance(T0 + 3 * DAY)
    assert change_requests_opened(effects) == []
    assert len(tracker.order.change_requests) == 1


# ---------------------------------------------------------------- 4, 5, 8. open windows


@BOTH
def test_close_plan_check_ins_do_not_count_an_open_window_as_unanswered(rules: int) -> None:
    # Milestones a day apart, a check-in 3 days ahead of each, a 3-day window.
    tracker = start(
        rules,
        milestones=[
            {"id": "survey", "milestoneDate": iso(T0 + 10 * DAY)},
            {"id": "install", "milestoneDate": iso(T0 + 11 * DAY)},
        ],
        trackingPolicy={"checkInBeforeMilestone": "P3D", "responseWindow": "P3D"},
    )
    tracker.advance(T0 + 7 * DAY)
    second = tracker.advance(T0 + 8 * DAY)
    assert [n.kind for n in notifications(second)][:1] == ["checkIn"]
    check_ins = tracker.order.check_ins
    if rules == RULES_V4:
        assert check_ins.unanswered_streak == 1  # day 2 of a 3-day window
        return
    assert check_ins.unanswered_streak == 0
    assert check_ins.answer_by == T0 + 10 * DAY  # the first window stands
    tracker.advance(T0 + 10 * DAY)
    assert check_ins.unanswered_streak == 1  # counted when it ends


CALENDAR_PARTY = {"id": "ACME", "name": "Acme Networks", "calendar": {"timeZone": "UTC"}}


def test_rules_4_count_a_window_longer_than_the_interval_unanswered_before_it_ends() -> None:
    # P2D of working time is 48 working hours: six working days of 8 hours, which with a
    # weekend is more than the 7-day interval.
    tracker = start(
        RULES_V4,
        party=CALENDAR_PARTY,
        trackingPolicy={"checkInInterval": "P7D", "responseWindow": "P2D"},
    )
    tracker.handle("check_in_now", {}, T0)
    check_ins = tracker.order.check_ins
    assert check_ins.answer_by is not None and check_ins.next_at is not None
    assert check_ins.answer_by > check_ins.next_at
    tracker.advance(check_ins.next_at)
    assert (check_ins.sent, check_ins.unanswered_streak) == (2, 1)


@BOTH
def test_with_a_calendar_a_windows_days_are_working_days(rules: int) -> None:
    tracker = start(
        rules,
        party=CALENDAR_PARTY,
        trackingPolicy={"checkInInterval": "P7D", "responseWindow": "P2D"},
    )
    tracker.handle("check_in_now", {}, T0)  # Monday 09:00
    check_ins = tracker.order.check_ins
    assert check_ins.answer_by is not None and check_ins.next_at is not None
    if rules == RULES_V4:
        assert check_ins.answer_by == T0 + 7 * DAY + 8 * HOUR  # 48 working hours
        return
    assert check_ins.answer_by == T0 + DAY + 8 * HOUR  # two working days: Tuesday 17:00
    assert check_ins.answer_by < check_ins.next_at
    tracker.advance(check_ins.answer_by)
    assert check_ins.unanswered_streak == 1


def test_a_window_longer_than_the_interval_in_working_time_is_refused_naming_both() -> None:
    with pytest.raises(ValueError) as refused:
        start(
            RULES_V5,
            party=CALENDAR_PARTY,
            trackingPolicy={"checkInInterval": "P7D", "responseWindow": "P6D"},
        )
    assert str(refused.value).startswith(
        "trackingPolicy.responseWindow: P6D is PT48H of the party's working time, longer"
        " than the working time in one checkInInterval (P7D holds PT40H)"
    )
    # Five working days fit in a week.
    start(
        RULES_V5,
        party=CALENDAR_PARTY,
        trackingPolicy={"checkInInterval": "P7D", "responseWindow": "P5D"},
    )


@BOTH
def test_check_in_now_while_paused_leaves_the_unanswered_count_still(rules: int) -> None:
    tracker = start(rules, trackingPolicy={"pauseWhile": ["held"]})
    tracker.handle("change_state", {"state": "inProgress"}, T0)
    tracker.handle("change_state", {"state": "held", "reason": "site access"}, T0 + HOUR)
    for hours in (2, 3, 4):
        tracker.handle("check_in_now", {"requestedBy": "ops"}, T0 + hours * HOUR)
        tracker.advance(T0 + hours * HOUR)
    order = tracker.order
    assert order.check_ins.sent == 3
    if rules == RULES_V4:
        assert order.check_ins.unanswered_streak == 2
        assert order.jeopardy.status == JeopardyStatus.CRITICAL
    else:
        assert order.check_ins.unanswered_streak == 0
        assert order.jeopardy.status == JeopardyStatus.NONE


def test_daily_manual_check_ins_still_flag_a_silent_party_as_each_window_ends() -> None:
    tracker = start(RULES_V5)
    for day in range(1, 4):
        tracker.handle("check_in_now", {"requestedBy": "ops"}, T0 + day * DAY)
        tracker.advance(T0 + day * DAY)
    order = tracker.order
    assert order.check_ins.unanswered_streak == 1  # the window of day 1 ended on day 3
    tracker.advance(T0 + 5 * DAY)  # and the one opened on day 3 on day 5
    assert order.check_ins.unanswered_streak == 2
    assert "checkInsUnanswered" in order.jeopardy.critical_causes


# ---------------------------------------------------------------- 6. no cancellation by report


@BOTH
def test_a_party_cannot_cancel_the_order_by_reporting_every_item_cancelled(rules: int) -> None:
    tracker = start(rules)
    tracker.handle(
        "report_progress",
        {"orderItems": [{"id": n, "state": "cancelled"} for n in ("1", "2", "3")]},
        T0 + DAY,
    )
    order = tracker.order
    if rules == RULES_V4:
        assert order.state == OrderState.PENDING_CANCELLATION
        return
    assert order.state == OrderState.ACKNOWLEDGED
    assert order.rejected_message_count == 1
    reason = order.rejected_messages[-1].error
    assert "cannot cancel order item '1'" in reason and "request_change" in reason


def test_a_party_may_still_report_an_item_failed_and_ask_for_a_cancellation() -> None:
    tracker = start(RULES_V5)
    send(tracker, "report_progress", {"orderItems": [{"id": "1", "state": "failed"}]}, T0 + DAY)
    send(
        tracker,
        "request_change",
        {"requestId": "drop-2", "changes": {"orderItems": [{"id": "2", "state": "cancelled"}]}},
        T0 + DAY,
    )
    send(
        tracker,
        "resolve_change",
        {"changeRequestId": "drop-2", "decision": "accepted"},
        T0 + 2 * DAY,
    )
    states = {item.id: item.state for item in tracker.order.order_items}
    assert (states["1"], states["2"]) == ("failed", "cancelled")


# ---------------------------------------------------------------- 7. cancelled work


@BOTH
def test_the_milestone_of_cancelled_work_is_not_violated(rules: int) -> None:
    survey = T0 + 10 * DAY
    tracker = start(
        rules, milestones=[{"id": "survey", "milestoneDate": iso(survey), "orderItemIds": ["2"]}]
    )
    send(
        tracker,
        "request_change",
        {"requestId": "drop-2", "changes": {"orderItems": [{"id": "2", "state": "cancelled"}]}},
        T0 + DAY,
    )
    send(tracker, "resolve_change", {"changeRequestId": "drop-2", "decision": "accepted"}, T0 + DAY)
    effects = tracker.advance(survey)
    order = tracker.order
    kinds = [n.kind for n in notifications(effects)]
    if rules == RULES_V4:
        assert order.milestones[0].status == MilestoneStatus.VIOLATED
        assert order.jeopardy.status == JeopardyStatus.CRITICAL
        return
    assert order.milestones[0].status == MilestoneStatus.YET_TO_REACH
    assert order.jeopardy.status == JeopardyStatus.NONE
    assert "milestoneViolated" not in kinds and "escalation" not in kinds


# ---------------------------------------------------------------- 10. item forecasts


@BOTH
def test_an_item_forecast_past_the_agreed_date_rolls_up_and_asks_the_process(rules: int) -> None:
    tracker = start(rules)
    late = AGREED + 7 * DAY
    effects = send(
        tracker,
        "report_progress",
        {"orderItems": [{"id": "2", "expectedCompletionDate": iso(late)}]},
        T0 + DAY,
    )
    order = tracker.order
    assert order.jeopardy.status == JeopardyStatus.CRITICAL
    if rules == RULES_V4:
        assert order.expected_completion_date is None
        assert change_requests_opened(effects) == []
        return
    assert order.expected_completion_date == late
    assert change_requests_opened(effects) == [iso(late)]
    # back within the agreed date: the order's forecast follows its items
    send(
        tracker,
        "report_progress",
        {"orderItems": [{"id": "2", "expectedCompletionDate": iso(AGREED - DAY)}]},
        T0 + 2 * DAY,
    )
    assert order.expected_completion_date == AGREED - DAY


@BOTH
def test_an_item_whose_own_forecast_has_passed_is_in_jeopardy(rules: int) -> None:
    tracker = start(rules)
    soon = T0 + 10 * DAY
    send(
        tracker,
        "report_progress",
        {"orderItems": [{"id": "1", "expectedCompletionDate": iso(soon)}]},
        T0 + DAY,
    )
    deadline = tracker.next_due(T0 + DAY)
    assert deadline is not None
    if rules == RULES_V5:
        assert deadline.at == soon
    tracker.advance(soon)
    jeopardy = tracker.order.jeopardy
    if rules == RULES_V4:
        assert "itemForecastPassed:1" not in jeopardy.critical_causes
        return
    assert jeopardy.status == JeopardyStatus.CRITICAL
    assert "itemForecastPassed:1" in jeopardy.critical_causes
    assert tracker.order.jeopardy_alerts[-1].to_json_dict()["orderItem"] == [{"id": "1"}]


# ---------------------------------------------------------------- strict wire types (issue 23)


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"delivered": "yes"}, "delivered: should be a valid boolean (received 'yes')"),
        ({"percentComplete": True}, "percentComplete: should be a valid integer (received true)"),
        ({"percentComplete": "50"}, "percentComplete: should be a valid integer (received '50')"),
        ({"percentComplete": 50.0}, "percentComplete: should be a valid integer (received 50.0)"),
        (
            {"expectedCompletionDate": 1900000000},
            "expectedCompletionDate: should be a valid datetime (received 1900000000)",
        ),
        (
            {"orderItems": [{"id": "1", "percentComplete": "20"}]},
            "orderItems.0.percentComplete: should be a valid integer (received '20')",
        ),
    ],
)
@BOTH
def test_nothing_on_the_wire_is_coerced(rules: int, payload: dict[str, Any], error: str) -> None:
    tracker = start(rules)
    tracker.handle("report_progress", payload, T0 + DAY)
    order = tracker.order
    if rules == RULES_V4:
        assert order.rejected_message_count == 0  # taken, coerced
        return
    assert order.rejected_message_count == 1
    assert order.rejected_messages[-1].error.startswith(error)
    assert order.state == OrderState.ACKNOWLEDGED


@pytest.mark.parametrize(
    ("field", "value"),
    [("checkInInterval", 604800), ("responseWindow", 2.5), ("quantity", "1")],
)
@BOTH
def test_a_start_input_is_read_strictly_on_rules_5(rules: int, field: str, value: Any) -> None:
    from workflows.domain.wire import from_wire

    data = order_input(trackingPolicy={"checkInInterval": "P7D", "responseWindow": "PT1H"})
    if field == "quantity":
        data["orderItems"][0]["quantity"] = value
    else:
        data["trackingPolicy"][field] = value
    strict = rules == RULES_V5
    if not strict:
        from_wire(PartyOrderSpec, data, strict=False)  # taken, coerced
        return
    with pytest.raises(ValueError) as refused:
        from_wire(PartyOrderSpec, data, strict=True)
    assert field in str(refused.value)


@BOTH
def test_a_forecast_in_the_past_is_refused_naming_the_field(rules: int) -> None:
    tracker = start(rules)
    at = T0 + DAY
    tracker.handle("report_progress", {"expectedCompletionDate": "1900-01-01T00:00:00Z"}, at)
    tracker.handle(
        "report_progress",
        {"orderItems": [{"id": "2", "expectedCompletionDate": iso(at - HOUR)}]},
        at,
    )
    order = tracker.order
    if rules == RULES_V4:
        assert order.rejected_message_count == 0
        return
    assert [m.error for m in order.rejected_messages] == [
        f"expectedCompletionDate: 1900-01-01T00:00:00Z is in the past; a forecast lies after"
        f" {iso(at)}",
        f"orderItems.0.expectedCompletionDate: {iso(at - HOUR)} is in the past; a forecast"
        f" lies after {iso(at)}",
    ]
    assert order.expected_completion_date is None


# ---------------------------------------------------------------- a mixed report (issue 23)


@BOTH
def test_a_report_mixing_the_orders_percent_and_items_drops_nothing(rules: int) -> None:
    tracker = start(rules)
    send(tracker, "report_progress", {"percentComplete": 60}, T0 + DAY)
    send(
        tracker,
        "report_progress",
        {"percentComplete": 70, "orderItems": [{"id": "2", "percentComplete": 30}]},
        T0 + 2 * DAY,
    )
    order = tracker.order
    assert order.percent_complete == 10  # the items' roll-up: (0 + 30 + 0) / 3
    texts = [note.text for note in order.notes]
    kept = [text for text in texts if "70%" in text]
    if rules == RULES_V4:
        assert kept == []  # the 70 is gone without a trace
        return
    assert kept == [
        "Reported 70% complete for the order as a whole; the order's percent comes from its"
        " items: 10%"
    ]


def test_a_payload_json_has_no_type_for_is_refused_not_raised() -> None:
    tracker = start(RULES_V5)
    tracker.handle("report_progress", b"\xff\x00not json", T0)
    tracker.handle("report_progress", {"note": b"bytes"}, T0)
    errors = [m.error for m in tracker.order.rejected_messages]
    assert len(errors) == 2
    assert errors[1].startswith("note: should be a valid string")


# ---------------------------------------------------------------- 12, 17: acknowledgements, flaps


LEVEL_1 = {"level": 1, "after": "PT0S", "notify": "order-manager"}
LEVEL_2 = {"level": 2, "after": "PT1H", "notify": "operations-lead"}


def late_forecast(tracker: PartyOrderTracker, days: int, at: datetime) -> list[Effect]:
    return send(
        tracker, "report_progress", {"expectedCompletionDate": iso(AGREED + days * DAY)}, at
    )


@BOTH
def test_a_rejected_date_is_not_asked_again_when_the_forecast_flaps_back(rules: int) -> None:
    tracker = start(rules)
    assert change_requests_opened(late_forecast(tracker, 5, T0 + DAY)) == [iso(AGREED + 5 * DAY)]
    send(tracker, "resolve_change", {"changeRequestId": "CR-1", "decision": "rejected"}, T0 + DAY)
    late_forecast(tracker, -1, T0 + 2 * DAY)  # back within the agreed date
    asked = change_requests_opened(late_forecast(tracker, 5, T0 + 3 * DAY))  # and late again
    assert asked == ([iso(AGREED + 5 * DAY)] if rules == RULES_V4 else [])
    assert tracker.order.jeopardy.status == JeopardyStatus.CRITICAL


@BOTH
def test_a_worsening_in_the_same_instant_as_the_acknowledgement_is_not_hidden(rules: int) -> None:
    tracker = start(rules, trackingPolicy={"escalation": [LEVEL_1]})
    late_forecast(tracker, 5, T0 + DAY)  # critical, level 1 at once
    at = T0 + 2 * DAY
    # In one workflow task: the acknowledgement, then a report that worsens the order.
    tracker.handle("acknowledge_escalation", {"requestId": "a1", "level": 1}, at)
    send(
        tracker,
        "report_progress",
        {"orderItems": [{"id": "1", "expectedCompletionDate": iso(AGREED + 9 * DAY)}]},
        at,
    )
    jeopardy = tracker.order.jeopardy
    assert jeopardy.worsened_at == at and jeopardy.acknowledged_at == at
    due = [d.what for d in deadlines(tracker.order, tracker.tracked_by)]
    assert ("remind the top escalation contact" in due) == (rules == RULES_V5)


@BOTH
def test_acknowledging_a_lower_level_than_the_current_one(rules: int) -> None:
    tracker = start(
        rules,
        trackingPolicy={"escalation": [LEVEL_1, LEVEL_2]},
    )
    late_forecast(tracker, 5, T0 + DAY)
    tracker.advance(T0 + DAY + HOUR)
    assert tracker.order.jeopardy.escalation_level == 2
    if rules == RULES_V4:
        tracker.validate_update("acknowledge_escalation", {"requestId": "a1", "level": 1})
        return
    with pytest.raises(ValueError) as refused:
        tracker.validate_update("acknowledge_escalation", {"requestId": "a1", "level": 1})
    assert str(refused.value) == (
        "level: 1 is below the current level; the escalation is at level 2, acknowledge that"
    )


@BOTH
def test_critical_to_hazard_leaves_a_hazard_alert(rules: int) -> None:
    # Within the warning lead time from the start: hazard, unless critical.
    tracker = start(rules, trackingPolicy={"warningLeadTime": "P200D"})
    late_forecast(tracker, 5, T0 + DAY)  # critical
    effects = late_forecast(tracker, -1, T0 + 4 * DAY)  # back within the agreed date
    order = tracker.order
    assert order.jeopardy.status == JeopardyStatus.HAZARD
    assert "jeopardyWorsened" not in [n.kind for n in notifications(effects)]
    newest = order.jeopardy_alerts[-1].jeopardy_type
    assert newest == ("critical" if rules == RULES_V4 else "hazard")


@BOTH
def test_a_stale_automatic_request_is_withdrawn_once_the_forecast_is_back(rules: int) -> None:
    tracker = start(rules)
    late_forecast(tracker, 5, T0 + DAY)  # CR-1 asks the process
    effects = late_forecast(tracker, -1, T0 + 4 * DAY)  # back within the agreed date
    change = tracker.order.change_requests[0]
    if rules == RULES_V4:
        assert change.open
        assert tracker.order.jeopardy.status == JeopardyStatus.HAZARD  # unresolved CR-1
        return
    assert (change.status, change.note) == (
        "withdrawn",
        "withdrawn: the forecast is back within the agreed date",
    )
    told = [n for n in notifications(effects) if n.kind == "changeWithdrawn"]
    assert [n.recipient_kind for n in told] == ["originatingProcess"]
    assert tracker.order.jeopardy.status == JeopardyStatus.NONE


@BOTH
def test_an_order_cancelled_in_jeopardy_closes_it_rather_than_clearing_it(rules: int) -> None:
    tracker = start(rules, trackingPolicy={"escalation": [LEVEL_1]})
    late_forecast(tracker, 5, T0 + DAY)  # critical, level 1 told
    at = T0 + 2 * DAY
    tracker.handle("cancel_order", {"reason": "no longer needed"}, at)
    effects = tracker.finish_cancellation(at)
    order = tracker.order
    assert order.state == OrderState.CANCELLED
    alert = order.jeopardy_alerts[-1]
    texts = [n.subject for n in notifications(effects) if n.kind == "deEscalation"]
    if rules == RULES_V4:
        assert alert.jeopardy_type == "cleared"
        return
    assert (alert.jeopardy_type, alert.message) == (
        "closed",
        "Order PO-R5 ended cancelled while in critical jeopardy",
    )
    assert texts == [
        "Order PO-R5 ended cancelled while in critical jeopardy: the jeopardy is closed"
    ]
    assert order.jeopardy.status == JeopardyStatus.NONE


@BOTH
def test_a_plan_check_in_leaves_the_periodic_rhythm_where_it_was(rules: int) -> None:
    tracker = start(rules, checkpoints=[{"id": "kickoff", "date": iso(T0 + 3 * DAY)}])
    assert tracker.order.check_ins.next_at == T0 + 30 * DAY
    effects = tracker.advance(T0 + 3 * DAY)
    assert [n.kind for n in notifications(effects)] == ["checkIn"]
    expected = T0 + 33 * DAY if rules == RULES_V4 else T0 + 30 * DAY
    assert tracker.order.check_ins.next_at == expected


@BOTH
def test_an_answer_after_the_window_is_not_scored_as_on_time(rules: int) -> None:
    tracker = start(rules)
    tracker.handle("check_in_now", {}, T0)
    answer_at = T0 + 3 * DAY  # the window (P2D) ended a day before
    now = T0
    while (due := tracker.next_due(now)) is not None and due.at < answer_at:
        now = due.at
        tracker.advance(now)  # the workflow wakes at each deadline
    send(tracker, "report_progress", {"percentComplete": 10}, answer_at)
    check_ins = tracker.order.check_ins
    assert check_ins.answered == (1 if rules == RULES_V4 else 0)
    assert check_ins.response_seconds == ([3 * 86_400] if rules == RULES_V4 else [])


@BOTH
def test_an_order_without_escalation_levels_is_not_reminded_for_ever(rules: int) -> None:
    tracker = start(rules, trackingPolicy={"escalation": []})
    effects = late_forecast(tracker, 5, T0 + DAY)
    told = [(n.recipient, n.kind) for n in notifications(effects) if n.recipient_kind == "contact"]
    assert told == [("order-manager", "jeopardyWorsened")]
    due = [d.what for d in deadlines(tracker.order, tracker.tracked_by)]
    assert ("remind the top escalation contact" in due) == (rules == RULES_V4)


@BOTH
def test_check_in_now_outside_working_time_says_why_it_goes_out_now(rules: int) -> None:
    tracker = start(rules, party=CALENDAR_PARTY)
    saturday_night = T0 + 5 * DAY + 14 * HOUR + 30 * timedelta(minutes=1)  # Sat 23:30
    effects = tracker.handle("check_in_now", {"requestedBy": "ops"}, saturday_night)
    (notice,) = notifications(effects)
    if rules == RULES_V4:
        assert notice.body["requestedBy"] == "ops"
        return
    assert notice.body["requestedBy"] == (
        "ops (asked outside the party's working time; its working time resumes at"
        f" {iso(T0 + 7 * DAY)})"
    )
    monday = tracker.handle("check_in_now", {"requestedBy": "ops"}, T0 + 7 * DAY + HOUR)
    assert notifications(monday)[0].body["requestedBy"] == "ops"
