"""The daily digest: one notice per escalation contact and order manager, listing their
open orders in jeopardy, instead of a stream of single notices.

An order is a contact's when the contact is its order manager, or the contact of an
escalation level the order has reached. A contact with nothing to report gets no notice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from pydantic import AwareDatetime, Field

from workflows.domain.deadlines import next_due
from workflows.domain.effects import Notification
from workflows.domain.instants import iso
from workflows.domain.model import JeopardyStatus, PartyOrder, WireModel
from workflows.domain.rules import Rules


class DigestEntry(WireModel):
    """One order in jeopardy as a digest lists it, with who hears of it."""

    order_id: str
    party_id: str
    party_name: str
    status: JeopardyStatus
    escalation_level: int
    reasons: list[str] = Field(default_factory=list)
    next_due: AwareDatetime | None = None
    next_due_what: str | None = None
    contacts: list[str] = Field(default_factory=list)


class DigestPage(WireModel):
    """One page of the orders in jeopardy, and the token of the next (None: the last)."""

    entries: list[DigestEntry] = Field(default_factory=list)
    next_page_token: str | None = None  # base64 of the visibility page token


def contacts_of(order: PartyOrder) -> list[str]:
    """The order manager, then the contact of every escalation level reached, once each."""
    policy = order.tracking_policy
    reached = [
        level.notify
        for level in policy.escalation
        if level.level <= order.jeopardy.escalation_level
    ]
    return list(dict.fromkeys([policy.order_manager, *reached]))


def digest_entry(order: PartyOrder, now: datetime, rules: Rules) -> DigestEntry | None:
    """The order's line in a digest, or None when it is not open and in jeopardy; its next
    deadline by ``rules``, the rules the order is tracked by."""
    if order.is_final or order.jeopardy.status == JeopardyStatus.NONE:
        return None
    due = next_due(order, now, rules)
    return DigestEntry(
        order_id=order.id,
        party_id=order.party.id,
        party_name=order.party.name,
        status=order.jeopardy.status,
        escalation_level=order.jeopardy.escalation_level,
        reasons=order.jeopardy.reasons,
        next_due=due.at if due else None,
        next_due_what=due.what if due else None,
        contacts=contacts_of(order),
    )


def digest_notices(entries: Iterable[DigestEntry], now: datetime, run: str) -> list[Notification]:
    """One ``digest`` notice per contact with something to report, keyed by the run (a
    retried delivery keeps its key), the contacts in name order and critical orders first."""
    by_contact: dict[str, list[DigestEntry]] = defaultdict(list)
    for entry in entries:
        for contact in entry.contacts:
            by_contact[contact].append(entry)
    notices = []
    for contact, listed in sorted(by_contact.items()):
        listed.sort(key=lambda e: (e.status != JeopardyStatus.CRITICAL, e.order_id))
        critical = sum(e.status == JeopardyStatus.CRITICAL for e in listed)
        notices.append(
            Notification(
                idempotency_key=f"digest/{run}/{contact}",
                order_id="*",  # a digest is about several orders, listed in its body
                recipient_kind="contact",
                recipient=contact,
                kind="digest",
                subject=f"{len(listed)} party orders in jeopardy ({critical} critical)",
                occurred_at=now,
                body={
                    "generatedAt": iso(now),
                    "orders": [
                        {
                            "orderId": e.order_id,
                            "party": {"id": e.party_id, "name": e.party_name},
                            "status": e.status.value,
                            "escalationLevel": e.escalation_level,
                            "reasons": e.reasons,
                            "nextDue": iso(e.next_due) if e.next_due else None,
                            "nextDueWhat": e.next_due_what,
                        }
                        for e in listed
                    ],
                },
            )
        )
    return notices
