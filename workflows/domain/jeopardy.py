"""Jeopardy assessment: a pure function of the order, the instant and the rules version.

Rules 2 (each true reason is listed; the worst status wins). ``requestedCompletionDate``
is the agreed date, ``expectedCompletionDate`` the party's forecast; the earlier of the
two is the target that hazards are measured against:

critical
  * the agreed date has passed with the order not delivered;
  * the forecast has passed with the order not delivered;
  * the forecast is later than the agreed date;
  * a milestone is violated (its milestoneDate passed before it was completed);
  * ``unansweredCheckInLimit`` check-ins in a row went unanswered.
hazard
  * the target date, or a milestone's date, is within ``warningLeadTime``;
  * progress is behind plan: the elapsed share of the schedule (orderDate to the target
    date; time paused under ``pauseWhile`` does not elapse), in percent, exceeds
    ``percentComplete`` by more than ``behindPlanTolerance``;
  * a change request is still unresolved ``changeResolutionWindow`` after it was received.

Rules 1 (orders started before rules 2) measure everything against one due date, the
forecast if there is one, else the agreed date:

critical
  * the due date (expectedCompletionDate, else requestedCompletionDate) has passed;
  * a milestone is violated (its milestoneDate passed before it was completed);
  * ``unansweredCheckInLimit`` check-ins in a row went unanswered.
hazard
  * the due date, or a milestone's date, is within ``warningLeadTime`` with work outstanding;
  * progress is behind plan: the elapsed share of the schedule (orderDate to due date), in
    percent, exceeds ``percentComplete`` by more than ``behindPlanTolerance`` points;
  * a change request is still unresolved ``changeResolutionWindow`` after it was received.

Rules 3 add, as critical, each open order item whose forecast lies past the agreed date
(``items.late_items``), and name the items concerned: those reasons, and a violated
milestone's ``orderItemIds``, go into ``Assessment.order_items`` and so into the
JeopardyAlert's ``orderItem``.

Rules 5 add, as critical, each open order item whose own forecast has passed, and leave
out the milestones whose order items were all cancelled by agreement (no deadline).

Every rule flips at one exact instant, which ``deadlines.py`` computes so the workflow can
wake up then; the comparisons here and there must agree, so both use the helpers below.
Final orders and orders being cancelled are never in jeopardy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from workflows.domain.instants import iso
from workflows.domain.items import has_no_deadline, late_items, overdue_items
from workflows.domain.model import (
    FINAL_STATES,
    JeopardyStatus,
    MilestoneStatus,
    OrderState,
    PartyOrder,
)
from workflows.domain.pause import clock_instant_to_real, order_clock
from workflows.domain.rules import Rules


@dataclass(frozen=True)
class Assessment:
    status: JeopardyStatus
    reasons: tuple[str, ...] = ()
    # A stable name for each critical reason ("agreedDatePassed", "milestone:survey"):
    # a new name is a worsening, a reason that only reads differently is not.
    critical_causes: tuple[str, ...] = ()
    # Rules 3: the ids of the order items the reasons are about.
    order_items: tuple[str, ...] = ()


NOT_IN_JEOPARDY = Assessment(JeopardyStatus.NONE)


def is_watched(order: PartyOrder) -> bool:
    """Open orders are watched; final ones and those being cancelled are not."""
    return order.state not in FINAL_STATES and order.state != OrderState.PENDING_CANCELLATION


def target_date(order: PartyOrder, rules: Rules) -> datetime:
    """The date hazards are measured against: under rules 2 the earlier of the agreed
    date and the forecast, under rules 1 the forecast, else the agreed date."""
    if not rules.agreed_vs_forecast:
        return order.due_date
    dates = [d for d in (order.requested_completion_date, order.expected_completion_date) if d]
    return min(dates)


def behind_plan_instant(order: PartyOrder, rules: Rules) -> datetime | None:
    """The first instant at which the order counts as behind plan at its current progress
    (``None`` while its clock is stopped, see ``pause.py``: it cannot fall behind then)."""
    behind_from = _behind_plan_clock_instant(order, rules)
    return None if behind_from is None else clock_instant_to_real(order, behind_from)


def is_behind_plan(order: PartyOrder, now: datetime, rules: Rules) -> bool:
    """Whether the order is behind plan at ``now``, measured on its own clock (paused time
    excluded; without pauses that clock is real time)."""
    behind_from = _behind_plan_clock_instant(order, rules)
    return behind_from is not None and order_clock(order, now) >= behind_from


def _behind_plan_clock_instant(order: PartyOrder, rules: Rules) -> datetime | None:
    """The instant on the order's clock from which it is behind plan.

    Behind plan at clock time t means (t - start) * 100 > (percentComplete + tolerance) *
    (due - start), computed in whole microseconds so the workflow's timer and this rule
    agree exactly.
    """
    start = order.order_date
    if start is None:
        return None
    threshold = order.percent_complete + order.tracking_policy.behind_plan_tolerance
    if threshold >= 100:
        return None  # cannot trail by more than the tolerance before the due date passes
    span_us = _micros(target_date(order, rules) - start)
    if span_us <= 0:
        return None  # no schedule to be behind on; the passed due date is critical anyway
    return start + timedelta(microseconds=(threshold * span_us) // 100 + 1)


@dataclass
class _Findings:
    """What an assessment has found so far, in the order the reasons are given."""

    critical: list[str] = field(default_factory=list)
    causes: list[str] = field(default_factory=list)
    hazard: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)


def assess(order: PartyOrder, now: datetime, rules: Rules) -> Assessment:
    if not is_watched(order):
        return NOT_IN_JEOPARDY
    policy = order.tracking_policy
    found = _Findings()

    due = target_date(order, rules)
    if not rules.agreed_vs_forecast:
        if now >= due:
            found.critical.append(f"due date {iso(due)} has passed with the order not delivered")
            found.causes.append("dueDatePassed")
    else:
        found.causes += _dates_critical(order, now, found.critical)
    if due - policy.warning_lead_time <= now < due:  # once passed, it is critical above
        found.hazard.append(
            f"due date {iso(due)} is within the warning lead time with"
            f" {order.percent_complete}% complete"
        )
    _assess_milestones(order, now, rules, found)
    _assess_items(order, now, rules, found)

    streak = order.check_ins.unanswered_streak
    if streak >= policy.unanswered_check_in_limit:
        found.critical.append(
            f"{streak} check-ins in a row unanswered (limit {policy.unanswered_check_in_limit})"
        )
        found.causes.append("checkInsUnanswered")

    if is_behind_plan(order, now, rules) and now < due:
        found.hazard.append(
            f"progress {order.percent_complete}% is behind plan by more than"
            f" {policy.behind_plan_tolerance} points"
        )

    for change in order.change_requests:
        if change.open and now >= change.received_at + policy.change_resolution_window:
            found.hazard.append(
                f"change request {change.id} unresolved since {iso(change.received_at)}"
            )

    if found.critical:
        named = tuple(dict.fromkeys(found.items))  # each item once, in the order of the reasons
        return Assessment(
            JeopardyStatus.CRITICAL,
            tuple(found.critical + found.hazard),
            tuple(found.causes),
            named,
        )
    if found.hazard:
        return Assessment(JeopardyStatus.HAZARD, tuple(found.hazard))
    return NOT_IN_JEOPARDY


def _assess_milestones(order: PartyOrder, now: datetime, rules: Rules, found: _Findings) -> None:
    warning = order.tracking_policy.warning_lead_time
    for milestone in order.milestones:
        when = milestone.milestone_date
        if rules.cancelled_work_has_no_deadline and has_no_deadline(
            order, milestone.order_item_ids or []
        ):
            continue  # its work was cancelled by agreement
        if milestone.status == MilestoneStatus.VIOLATED or (
            milestone.status == MilestoneStatus.YET_TO_REACH and when is not None and now >= when
        ):
            text = f"milestone {milestone.id} violated (due {iso(when) if when else '?'})"
            if rules.order_items and milestone.order_item_ids:
                text += f" for order items {', '.join(milestone.order_item_ids)}"
                found.items += milestone.order_item_ids
            found.critical.append(text)
            found.causes.append(f"milestone:{milestone.id}")
        elif (
            milestone.status == MilestoneStatus.YET_TO_REACH
            and when is not None
            and now >= when - warning
        ):
            found.hazard.append(
                f"milestone {milestone.id} due {iso(when)} is within the warning lead time"
            )


def _assess_items(order: PartyOrder, now: datetime, rules: Rules, found: _Findings) -> None:
    """Late items (their forecast past the agreed date) and, with ``rolls_up_item_forecasts``,
    open items whose own forecast has passed."""
    late = late_items(order) if rules.order_items else []
    overdue = overdue_items(order, now) if rules.rolls_up_item_forecasts else []
    for item in [*late, *overdue]:
        found.critical.append(item.text)
        found.causes.append(item.cause)
        found.items.append(item.item_id)


def _dates_critical(order: PartyOrder, now: datetime, critical: list[str]) -> list[str]:
    """Rules 2: the agreed date and the forecast; appends the reasons, returns the causes."""
    agreed = order.requested_completion_date
    forecast = order.expected_completion_date
    causes: list[str] = []
    if agreed is not None and now >= agreed:
        critical.append(f"agreed date {iso(agreed)} has passed with the order not delivered")
        causes.append("agreedDatePassed")
    if forecast is not None and forecast != agreed and now >= forecast:
        critical.append(f"forecast date {iso(forecast)} has passed with the order not delivered")
        causes.append("forecastPassed")
    if agreed is not None and forecast is not None and forecast > agreed:
        critical.append(f"forecast {iso(forecast)} is later than the agreed date {iso(agreed)}")
        causes.append("forecastLate")
    return causes


def _micros(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
