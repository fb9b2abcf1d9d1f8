"""Everything due at an instant, in its order: check-ins and their windows, the forecast
review, milestones, the jeopardy and its escalation."""

from __future__ import annotations

from datetime import datetime

from workflows.domain.checkpoints import take_due
from workflows.domain.effects import Effect
from workflows.domain.jeopardy import assess, is_watched
from workflows.domain.pause import is_paused
from workflows.domain.tracking.changes import review_forecast
from workflows.domain.tracking.check_ins import count_unanswered, send_check_in
from workflows.domain.tracking.context import Tracking
from workflows.domain.tracking.escalation import (
    check_milestones,
    escalate,
    keep_contacts_told,
    set_jeopardy,
)


def advance(t: Tracking, now: datetime) -> list[Effect]:
    """Do everything due at ``now``: check-ins, response windows, milestones, jeopardy."""
    order = t.order
    if not is_watched(order):
        return []
    rules = t.rules
    effects: list[Effect] = []
    check_ins = order.check_ins
    # Stop-the-clock: while paused no window runs out and no check-in is due
    # (resuming re-plans both, see pause.follow_state).
    running = not is_paused(order)
    if running:
        count_unanswered(t, now)
    # ``plan_checkpoints``: the plan's check-ins (checkpoints, and ahead of milestones)
    # come on top of the periodic ones; one check-in asks for all due at this instant.
    planned = take_due(order, now) if rules.plan_checkpoints and running else []
    if running and check_ins.next_at is not None and now >= check_ins.next_at:
        effects.append(send_check_in(t, now, "periodic tracking"))
    elif planned:
        # ``plan_check_ins_on_top``: a plan check-in comes on top of the periodic rhythm,
        # which it leaves where it was (before, it restarted it).
        on_top = rules.plan_check_ins_on_top
        effects.append(
            send_check_in(t, now, "; ".join(p.what for p in planned), restarts_rhythm=not on_top)
        )
    if rules.agreed_vs_forecast:
        effects += review_forecast(t, now)
    effects += check_milestones(t, now)
    update = set_jeopardy(t, assess(order, now, rules), now)
    escalated = escalate(t, now)
    effects += update.effects + escalated
    if rules.never_silent_escalation:
        effects += keep_contacts_told(t, update, escalated, now)
    return effects
