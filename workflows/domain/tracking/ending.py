"""The end of an order: delivered (in full or in part), failed, cancelled; its loose ends.

Whatever way an order ends, its jeopardy is settled and (``ties_loose_ends``) its open
change requests are withdrawn, with the originating process told.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from workflows.domain.effects import CancelAfterNotice, Effect, InformCloseProcess, Notify
from workflows.domain.instants import iso
from workflows.domain.items import delivered_items, roll_up
from workflows.domain.jeopardy import assess, is_watched
from workflows.domain.messages import CancelRequest, StateChangeRequest
from workflows.domain.model import Cancellation, JeopardyStatus, OrderState
from workflows.domain.notes import add_note
from workflows.domain.states import check_transition
from workflows.domain.tracking.context import MessageRejected, Tracking, require_open, transition
from workflows.domain.tracking.escalation import (
    close_cleared_episode,
    end_episode,
    raise_alert,
    set_jeopardy,
)
from workflows.domain.tracking.notices import (
    notification,
    notify_contact,
    notify_party,
    notify_process,
    state_told_to_process,
)


def settle_jeopardy(t: Tracking, now: datetime) -> list[Effect]:
    """The jeopardy as it stands now that the order ended (it is out of jeopardy).

    ``closes_undelivered_jeopardy``: an order that ends cancelled or partial while in
    jeopardy did not get out of it; as for ``failed``, the episode ends with a ``closed``
    alert, and the contacts escalated to hear that it is closed, not "no longer in
    jeopardy".
    """
    order = t.order
    jeopardy = order.jeopardy
    undelivered = order.state in (OrderState.CANCELLED, OrderState.PARTIAL)
    if not (
        t.rules.closes_undelivered_jeopardy
        and undelivered
        and jeopardy.status != JeopardyStatus.NONE
    ):
        return set_jeopardy(t, assess(order, now, t.rules), now).effects
    status, reached = jeopardy.status.value, jeopardy.escalation_level
    text = f"Order {order.id} ended {order.state.value} while in {status} jeopardy"
    raise_alert(t, "closed", "Jeopardy closed", f"order{order.state.value.title()}", text, now)
    end_episode(t)
    return [
        notify_contact(
            t,
            level.notify,
            "deEscalation",
            f"{text}: the jeopardy is closed",
            now,
            {"level": level.level, "state": order.state.value},
        )
        for level in order.tracking_policy.escalation
        if level.level <= reached
    ]


def complete(
    t: Tracking, now: datetime, outcome: OrderState = OrderState.COMPLETED
) -> list[Effect]:
    """The order is delivered: ``completed``, or (rules 3) ``partial`` when some items
    were cancelled or failed. Either way the close process is informed."""
    order = t.order
    if order.state in (OrderState.PENDING, OrderState.HELD, OrderState.ACKNOWLEDGED):
        transition(t, OrderState.IN_PROGRESS, now, "the party reported delivery")
    partial = outcome == OrderState.PARTIAL
    transition(t, outcome, now, "partly delivered" if partial else "delivered")
    order.percent_complete = 100
    order.completion_date = now
    effects = settle_jeopardy(t, now)
    effects += tie_loose_ends(t, now)
    body: dict[str, Any] = {"completionDate": iso(now)}
    if t.rules.order_items and order.order_items:
        body["state"] = outcome.value
        body["deliveredItems"] = [{"id": item.id} for item in delivered_items(order)]
    subject = f"Order {order.id} " + ("partly completed" if partial else "completed")
    effects.append(notify_party(t, "completed", subject, now, body))
    effects.append(InformCloseProcess())
    return effects


def roll_up_items(t: Tracking, now: datetime) -> list[Effect]:
    """``order_items``: once every item is final, the order ends as its items say."""
    outcome = roll_up(t.order.order_items)
    if outcome is None or not is_watched(t.order):
        return []
    if outcome in (OrderState.COMPLETED, OrderState.PARTIAL):
        return complete(t, now, outcome)
    if outcome == OrderState.FAILED:
        return change_state(
            t,
            StateChangeRequest(state="failed", reason="every order item ended, none completed"),
            now,
        )
    return cancel(
        t,
        CancelRequest(reason="every order item is cancelled", requested_by="order items"),
        now,
    )


def cancel(t: Tracking, request: CancelRequest, now: datetime) -> list[Effect]:
    """The cancellation is pending while the party is told (``CancelAfterNotice``)."""
    order = t.order
    if order.state == OrderState.PENDING_CANCELLATION:
        raise MessageRejected(f"order {order.id} is already being cancelled")
    require_open(t, "cancellation")
    transition(t, OrderState.PENDING_CANCELLATION, now, request.reason)
    order.cancellation = Cancellation(reason=request.reason, requested_by=request.requested_by)
    notice = notification(
        t,
        "party",
        order.party.id,
        "cancelled",
        f"Order {order.id} is cancelled",
        now,
        {"reason": request.reason, "requestedBy": request.requested_by},
    )
    return [CancelAfterNotice(notice)]


def finish_cancellation(t: Tracking, now: datetime) -> list[Effect]:
    """The party has been told: the cancellation takes effect."""
    order = t.order
    reason = order.cancellation.reason if order.cancellation else None
    transition(t, OrderState.CANCELLED, now, reason)
    if order.cancellation is not None:
        order.cancellation.cancellation_date = now
    effects = settle_jeopardy(t, now) + tie_loose_ends(t, now)
    if t.rules.tells_process_of_states:
        # The party was told of the cancellation while it was pending; the process
        # that asked for it hears that it took effect.
        effects.append(state_told_to_process(t, now))
    return effects


def validate_state_change(t: Tracking, request: StateChangeRequest) -> None:
    """Raise IllegalTransition (naming both states) if the change is not allowed."""
    check_transition(t.order.state, OrderState(request.state), t.rules)


def change_state(t: Tracking, request: StateChangeRequest, now: datetime) -> list[Effect]:
    validate_state_change(t, request)
    order = t.order
    target = OrderState(request.state)
    transition(t, target, now, request.reason)
    if t.rules.notes:
        add_note(order, "enterprise", request.note, now)
    effects: list[Effect] = []
    if target == OrderState.FAILED and t.rules.ties_loose_ends:
        effects += _fail(t, request.reason, now)
    elif order.is_final:
        effects += settle_jeopardy(t, now)
    effects.append(
        notify_party(
            t,
            "stateChanged",
            f"Order {order.id} is now {target}",
            now,
            {"state": target.value, "reason": request.reason},
        )
    )
    return effects


def _fail(t: Tracking, reason: str | None, now: datetime) -> list[Effect]:
    """``ties_loose_ends``: the originating process must re-source; the jeopardy closes.

    Failing does not get the order out of jeopardy, so nobody is told it is "no
    longer in jeopardy": the episode ends with a ``closed`` alert.
    """
    order = t.order
    jeopardy = order.jeopardy
    if jeopardy.status != JeopardyStatus.NONE:
        raise_alert(
            t,
            "closed",
            "Jeopardy closed",
            "orderFailed",
            f"Order {order.id} failed while in {jeopardy.status.value} jeopardy",
            now,
        )
    end_episode(t)
    failed = notify_process(t, "failed", f"Order {order.id} failed", now, {"reason": reason})
    return [Notify(failed), *tie_loose_ends(t, now)]


def tie_loose_ends(t: Tracking, now: datetime) -> list[Effect]:
    """``ties_loose_ends``, when an order ends: open change requests are withdrawn (and
    the originating process told), a cleared episode's contacts hear it is over."""
    if not t.rules.ties_loose_ends:
        return []
    order = t.order
    effects: list[Effect] = close_cleared_episode(t, now)
    for change in order.change_requests:
        if not change.open:
            continue
        change.status = "withdrawn"
        change.resolved_at = now
        change.note = f"withdrawn: the order is {order.state}"
        withdrawn = notify_process(
            t,
            "changeWithdrawn",
            f"Change request {change.id} on order {order.id} is withdrawn:"
            f" the order is {order.state}",
            now,
            {"changeRequest": change.to_json_dict()},
        )
        effects.append(Notify(withdrawn))
    return effects
