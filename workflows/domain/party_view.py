"""What a party sees of its order: the order without what is the enterprise's own.

Processes and managers see the whole order. A party (over the HTTP API, on the check-in
page, in hub events to its subscriptions) sees ``party_view(order)``:

- no internal notes: only notes of visibility ``party`` (its own reports' notes), and
  ``lastNote`` only when it is one of those;
- no escalation chain: the escalation levels keep ``level`` and ``after`` but not
  ``notify``, and the ``orderManager`` contact is left out;
- no acknowledgements: ``jeopardy.acknowledged*`` (and those of a cleared episode) are
  left out;
- no other source's rejected messages: only the party's own (a progress report with
  ``source: party``, a change request with ``origin: party``), and delivery failures only
  of notices to the party itself.

Counts follow what is shown (``noteCount``, ``rejectedMessageCount``), so they do not tell
how much is hidden. Pure: no Temporal, no clock.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field
from pydantic.json_schema import SkipJsonSchema

from workflows.domain import names
from workflows.domain.model import (
    ClearedEpisode,
    EscalationLevel,
    Jeopardy,
    PartyOrder,
    RejectedMessage,
    TrackingPolicy,
)

# A field a party does not see: never serialised, and absent from the OpenAPI shape.
_HIDDEN: Any = Field(default=None, exclude=True)


class PartyEscalationLevel(EscalationLevel):
    """An escalation level as a party sees it: when it fires, not who hears."""

    notify: SkipJsonSchema[None] = _HIDDEN  # type: ignore[assignment]


class PartyTrackingPolicy(TrackingPolicy):
    order_manager: SkipJsonSchema[None] = _HIDDEN  # type: ignore[assignment]
    escalation: list[PartyEscalationLevel] = Field(  # type: ignore[assignment]
        default_factory=list
    )


class PartyClearedEpisode(ClearedEpisode):
    acknowledged_by: SkipJsonSchema[None] = _HIDDEN
    acknowledged_at: SkipJsonSchema[None] = _HIDDEN
    acknowledged_level: SkipJsonSchema[None] = _HIDDEN


class PartyJeopardy(Jeopardy):
    """The jeopardy as a party sees it: how things stand, not who acknowledged it."""

    acknowledged_by: SkipJsonSchema[None] = _HIDDEN
    acknowledged_at: SkipJsonSchema[None] = _HIDDEN
    acknowledged_level: SkipJsonSchema[None] = _HIDDEN
    acknowledged_note: SkipJsonSchema[None] = _HIDDEN
    cleared_episode: PartyClearedEpisode | None = None


class PartyOrderView(PartyOrder):
    """``PartyOrder`` as a party reads it (see the module's docstring)."""

    tracking_policy: PartyTrackingPolicy = Field(default_factory=PartyTrackingPolicy)
    jeopardy: PartyJeopardy = Field(default_factory=PartyJeopardy)


_ACKNOWLEDGEMENT_FIELDS = (
    "acknowledged_by",
    "acknowledged_at",
    "acknowledged_level",
    "acknowledged_note",
)

# The messages a party can send, and the payload field that says who sent one.
_PARTY_SENDER = {names.REPORT_PROGRESS: "source", names.REQUEST_CHANGE: "origin"}


def sent_by_party(rejected: RejectedMessage) -> bool:
    """Whether ``rejected`` was the party's own message. A payload that cannot be read
    (cut short, not JSON) names no sender, so it is not shown."""
    field = _PARTY_SENDER.get(rejected.message)
    if field is None or rejected.payload is None:
        return False
    try:
        payload = json.loads(rejected.payload)
    except ValueError:
        return False
    # Both messages default to the party when the field is left out.
    return isinstance(payload, dict) and payload.get(field, "party") == "party"


def party_view(order: PartyOrder) -> PartyOrderView:
    """What the order's party sees of ``order``."""
    body = order.model_dump(by_alias=False)
    policy = body["tracking_policy"]
    policy.pop("order_manager")
    for level in policy["escalation"]:
        level.pop("notify")
    jeopardy = body["jeopardy"]
    for name in _ACKNOWLEDGEMENT_FIELDS:
        jeopardy.pop(name, None)
        if jeopardy["cleared_episode"] is not None:
            jeopardy["cleared_episode"].pop(name, None)
    notes = [note for note in order.notes if note.visibility == "party"]
    rejected = [message for message in order.rejected_messages if sent_by_party(message)]
    party = order.party
    own_addresses = {party.id, party.contact_email, party.webhook_url} - {None}
    body.update(
        notes=notes,
        note_count=len(notes),
        last_note=order.last_note if any(n.text == order.last_note for n in notes) else None,
        rejected_messages=rejected,
        rejected_message_count=len(rejected),
        delivery_failures=[f for f in order.delivery_failures if f.recipient in own_addresses],
    )
    return PartyOrderView.model_validate(body)


# Keys of a hub event's body that a party never gets, however the body grows.
_HIDDEN_EVENT_KEYS = frozenset(
    {
        "notes",
        "lastNote",
        "rejectedMessages",
        "deliveryFailures",
        "notify",
        "orderManager",
        "escalation",
        "acknowledgedBy",
        "acknowledgedAt",
        "acknowledgedLevel",
        "acknowledgedNote",
    }
)


def party_event(envelope: dict[str, Any]) -> dict[str, Any]:
    """A hub event's body as sent to a party's subscription: the same event without any
    of what a party view leaves out."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in _HIDDEN_EVENT_KEYS}
        if isinstance(value, list):
            return [strip(item) for item in value]
        return value

    stripped: dict[str, Any] = strip(envelope)
    return stripped
