"""Change requests: recorded and forwarded to the originating process, resolved by it,
and (``agreed_vs_forecast``) asked for when the party forecasts past the agreed date."""

from __future__ import annotations

from datetime import date, datetime

from workflows.domain.bounds import MAX_CHANGE_REQUESTS, MAX_ORDER_ITEMS
from workflows.domain.calendar import next_working_instant
from workflows.domain.checkpoints import (
    apply_plan_changes,
    check_plan_changes,
    check_plan_counts,
    plan_growth,
)
from workflows.domain.effects import Effect, ForwardChangeRequest, Notify, ResolveHolidays
from workflows.domain.holidays import HolidayRequest, add_resolved_holidays, holidays_to_resolve
from workflows.domain.instants import iso
from workflows.domain.items import is_final
from workflows.domain.messages import ChangeRequestMessage, ChangeResolution, describe_value
from workflows.domain.model import (
    ChangeRequest,
    ChangeSet,
    ItemState,
    MilestoneStatus,
    OrderItem,
    check_item_chars,
)
from workflows.domain.notes import add_note
from workflows.domain.tracking.context import MessageRejected, Tracking, require_open
from workflows.domain.tracking.ending import roll_up_items
from workflows.domain.tracking.notices import notify_party, notify_process
from workflows.domain.tracking.progress import derive_percent, roll_up_forecast


def request_change(t: Tracking, message: ChangeRequestMessage, now: datetime) -> list[Effect]:
    require_open(t, "a change request")
    check_change_targets(t, message.changes)
    change_id = message.request_id or _next_change_request_id(t)
    if t.order.change_request(change_id) is not None:
        raise MessageRejected(f"requestId: change request {change_id!r} already exists")
    return [_open_change(t, change_id, message, now, accounted=True)]


def _open_change(
    t: Tracking,
    change_id: str,
    message: ChangeRequestMessage,
    now: datetime,
    accounted: bool = False,
) -> ForwardChangeRequest:
    """Record a change request and forward it to the originating process."""
    order = t.order
    if t.rules.bounded and len(order.change_requests) >= MAX_CHANGE_REQUESTS:
        raise MessageRejected(
            f"changeRequests: order {order.id} has {len(order.change_requests)} change"
            f" requests; at most {MAX_CHANGE_REQUESTS} are allowed"
        )
    change = ChangeRequest(
        id=change_id,
        origin=message.origin,
        kind=message.kind,
        reason=message.reason,
        changes=message.changes,
        received_at=now,
    )
    if accounted and t.rules.bounded_work_per_message:
        # With the comma that separates it from the requests before it.
        t.size.grow(order, len(change.model_dump_json()) + (1 if order.change_requests else 0))
    order.change_requests.append(change)
    forwarded = notify_process(
        t,
        "changeRequest",
        f"Change request {change_id} on order {order.id} needs a resolution",
        now,
        {"changeRequest": change.to_json_dict()},
    )
    return ForwardChangeRequest(forwarded, change_id)


def _next_change_request_id(t: Tracking) -> str:
    """``CR-n`` numbered in arrival order, skipping ids a client already chose."""
    number = len(t.order.change_requests) + 1
    while t.order.change_request(f"CR-{number}") is not None:
        number += 1
    return f"CR-{number}"


def change_forwarded(t: Tracking, change_request_id: str) -> None:
    """The originating process has the change request (the forwarding activity ended)."""
    change = t.order.change_request(change_request_id)
    if change is not None and change.status == "received":
        change.status = "forwarded"


def check_change_targets(t: Tracking, changes: ChangeSet) -> None:
    """Refuse a change whose targets do not exist or cannot change that way."""
    if t.rules.plan_checkpoints:
        try:
            check_plan_changes(t.order, changes)
        except ValueError as error:
            raise MessageRejected(str(error)) from None
    else:
        for item in changes.milestones or []:
            if t.order.milestone(item.id) is None:
                raise MessageRejected(f"changes.milestones: unknown milestone {item.id!r}")
    if t.rules.order_items:
        _check_item_changes(t, changes.order_items or [])


def _check_item_changes(t: Tracking, changes: list[OrderItem]) -> None:
    """``order_items``: a change may cancel an open item; an item's progress is reported."""
    for change in changes:
        item = t.order.order_item(change.id)
        if change.state is None:
            continue
        if change.state != ItemState.CANCELLED:
            raise MessageRejected(
                f"changes.orderItems.state: {describe_value(change.state.value)} cannot be"
                " agreed by a change; only cancelled can (progress is reported with"
                " report_progress)"
            )
        if item is None:
            raise MessageRejected(
                f"changes.orderItems: unknown order item {describe_value(change.id)};"
                " a new item cannot be added cancelled"
            )
        if is_final(item) and item.state != ItemState.CANCELLED:
            raise MessageRejected(
                f"changes.orderItems: order item {describe_value(change.id)} is"
                f" {item.state}, a final state; it cannot be cancelled"
            )


def resolve_change(t: Tracking, resolution: ChangeResolution, now: datetime) -> list[Effect]:
    require_open(t, "a change resolution")
    order = t.order
    change = order.change_request(resolution.change_request_id)
    if change is None:
        raise MessageRejected(
            f"changeRequestId: no change request {resolution.change_request_id!r}"
            f" on order {order.id}"
        )
    if not change.open:
        raise MessageRejected(
            f"changeRequestId: change request {change.id} was already {change.status}"
        )
    accepted = resolution.decision == "accepted"
    if accepted:
        check_change_targets(t, change.changes)
        if t.rules.bounded_work_per_message:
            if t.rules.plan_checkpoints:
                # Counted before the plan changes: nothing is undone under these rules.
                try:
                    check_plan_counts(order, change.changes)
                except ValueError as error:
                    raise MessageRejected(str(error)) from None
            t.size.grow(order, _growth(t, change.changes) + _resolution_chars(resolution))
        _apply_changes(t, change.changes, now)
    elif t.rules.bounded_work_per_message:
        t.size.grow(order, _resolution_chars(resolution))
    change.status = resolution.decision
    change.resolved_at = now
    change.resolved_by = resolution.resolved_by
    change.note = resolution.note
    effects: list[Effect] = [
        notify_party(
            t,
            "changeResolved",
            f"Change request {change.id} on order {order.id} {resolution.decision}",
            now,
            {"changeRequest": change.to_json_dict()},
        )
    ]
    if t.rules.notes:
        author = resolution.resolved_by or order.originating_process.name
        add_note(order, author, resolution.note, now)
    if t.rules.order_items and accepted and change.changes.order_items:
        derive_percent(t)
        if t.rules.rolls_up_item_forecasts and any(
            item.expected_completion_date for item in change.changes.order_items
        ):
            roll_up_forecast(t, change.changes.expected_completion_date)
        effects += roll_up_items(t, now)  # the last open item may have been cancelled
    missing = holidays_to_resolve(order) if accepted and not order.is_final else None
    if missing is not None:
        effects.append(ResolveHolidays(missing))  # the dates moved past the known holidays
    return effects


def holidays_resolved(
    t: Tracking, request: HolidayRequest, dates: list[date], now: datetime
) -> None:
    """The party's country holidays for more years (the answer to ResolveHolidays):
    stored on the calendar, and the next check-in kept off any of them."""
    order = t.order
    add_resolved_holidays(order, request, dates, now)
    calendar = order.party.calendar
    if calendar is not None and order.check_ins.next_at is not None:
        order.check_ins.next_at = next_working_instant(calendar, order.check_ins.next_at)


def _apply_changes(t: Tracking, changes: ChangeSet, now: datetime) -> None:
    order = t.order
    if changes.expected_completion_date is not None:
        order.expected_completion_date = changes.expected_completion_date
    if changes.requested_completion_date is not None:
        order.requested_completion_date = changes.requested_completion_date
    if t.rules.plan_checkpoints:
        try:
            apply_plan_changes(order, changes, now)
        except ValueError as error:
            raise MessageRejected(str(error)) from None
    else:
        for item in changes.milestones or []:
            milestone = order.milestone(item.id)
            assert milestone is not None and item.milestone_date is not None
            milestone.milestone_date = item.milestone_date
            # A violated milestone given a new, later date is back on plan.
            if milestone.status == MilestoneStatus.VIOLATED and item.milestone_date > now:
                milestone.status = MilestoneStatus.YET_TO_REACH
    for new_item in changes.order_items or []:
        _upsert_item(t, new_item)
    if t.rules.bounded and len(order.order_items) > MAX_ORDER_ITEMS:
        raise MessageRejected(
            f"changes.orderItems: the order would have {len(order.order_items)} items;"
            f" at most {MAX_ORDER_ITEMS} are allowed"
        )


def _resolution_chars(resolution: ChangeResolution) -> int:
    """What a resolution adds to its change request: resolvedAt, resolvedBy, note."""
    return 100 + len(resolution.model_dump_json(include={"resolved_by", "note"}))


def _growth(t: Tracking, changes: ChangeSet) -> int:
    """``bounded_work_per_message``: how much accepting ``changes`` can make the order
    grow, measured on what the change names only; MessageRejected (or ValueError, for
    an item whose merge would be invalid) for a change that cannot be applied, before
    anything changes."""
    order = t.order
    growth = 0
    added: set[str] = set()
    for new_item in changes.order_items or []:
        item = order.order_item(new_item.id)
        if item is None:
            added.add(new_item.id)
            # The item as kept (with its state), and the comma before it.
            growth += 1 + len(new_item.model_dump_json()) + len('"state":"acknowledged",')
        else:
            merged = {**item.model_dump(), **new_item.model_dump(exclude_unset=True)}
            after = OrderItem.model_validate(merged).model_dump_json()
            growth += max(0, len(after) - len(item.model_dump_json()))
    if len(order.order_items) + len(added) > MAX_ORDER_ITEMS:
        raise MessageRejected(
            f"changes.orderItems: the order would have {len(order.order_items) + len(added)}"
            f" items; at most {MAX_ORDER_ITEMS} are allowed"
        )
    return growth + plan_growth(changes)


def _upsert_item(t: Tracking, new_item: OrderItem) -> None:
    items = t.order.order_items
    for index, item in enumerate(items):
        if item.id == new_item.id:
            if t.rules.merges_item_changes:
                # Field by field: a change names only what changes (rules 1 replaced the
                # whole item, dropping every field not sent again).
                merged = {**item.model_dump(), **new_item.model_dump(exclude_unset=True)}
                items[index] = OrderItem.model_validate(merged)
                if not t.rules.bounds_what_senders_give:
                    # Rules 1 to 4 measured the merged item with its tracked state.
                    check_item_chars(items[index], tracked=True)
            else:
                items[index] = new_item
            return
    if t.rules.order_items and new_item.state is None:
        new_item = new_item.model_copy(update={"state": ItemState.ACKNOWLEDGED})
    items.append(new_item)


def review_forecast(t: Tracking, now: datetime) -> list[Effect]:
    """``agreed_vs_forecast``: a forecast past the agreed date asks the originating
    process to agree it.

    Opened once per forecast: a rejected request is not asked again until the party
    forecasts another date. Skipped while a change to the agreed date is open.
    """
    order = t.order
    agreed = order.requested_completion_date
    forecast = order.expected_completion_date
    if agreed is None or forecast is None or forecast <= agreed:
        t.state.forecast_reviewed = None
        return _withdraw_stale(t, now) if t.rules.withdraws_stale_requests else []
    if t.state.forecast_reviewed == forecast:
        return []
    asking = [c for c in order.change_requests if c.open and c.changes.requested_completion_date]
    if t.rules.asks_every_slip and asking:
        # Only the date an open request already asks for counts as reviewed: a later
        # slip is put to the process once that request is closed (the next wake-up).
        if any(c.changes.requested_completion_date == forecast for c in asking):
            t.state.forecast_reviewed = forecast
        return []
    t.state.forecast_reviewed = forecast
    if asking:
        return []
    if t.rules.asks_a_rejected_date_once and any(
        c.status == "rejected" and c.changes.requested_completion_date == forecast
        for c in order.change_requests
    ):
        return []  # this date was refused already: the order stays critical, unasked
    if len(order.change_requests) >= MAX_CHANGE_REQUESTS:
        return []  # the order stays critical; nothing more can be asked
    message = ChangeRequestMessage(
        origin="party",
        kind="requested",
        reason=f"the party forecasts {iso(forecast)}, later than the agreed date {iso(agreed)}",
        changes=ChangeSet(requested_completion_date=forecast),
    )
    opened = _open_change(t, _next_change_request_id(t), message, now)
    if t.rules.withdraws_stale_requests:
        t.state.automatic_change_requests.append(opened.change_request_id)
        del t.state.automatic_change_requests[:-MAX_CHANGE_REQUESTS]
    return [opened]


def _withdraw_stale(t: Tracking, now: datetime) -> list[Effect]:
    """``withdraws_stale_requests``: the forecast is back within the agreed date, so a
    request the order opened by itself to move the agreed date asks for nothing any
    more: withdrawn, with the reason, and the originating process told."""
    order = t.order
    effects: list[Effect] = []
    for change_id in t.state.automatic_change_requests:
        change = order.change_request(change_id)
        if change is None or not change.open:
            continue
        change.status = "withdrawn"
        change.resolved_at = now
        change.note = "withdrawn: the forecast is back within the agreed date"
        withdrawn = notify_process(
            t,
            "changeWithdrawn",
            f"Change request {change.id} on order {order.id} is withdrawn: the forecast is"
            " back within the agreed date",
            now,
            {"changeRequest": change.to_json_dict()},
        )
        effects.append(Notify(withdrawn))
    t.state.automatic_change_requests.clear()
    return effects
