"""What the domain core asks the workflow shell to do in the outside world.

The core never talks to anyone: applying a message or the passing of time returns a list
of effects, and the workflow runs each one as an activity. Each notification carries an
idempotency key fixed when the effect is made, so activity retries resend the same key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime

from workflows.domain.holidays import HolidayRequest
from workflows.domain.instants import iso
from workflows.domain.model import JeopardyStatus, PartyOrder, WireModel

RecipientKind = Literal["party", "originatingProcess", "contact"]


class Notification(WireModel):
    """One message to the party, the originating process or an escalation contact."""

    idempotency_key: str
    order_id: str
    recipient_kind: RecipientKind
    recipient: str
    kind: str  # checkIn, changeRequest, changeResolved, cancelled, completed, escalation, ...
    subject: str
    occurred_at: AwareDatetime
    webhook_url: str | None = None
    # The party's mailbox, for the email channel (a party with no webhook). Like the
    # webhook URL, only the party's own notifications carry it.
    contact_email: str | None = None
    body: dict[str, Any] = {}
    # Its number in the tracking's sequence (``TrackerState.next_sequence``): it grows
    # with every notification and id the tracking makes, across continue-as-new, so a hub
    # event says where it stands among the order's events (None: a notice made outside
    # the tracking's sequence, such as the close process's).
    sequence: int | None = None


def notification_key(order: PartyOrder, name: str) -> str:
    """An idempotency key unique to this order, this tracking of it, and this notification."""
    if order.tracking_id:
        return f"{order.id}/{order.tracking_id}/{name}"
    return f"{order.id}/{name}"


def notification_about(
    order: PartyOrder,
    name: str,
    recipient_kind: RecipientKind,
    recipient: str,
    kind: str,
    subject: str,
    now: datetime,
    body: dict[str, Any],
    jeopardy: JeopardyStatus | None = None,
    sequence: int | None = None,
) -> Notification:
    """A notification about ``order``, keyed by ``name``; the body gains the order's summary
    (with ``jeopardy``, when given, as the order's jeopardy at ``now``).

    Only the party's own notifications carry the party's webhook URL (it may hold a token)
    and contact email.
    """
    to_party = recipient_kind == "party"
    return Notification(
        idempotency_key=notification_key(order, name),
        order_id=order.id,
        recipient_kind=recipient_kind,
        recipient=recipient,
        kind=kind,
        subject=subject,
        occurred_at=now,
        webhook_url=order.party.webhook_url if to_party else None,
        contact_email=order.party.contact_email if to_party else None,
        sequence=sequence,
        body={
            **body,
            "order": {
                "id": order.id,
                "state": order.state.value,
                "percentComplete": order.percent_complete,
                "dueDate": iso(order.due_date),
                "jeopardy": (jeopardy or order.jeopardy.status).value,
            },
        },
    )


@dataclass(frozen=True)
class Notify:
    """Send a notification; the order goes on while it is delivered."""

    notification: Notification


@dataclass(frozen=True)
class ForwardChangeRequest:
    """Send a change request to the originating process; once sent it is ``forwarded``."""

    notification: Notification
    change_request_id: str


@dataclass(frozen=True)
class CancelAfterNotice:
    """Tell the party of the cancellation, then move ``pendingCancellation`` to ``cancelled``."""

    notification: Notification


@dataclass(frozen=True)
class InformCloseProcess:
    """Signal-with-start ``ClosePartyOrder`` with the completed order."""


@dataclass(frozen=True)
class ResolveHolidays:
    """Look up the party's country holidays for more years (the ``resolve_holidays``
    activity) and give them to ``PartyOrderTracker.holidays_resolved``."""

    request: HolidayRequest


Effect = Notify | ForwardChangeRequest | CancelAfterNotice | InformCloseProcess | ResolveHolidays
