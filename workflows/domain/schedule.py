"""One source of deadlines: the next instant anything about an order is due.

After every message and every wake-up the workflow asks ``next_due`` and keeps one timer
for that instant (``workflows/deadline_timer.py``). When a date moves, the answer moves
with it and the workflow replaces its timer; a timer for a deadline that no longer stands
is cancelled, never acted on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from workflows.domain.jeopardy import behind_plan_instant, is_watched
from workflows.domain.model import JeopardyStatus, MilestoneStatus, PartyOrder


@dataclass(frozen=True)
class Deadline:
    at: datetime
    what: str  # shown as the timer's summary in the Web UI


def deadlines(order: PartyOrder) -> list[Deadline]:
    """Every instant at which something about the order is due, past ones included."""
    if not is_watched(order):
        return []
    policy = order.tracking_policy
    found: list[Deadline] = []
    check_ins = order.check_ins
    if check_ins.next_at is not None:
        found.append(Deadline(check_ins.next_at, "periodic check-in with the party"))
    if (
        check_ins.answer_by is not None
        and check_ins.unanswered_streak + 1 >= policy.unanswered_check_in_limit
    ):
        # Only worth a wake-up when this unanswered check-in reaches the limit (critical).
        # Below the limit it is counted at the next wake-up (the next check-in at the
        # latest), which keeps a quiet check-in cycle to one timer and one activity.
        found.append(Deadline(check_ins.answer_by, "check-in response window ends"))

    for milestone in order.milestones:
        if milestone.status == MilestoneStatus.YET_TO_REACH and milestone.milestone_date:
            found.append(Deadline(milestone.milestone_date, f"milestone {milestone.id} due"))
            found.append(
                Deadline(
                    milestone.milestone_date - policy.warning_lead_time,
                    f"milestone {milestone.id} warning lead time",
                )
            )

    due = order.due_date
    found.append(Deadline(due, "order due date"))
    found.append(Deadline(due - policy.warning_lead_time, "due date warning lead time"))
    behind = behind_plan_instant(order)
    if behind is not None:
        found.append(Deadline(behind, "progress falls behind plan"))

    for change in order.change_requests:
        if change.open:
            found.append(
                Deadline(
                    change.received_at + policy.change_resolution_window,
                    f"change request {change.id} resolution window ends",
                )
            )

    jeopardy = order.jeopardy
    if jeopardy.status != JeopardyStatus.NONE and jeopardy.since is not None:
        for level in policy.escalation:
            if level.level > jeopardy.escalation_level:
                found.append(
                    Deadline(jeopardy.since + level.after, f"escalation level {level.level}")
                )
                break  # levels fire in turn: only the next one is due
    return found


def next_due(order: PartyOrder, now: datetime) -> Deadline | None:
    """The earliest deadline strictly after ``now``; those at or before it are handled."""
    upcoming = [d for d in deadlines(order) if d.at > now]
    return min(upcoming, key=lambda d: d.at, default=None)
