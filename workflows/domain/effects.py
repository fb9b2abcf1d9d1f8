"""What the domain core asks the workflow shell to do in the outside world.

The core never talks to anyone: applying a message or the passing of time returns a list
of effects, and the workflow runs each one as an activity. Each notification carries an
idempotency key fixed when the effect is made, so activity retries resend the same key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import AwareDatetime

from workflows.domain.model import WireModel

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
    body: dict[str, Any] = {}


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


Effect = Notify | ForwardChangeRequest | CancelAfterNotice | InformCloseProcess
