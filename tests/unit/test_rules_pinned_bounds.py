"""Bounds of the tracker pinned on both sides, and rules the older rules versions keep.

Each bound is tested AT its value (accepted) and ONE PAST it (refused with the exact
reason), so that moving a bound by one, or turning ``>`` into ``>=``, fails a test. The
values are those of docs/contract.md, "Bounds". The older rules (1 to 3) still run: orders that
started under them replay by them and keep them until their next continue-as-new, so what
they decide is pinned too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from starter.samples import CONTRACT_EXAMPLE, load_sample
from workflows.domain.deadlines import Deadline, next_due
from workflows.domain.effects import Effect, ForwardChangeRequest, Notification, Notify
from workflows.domain.messages import describe_validation_error
from workflows.domain.model import MilestoneStatus, OrderItem, OrderState, PartyOrderSpec
from workflows.domain.rules import (
    CURRENT_RULES,
    RULES_V1,
    RULES_V2,
    RULES_V3,
    RULES_V4,
    rules_of,
)
from workflows.domain.tracker import PartyOrderTracker, TrackerState

NOW = datetime(2026, 11, 1, tzinfo=UTC)
SECOND = timedelta(seconds=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
SURVEY_DATE = datetime(2026, 12, 5, tzinfo=UTC)  # the contract example's survey milestone

# The bounds as docs/contract.md states them ("Bounds"): written out, not imported, so that a bound
# moved in the code is caught here.
ORDER_ITEMS_AT_MOST = 200
ITEMS_PER_CHANGE_AT_MOST = 50
ITEM_CHARS_AT_MOST = 2_000
CHANGE_REQUESTS_AT_MOST = 200
MILESTONES_AT_MOST = 200
CHECKPOINTS_AT_MOST = 200
START_INPUT_CHARS_AT_MOST = 200_000
ORDER_CHARS_AT_MOST = 400_000
# The records left out of the order's size (they keep only their newest entries).
RECORDS = {"jeopardy_alerts", "state_history", "rejected_messages", "delivery_failures", "notes"}


def order_data(**changes: Any) -> dict[str, Any]:
    """The contract's PO-1001, behind-plan off (tolerance 100)."""
    data: dict[str, Any] = load_sample(CONTRACT_EXAMPLE, NOW)
    data["trackingPolicy"]["behindPlanTolerance"] = 100
    data.update(changes)
    return data


def start(rules: int = CURRENT_RULES, **changes: Any) -> PartyOrderTracker:
    spec = PartyOrderSpec.model_validate(order_data(**changes))
    return PartyOrderTracker.start(spec, NOW, rules_version=rules)


def carried_over(tracker: PartyOrderTracker) -> PartyOrderTracker:
    """The tracker as the next run gets it from continue-as-new (its state as JSON)."""
    return PartyOrderTracker(TrackerState.model_validate_json(tracker.state.model_dump_json()))


def notifications(effects: list[Effect]) -> list[Notification]:
    return [e.notification for e in effects if isinstance(e, Notify | ForwardChangeRequest)]


def refusals(tracker: PartyOrderTracker) -> list[str]:
    return [r.error for r in tracker.order.rejected_messages]


def items(count: int, first: int = 0) -> list[dict[str, Any]]:
    return [{"id": f"item-{n}"} for n in range(first, first + count)]


def change(
    tracker: PartyOrderTracker, request_id: str, changes: dict[str, Any], at: datetime = NOW
) -> list[Effect]:
    """A change request, then its acceptance by the originating process."""
    tracker.handle("request_change", {"requestId": request_id, "changes": changes}, at)
    return tracker.handle(
        "resolve_change", {"changeRequestId": request_id, "decision": "accepted"}, at
    )


def order_size(tracker: PartyOrderTracker) -> int:
    return len(tracker.order.model_dump_json(exclude=RECORDS))


# ---------------------------------------------------------------- the number of order items


def test_a_start_input_takes_200_order_items_and_refuses_201() -> None:
    at_bound = order_data(orderItems=items(ORDER_ITEMS_AT_MOST))
    tracker = PartyOrderTracker.start(
        PartyOrderSpec.model_validate(at_bound), NOW, rules_version=CURRENT_RULES
    )
    assert len(tracker.order.order_items) == ORDER_ITEMS_AT_MOST

    one_past = order_data(orderItems=items(ORDER_ITEMS_AT_MOST + 1))
    with pytest.raises(ValidationError) as raised:
        PartyOrderSpec.model_validate(one_past)
    assert describe_validation_error(raised.value) == (
        "orderItems: 201 entries received, at most 200 allowed"
    )


def test_a_change_takes_50_order_items_and_refuses_51() -> None:
    tracker = start()
    change(tracker, "fifty", {"orderItems": items(ITEMS_PER_CHANGE_AT_MOST)})
    assert refusals(tracker) == []
    assert len(tracker.order.order_items) == 1 + ITEMS_PER_CHANGE_AT_MOST

    tracker.handle(
        "request_change",
        {"requestId": "fifty-one", "changes": {"orderItems": items(51, first=100)}},
        NOW,
    )
    assert refusals(tracker) == ["changes.orderItems: 51 entries received, at most 50 allowed"]
    assert tracker.order.change_request("fifty-one") is None


def test_a_change_that_brings_the_order_to_200_items_is_applied() -> None:
    # 1 item in the contract's order, 149 more at start: 50 more make exactly 200.
    tracker = start(orderItems=[{"id": "1"}, *items(149)])
    change(tracker, "to-200", {"orderItems": items(50, first=1_000)})
    assert refusals(tracker) == []
    assert len(tracker.order.order_items) == ORDER_ITEMS_AT_MOST
    accepted = tracker.order.change_request("to-200")
    assert accepted is not None and accepted.status == "accepted"


def test_a_change_that_brings_the_order_to_201_items_is_refused_and_changes_nothing() -> None:
    tracker = start(orderItems=[{"id": "1"}, *items(150)])
    change(tracker, "to-201", {"orderItems": items(50, first=1_000)})
    assert refusals(tracker) == [
        "changes.orderItems: the order would have 201 items; at most 200 are allowed"
    ]
    assert len(tracker.order.order_items) == 151
    refused = tracker.order.change_request("to-201")
    assert refused is not None and refused.status == "received"  # still open


def test_a_progress_report_names_at_most_200_order_items() -> None:
    tracker = start(orderItems=items(ORDER_ITEMS_AT_MOST))
    report = [{"id": f"item-{n}", "percentComplete": 10} for n in range(ORDER_ITEMS_AT_MOST)]
    tracker.handle("report_progress", {"orderItems": report}, NOW)
    assert refusals(tracker) == []
    assert tracker.order.percent_complete == 10

    tracker.handle("report_progress", {"orderItems": [*report, {"id": "item-0"}]}, NOW)
    assert refusals(tracker) == ["orderItems: 201 entries received, at most 200 allowed"]


# ---------------------------------------------------------------- an order item's size


def item_of(chars: int) -> dict[str, Any]:
    """An order item whose JSON is exactly ``chars`` characters long."""
    empty = len(OrderItem(id="9", description="").model_dump_json())
    return {"id": "9", "description": "d" * (chars - empty)}


def test_an_order_item_of_2000_characters_is_taken_and_one_of_2001_refused() -> None:
    assert len(OrderItem.model_validate(item_of(ITEM_CHARS_AT_MOST)).model_dump_json()) == 2_000
    tracker = start()
    change(tracker, "at-bound", {"orderItems": [item_of(ITEM_CHARS_AT_MOST)]})
    assert refusals(tracker) == []
    assert tracker.order.order_item("9") is not None

    tracker.handle(
        "request_change",
        {"requestId": "past", "changes": {"orderItems": [item_of(ITEM_CHARS_AT_MOST + 1)]}},
        NOW,
    )
    assert refusals(tracker) == [
        "changes.orderItems.0: order item 9 is 2001 characters of JSON; at most 2000 are allowed"
    ]


# ---------------------------------------------------------------- the start input's size


def start_input_of(chars: int) -> PartyOrderSpec:
    """A start input whose JSON is exactly ``chars`` characters long: milestones with long
    descriptions fill it, the order's description makes up the rest."""
    data = order_data(milestones=[], description="x")
    while True:
        size = len(PartyOrderSpec.model_validate(data).model_dump_json())
        missing = chars - size
        if missing < 3_000:  # the description (at most 4,000) makes up the rest
            break
        # Filled to within about 1,000 characters, never past the size wanted.
        filler = "m" * min(4_000, missing - 1_000)
        data["milestones"].append({"id": f"m{len(data['milestones'])}", "description": filler})
    data["description"] = "x" * (1 + missing)
    spec = PartyOrderSpec.model_validate(data)
    assert len(spec.model_dump_json()) == chars
    return spec


def test_a_start_input_of_200000_characters_is_taken_and_one_of_200001_refused() -> None:
    tracker = PartyOrderTracker.start(
        start_input_of(START_INPUT_CHARS_AT_MOST), NOW, rules_version=CURRENT_RULES
    )
    assert tracker.order.state == OrderState.ACKNOWLEDGED

    with pytest.raises(ValueError) as raised:
        PartyOrderTracker.start(
            start_input_of(START_INPUT_CHARS_AT_MOST + 1), NOW, rules_version=CURRENT_RULES
        )
    assert str(raised.value) == (
        "the order is 200001 characters of JSON; at most 200000 are accepted"
    )


# ---------------------------------------------------------------- the order's size


def order_one_request_short_of(limit: int) -> tuple[PartyOrderTracker, int]:
    """An order that a change request with a reason of the returned length brings to
    exactly ``limit`` characters (requests with long reasons fill it first)."""
    tracker = start()
    number = 0
    while True:
        probe = carried_over(tracker)
        probe.handle(
            "request_change", {"reason": "r", "changes": {"orderItems": [{"id": "1"}]}}, NOW
        )
        missing = limit - order_size(probe)
        # A reason may be 4,000 characters: the last request's, one more, must fit too.
        if missing < 3_000:
            assert missing >= 0
            return tracker, 1 + missing
        tracker.handle(
            "request_change",
            {
                "requestId": f"fill-{number}",
                # Filled to within about 1,000 characters, never past the limit.
                "reason": "f" * min(4_000, missing - 1_000),
                "changes": {"orderItems": [{"id": "1"}]},
            },
            NOW,
        )
        number += 1


def test_an_order_of_400000_characters_is_kept_and_one_of_400001_refused() -> None:
    tracker, reason_chars = order_one_request_short_of(ORDER_CHARS_AT_MOST)
    assert refusals(tracker) == []
    at_bound, one_past = carried_over(tracker), carried_over(tracker)

    request = {"changes": {"orderItems": [{"id": "1"}]}}
    effects = at_bound.handle("request_change", {**request, "reason": "r" * reason_chars}, NOW)
    assert [n.kind for n in notifications(effects)] == ["changeRequest"]
    assert refusals(at_bound) == []
    assert order_size(at_bound) == ORDER_CHARS_AT_MOST

    count = len(one_past.order.change_requests)
    effects = one_past.handle(
        "request_change", {**request, "reason": "r" * (reason_chars + 1)}, NOW
    )
    assert effects == []
    assert refusals(one_past) == [
        "the order would be 400001 characters of JSON; at most 400000 are kept"
        " (change requests and items are bounded together)"
    ]
    assert len(one_past.order.change_requests) == count  # left exactly as it was


def _hundred_milestones_added(reason: str) -> dict[str, Any]:
    date = SURVEY_DATE.isoformat()
    added = [{"id": f"new-{n}", "milestoneDate": date, "action": "add"} for n in range(100)]
    return {"requestId": "plan", "reason": reason, "changes": {"milestones": added}}


def _plan_change_short_of(limit: int) -> tuple[PartyOrderTracker, int]:
    """An order, and the reason length for which requesting, then accepting, the addition
    of 100 milestones brings it (after continue-as-new) to exactly ``limit`` characters."""
    tracker = start()
    number = 0
    while True:
        probe = carried_over(tracker)
        probe.handle("request_change", _hundred_milestones_added("r"), NOW)
        probe.handle("resolve_change", {"changeRequestId": "plan", "decision": "accepted"}, NOW)
        assert refusals(probe) == []
        missing = limit - order_size(probe)
        if missing < 3_000:
            assert missing >= 0
            return tracker, 1 + missing
        tracker.handle(
            "request_change",
            {
                "requestId": f"fill-{number}",
                "reason": "f" * min(4_000, missing - 1_000),
                "changes": {"orderItems": [{"id": "1"}]},
            },
            NOW,
        )
        number += 1


def test_milestones_added_past_the_order_size_are_refused_and_change_nothing() -> None:
    """An added milestone is kept with its status and empty fields: what it adds is more
    than what the change names, and the order's size bound counts what is kept."""
    tracker, reason_chars = _plan_change_short_of(ORDER_CHARS_AT_MOST + 1)
    run = carried_over(tracker)
    run.handle("request_change", _hundred_milestones_added("r" * reason_chars), NOW)
    assert refusals(run) == []
    milestones = len(run.order.milestones)

    effects = run.handle("resolve_change", {"changeRequestId": "plan", "decision": "accepted"}, NOW)
    assert effects == []
    [refusal] = refusals(run)
    assert refusal.startswith("the order would be ")
    assert refusal.endswith(
        " characters of JSON; at most 400000 are kept"
        " (change requests and items are bounded together)"
    )
    assert len(run.order.milestones) == milestones
    assert run.order.milestone("new-0") is None
    plan = run.order.change_request("plan")
    assert plan is not None and plan.status == "received"  # still open
    assert order_size(run) <= ORDER_CHARS_AT_MOST


# ---------------------------------------------------------------- change requests


def with_change_requests(count: int) -> PartyOrderTracker:
    tracker = start()
    for number in range(count):
        tracker.handle(
            "request_change",
            {"requestId": f"cr-{number}", "changes": {"orderItems": [{"id": "1"}]}},
            NOW,
        )
    assert len(tracker.order.change_requests) == count
    return tracker


def test_the_200th_change_request_is_forwarded_and_the_201st_refused() -> None:
    tracker = with_change_requests(CHANGE_REQUESTS_AT_MOST - 1)
    effects = tracker.handle("request_change", {"changes": {"orderItems": [{"id": "1"}]}}, NOW)
    assert [n.kind for n in notifications(effects)] == ["changeRequest"]
    assert len(tracker.order.change_requests) == CHANGE_REQUESTS_AT_MOST
    assert refusals(tracker) == []

    effects = tracker.handle("request_change", {"changes": {"orderItems": [{"id": "1"}]}}, NOW)
    assert effects == []
    assert refusals(tracker) == [
        "changeRequests: order PO-1001 has 200 change requests; at most 200 are allowed"
    ]
    assert len(tracker.order.change_requests) == CHANGE_REQUESTS_AT_MOST


def _forecast_past_the_agreed_date(tracker: PartyOrderTracker) -> list[Effect]:
    late = "2027-02-01T00:00:00Z"  # the agreed date is 2027-01-15
    return tracker.handle(
        "report_progress", {"expectedCompletionDate": late}, NOW + HOUR
    ) + tracker.advance(NOW + HOUR)


def test_a_forecast_past_the_agreed_date_opens_the_200th_change_request() -> None:
    tracker = with_change_requests(CHANGE_REQUESTS_AT_MOST - 1)
    effects = _forecast_past_the_agreed_date(tracker)
    forwards = [e for e in effects if isinstance(e, ForwardChangeRequest)]
    assert [f.change_request_id for f in forwards] == ["CR-200"]
    opened = tracker.order.change_requests[-1]
    assert opened.changes.requested_completion_date == datetime(2027, 2, 1, tzinfo=UTC)


def test_with_200_change_requests_a_late_forecast_opens_none_and_refuses_nothing() -> None:
    """Nothing more can be asked: the order stays critical, and no wake-up fails."""
    tracker = with_change_requests(CHANGE_REQUESTS_AT_MOST)
    effects = _forecast_past_the_agreed_date(tracker)
    assert [e for e in effects if isinstance(e, ForwardChangeRequest)] == []
    assert len(tracker.order.change_requests) == CHANGE_REQUESTS_AT_MOST
    assert refusals(tracker) == []
    assert tracker.order.jeopardy.status == "critical"


# ---------------------------------------------------------------- milestones and checkpoints


def with_milestones(count: int) -> PartyOrderTracker:
    return start(milestones=[{"id": f"m{n}"} for n in range(count)])


def with_checkpoints(count: int) -> PartyOrderTracker:
    date = (SURVEY_DATE + DAY).isoformat()
    return start(checkpoints=[{"id": f"c{n}", "date": date} for n in range(count)])


def test_a_change_that_brings_the_plan_to_200_milestones_is_applied() -> None:
    tracker = with_milestones(MILESTONES_AT_MOST - 1)
    date = SURVEY_DATE.isoformat()
    change(tracker, "add", {"milestones": [{"id": "new", "milestoneDate": date, "action": "add"}]})
    assert refusals(tracker) == []
    assert len(tracker.order.milestones) == MILESTONES_AT_MOST
    assert tracker.order.milestones[-1].id == "new"


def test_a_change_that_brings_the_plan_to_201_milestones_is_refused() -> None:
    tracker = with_milestones(MILESTONES_AT_MOST)
    date = SURVEY_DATE.isoformat()
    change(tracker, "add", {"milestones": [{"id": "new", "milestoneDate": date, "action": "add"}]})
    assert refusals(tracker) == ["changes.milestones: at most 200 milestones are allowed"]
    assert len(tracker.order.milestones) == MILESTONES_AT_MOST
    assert tracker.order.milestone("new") is None


def test_the_milestone_bound_counts_the_plan_after_the_change() -> None:
    """At the bound, one added and one deleted in the same change leave 200: applied."""
    tracker = with_milestones(MILESTONES_AT_MOST)
    date = SURVEY_DATE.isoformat()
    change(
        tracker,
        "swap",
        {
            "milestones": [
                {"id": "new", "milestoneDate": date, "action": "add"},
                {"id": "m0", "action": "delete"},
            ]
        },
    )
    assert refusals(tracker) == []
    assert len(tracker.order.milestones) == MILESTONES_AT_MOST
    assert tracker.order.milestone("m0") is None and tracker.order.milestone("new") is not None


def test_a_change_that_brings_the_plan_to_200_checkpoints_is_applied() -> None:
    tracker = with_checkpoints(CHECKPOINTS_AT_MOST - 1)
    date = SURVEY_DATE.isoformat()
    change(tracker, "add", {"checkpoints": [{"id": "new", "date": date, "action": "add"}]})
    assert refusals(tracker) == []
    assert len(tracker.order.checkpoints) == CHECKPOINTS_AT_MOST
    assert tracker.order.checkpoints[-1].id == "new"


def test_a_change_that_brings_the_plan_to_201_checkpoints_is_refused() -> None:
    tracker = with_checkpoints(CHECKPOINTS_AT_MOST)
    date = SURVEY_DATE.isoformat()
    change(tracker, "add", {"checkpoints": [{"id": "new", "date": date, "action": "add"}]})
    assert refusals(tracker) == ["changes.checkpoints: at most 200 checkpoints are allowed"]
    assert len(tracker.order.checkpoints) == CHECKPOINTS_AT_MOST
    assert tracker.order.checkpoint("new") is None


# ---------------------------------------------------------------- completion dates near now


def test_a_milestone_reported_completed_a_day_ahead_is_taken_a_second_more_refused() -> None:
    tracker = start()
    at_slack = NOW + DAY
    tracker.handle(
        "report_progress",
        {"milestones": [{"id": "survey", "completedAt": at_slack.isoformat()}]},
        NOW,
    )
    assert refusals(tracker) == []
    survey = tracker.order.milestones[0]
    assert (survey.status, survey.completed_at) == (MilestoneStatus.COMPLETED, at_slack)

    tracker = start()
    tracker.handle(
        "report_progress",
        {"milestones": [{"id": "survey", "completedAt": (at_slack + SECOND).isoformat()}]},
        NOW,
    )
    assert refusals(tracker) == [
        "milestones.completedAt: 2026-11-02T00:00:01Z is in the future;"
        " a completion must lie before 2026-11-02T00:00:00Z"
    ]
    assert tracker.order.milestones[0].status == MilestoneStatus.YET_TO_REACH


def test_a_start_input_with_a_completion_a_day_ahead_is_taken_a_second_more_refused() -> None:
    def milestones(completed_at: datetime) -> list[dict[str, Any]]:
        return [{"id": "survey", "status": "completed", "completedAt": completed_at.isoformat()}]

    tracker = start(milestones=milestones(NOW + DAY))
    assert tracker.order.milestones[0].completed_at == NOW + DAY

    with pytest.raises(ValueError) as raised:
        start(milestones=milestones(NOW + DAY + SECOND))
    assert str(raised.value) == (
        "milestones.completedAt: 2026-11-02T00:00:01Z (milestone survey) is in the future;"
        " a completion must lie before 2026-11-02T00:00:00Z"
    )


# ---------------------------------------------------------------- older rules: request ids


@pytest.mark.parametrize(
    ("rules", "kept"), [(RULES_V1, 2_000), (RULES_V2, 1_000), (RULES_V3, 1_000)]
)
def test_an_overflowing_window_of_request_ids_forgets_only_the_oldest(
    rules: int, kept: int
) -> None:
    """The window keeps the newest ids: one past it forgets the first id and no other."""
    tracker = start(rules)
    for number in range(kept + 1):
        tracker.handle("check_in_now", {"requestId": f"r{number}"}, NOW)
    assert tracker.order.check_ins.sent == kept + 1

    for run in (tracker, carried_over(tracker)):  # the window outlives continue-as-new
        for repeat in ("r1", f"r{kept // 2}", f"r{kept}"):
            assert run.handle("check_in_now", {"requestId": repeat}, NOW + HOUR) == []
        assert run.order.check_ins.sent == kept + 1
        # The oldest is forgotten: it counts as a new message and is applied.
        (again,) = notifications(run.handle("check_in_now", {"requestId": "r0"}, NOW + HOUR))
        assert again.kind == "checkIn"
        assert run.order.check_ins.sent == kept + 2
        assert refusals(run) == []


# ---------------------------------------------------------------- older rules: milestone dates


@pytest.mark.parametrize("rules", [RULES_V1, RULES_V2])
def test_an_accepted_milestone_date_change_is_applied_on_older_rules(rules: int) -> None:
    tracker = start(rules)
    moved = SURVEY_DATE + 10 * DAY
    change(tracker, "move", {"milestones": [{"id": "survey", "milestoneDate": moved.isoformat()}]})
    assert refusals(tracker) == []
    survey = tracker.order.milestones[0]
    assert (survey.milestone_date, survey.status) == (moved, MilestoneStatus.YET_TO_REACH)
    # The old date has gone: nothing is violated then, the new date is what is due.
    tracker.advance(SURVEY_DATE)
    assert survey.status == MilestoneStatus.YET_TO_REACH
    assert next_due(tracker.order, moved - SECOND, rules_of(rules)) == Deadline(
        moved, "milestone survey due"
    )


@pytest.mark.parametrize("rules", [RULES_V1, RULES_V2])
def test_on_older_rules_a_violated_milestone_given_a_later_date_is_back_on_plan(
    rules: int,
) -> None:
    tracker = start(rules)
    tracker.advance(SURVEY_DATE)
    survey = tracker.order.milestones[0]
    assert survey.status == MilestoneStatus.VIOLATED
    at = SURVEY_DATE + 2 * DAY
    # A new date of ``now`` is not later: the milestone stays violated.
    change(tracker, "same", {"milestones": [{"id": "survey", "milestoneDate": at.isoformat()}]}, at)
    assert (survey.milestone_date, survey.status) == (at, MilestoneStatus.VIOLATED)
    later = at + SECOND
    change(
        tracker, "later", {"milestones": [{"id": "survey", "milestoneDate": later.isoformat()}]}, at
    )
    assert (survey.milestone_date, survey.status) == (later, MilestoneStatus.YET_TO_REACH)
    assert refusals(tracker) == []


@pytest.mark.parametrize("rules", [RULES_V1, RULES_V2])
def test_on_older_rules_a_change_to_an_unknown_milestone_is_refused(rules: int) -> None:
    tracker = start(rules)
    date = SURVEY_DATE.isoformat()
    tracker.handle(
        "request_change", {"changes": {"milestones": [{"id": "nope", "milestoneDate": date}]}}, NOW
    )
    assert refusals(tracker) == ["changes.milestones: unknown milestone 'nope'"]


# ---------------------------------------------------------------- older rules: alert types


def alerts(tracker: PartyOrderTracker) -> list[tuple[str, str]]:
    return [(a.jeopardy_type, a.name) for a in tracker.order.jeopardy_alerts]


HAZARD_THEN_CRITICAL = [
    ("hazard", "Order hazard"),  # the survey within its warning lead time
    ("critical", "Milestone survey violated"),
    ("critical", "Order critical"),
]


@pytest.mark.parametrize(
    ("rules", "ending"),
    [
        # Rules 1 had no ``closed``: a failed order's jeopardy was re-assessed and cleared.
        (RULES_V1, ("cleared", "Jeopardy cleared")),
        (RULES_V2, ("closed", "Jeopardy closed")),
        (RULES_V3, ("closed", "Jeopardy closed")),
        (RULES_V4, ("closed", "Jeopardy closed")),
    ],
)
def test_each_rules_version_gives_its_own_alert_types(rules: int, ending: tuple[str, str]) -> None:
    tracker = start(rules)
    tracker.handle("change_state", {"state": "inProgress"}, NOW)
    tracker.advance(SURVEY_DATE - 3 * DAY)
    tracker.advance(SURVEY_DATE)
    assert alerts(tracker) == HAZARD_THEN_CRITICAL
    tracker.handle("change_state", {"state": "failed", "reason": "no capacity"}, SURVEY_DATE + HOUR)
    assert tracker.order.state == OrderState.FAILED
    assert alerts(tracker) == [*HAZARD_THEN_CRITICAL, ending]


@pytest.mark.parametrize("rules", [RULES_V1, RULES_V2, RULES_V3, RULES_V4])
def test_a_jeopardy_that_clears_gives_a_cleared_alert_on_every_rules_version(rules: int) -> None:
    tracker = start(rules)
    tracker.advance(SURVEY_DATE - 3 * DAY)
    tracker.handle(
        "report_progress", {"milestones": [{"id": "survey"}]}, SURVEY_DATE - 3 * DAY + HOUR
    )
    tracker.advance(SURVEY_DATE - 3 * DAY + HOUR)
    assert alerts(tracker) == [("hazard", "Order hazard"), ("cleared", "Jeopardy cleared")]


# ---------------------------------------------------------------- older rules: next_due


def forecast_past_the_agreed_date(rules: int) -> PartyOrderTracker:
    """Agreed 2027-01-15, forecast 2027-01-25: rules 1 measure the forecast, rules 2 on
    the earlier of the two (and each date passing is due of its own)."""
    return start(
        rules,
        milestones=[],
        expectedCompletionDate="2027-01-25T00:00:00Z",
        trackingPolicy={"checkInInterval": "P100D", "behindPlanTolerance": 100},
    )


AGREED = datetime(2027, 1, 15, tzinfo=UTC)
FORECAST = datetime(2027, 1, 25, tzinfo=UTC)


def test_next_due_on_rules_1_is_measured_from_the_forecast() -> None:
    tracker = forecast_past_the_agreed_date(RULES_V1)
    assert tracker.next_due(NOW) == Deadline(FORECAST - 3 * DAY, "due date warning lead time")
    assert tracker.next_due(FORECAST - 3 * DAY) == Deadline(FORECAST, "order due date")


@pytest.mark.parametrize("rules", [RULES_V2, RULES_V3, RULES_V4])
def test_next_due_from_rules_2_is_measured_from_the_agreed_date(rules: int) -> None:
    tracker = forecast_past_the_agreed_date(rules)
    assert tracker.next_due(NOW) == Deadline(AGREED - 3 * DAY, "due date warning lead time")
    assert tracker.next_due(AGREED - 3 * DAY) == Deadline(AGREED, "agreed completion date")
    assert tracker.next_due(AGREED) == Deadline(FORECAST, "forecast completion date")


def test_an_order_moved_onto_rules_4_is_scheduled_by_rules_4() -> None:
    tracker = forecast_past_the_agreed_date(RULES_V1)
    tracker.use_rules(RULES_V4)
    assert tracker.next_due(NOW) == Deadline(AGREED - 3 * DAY, "due date warning lead time")


# ---------------------------------------------------------------- older rules: no such bounds


def test_rules_1_knew_no_bound_on_change_requests_items_or_completion_dates() -> None:
    """What rules 1 applied must still be applied when its histories replay."""
    tracker = start(RULES_V1, orderItems=[{"id": "1"}, *items(150)])
    for number in range(CHANGE_REQUESTS_AT_MOST):
        tracker.handle(
            "request_change",
            {"requestId": f"cr-{number}", "changes": {"orderItems": [{"id": "1"}]}},
            NOW,
        )
    change(tracker, "to-201", {"orderItems": items(50, first=1_000)})
    assert len(tracker.order.change_requests) == CHANGE_REQUESTS_AT_MOST + 1
    assert len(tracker.order.order_items) == ORDER_ITEMS_AT_MOST + 1
    next_year = NOW + 400 * DAY
    tracker.handle(
        "report_progress",
        {"milestones": [{"id": "survey", "completedAt": next_year.isoformat()}]},
        NOW,
    )
    assert tracker.order.milestones[0].completed_at == next_year
    assert refusals(tracker) == []
