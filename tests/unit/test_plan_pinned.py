"""Changes to the plan, pinned (pure, no server): renames, moves, adds and deletes of
checkpoints and milestones in one change, the plan's bounds after a change, and what
orders on rules 1 and 2 refuse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from workflows.domain.checkpoints import due_points
from workflows.domain.model import MAX_CHECKPOINTS, MAX_MILESTONES, PartyOrderSpec
from workflows.domain.rules import CURRENT_RULES, RULES_V2
from workflows.domain.tracker import PartyOrderTracker

NOW = datetime(2026, 11, 2, 9, tzinfo=UTC)
DAY = timedelta(days=1)
SURVEY = NOW + 18 * DAY
INSTALL = NOW + 40 * DAY
REVIEW = NOW + 9 * DAY


def start(rules: int | None = None, **changes: Any) -> PartyOrderTracker:
    data: dict[str, Any] = {
        "id": "PO-PL",
        "party": {"id": "ACME", "name": "Acme Networks"},
        "orderItems": [{"id": "1"}, {"id": "2"}],
        "requestedCompletionDate": "2027-03-01T00:00:00Z",
        "milestones": [
            {"id": "survey", "name": "Site survey", "milestoneDate": SURVEY.isoformat()},
            {"id": "install", "name": "Installation", "milestoneDate": INSTALL.isoformat()},
        ],
        "checkpoints": [{"id": "review", "name": "Design review", "date": REVIEW.isoformat()}],
    }
    data.update(changes)
    spec = PartyOrderSpec.model_validate(data)
    if rules is None:
        return PartyOrderTracker.start(spec, NOW, rules_version=CURRENT_RULES)
    return PartyOrderTracker.start(spec, NOW, rules_version=rules)


def accept(tracker: PartyOrderTracker, request_id: str = "CR-1", **changes: Any) -> str:
    """Request ``changes`` and accept them: the request's final status, or why it was
    refused."""
    tracker.handle("request_change", {"requestId": request_id, "changes": changes}, NOW)
    requested = tracker.order.change_request(request_id)
    if requested is None:
        return "refused: " + tracker.order.rejected_messages[-1].error
    rejected = len(tracker.order.rejected_messages)
    tracker.handle("resolve_change", {"changeRequestId": request_id, "decision": "accepted"}, NOW)
    if len(tracker.order.rejected_messages) > rejected:
        # The acceptance itself was refused: the plan it makes would break a rule.
        return "acceptance refused: " + tracker.order.rejected_messages[-1].error
    return str(requested.status)


def test_a_change_renames_a_milestone_and_a_checkpoint_and_moves_them() -> None:
    tracker = start()
    later = REVIEW + 2 * DAY
    assert (
        accept(
            tracker,
            milestones=[
                {
                    "id": "survey",
                    "milestoneDate": (SURVEY + DAY).isoformat(),
                    "name": "Survey, second visit",
                }
            ],
            checkpoints=[{"id": "review", "date": later.isoformat(), "name": "Final review"}],
        )
        == "accepted"
    )
    survey = tracker.order.milestone("survey")
    review = tracker.order.checkpoint("review")
    assert survey is not None and review is not None
    assert (survey.name, survey.milestone_date) == ("Survey, second visit", SURVEY + DAY)
    assert (review.name, review.date) == ("Final review", later)


def test_a_move_without_a_name_keeps_the_name() -> None:
    tracker = start()
    accept(
        tracker,
        milestones=[{"id": "survey", "milestoneDate": (SURVEY + DAY).isoformat()}],
        checkpoints=[{"id": "review", "date": (REVIEW + DAY).isoformat()}],
    )
    survey = tracker.order.milestone("survey")
    review = tracker.order.checkpoint("review")
    assert survey is not None and review is not None
    assert (survey.name, survey.milestone_date) == ("Site survey", SURVEY + DAY)
    assert (review.name, review.date) == ("Design review", REVIEW + DAY)


def test_a_move_can_reassign_a_milestones_items() -> None:
    tracker = start()
    accept(
        tracker,
        milestones=[{"id": "install", "milestoneDate": INSTALL.isoformat(), "orderItemIds": ["2"]}],
    )
    install = tracker.order.milestone("install")
    assert install is not None and install.order_item_ids == ["2"]


def test_an_added_checkpoint_keeps_its_name() -> None:
    tracker = start()
    kickoff = NOW + 3 * DAY
    accept(
        tracker,
        checkpoints=[
            {"id": "kickoff", "name": "Kick-off", "date": kickoff.isoformat(), "action": "add"}
        ],
    )
    added = tracker.order.checkpoint("kickoff")
    assert added is not None and (added.name, added.date) == ("Kick-off", kickoff)


def test_every_entry_after_a_delete_is_applied_too() -> None:
    tracker = start()
    accept(
        tracker,
        milestones=[
            {"id": "survey", "action": "delete"},
            {"id": "install", "milestoneDate": (INSTALL + DAY).isoformat()},
        ],
        checkpoints=[
            {"id": "review", "action": "delete"},
            {"id": "later", "date": (NOW + 30 * DAY).isoformat(), "action": "add"},
        ],
    )
    order = tracker.order
    assert [(m.id, m.milestone_date) for m in order.milestones] == [("install", INSTALL + DAY)]
    assert [(c.id, c.date) for c in order.checkpoints] == [("later", NOW + 30 * DAY)]


def milestones(count: int) -> list[dict[str, Any]]:
    return [{"id": f"m{n}", "milestoneDate": SURVEY.isoformat()} for n in range(count)]


def checkpoints(count: int) -> list[dict[str, Any]]:
    return [{"id": f"c{n}", "date": REVIEW.isoformat()} for n in range(count)]


def test_a_change_may_fill_the_plan_to_its_bounds_but_not_past_them() -> None:
    full = start(
        milestones=milestones(MAX_MILESTONES - 1), checkpoints=checkpoints(MAX_CHECKPOINTS - 1)
    )
    last = {"date": REVIEW.isoformat(), "action": "add"}
    assert (
        accept(
            full,
            milestones=[{"id": "last", "milestoneDate": SURVEY.isoformat(), "action": "add"}],
            checkpoints=[{"id": "last", **last}],
        )
        == "accepted"
    )
    assert len(full.order.milestones) == MAX_MILESTONES
    assert len(full.order.checkpoints) == MAX_CHECKPOINTS
    assert (
        accept(
            full,
            "CR-2",
            milestones=[{"id": "more", "milestoneDate": SURVEY.isoformat(), "action": "add"}],
        )
        == "acceptance refused: changes.milestones: at most 200 milestones are allowed"
    )
    assert accept(full, "CR-3", checkpoints=[{"id": "more", **last}]) == (
        "acceptance refused: changes.checkpoints: at most 200 checkpoints are allowed"
    )
    assert len(full.order.milestones) == MAX_MILESTONES
    assert len(full.order.checkpoints) == MAX_CHECKPOINTS


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        (
            {"checkpoints": [{"id": "review", "date": REVIEW.isoformat()}]},
            "changes.checkpoints: Extra inputs are not permitted",
        ),
        (
            {"milestones": [{"id": "survey", "milestoneDate": SURVEY.isoformat(), "name": "x"}]},
            "changes.milestones.0.name: Extra inputs are not permitted",
        ),
        (
            {
                "milestones": [
                    {"id": "survey", "milestoneDate": SURVEY.isoformat()},
                    {"id": "install", "milestoneDate": INSTALL.isoformat(), "orderItemIds": ["1"]},
                ]
            },
            "changes.milestones.1.orderItemIds: Extra inputs are not permitted",
        ),
        (
            {
                "milestones": [
                    {"id": "survey", "milestoneDate": SURVEY.isoformat(), "action": "modify"}
                ]
            },
            "changes.milestones.0.action: Extra inputs are not permitted",
        ),
    ],
    ids=["checkpoints", "name", "orderItemIds", "action"],
)
def test_rules_2_refuse_the_plan_fields_they_did_not_know(
    changes: dict[str, Any], error: str
) -> None:
    tracker = start(rules=RULES_V2, checkpoints=[])
    assert accept(tracker, **changes) == f"refused: {error}"


def test_rules_2_take_a_plain_milestone_move() -> None:
    tracker = start(rules=RULES_V2, checkpoints=[])
    moved = SURVEY + 3 * DAY
    assert accept(tracker, milestones=[{"id": "survey", "milestoneDate": moved.isoformat()}]) == (
        "accepted"
    )
    survey = tracker.order.milestone("survey")
    assert survey is not None and survey.milestone_date == moved


def test_a_completed_milestone_leaves_the_check_ins_before_later_milestones_planned() -> None:
    tracker = start(checkpoints=[], trackingPolicy={"checkInBeforeMilestone": "P2D"})
    tracker.handle(
        "report_progress", {"milestones": [{"id": "survey", "status": "completed"}]}, NOW
    )
    survey = tracker.order.milestone("survey")
    assert survey is not None and survey.status == "completed"
    plan = [(p.what, p.at) for p in due_points(tracker.order)]
    assert plan == [("check-in before milestone install", INSTALL - 2 * DAY)]


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        (
            {"checkpoints": [{"id": "nope", "date": REVIEW.isoformat()}]},
            "changes.checkpoints: unknown checkpoint 'nope'",
        ),
        (
            {"checkpoints": [{"id": "review", "date": REVIEW.isoformat(), "action": "add"}]},
            "changes.checkpoints: checkpoint 'review' already exists",
        ),
        (
            {"milestones": [{"id": "nope", "action": "delete"}]},
            "changes.milestones: unknown milestone 'nope'",
        ),
        (
            {
                "milestones": [
                    {"id": "survey", "milestoneDate": SURVEY.isoformat(), "action": "add"}
                ]
            },
            "changes.milestones: milestone 'survey' already exists",
        ),
    ],
    ids=["unknown checkpoint", "checkpoint exists", "unknown milestone", "milestone exists"],
)
def test_a_bad_plan_change_is_refused_naming_the_field_and_the_entry(
    changes: dict[str, Any], error: str
) -> None:
    tracker = start()
    assert accept(tracker, **changes) == f"refused: {error}"
