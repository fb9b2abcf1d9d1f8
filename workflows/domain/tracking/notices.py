"""The notifications the rooms send, and the record of those that could not be delivered."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from workflows.domain.effects import (
    Effect,
    Notification,
    Notify,
    RecipientKind,
    notification_about,
)
from workflows.domain.jeopardy import assess, is_watched
from workflows.domain.model import DeliveryFailure
from workflows.domain.tracking.context import Tracking, cut


def notification(
    t: Tracking,
    recipient_kind: RecipientKind,
    recipient: str,
    kind: str,
    subject: str,
    now: datetime,
    body: dict[str, Any],
) -> Notification:
    """A notification numbered in this tracking's sequence (its idempotency key).

    Its order summary says the jeopardy as it stands at ``now``: a notice made on a
    wake-up before the jeopardy is re-assessed (a milestone just violated) must not
    report the status of the previous one.
    """
    jeopardy = assess(t.order, now, t.rules).status if is_watched(t.order) else None
    name = t.new_id(kind)
    return notification_about(
        t.order,
        name,
        recipient_kind,
        recipient,
        kind,
        subject,
        now,
        body,
        jeopardy,
        sequence=t.state.next_sequence - 1,
    )


def one_event(notices: list[Notify]) -> list[Effect]:
    """Notices that are one hub event together (a cleared jeopardy told to the contact of
    each level) share the sequence of the first, as they share the event's id."""
    for notice in notices[1:]:
        notice.notification.sequence = notices[0].notification.sequence
    return list(notices)


def notify_party(
    t: Tracking, kind: str, subject: str, now: datetime, body: dict[str, Any]
) -> Notify:
    return Notify(notification(t, "party", t.order.party.id, kind, subject, now, body))


def notify_contact(
    t: Tracking, contact: str, kind: str, subject: str, now: datetime, body: dict[str, Any]
) -> Notify:
    return Notify(notification(t, "contact", contact, kind, subject, now, body))


def notify_process(
    t: Tracking, kind: str, subject: str, now: datetime, body: dict[str, Any]
) -> Notification:
    """A notice to the originating process, which always carries its reference."""
    process = t.order.originating_process
    return notification(
        t,
        "originatingProcess",
        process.name,
        kind,
        subject,
        now,
        {**body, "reference": process.reference},
    )


def state_told_to_process(t: Tracking, now: datetime) -> Notify:
    """Rules 4: a ``stateChanged`` notice to the originating process, for a state change
    that no other notice carries (the hub's PartyOrderStateChangeEvent comes from it)."""
    order = t.order
    return Notify(
        notify_process(
            t,
            "stateChanged",
            f"Order {order.id} is now {order.state}",
            now,
            {"state": order.state.value, "reason": order.state_reason},
        )
    )


def delivery_failed(t: Tracking, notification: Notification, error: str, now: datetime) -> None:
    """A notification gave up after its retries: keep a record, the order goes on."""
    limits = t.limits
    failures = t.order.delivery_failures
    failures.append(
        DeliveryFailure(
            at=now,
            recipient=cut(notification.recipient, limits.text_chars) or "",
            kind=notification.kind,
            error=cut(error, limits.text_chars) or "",
        )
    )
    del failures[: -limits.delivery_failures]
