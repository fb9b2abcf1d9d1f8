"""Stop-the-clock: the order's clock stands still while it is in a ``pauseWhile`` state.

An order held on purpose (``trackingPolicy.pauseWhile: ["held"]``) is not late for
talking to the party or for escalating while it waits. So, while a pause runs:

* no periodic check-in goes out and an open check-in's response window does not run out
  (the unanswered count stands still);
* escalation levels and reminders wait: their "after" counts only time outside pauses;
* behind-plan is measured on the order's own clock, which excludes every pause.

The agreed date, the forecast, milestone dates and change-resolution windows are dates
agreed with others: they keep counting, and passing them is still critical.

When the order leaves the paused states the pause ends (``pauses[-1].endDateTime``), its
length is added to ``pausedFor``, and the check-in plan is moved on by the time the clock
stood still. Every other deadline is derived from these records by ``deadlines.next_due``,
the one deadline source, so nothing planned before the pause can fire stale.

Pure functions of the order and an instant, like the rest of the core.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from workflows.domain.bounds import PAUSES_KEPT
from workflows.domain.calendar import PartyCalendar, add_working_time, next_working_instant
from workflows.domain.calendar import working_time_between as calendar_time_between
from workflows.domain.instants import in_words, iso
from workflows.domain.model import PartyOrder, PausableState, Pause

_ZERO = timedelta(0)


def current_pause(order: PartyOrder) -> Pause | None:
    """The pause that is running, if any."""
    if order.pauses and order.pauses[-1].end_date_time is None:
        return order.pauses[-1]
    return None


def is_paused(order: PartyOrder) -> bool:
    return current_pause(order) is not None


def follow_state(order: PartyOrder, now: datetime) -> None:
    """Start or end a pause for the state the order has just entered.

    Called on every change of state. A change from one paused state to another keeps
    the one pause running; leaving the paused states ends it and re-plans check-ins.
    """
    should_pause = order.state.value in order.tracking_policy.pause_while
    running = current_pause(order)
    if should_pause and running is None:
        state: PausableState = "held" if order.state.value == "held" else "pending"
        order.pauses.append(Pause(state=state, start_date_time=now))
        del order.pauses[:-PAUSES_KEPT]
    elif not should_pause and running is not None:
        running.end_date_time = now
        order.paused_for += now - running.start_date_time
        _replan_check_ins(order, running.start_date_time, now)


def paused_total(order: PartyOrder, now: datetime) -> timedelta:
    """All the time the clock stood still up to ``now``: ``pausedFor`` and the running pause."""
    running = current_pause(order)
    ongoing = max(_ZERO, now - running.start_date_time) if running is not None else _ZERO
    return order.paused_for + ongoing


def paused_between(order: PartyOrder, start: datetime, end: datetime) -> timedelta:
    """How much of ``start`` to ``end`` lies in pauses (the newest PAUSES_KEPT of them)."""
    total = _ZERO
    for pause in order.pauses:
        begin = max(start, pause.start_date_time)
        finish = min(end, pause.end_date_time or end)
        if finish > begin:
            total += finish - begin
    return total


def active_time(order: PartyOrder, since: datetime, now: datetime) -> timedelta:
    """Time on the order's clock from ``since`` to ``now``: pauses excluded."""
    return (now - since) - paused_between(order, since, now)


def after_active_time(order: PartyOrder, since: datetime, amount: timedelta) -> datetime | None:
    """The first instant at which ``amount`` of the order's clock has run since ``since``.

    ``None`` when the running pause stops the clock before then: the instant is not known
    until the pause ends. Agrees exactly with ``active_time``: ``active_time(order, since,
    t) >= amount`` holds from this instant on, and not before.
    """
    cursor, left = since, amount
    for pause in order.pauses:
        end = pause.end_date_time
        if end is not None and end <= cursor:
            continue
        if pause.start_date_time > cursor:
            gap = pause.start_date_time - cursor
            if gap >= left:
                return cursor + left
            left -= gap
            cursor = pause.start_date_time
        if left <= _ZERO:
            return cursor  # reached at the pause's start, or inside it for nothing to run
        if end is None:
            return None
        cursor = end
    return cursor + left


def order_clock(order: PartyOrder, now: datetime) -> datetime:
    """Where the order's own clock stands at ``now``: real time less every pause
    (``pausedFor`` and the running one). Behind-plan is measured by it."""
    return now - paused_total(order, now)


def clock_instant_to_real(order: PartyOrder, clock_instant: datetime) -> datetime | None:
    """The real instant at which the order's clock shows ``clock_instant``, from the pauses
    so far; ``None`` while paused (the clock does not move)."""
    if is_paused(order):
        return None
    return clock_instant + order.paused_for


def _replan_check_ins(order: PartyOrder, paused_at: datetime, resumed_at: datetime) -> None:
    """Move the check-in plan on by the time the clock stood still.

    The open check-in keeps the working time its window had left when the pause began (a
    check-in sent during the pause gets its whole window after it). The next periodic
    check-in comes as long after resuming as it was due after pausing, at most one
    interval (a party answer during the pause restarted the rhythm from then).
    """
    check_ins = order.check_ins
    policy = order.tracking_policy
    calendar = order.party.calendar
    if check_ins.answer_by is not None:
        window_from = max(paused_at, check_ins.awaiting_since or paused_at)
        left = _working_between(calendar, window_from, check_ins.answer_by)
        check_ins.answer_by = _working_after(calendar, resumed_at, left)
    if check_ins.next_at is not None:
        left = min(policy.check_in_interval, max(_ZERO, check_ins.next_at - paused_at))
        due = resumed_at + left
        check_ins.next_at = due if calendar is None else next_working_instant(calendar, due)


def _working_between(calendar: PartyCalendar | None, start: datetime, end: datetime) -> timedelta:
    if calendar is None:
        return max(_ZERO, end - start)
    return calendar_time_between(calendar, start, end)


def _working_after(calendar: PartyCalendar | None, start: datetime, amount: timedelta) -> datetime:
    return start + amount if calendar is None else add_working_time(calendar, start, amount)


def paused_text(order: PartyOrder, now: datetime) -> str | None:
    """One line for people (the Web UI's details, ``party-orders show``), or None when the
    order was never paused."""
    running = current_pause(order)
    if running is not None:
        return (
            f"Clock stopped: {running.state} since {iso(running.start_date_time, 'seconds')}"
            f" (pauseWhile); paused for {in_words(paused_total(order, now))} in all"
        )
    if order.paused_for > _ZERO:
        count = len(order.pauses)
        return f"Paused for {in_words(order.paused_for)} ({count} pause{'s' * (count != 1)})"
    return None
