"""One source of deadlines: the next instant anything about an order is due.

After every message and every wake-up the workflow asks ``next_due`` and keeps one timer
for that instant (``workflows/deadline_timer.py``). When a date moves, the answer moves
with it and the workflow replaces its timer; a timer for a deadline that no longer stands
is cancelled, never acted on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from workflows.domain.checkpoints import due_points
from workflows.domain.items import has_no_deadline, open_items
from workflows.domain.jeopardy import behind_plan_instant, is_watched, target_date
from workflows.domain.model import JeopardyStatus, MilestoneStatus, PartyOrder
from workflows.domain.pause import after_active_time, is_paused
from workflows.domain.rules import Rules


@dataclass(frozen=True)
class Deadline:
    at: datetime
    what: str  # shown as the timer's summary in the Web UI


def deadlines(order: PartyOrder, rules: Rules) -> list[Deadline]:
    """Every instant at which something about the order is due, past ones included.

    The order of the list matters where two fall at one instant (``next_due`` names the
    first), so each part adds its deadlines in the order they always came.
    """
    if not is_watched(order):
        return []
    paused = is_paused(order)  # stop-the-clock: no check-in is due while paused
    found = _check_in_deadlines(order, rules, paused)
    found += _milestone_deadlines(order, rules)
    found += _date_deadlines(order, rules)
    for change in order.change_requests:
        if change.open:
            found.append(
                Deadline(
                    change.received_at + order.tracking_policy.change_resolution_window,
                    f"change request {change.id} resolution window ends",
                )
            )
    found += _next_level(order)
    if rules.never_silent_escalation:
        found += _reminder_and_reopening(order, rules)
    if rules.plan_checkpoints and not paused:
        # Plan checkpoints and check-ins ahead of milestones (workflows/domain/checkpoints.py);
        # while the clock is stopped they wait, and one past due is asked on resuming.
        found += [Deadline(point.at, point.what) for point in due_points(order)]
    return found


def _check_in_deadlines(order: PartyOrder, rules: Rules, paused: bool) -> list[Deadline]:
    found: list[Deadline] = []
    check_ins = order.check_ins
    if check_ins.next_at is not None and not paused:
        found.append(Deadline(check_ins.next_at, "periodic check-in with the party"))
    if (
        not paused
        and check_ins.answer_by is not None
        and (
            rules.wakes_when_windows_end
            or check_ins.unanswered_streak + 1 >= order.tracking_policy.unanswered_check_in_limit
        )
    ):
        # Before ``wakes_when_windows_end``, only worth a wake-up when this unanswered
        # check-in reaches the limit (critical): below it the window was counted at the
        # next wake-up, and an answer after the window but before it scored as on time.
        found.append(Deadline(check_ins.answer_by, "check-in response window ends"))
    return found


def _milestone_deadlines(order: PartyOrder, rules: Rules) -> list[Deadline]:
    found: list[Deadline] = []
    for milestone in order.milestones:
        if rules.cancelled_work_has_no_deadline and has_no_deadline(
            order, milestone.order_item_ids or []
        ):
            continue
        if milestone.status == MilestoneStatus.YET_TO_REACH and milestone.milestone_date:
            found.append(Deadline(milestone.milestone_date, f"milestone {milestone.id} due"))
            found.append(
                Deadline(
                    milestone.milestone_date - order.tracking_policy.warning_lead_time,
                    f"milestone {milestone.id} warning lead time",
                )
            )
    if rules.rolls_up_item_forecasts:
        found += [
            Deadline(item.expected_completion_date, f"order item {item.id} forecast")
            for item in open_items(order)
            if item.expected_completion_date is not None
        ]
    return found


def _date_deadlines(order: PartyOrder, rules: Rules) -> list[Deadline]:
    """The order's own dates: due (or agreed and forecast apart), the warning, the plan."""
    found: list[Deadline] = []
    due = target_date(order, rules)
    agreed, forecast = order.requested_completion_date, order.expected_completion_date
    if not rules.agreed_vs_forecast or agreed is None or forecast is None or agreed == forecast:
        found.append(Deadline(due, "order due date"))
    else:  # rules 2: either date passing is critical
        found.append(Deadline(agreed, "agreed completion date"))
        found.append(Deadline(forecast, "forecast completion date"))
    found.append(
        Deadline(due - order.tracking_policy.warning_lead_time, "due date warning lead time")
    )
    behind = behind_plan_instant(order, rules)
    if behind is not None:
        found.append(Deadline(behind, "progress falls behind plan"))
    return found


def _next_level(order: PartyOrder) -> list[Deadline]:
    """The next escalation level of a standing jeopardy: levels fire in turn."""
    jeopardy = order.jeopardy
    if jeopardy.status == JeopardyStatus.NONE or jeopardy.since is None:
        return []
    for level in order.tracking_policy.escalation:
        if level.level > jeopardy.escalation_level:
            # "after" counts the order's clock: a pause holds the level back.
            at = after_active_time(order, jeopardy.since, level.after)
            return [] if at is None else [Deadline(at, f"escalation level {level.level}")]
    return []


def reminder_due(order: PartyOrder, rules: Rules) -> datetime | None:
    """Rules 2: when the top contact is next reminded of a standing jeopardy, if at all.

    Reminders run once every level has fired, counted from the last word to a contact,
    and pause while the current level is acknowledged and nothing worsened since, and
    while the order's clock is stopped (``pauseWhile``).
    """
    jeopardy = order.jeopardy
    levels = order.tracking_policy.escalation
    if jeopardy.status == JeopardyStatus.NONE or jeopardy.last_escalated_at is None:
        return None
    if levels and jeopardy.escalation_level < levels[-1].level:
        return None  # the next level is still to come
    if not levels and rules.no_levels_no_reminders:
        return None  # no escalation: the order manager hears each worsening, that is all
    if is_acknowledged(order, rules):
        return None
    # Counted on the order's clock: no reminder while paused (None until it resumes).
    return after_active_time(
        order, jeopardy.last_escalated_at, order.tracking_policy.escalation_repeat_interval
    )


def is_acknowledged(order: PartyOrder, rules: Rules) -> bool:
    """The current level was acknowledged and nothing worsened since.

    ``acknowledges_only_what_was_seen``: a worsening at the very instant of the
    acknowledgement (applied in the same workflow task) was not seen by the acknowledger,
    so only an acknowledgement after the worsening counts.
    """
    jeopardy = order.jeopardy
    acknowledged_at, worsened_at = jeopardy.acknowledged_at, jeopardy.worsened_at
    if acknowledged_at is None or jeopardy.acknowledged_level is None:
        return False
    if jeopardy.acknowledged_level < jeopardy.escalation_level:
        return False
    if worsened_at is None:
        return True
    if rules.acknowledges_only_what_was_seen:
        return acknowledged_at > worsened_at
    return acknowledged_at >= worsened_at


def episode_over_at(order: PartyOrder) -> datetime | None:
    """Rules 2: when a cleared episode can no longer come back (then its contacts hear)."""
    cleared = order.jeopardy.cleared_episode
    if cleared is None:
        return None
    return cleared.cleared_at + order.tracking_policy.reopen_within


def _reminder_and_reopening(order: PartyOrder, rules: Rules) -> list[Deadline]:
    found = []
    reminder = reminder_due(order, rules)
    if reminder is not None:
        found.append(Deadline(reminder, "remind the top escalation contact"))
    over = episode_over_at(order)
    if over is not None and order.jeopardy.status == JeopardyStatus.NONE:
        found.append(Deadline(over, "a cleared jeopardy can no longer reopen"))
    return found


def next_due(order: PartyOrder, now: datetime, rules: Rules) -> Deadline | None:
    """The earliest deadline strictly after ``now``; those at or before it are handled."""
    upcoming = [d for d in deadlines(order, rules) if d.at > now]
    return min(upcoming, key=lambda d: d.at, default=None)
