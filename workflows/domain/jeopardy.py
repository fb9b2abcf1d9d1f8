"""Jeopardy assessment: a pure function of the order and the instant.

Rules (each true reason is listed; the worst status wins):

critical
  * the due date (expectedCompletionDate, else requestedCompletionDate) has passed;
  * a milestone is violated (its milestoneDate passed before it was completed);
  * ``unansweredCheckInLimit`` check-ins in a row went unanswered.
hazard
  * the due date, or a milestone's date, is within ``warningLeadTime`` with work outstanding;
  * progress is behind plan: the elapsed share of the schedule (orderDate to due date), in
    percent, exceeds ``percentComplete`` by more than ``behindPlanTolerance`` points;
  * a change request is still unresolved ``changeResolutionWindow`` after it was received.

Every rule flips at one exact instant, which ``schedule.py`` computes so the workflow can
wake up then; the comparisons here and there must agree, so both use the helpers below.
Final orders and orders being cancelled are never in jeopardy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from workflows.domain.instants import iso
from workflows.domain.model import (
    FINAL_STATES,
    JeopardyStatus,
    MilestoneStatus,
    OrderState,
    PartyOrder,
)


@dataclass(frozen=True)
class Assessment:
    status: JeopardyStatus
    reasons: tuple[str, ...] = ()


NOT_IN_JEOPARDY = Assessment(JeopardyStatus.NONE)


def is_watched(order: PartyOrder) -> bool:
    """Open orders are watched; final ones and those being cancelled are not."""
    return order.state not in FINAL_STATES and order.state != OrderState.PENDING_CANCELLATION


def behind_plan_instant(order: PartyOrder) -> datetime | None:
    """The first instant at which the order counts as behind plan at its current progress.

    Behind plan at t means (t - start) * 100 > (percentComplete + tolerance) * (due - start),
    computed in whole microseconds so the workflow's timer and this rule agree exactly.
    """
    start = order.order_date
    if start is None:
        return None
    threshold = order.percent_complete + order.tracking_policy.behind_plan_tolerance
    if threshold >= 100:
        return None  # cannot trail by more than the tolerance before the due date passes
    span_us = _micros(order.due_date - start)
    if span_us <= 0:
        return None  # no schedule to be behind on; the passed due date is critical anyway
    return start + timedelta(microseconds=(threshold * span_us) // 100 + 1)


def assess(order: PartyOrder, now: datetime) -> Assessment:
    if not is_watched(order):
        return NOT_IN_JEOPARDY
    policy = order.tracking_policy
    critical: list[str] = []
    hazard: list[str] = []

    due = order.due_date
    if now >= due:
        critical.append(f"due date {iso(due)} has passed with the order not delivered")
    elif now >= due - policy.warning_lead_time:
        hazard.append(
            f"due date {iso(due)} is within the warning lead time with"
            f" {order.percent_complete}% complete"
        )

    for milestone in order.milestones:
        when = milestone.milestone_date
        if milestone.status == MilestoneStatus.VIOLATED or (
            milestone.status == MilestoneStatus.YET_TO_REACH and when is not None and now >= when
        ):
            critical.append(f"milestone {milestone.id} violated (due {iso(when) if when else '?'})")
        elif (
            milestone.status == MilestoneStatus.YET_TO_REACH
            and when is not None
            and now >= when - policy.warning_lead_time
        ):
            hazard.append(
                f"milestone {milestone.id} due {iso(when)} is within the warning lead time"
            )

    streak = order.check_ins.unanswered_streak
    if streak >= policy.unanswered_check_in_limit:
        critical.append(
            f"{streak} check-ins in a row unanswered (limit {policy.unanswered_check_in_limit})"
        )

    behind_from = behind_plan_instant(order)
    if behind_from is not None and now >= behind_from and now < due:
        hazard.append(
            f"progress {order.percent_complete}% is behind plan by more than"
            f" {policy.behind_plan_tolerance} points"
        )

    for change in order.change_requests:
        if change.open and now >= change.received_at + policy.change_resolution_window:
            hazard.append(f"change request {change.id} unresolved since {iso(change.received_at)}")

    if critical:
        return Assessment(JeopardyStatus.CRITICAL, tuple(critical + hazard))
    if hazard:
        return Assessment(JeopardyStatus.HAZARD, tuple(hazard))
    return NOT_IN_JEOPARDY


def _micros(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
