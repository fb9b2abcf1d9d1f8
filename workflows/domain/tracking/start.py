"""The start of tracking: the checks a start input must pass, and the order as it begins."""

from __future__ import annotations

from datetime import datetime, timedelta

from workflows.domain.bounds import COMPLETED_AT_SLACK, START_INPUT_CHARS_LIMIT
from workflows.domain.calendar import (
    next_working_instant,
    working_time_between,
    working_window,
)
from workflows.domain.instants import iso, iso_duration
from workflows.domain.items import is_final
from workflows.domain.messages import describe_value
from workflows.domain.model import (
    ItemState,
    OrderState,
    PartyOrder,
    PartyOrderSpec,
    StateChange,
    check_item_chars,
)
from workflows.domain.rules import Rules
from workflows.domain.tracking.check_ins import check_in_time
from workflows.domain.tracking.context import TrackerState


def begin(
    spec: PartyOrderSpec, now: datetime, tracking_id: str | None, rules: Rules
) -> TrackerState:
    """The state of a tracking that begins: the order ``acknowledged``, its first
    check-in planned. Raises ValueError (naming the field) for a start input its rules
    refuse."""
    if not rules.bounds_what_senders_give:
        # Rules 1 to 4 measured a start input's items with any state given in them.
        for item in spec.order_items:
            check_item_chars(item, tracked=True)
    order = PartyOrder.model_validate(spec.model_dump())
    if rules.old_message_models:
        _refuse_rules_3_start_fields(spec)
    else:
        _check_items_and_plan(spec)
        for item in order.order_items:
            item.state = item.state or ItemState.ACKNOWLEDGED
    if rules.checks_consistency:
        _check_consistency(spec, now)
    if rules.window_in_working_time:
        _fit_window_to_calendar(order, now)
    # The agreed date is the requested one; given only a forecast, that is it.
    if rules.agreed_vs_forecast and order.requested_completion_date is None:
        order.requested_completion_date = order.expected_completion_date
    order.tracking_id = tracking_id
    if order.order_date is None:
        order.order_date = now
    order.check_ins.next_at = check_in_time(order, now + order.tracking_policy.check_in_interval)
    order.state_history.append(
        StateChange(at=now, to_state=OrderState.ACKNOWLEDGED, reason="tracking started")
    )
    return TrackerState(order=order, rules_version=rules.version)


def _fit_window_to_calendar(order: PartyOrder, now: datetime) -> None:
    """``window_in_working_time``: with a calendar, the response window (its days counted
    as working days) must fit in the working time of one check-in interval, measured from
    the party's next working instant, so that a check-in is answered or counted before
    the next one goes out."""
    calendar = order.party.calendar
    if calendar is None:
        return
    policy = order.tracking_policy
    window = working_window(calendar, policy.response_window)
    begins = next_working_instant(calendar, now)
    available = working_time_between(calendar, begins, begins + policy.check_in_interval)
    if window > available:
        raise ValueError(
            f"trackingPolicy.responseWindow: {iso_duration(policy.response_window)} is"
            f" {_hours(window)} of the party's working time, longer than the working"
            f" time in one checkInInterval ({iso_duration(policy.check_in_interval)} holds"
            f" {_hours(available)}); a check-in must be answered or counted before"
            " the next one"
        )


def _hours(amount: timedelta) -> str:
    """Working time as ISO 8601 hours (``PT40H``): working days have no fixed length."""
    minutes = int(amount.total_seconds()) // 60
    return f"PT{minutes // 60}H" + (f"{minutes % 60}M" if minutes % 60 else "")


def _check_consistency(spec: PartyOrderSpec, now: datetime) -> None:
    """``checks_consistency``: what a start input must satisfy across its fields."""
    dates = [
        (name, date)
        for name, date in (
            ("requestedCompletionDate", spec.requested_completion_date),
            ("expectedCompletionDate", spec.expected_completion_date),
        )
        if date is not None
    ]
    if spec.order_date is not None:
        for name, date in dates:
            if spec.order_date > date:
                raise ValueError(
                    f"orderDate: {iso(spec.order_date)} is after {name} {iso(date)};"
                    " an order is placed before it is due"
                )
    _unique("orderItems", [item.id for item in spec.order_items])
    for milestone in spec.milestones:
        if milestone.completed_at and milestone.completed_at > now + COMPLETED_AT_SLACK:
            raise ValueError(
                f"milestones.completedAt: {iso(milestone.completed_at)} (milestone"
                f" {milestone.id}) is in the future; a completion must lie before"
                f" {iso(now + COMPLETED_AT_SLACK)}"
            )
    check_start_input_size(spec)


def check_start_input_size(spec: PartyOrderSpec) -> None:
    """Raise ValueError, naming the bound, for a start input past START_INPUT_CHARS_LIMIT
    characters of JSON (also checked where orders enter, before anything is started)."""
    size = len(spec.model_dump_json())
    if size > START_INPUT_CHARS_LIMIT:
        raise ValueError(
            f"the order is {size} characters of JSON; at most {START_INPUT_CHARS_LIMIT}"
            " are accepted"
        )


def _refuse_rules_3_start_fields(spec: PartyOrderSpec) -> None:
    """``old_message_models``: a start input with fields the models of rules 1 and 2 did
    not know is invalid (as it was then: such an order failed at start, and must on
    replay)."""
    if spec.checkpoints:
        raise ValueError("checkpoints: Extra inputs are not permitted")
    if spec.tracking_policy.check_in_before_milestone is not None:
        raise ValueError("trackingPolicy.checkInBeforeMilestone: Extra inputs are not permitted")
    for milestone in spec.milestones:
        if milestone.order_item_ids is not None or milestone.check_in_asked_for is not None:
            raise ValueError(
                f"milestones: milestone {milestone.id}: Extra inputs are not permitted"
            )


def _check_items_and_plan(spec: PartyOrderSpec) -> None:
    """Rules 3: items, milestones and checkpoints that fit together."""
    _unique("checkpoints", [checkpoint.id for checkpoint in spec.checkpoints])
    item_ids = {item.id for item in spec.order_items}
    for milestone in spec.milestones:
        for item_id in milestone.order_item_ids or []:
            if item_id not in item_ids:
                raise ValueError(
                    f"milestones.orderItemIds: milestone {milestone.id} names unknown order"
                    f" item {describe_value(item_id)}"
                )
    if spec.order_items and all(is_final(item) for item in spec.order_items):
        raise ValueError("orderItems: every item is already final; there is nothing to track")


def _unique(field: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for item_id in ids:
        if item_id in seen:
            raise ValueError(f"{field}: id {describe_value(item_id)} appears twice")
        seen.add(item_id)
