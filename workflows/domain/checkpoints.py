"""Plan checkpoints (rules 3): check-ins "at defined points according to a project plan".

On top of the periodic rhythm the party is asked for progress

* at each ``checkpoints[].date`` of the order, and
* ``trackingPolicy.checkInBeforeMilestone`` before each open milestone's date.

Each such point is asked for once per date: the date it was asked for is kept on the
checkpoint (``askedFor``) or the milestone (``checkInAskedFor``), so a date moved by an
accepted change is asked for again at its new date, and the old date, no longer in the
plan, is never acted on. ``deadlines.next_due`` reads ``due_points`` like every other
deadline (one source of deadlines), and ``PartyOrderTracker.advance`` asks at them.

Change requests add, move or delete checkpoints and milestones with
``changes.checkpoints[]`` and ``changes.milestones[]``, ``action`` as TMF order items
name it: ``add``, ``modify`` (the default: move the date), ``delete``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from workflows.domain.bounds import MAX_CHECKPOINTS, MAX_MILESTONES
from workflows.domain.calendar import next_working_instant
from workflows.domain.messages import describe_value
from workflows.domain.model import (
    ChangeSet,
    Checkpoint,
    CheckpointChange,
    Milestone,
    MilestoneDateChange,
    MilestoneStatus,
    PartyOrder,
)


@dataclass(frozen=True)
class PlanPoint:
    """A plan check-in not yet asked: when it goes out, and for which date of the plan."""

    at: datetime  # the plan's date, or with a party calendar its next working instant
    what: str  # the timer's summary, and the check-in's reason
    plan_date: datetime
    checkpoint: Checkpoint | None = None
    milestone: Milestone | None = None


def due_points(order: PartyOrder) -> list[PlanPoint]:
    """Every plan check-in still to ask, past ones included, in date order."""
    points: list[PlanPoint] = []
    for checkpoint in order.checkpoints:
        if checkpoint.asked_for != checkpoint.date:
            points.append(
                PlanPoint(
                    _working(order, checkpoint.date),
                    f"checkpoint {checkpoint.id} check-in",
                    checkpoint.date,
                    checkpoint=checkpoint,
                )
            )
    lead = order.tracking_policy.check_in_before_milestone
    if lead is not None:
        for milestone in order.milestones:
            when = milestone.milestone_date
            if (
                milestone.status != MilestoneStatus.YET_TO_REACH
                or when is None
                or milestone.check_in_asked_for == when
            ):
                continue
            points.append(
                PlanPoint(
                    _working(order, when - lead),
                    f"check-in before milestone {milestone.id}",
                    when,
                    milestone=milestone,
                )
            )
    return sorted(points, key=lambda point: point.at)


def take_due(order: PartyOrder, now: datetime) -> list[PlanPoint]:
    """The plan check-ins due at ``now``, marked as asked (one check-in answers them all)."""
    due = [point for point in due_points(order) if point.at <= now]
    for point in due:
        if point.checkpoint is not None:
            point.checkpoint.asked_for = point.plan_date
            point.checkpoint.asked_at = now
        if point.milestone is not None:
            point.milestone.check_in_asked_for = point.plan_date
    return due


def next_checkpoint(order: PartyOrder) -> PlanPoint | None:
    points = due_points(order)
    return points[0] if points else None


def _working(order: PartyOrder, instant: datetime) -> datetime:
    calendar = order.party.calendar
    return instant if calendar is None else next_working_instant(calendar, instant)


# ---------------------------------------------------------------- changes to the plan


def pre_rules_3_fields(changes: ChangeSet) -> str | None:
    """What an order tracked by rules 1 or 2 refuses in ``changes`` (their models did not
    know these fields, so such a request was rejected then and must be on replay)."""
    if changes.checkpoints is not None:
        return "changes.checkpoints: Extra inputs are not permitted"
    for index, item in enumerate(changes.milestones or []):
        for field, value in (
            ("action", item.action),
            ("name", item.name),
            ("orderItemIds", item.order_item_ids),
        ):
            if value is not None:
                return f"changes.milestones.{index}.{field}: Extra inputs are not permitted"
    return None


def check_plan_changes(order: PartyOrder, changes: ChangeSet) -> None:
    """Raise ValueError, naming the entry, for a plan change that cannot be applied."""
    for item in changes.milestones or []:
        action = item.action or "modify"
        known = order.milestone(item.id) is not None
        _check_entry("changes.milestones", item.id, action, known)
        for item_id in item.order_item_ids or []:
            if order.order_item(item_id) is None:
                raise ValueError(
                    f"changes.milestones.orderItemIds: unknown order item {describe_value(item_id)}"
                )
    for checkpoint in changes.checkpoints or []:
        known = order.checkpoint(checkpoint.id) is not None
        _check_entry("changes.checkpoints", checkpoint.id, checkpoint.action, known)


def check_plan_counts(order: PartyOrder, changes: ChangeSet) -> None:
    """Raise ValueError, with the reason apply_plan_changes gives, for checked plan
    changes that would leave more milestones or checkpoints than allowed: counted on the
    plan as it will be, before anything changes."""
    if _count_after(order.milestones, changes.milestones or []) > MAX_MILESTONES:
        raise ValueError(f"changes.milestones: at most {MAX_MILESTONES} milestones are allowed")
    if _count_after(order.checkpoints, changes.checkpoints or []) > MAX_CHECKPOINTS:
        raise ValueError(f"changes.checkpoints: at most {MAX_CHECKPOINTS} checkpoints are allowed")


def _count_after(
    entries: Sequence[Milestone | Checkpoint],
    changes: Sequence[MilestoneDateChange | CheckpointChange],
) -> int:
    # As apply_plan_changes does it: an add appends one, a delete drops every entry of its id.
    counts = Counter(entry.id for entry in entries)
    for change in changes:
        action = change.action or "modify"
        if action == "add":
            counts[change.id] += 1
        elif action == "delete":
            counts[change.id] = 0
    return sum(counts.values())


def plan_growth(changes: ChangeSet) -> int:
    """How much checked plan changes can make the order's JSON grow, at most: an added
    entry as it will be kept, with the comma before it; any other change what it names."""
    growth = 0
    for item in changes.milestones or []:
        if item.action == "add":
            # Built as apply_plan_changes builds it.
            milestone = Milestone(id=item.id)
            milestone.milestone_date = item.milestone_date
            if item.name is not None:
                milestone.name = item.name
            if item.order_item_ids is not None:
                milestone.order_item_ids = item.order_item_ids
            growth += 1 + len(milestone.model_dump_json())
        else:
            growth += len(item.model_dump_json())
    for change in changes.checkpoints or []:
        if change.action == "add" and change.date is not None:
            checkpoint = Checkpoint(id=change.id, name=change.name, date=change.date)
            growth += 1 + len(checkpoint.model_dump_json())
        else:
            growth += len(change.model_dump_json())
    return growth


def _check_entry(field: str, entry_id: str, action: str, known: bool) -> None:
    what = "milestone" if field.endswith("milestones") else "checkpoint"
    if action == "add" and known:
        raise ValueError(f"{field}: {what} {describe_value(entry_id)} already exists")
    if action != "add" and not known:
        raise ValueError(f"{field}: unknown {what} {describe_value(entry_id)}")


def apply_plan_changes(order: PartyOrder, changes: ChangeSet, now: datetime) -> None:
    """Apply checked milestone and checkpoint changes (rules 3)."""
    for item in changes.milestones or []:
        action = item.action or "modify"
        if action == "delete":
            order.milestones = [m for m in order.milestones if m.id != item.id]
            continue
        if action == "add":
            order.milestones.append(Milestone(id=item.id))
        milestone = order.milestone(item.id)
        assert milestone is not None and item.milestone_date is not None
        milestone.milestone_date = item.milestone_date
        if item.name is not None:
            milestone.name = item.name
        if item.order_item_ids is not None:
            milestone.order_item_ids = item.order_item_ids
        # A violated milestone given a new, later date is back on plan.
        if milestone.status == MilestoneStatus.VIOLATED and item.milestone_date > now:
            milestone.status = MilestoneStatus.YET_TO_REACH
    for change in changes.checkpoints or []:
        if change.action == "delete":
            order.checkpoints = [c for c in order.checkpoints if c.id != change.id]
            continue
        assert change.date is not None
        if change.action == "add":
            order.checkpoints.append(Checkpoint(id=change.id, name=change.name, date=change.date))
            continue
        checkpoint = order.checkpoint(change.id)
        assert checkpoint is not None
        checkpoint.date = change.date
        if change.name is not None:
            checkpoint.name = change.name
    if len(order.milestones) > MAX_MILESTONES:
        raise ValueError(f"changes.milestones: at most {MAX_MILESTONES} milestones are allowed")
    if len(order.checkpoints) > MAX_CHECKPOINTS:
        raise ValueError(f"changes.checkpoints: at most {MAX_CHECKPOINTS} checkpoints are allowed")
