"""Plan checkpoints (rules 3): check-ins at checkpoint dates and ahead of milestones, on top
of the periodic rhythm, all through ``next_due``; re-planned by accepted changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from workflows.domain.checkpoints import next_checkpoint
from workflows.domain.deadlines import Deadline, next_due
from workflows.domain.effects import Effect, Notify
from workflows.domain.model import MilestoneStatus, PartyOrderSpec
from workflows.domain.rules import CURRENT_RULES, RULES_4
from workflows.domain.tracker import PartyOrderTracker

NOW = datetime(2026, 11, 2, 9, tzinfo=UTC)  # a Monday
DAY = timedelta(days=1)
US = timedelta(microseconds=1)
SURVEY = datetime(2026, 11, 20, 12, tzinfo=UTC)
REVIEW = datetime(2026, 11, 11, 15, 30, tzinfo=UTC)


def start(**changes: Any) -> PartyOrderTracker:
    data: dict[str, Any] = {
        "id": "PO-CP",
        "party": {"id": "ACME", "name": "Acme Networks"},
        "orderItems": [{"id": "1"}],
        "requestedCompletionDate": "2027-03-01T00:00:00Z",
        "milestones": [{"id": "survey", "milestoneDate": SURVEY.isoformat()}],
        "checkpoints": [{"id": "review", "name": "Design review", "date": REVIEW.isoformat()}],
        "trackingPolicy": {
            "checkInInterval": "P30D",
            "responseWindow": "P2D",
            "warningLeadTime": "PT1H",
            "behindPlanTolerance": 100,
            "checkInBeforeMilestone": "P2D",
        },
    }
    policy = changes.pop("trackingPolicy", {})
    data["trackingPolicy"].update(policy)
    data.update(changes)
    return PartyOrderTracker.start(
        PartyOrderSpec.model_validate(data), NOW, rules_version=CURRENT_RULES
    )


def check_ins(effects: list[Effect]) -> list[str]:
    return [
        e.notification.body["requestedBy"]
        for e in effects
        if isinstance(e, Notify) and e.notification.kind == "checkIn"
    ]


def test_the_plan_asks_at_each_checkpoint_and_ahead_of_each_milestone() -> None:
    tracker = start()
    due = tracker.next_due(NOW)
    assert due is not None and (due.at, due.what) == (REVIEW, "checkpoint review check-in")
    assert check_ins(tracker.advance(REVIEW - US)) == []  # not a microsecond early
    assert check_ins(tracker.advance(REVIEW)) == ["checkpoint review check-in"]
    review = tracker.order.checkpoint("review")
    assert review is not None and (review.asked_for, review.asked_at) == (REVIEW, REVIEW)
    ahead = SURVEY - 2 * DAY
    due = tracker.next_due(REVIEW)
    # Rules 5 (wakes_when_windows_end): the review's response window ends first.
    assert due is not None and (due.at, due.what) == (
        REVIEW + 2 * DAY,
        "check-in response window ends",
    )
    tracker.advance(due.at)
    due = tracker.next_due(due.at)
    assert due is not None and (due.at, due.what) == (ahead, "check-in before milestone survey")
    assert check_ins(tracker.advance(ahead)) == ["check-in before milestone survey"]
    assert tracker.order.check_ins.sent == 2
    # Asked once per date: no second check-in, and next_due has moved on.
    assert check_ins(tracker.advance(ahead + DAY)) == []
    due = tracker.next_due(ahead)
    assert due is not None and (due.at, due.what) == (
        SURVEY - timedelta(hours=1),
        "milestone survey warning lead time",
    )


def test_a_checkpoint_check_in_is_answered_like_any_other() -> None:
    tracker = start()
    tracker.advance(REVIEW)
    assert tracker.order.check_ins.answer_by == REVIEW + 2 * DAY
    tracker.handle("report_progress", {"percentComplete": 30}, REVIEW + DAY)
    check = tracker.order.check_ins
    assert (check.answered, check.unanswered_streak, check.answer_by) == (1, 0, None)
    assert check.response_seconds == [86_400]


def test_plan_check_ins_come_on_top_of_the_periodic_rhythm() -> None:
    tracker = start(
        checkpoints=[], trackingPolicy={"checkInInterval": "P7D", "checkInBeforeMilestone": None}
    )
    instants = []
    at = NOW
    for _ in range(3):
        due = tracker.next_due(at)
        assert due is not None
        at = due.at
        if check_ins(tracker.advance(at)):
            instants.append(at)
    assert instants[:2] == [NOW + 7 * DAY, NOW + 14 * DAY]  # the rhythm alone, unchanged


def test_a_point_due_with_the_periodic_check_in_asks_once() -> None:
    tracker = start(
        checkpoints=[{"id": "c", "date": (NOW + 30 * DAY).isoformat()}],
        milestones=[],
    )
    effects = tracker.advance(NOW + 30 * DAY)
    assert check_ins(effects) == ["periodic tracking"]
    assert tracker.order.check_ins.sent == 1
    assert next_checkpoint(tracker.order) is None  # the checkpoint counts as asked


def test_a_completed_milestone_is_not_asked_for() -> None:
    tracker = start(checkpoints=[])
    tracker.handle("report_progress", {"milestones": [{"id": "survey"}]}, NOW + DAY)
    assert tracker.order.milestones[0].status == MilestoneStatus.COMPLETED
    assert check_ins(tracker.advance(SURVEY - 2 * DAY)) == []


def test_with_a_party_calendar_a_checkpoint_waits_for_working_time() -> None:
    saturday = datetime(2026, 11, 14, 10, tzinfo=UTC)
    tracker = start(
        checkpoints=[{"id": "sat", "date": saturday.isoformat()}],
        milestones=[],
        party={
            "id": "ACME",
            "name": "Acme Networks",
            "calendar": {"timeZone": "UTC", "workingHours": {"start": "09:00", "end": "17:00"}},
        },
    )
    monday = datetime(2026, 11, 16, 9, tzinfo=UTC)
    due = tracker.next_due(NOW)
    assert due is not None and due.at == monday
    assert check_ins(tracker.advance(monday)) == ["checkpoint sat check-in"]


def change(tracker: PartyOrderTracker, at: datetime, request_id: str, **changes: Any) -> None:
    tracker.handle("request_change", {"requestId": request_id, "changes": changes}, at)
    tracker.handle("resolve_change", {"changeRequestId": request_id, "decision": "accepted"}, at)
    assert tracker.order.change_request(request_id).status == "accepted"  # type: ignore[union-attr]


def test_an_accepted_change_moves_a_checkpoint_and_the_old_date_never_fires() -> None:
    tracker = start(trackingPolicy={"checkInBeforeMilestone": None})
    moved = REVIEW + 5 * DAY
    change(tracker, NOW + DAY, "CR-1", checkpoints=[{"id": "review", "date": moved.isoformat()}])
    due = tracker.next_due(NOW + DAY)
    assert due is not None and due.at == moved
    assert check_ins(tracker.advance(REVIEW)) == []  # the old date: nothing
    assert check_ins(tracker.advance(moved)) == ["checkpoint review check-in"]


def test_a_checkpoint_asked_for_and_moved_later_is_asked_again() -> None:
    tracker = start(trackingPolicy={"checkInBeforeMilestone": None})
    tracker.advance(REVIEW)
    later = REVIEW + 3 * DAY
    change(tracker, REVIEW + DAY, "CR-1", checkpoints=[{"id": "review", "date": later.isoformat()}])
    assert check_ins(tracker.advance(later)) == ["checkpoint review check-in"]


def test_changes_add_and_delete_checkpoints_and_milestones() -> None:
    tracker = start()
    extra = NOW + 4 * DAY
    new_milestone = NOW + 12 * DAY
    change(
        tracker,
        NOW,
        "CR-1",
        checkpoints=[
            {"id": "kickoff", "name": "Kick-off", "date": extra.isoformat(), "action": "add"},
            {"id": "review", "action": "delete"},
        ],
        milestones=[
            {"id": "survey", "action": "delete"},
            {
                "id": "install",
                "milestoneDate": new_milestone.isoformat(),
                "action": "add",
                "orderItemIds": ["1"],
            },
        ],
    )
    order = tracker.order
    assert [c.id for c in order.checkpoints] == ["kickoff"]
    assert [(m.id, m.milestone_date, m.order_item_ids) for m in order.milestones] == [
        ("install", new_milestone, ["1"])
    ]
    planned = []
    at = NOW
    while (due := tracker.next_due(at)) is not None and due.at <= new_milestone - 2 * DAY:
        at = due.at
        planned += check_ins(tracker.advance(at))
    assert planned == ["checkpoint kickoff check-in", "check-in before milestone install"]
    assert at == new_milestone - 2 * DAY


def test_a_change_moving_a_milestone_re_plans_its_check_in() -> None:
    tracker = start(checkpoints=[])
    later = SURVEY + 10 * DAY
    change(tracker, NOW, "CR-1", milestones=[{"id": "survey", "milestoneDate": later.isoformat()}])
    assert check_ins(tracker.advance(SURVEY - 2 * DAY)) == []
    due = tracker.next_due(SURVEY - 2 * DAY)
    assert due is not None and (due.at, due.what) == (
        later - 2 * DAY,
        "check-in before milestone survey",
    )


def test_bad_plan_changes_are_refused_naming_the_entry() -> None:
    tracker = start()
    for changes, error in (
        (
            {"checkpoints": [{"id": "nope", "date": NOW.isoformat()}]},
            "changes.checkpoints: unknown checkpoint 'nope'",
        ),
        (
            {"checkpoints": [{"id": "review", "date": NOW.isoformat(), "action": "add"}]},
            "changes.checkpoints: checkpoint 'review' already exists",
        ),
        (
            {"milestones": [{"id": "nope", "action": "delete"}]},
            "changes.milestones: unknown milestone 'nope'",
        ),
        (
            {
                "milestones": [
                    {
                        "id": "m2",
                        "milestoneDate": NOW.isoformat(),
                        "action": "add",
                        "orderItemIds": ["9"],
                    }
                ]
            },
            "changes.milestones.orderItemIds: unknown order item '9'",
        ),
        (
            {"checkpoints": [{"id": "review", "action": "modify"}]},
            "changes.checkpoints.0: date is required (except with action delete)",
        ),
    ):
        tracker.handle("request_change", {"changes": changes}, NOW)
        assert tracker.order.rejected_messages[-1].error == error, changes
    assert tracker.order.change_requests == []


def test_no_plan_no_extra_deadline() -> None:
    tracker = start(checkpoints=[], milestones=[], trackingPolicy={"checkInBeforeMilestone": None})
    due = next_due(tracker.order, NOW, RULES_4)
    assert due == Deadline(NOW + 30 * DAY, "periodic check-in with the party")
