"""Progress reports, for the order and (``order_items``) for each of its items."""

from __future__ import annotations

from datetime import datetime

from workflows.domain.bounds import COMPLETED_AT_SLACK
from workflows.domain.effects import Effect
from workflows.domain.instants import iso
from workflows.domain.items import (
    complete_open_items,
    is_final,
    latest_item_forecast,
    weighted_percent,
)
from workflows.domain.messages import ItemProgress, ProgressReport, describe_value
from workflows.domain.model import ItemState, MilestoneStatus, NoteVisibility, OrderState
from workflows.domain.notes import add_note
from workflows.domain.tracking.check_ins import party_answered
from workflows.domain.tracking.context import MessageRejected, Tracking, require_open, transition
from workflows.domain.tracking.ending import complete, roll_up_items
from workflows.domain.tracking.notices import state_told_to_process


def report_progress(t: Tracking, report: ProgressReport, now: datetime) -> list[Effect]:
    require_open(t, "a progress report")
    started = t.order.state == OrderState.ACKNOWLEDGED
    effects = _apply_report(t, report, now)
    if t.rules.tells_process_of_states and started and not t.order.is_final:
        # The party's first report started the work: nobody else would hear of it
        # (a delivery in the same report is told as the completion alone).
        effects.insert(0, state_told_to_process(t, now))
    return effects


def _check_report(t: Tracking, report: ProgressReport, now: datetime) -> None:
    """Refuse, before anything changes, a report that cannot be applied."""
    for item in report.milestones or []:
        if t.order.milestone(item.id) is None:
            raise MessageRejected(f"milestones: unknown milestone {item.id!r}")
        completed_at = item.completed_at
        if t.rules.checks_consistency and completed_at and completed_at > now + COMPLETED_AT_SLACK:
            raise MessageRejected(
                f"milestones.completedAt: {iso(completed_at)} is in the future;"
                f" a completion must lie before {iso(now + COMPLETED_AT_SLACK)}"
            )
    _check_item_progress(t, report.order_items or [], report.source)
    if t.rules.strict_wire:
        _refuse_past_forecasts(report, now)


def _refuse_past_forecasts(report: ProgressReport, now: datetime) -> None:
    """``strict_wire``: a forecast says when the work will be done, so it cannot lie in
    the past (a date in 1900 would page level 1 at once)."""
    forecasts = [("expectedCompletionDate", report.expected_completion_date)] + [
        (f"orderItems.{index}.expectedCompletionDate", item.expected_completion_date)
        for index, item in enumerate(report.order_items or [])
    ]
    for field, forecast in forecasts:
        if forecast is not None and forecast < now:
            raise MessageRejected(
                f"{field}: {iso(forecast)} is in the past; a forecast lies after {iso(now)}"
            )


def _apply_report(t: Tracking, report: ProgressReport, now: datetime) -> list[Effect]:
    _check_report(t, report, now)
    order = t.order
    rules = t.rules
    if order.state == OrderState.ACKNOWLEDGED:
        transition(t, OrderState.IN_PROGRESS, now, "first progress report")
    author = order.party.name if report.source == "party" else "enterprise"
    mixed = (
        rules.notes_mixed_percent
        and report.percent_complete is not None
        and bool(report.order_items)
        and bool(order.order_items)
    )
    if report.percent_complete is not None and not mixed:
        order.percent_complete = report.percent_complete
    for item in report.milestones or []:
        milestone = order.milestone(item.id)
        assert milestone is not None
        if item.status == MilestoneStatus.COMPLETED:
            milestone.status = MilestoneStatus.COMPLETED
            milestone.completed_at = item.completed_at or now
        elif rules.milestone_violated_once and milestone.status == MilestoneStatus.VIOLATED:
            pass  # still not reached: it stays violated (and is not violated again)
        else:
            milestone.status = MilestoneStatus.YET_TO_REACH
            milestone.completed_at = None
    if report.expected_completion_date is not None:
        order.expected_completion_date = report.expected_completion_date
    if report.note is not None:
        order.last_note = report.note
    # A party's own words are its to read again; the enterprise's stay internal.
    visibility: NoteVisibility = "party" if report.source == "party" else "internal"
    if rules.notes:
        add_note(order, author, report.note, now, visibility)
    if rules.order_items:
        _apply_item_progress(t, report.order_items or [], author, now, visibility)
        if rules.rolls_up_item_forecasts and any(
            item.expected_completion_date for item in report.order_items or []
        ):
            roll_up_forecast(t, report.expected_completion_date)
    if mixed:
        # ``notes_mixed_percent``: the items' roll-up wins, and the percent sent for the
        # order as a whole is kept as a note, never dropped.
        add_note(
            order,
            author,
            f"Reported {report.percent_complete}% complete for the order as a whole; the"
            f" order's percent comes from its items: {order.percent_complete}%",
            now,
            visibility,
        )
    order.last_progress_at = now
    if report.source == "party":
        party_answered(t, now)
    if report.delivered:
        if rules.order_items and order.order_items:
            complete_open_items(order)
            return roll_up_items(t, now)
        return complete(t, now)
    return roll_up_items(t, now) if rules.order_items else []


def _check_item_progress(t: Tracking, reports: list[ItemProgress], source: str) -> None:
    """Refuse, before anything changes, an item report that cannot be applied."""
    seen: set[str] = set()
    for report in reports:
        if (
            t.rules.party_cannot_cancel_items
            and source == "party"
            and report.state == ItemState.CANCELLED
        ):
            # A cancellation is agreed by the originating process, never reported: else a
            # party could cancel the whole order by itself, item by item.
            raise MessageRejected(
                f"orderItems.state: the party cannot cancel order item"
                f" {describe_value(report.id)} by a progress report; ask for it with"
                " request_change (a cancellation is agreed), or report it failed"
            )
        item = t.order.order_item(report.id)
        if item is None:
            raise MessageRejected(f"orderItems: unknown order item {describe_value(report.id)}")
        if report.id in seen:
            raise MessageRejected(
                f"orderItems: order item {describe_value(report.id)} is reported twice"
            )
        seen.add(report.id)
        if is_final(item) and report.state is not None and report.state != item.state:
            raise MessageRejected(
                f"orderItems: order item {describe_value(report.id)} is {item.state}, a final"
                f" state; it cannot become {report.state}"
            )


def _apply_item_progress(
    t: Tracking,
    reports: list[ItemProgress],
    author: str,
    now: datetime,
    visibility: NoteVisibility = "internal",
) -> None:
    order = t.order
    for report in reports:
        item = order.order_item(report.id)
        assert item is not None  # checked above
        if report.state is not None:
            item.state = ItemState(report.state)
        if report.percent_complete is not None:
            item.percent_complete = report.percent_complete
        if item.state == ItemState.COMPLETED:
            item.percent_complete = 100
        if report.expected_completion_date is not None:
            item.expected_completion_date = report.expected_completion_date
        if report.note is not None:
            add_note(order, author, f"Order item {item.id}: {report.note}", now, visibility)
    if reports:
        derive_percent(t)


def roll_up_forecast(t: Tracking, reported: datetime | None = None) -> None:
    """``rolls_up_item_forecasts``: the order is done when its open items are, so its
    forecast is the latest of theirs (the forecast rule then applies to it), or the
    order's own forecast ``reported`` in the same message, when that is later."""
    order = t.order
    latest = latest_item_forecast(order)
    if latest is None:
        return
    order.expected_completion_date = latest if reported is None else max(latest, reported)


def derive_percent(t: Tracking) -> None:
    """The order's percent complete, from its items (the mean weighted by quantity)."""
    percent = weighted_percent(t.order.order_items)
    if percent is not None:
        t.order.percent_complete = percent
