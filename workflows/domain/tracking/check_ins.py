"""Check-ins with the party: periodic, planned and on request, and their response windows."""

from __future__ import annotations

from datetime import datetime, timedelta

from workflows.domain.bounds import RESPONSE_TIMES_KEPT
from workflows.domain.calendar import add_working_time, next_working_instant, working_window
from workflows.domain.effects import Effect
from workflows.domain.instants import iso
from workflows.domain.messages import CheckInRequest
from workflows.domain.model import PartyOrder
from workflows.domain.pause import is_paused
from workflows.domain.tracking.context import Tracking, require_open
from workflows.domain.tracking.notices import notify_party


def check_in_time(order: PartyOrder, due: datetime) -> datetime:
    """When a check-in due at ``due`` goes out: then, or with a party calendar, at the
    party's next working instant."""
    calendar = order.party.calendar
    return due if calendar is None else next_working_instant(calendar, due)


def working_time_after(order: PartyOrder, start: datetime, amount: timedelta) -> datetime:
    """``start`` plus ``amount``, counting only the party's working time when it has a
    calendar (a response window over a weekend waits for Monday)."""
    calendar = order.party.calendar
    return start + amount if calendar is None else add_working_time(calendar, start, amount)


def check_in_now(t: Tracking, request: CheckInRequest, now: datetime) -> list[Effect]:
    require_open(t, "a check-in")
    requested_by = request.requested_by or "enterprise"
    calendar = t.order.party.calendar
    if t.rules.says_why_now and calendar is not None:
        working = next_working_instant(calendar, now)
        if working > now:
            # Asked for now, outside the party's working time: it goes out as asked, and
            # says so (the answer window counts from the party's next working time).
            requested_by += (
                f" (asked outside the party's working time; its working time resumes"
                f" at {iso(working)})"
            )
    return [send_check_in(t, now, requested_by)]


def send_check_in(
    t: Tracking, now: datetime, requested_by: str, restarts_rhythm: bool = True
) -> Effect:
    order = t.order
    check_ins = order.check_ins
    if t.rules.waits_for_open_windows and not is_paused(order):
        count_unanswered(t, now)  # a window that has ended is counted before a new one opens
    window_open = check_ins.answer_by is not None
    # ``waits_for_open_windows``: an open window stands and is counted when it ends, never
    # before (close plan check-ins, a window longer than the interval, a check_in_now
    # while paused); the party still owes that answer, by that time.
    if not (t.rules.waits_for_open_windows and window_open):
        # Before it, an earlier check-in whose window is still open is superseded by this
        # one, and ``counts_superseded_check_ins`` counts it as unanswered: otherwise daily
        # manual check-ins would keep a silent party from being flagged.
        if t.rules.counts_superseded_check_ins and window_open:
            check_ins.unanswered_streak += 1
        check_ins.awaiting_since = now
        window = order.tracking_policy.response_window
        calendar = order.party.calendar
        if t.rules.window_in_working_time and calendar is not None:
            window = working_window(calendar, window)  # its days are working days
        check_ins.answer_by = working_time_after(order, now, window)
    assert check_ins.answer_by is not None  # open before, or opened here
    check_ins.sent += 1
    if restarts_rhythm:
        check_ins.next_at = check_in_time(order, now + order.tracking_policy.check_in_interval)
    return notify_party(
        t,
        "checkIn",
        f"Progress check-in on order {order.id}",
        now,
        {
            "requestedBy": requested_by,
            "answerBy": iso(check_ins.answer_by),
            "checkInNumber": check_ins.sent,
        },
    )


def count_unanswered(t: Tracking, now: datetime) -> None:
    """A check-in whose response window has ended unanswered counts in the streak."""
    check_ins = t.order.check_ins
    if check_ins.answer_by is not None and now >= check_ins.answer_by:
        check_ins.unanswered_streak += 1
        check_ins.awaiting_since = None
        check_ins.answer_by = None


def party_answered(t: Tracking, now: datetime) -> None:
    """Any report from the party answers the open check-in and restarts the rhythm."""
    order = t.order
    check_ins = order.check_ins
    if check_ins.awaiting_since is not None:
        check_ins.answered += 1
        waited = int((now - check_ins.awaiting_since).total_seconds())
        check_ins.response_seconds.append(waited)
        del check_ins.response_seconds[:-RESPONSE_TIMES_KEPT]
    check_ins.unanswered_streak = 0
    check_ins.awaiting_since = None
    check_ins.answer_by = None
    check_ins.next_at = check_in_time(order, now + order.tracking_policy.check_in_interval)
