"""Event subscriptions (the TMF "hub"): who wants which events, and what an event says.

A subscriber registers a callback URL and a ``query`` through the HTTP API (``POST /hub``).
Events are made from the notifications the tracker already sends (``effects.Notification``):
one notification kind, to one designated recipient, stands for one domain event, so every
domain event becomes exactly one hub event per subscription that wants it. A few events have
no notification of their own (an order starting to be tracked), and are made from the order.

Everything here is pure: the registry workflow keeps ``RegistryState``, the delivering
activities read it, and both decide with the functions below.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field

from workflows.domain import names
from workflows.domain.bounds import (
    MAX_CALLBACK_CHARS,
    MAX_FAILURES_KEPT,
    MAX_QUERY_CHARS,
    MAX_SUBSCRIPTIONS,
    MAX_SUBSCRIPTIONS_PER_OWNER,
    SUSPEND_AFTER_FAILED_DAYS,
)
from workflows.domain.effects import Notification
from workflows.domain.instants import iso
from workflows.domain.model import PartyOrderSpec, check_order_id
from workflows.domain.wire import WireModel

# The last error quoted in a suspension's reason, at most this long.
SUSPENDED_REASON_CHARS = 500

REGISTRY_WORKFLOW_ID = "party-orders-subscriptions"
"""The registry of the default task queue; see ``registry_workflow_id``."""
SUBSCRIPTIONS_MEMO = "subscriptions"
"""Memo key on the registry workflow: the subscriptions, readable without a worker."""


CREATE_EVENT = "PartyOrderCreateEvent"
STATE_CHANGE_EVENT = "PartyOrderStateChangeEvent"
JEOPARDY_ALERT_EVENT = "PartyOrderJeopardyAlertEvent"
MILESTONE_EVENT = "PartyOrderMilestoneEvent"
INFORMATION_REQUIRED_EVENT = "PartyOrderInformationRequiredEvent"
CHANGE_REQUEST_EVENT = "PartyOrderChangeRequestEvent"
EVENT_TYPES = (
    CREATE_EVENT,
    STATE_CHANGE_EVENT,
    JEOPARDY_ALERT_EVENT,
    MILESTONE_EVENT,
    INFORMATION_REQUIRED_EVENT,
    CHANGE_REQUEST_EVENT,
)

# Which notification stands for which event. A domain event told to several recipients
# (a violated milestone goes to the party and to the order manager) is published from one
# of them only. Not published: reminders (nothing changed), the digest, and the originating
# process's copy of a failure (the party's stateChanged says it).
EVENT_OF_NOTIFICATION: dict[tuple[str, str], str] = {
    ("party", "checkIn"): INFORMATION_REQUIRED_EVENT,
    ("party", "stateChanged"): STATE_CHANGE_EVENT,
    # Rules 4: the changes only the originating process is told of (work started on the
    # party's first report; a cancellation that took effect).
    ("originatingProcess", "stateChanged"): STATE_CHANGE_EVENT,
    ("party", "completed"): STATE_CHANGE_EVENT,
    ("party", "cancelled"): STATE_CHANGE_EVENT,
    ("party", "milestoneViolated"): MILESTONE_EVENT,
    ("originatingProcess", "changeRequest"): CHANGE_REQUEST_EVENT,
    ("originatingProcess", "changeWithdrawn"): CHANGE_REQUEST_EVENT,
    ("party", "changeResolved"): CHANGE_REQUEST_EVENT,
    ("contact", "escalation"): JEOPARDY_ALERT_EVENT,
    ("contact", "jeopardyWorsened"): JEOPARDY_ALERT_EVENT,
    ("contact", "deEscalation"): JEOPARDY_ALERT_EVENT,
}

# A cleared jeopardy is told to the contact of every level reached, one notification
# each, all at the same instant: they are one event, keyed by that instant.
_ONE_EVENT_PER_INSTANT = frozenset({"deEscalation"})

Role = Literal["party", "process", "manager"]


def registry_workflow_id(task_queue: str) -> str:
    """One registry per namespace and task queue: ``party-orders-subscriptions`` for the
    default queue. The workers of a queue deliver the events of the orders they run, to
    the subscriptions made through an API on that queue."""
    if task_queue == names.DEFAULT_TASK_QUEUE:
        return REGISTRY_WORKFLOW_ID
    return f"{REGISTRY_WORKFLOW_ID}-{task_queue}"


class SubscriptionOwner(WireModel):
    """The scope of the API key that subscribed: which orders its events may be about."""

    role: Role
    party_id: str | None = None
    process: str | None = None

    def sees(self, party_id: str | None, process: str | None) -> bool:
        """Whether this scope may hear of an order of ``party_id`` from ``process``."""
        if self.role == "manager":
            return True
        if self.role == "party":
            return party_id is not None and party_id == self.party_id
        return process is not None and process == self.process

    def may_remove(self, subscription: Subscription) -> bool:
        """A subscription is removed by its own scope (any key of it), or by a manager."""
        return self.role == "manager" or subscription.owner == self


class Subscription(WireModel):
    id: Annotated[str, Field(min_length=1, max_length=100)]
    callback: Annotated[str, Field(min_length=1, max_length=MAX_CALLBACK_CHARS)]
    query: Annotated[str, Field(max_length=MAX_QUERY_CHARS)] = ""
    owner: SubscriptionOwner
    created_at: AwareDatetime
    # Set when its callback kept failing (SUSPEND_AFTER_FAILED_DAYS): no more deliveries.
    suspended_at: AwareDatetime | None = None
    # Why, in words its owner reads on ``GET /hub/{id}``: the days and the last error.
    suspended_reason: Annotated[str, Field(max_length=SUSPENDED_REASON_CHARS)] | None = None
    # How often its signing secret was rotated: the secret itself is derived from this
    # and the worker's master secret (activities/signing.py), never kept here.
    secret_rotation: Annotated[int, Field(ge=0)] = 0
    # The API's quota per owner (its PARTY_ORDERS_HUB_SUBSCRIPTIONS_PER_OWNER), sent with
    # the subscription so that the registry holds two racing requests to it as well; the
    # registry checks it and keeps none (None: its own ceiling).
    owner_quota: Annotated[int, Field(ge=1)] | None = None

    def public(self) -> dict[str, Any]:
        """The subscription as the API answers it: ``{"id", "callback", "query"}``."""
        return {"id": self.id, "callback": self.callback, "query": self.query}


# ---------------------------------------------------------------- the query


QUERY_FIELDS = ("eventType", "partyOrder.id", "partyOrder.party.id")


@dataclass(frozen=True)
class HubQuery:
    """A parsed ``query``: each named field must have one of its values (absent: any).

    Syntax (TMF hub style): terms joined by ``&``, each ``field=value[,value...]``; the
    fields are ``eventType``, ``partyOrder.id`` and ``partyOrder.party.id``. An empty
    query takes every event. ``eventType=PartyOrderStateChangeEvent,PartyOrderMilestoneEvent
    &partyOrder.id=PO-1001`` takes those two kinds of event about PO-1001 only.
    """

    event_types: frozenset[str] | None = None
    order_ids: frozenset[str] | None = None
    party_ids: frozenset[str] | None = None

    def accepts(self, event_type: str, order_id: str, party_id: str | None) -> bool:
        return (
            (self.event_types is None or event_type in self.event_types)
            and (self.order_ids is None or order_id in self.order_ids)
            and (self.party_ids is None or party_id in self.party_ids)
        )


@functools.lru_cache(maxsize=4096)
def parse_query(text: str) -> HubQuery:
    """The query ``text`` parsed; ValueError naming the term and the rule otherwise."""
    if len(text) > MAX_QUERY_CHARS:
        raise ValueError(f"query: at most {MAX_QUERY_CHARS} characters are allowed")
    values: dict[str, frozenset[str]] = {}
    for term in (t.strip() for t in text.split("&")):
        if not term:
            continue
        name, equals, listed = term.partition("=")
        name = name.strip()
        if not equals:
            raise ValueError(f"query: {term!r} is not field=value")
        if name not in QUERY_FIELDS:
            raise ValueError(f"query: unknown field {name!r} (one of {', '.join(QUERY_FIELDS)})")
        if name in values:
            raise ValueError(f"query: {name} is given twice; list its values with commas")
        items = [item.strip() for item in listed.split(",")]
        if not all(items):
            raise ValueError(f"query: {name} has an empty value")
        if name == "eventType":
            for item in items:
                if item not in EVENT_TYPES:
                    raise ValueError(
                        f"query: unknown eventType {item!r} (one of {', '.join(EVENT_TYPES)})"
                    )
        elif name == "partyOrder.id":
            for item in items:
                try:
                    check_order_id(item)
                except ValueError as error:
                    raise ValueError(f"query: partyOrder.id: {error}") from None
        values[name] = frozenset(items)
    return HubQuery(
        event_types=values.get("eventType"),
        order_ids=values.get("partyOrder.id"),
        party_ids=values.get("partyOrder.party.id"),
    )


# ---------------------------------------------------------------- events


class HubEventSource(WireModel):
    """One domain event, as the hub publishes it to every subscription that wants it."""

    event_id: str  # stable: from the workflow's notification key
    event_type: str
    event_time: AwareDatetime
    order_id: str
    party_id: str | None = None
    process: str | None = None
    order: dict[str, Any] = {}  # the order as it stood at the event (state, jeopardy, ...)
    kind: str
    subject: str
    details: dict[str, Any] = {}
    # Where the event stands among the order's events: it grows with each event of one
    # tracking (0: the PartyOrderCreateEvent), so a receiver orders them by it and knows
    # a stale one (docs/hub.md).
    sequence: int | None = None

    def envelope(self) -> dict[str, Any]:
        """The body POSTed to a callback: ``{"eventId", "eventTime", "eventType", "event"}``."""
        party_order: dict[str, Any] = {**self.order, "id": self.order_id}
        if self.party_id is not None:
            party_order["party"] = {"id": self.party_id}
        if self.process is not None:
            party_order["originatingProcess"] = {"name": self.process}
        sequence = {} if self.sequence is None else {"sequence": self.sequence}
        return {
            "eventId": self.event_id,
            "eventTime": iso(self.event_time),
            "eventType": self.event_type,
            **sequence,
            "event": {
                "partyOrder": party_order,
                "notification": {"kind": self.kind, "subject": self.subject, **self.details},
            },
        }


def event_type_of(notification: Notification) -> str | None:
    """The hub event a notification stands for, or None when it stands for none."""
    return EVENT_OF_NOTIFICATION.get((notification.recipient_kind, notification.kind))


def event_id_of(notification: Notification) -> str:
    """The event's id: the notification's key, or for notices that are one event together
    (a cleared jeopardy told to each level's contact) the key of that instant."""
    if notification.kind in _ONE_EVENT_PER_INSTANT:
        prefix = notification.idempotency_key.rsplit("/", 1)[0]
        return f"{prefix}/{notification.kind}@{iso(notification.occurred_at)}"
    return notification.idempotency_key


def source_of(
    notification: Notification, party_id: str | None, process: str | None
) -> HubEventSource | None:
    """The hub event of ``notification`` about an order of ``party_id`` from ``process``."""
    event_type = event_type_of(notification)
    if event_type is None:
        return None
    details = {key: value for key, value in notification.body.items() if key != "order"}
    return HubEventSource(
        event_id=event_id_of(notification),
        event_type=event_type,
        event_time=notification.occurred_at,
        order_id=notification.order_id,
        party_id=party_id,
        process=process,
        order={k: v for k, v in notification.body.get("order", {}).items() if k != "id"},
        kind=notification.kind,
        subject=notification.subject,
        details=details,
        sequence=notification.sequence,
    )


def created_source(spec: PartyOrderSpec, tracking_id: str, now: datetime) -> HubEventSource:
    """``PartyOrderCreateEvent`` for the tracking ``tracking_id`` of ``spec``."""
    return HubEventSource(
        event_id=f"{spec.id}/{tracking_id}/created",
        event_type=CREATE_EVENT,
        event_time=now,
        order_id=spec.id,
        party_id=spec.party.id,
        process=spec.originating_process.name,
        order={
            "state": "acknowledged",
            "percentComplete": 0,
            "dueDate": iso(spec.due_date),
            "jeopardy": "none",
        },
        kind="created",
        subject=f"Order {spec.id} is tracked",
        sequence=0,  # before every notification of the tracking (they start at 1)
    )


def wants(subscription: Subscription, event: HubEventSource) -> bool:
    """Whether ``subscription`` gets ``event``: its scope sees the order, its query takes it."""
    if subscription.suspended_at is not None:
        return False  # a dead callback: its owner was told, and re-subscribes to resume
    if not subscription.owner.sees(event.party_id, event.process):
        return False
    return parse_query(subscription.query).accepts(event.event_type, event.order_id, event.party_id)


def delivery_key(subscription_id: str, event_id: str) -> str:
    """The ``Idempotency-Key`` of one event to one subscription: the same on every retry."""
    return f"{subscription_id}/{event_id}"


class HubDelivery(WireModel):
    """One event on its way to one subscription's callback."""

    subscription_id: str
    callback: str
    idempotency_key: str
    event_type: str
    envelope: dict[str, Any]
    secret_rotation: int = 0  # as published; a rotation since then wins at delivery


# ---------------------------------------------------------------- the registry


class HubDeliveryFailure(WireModel):
    """An event that could not be delivered to a subscription after all its retries."""

    at: AwareDatetime
    subscription_id: str
    event_id: str
    event_type: str
    error: str


class RemoveSubscription(WireModel):
    id: str
    owner: SubscriptionOwner


class RotateSecret(WireModel):
    id: str
    owner: SubscriptionOwner


class RegistryState(WireModel):
    """What the registry workflow holds, and carries over continue-as-new."""

    subscriptions: list[Subscription] = Field(default_factory=list)
    failures: list[HubDeliveryFailure] = Field(default_factory=list)

    def check_add(
        self, subscription: Subscription, per_owner: int = MAX_SUBSCRIPTIONS_PER_OWNER
    ) -> None:
        """ValueError if ``subscription`` cannot be added: the id taken, the registry full,
        its owner at ``per_owner`` subscriptions (at most MAX_SUBSCRIPTIONS_PER_OWNER), or
        its callback subscribed by the same owner already (once per owner: a second one
        would double every event)."""
        if any(s.id == subscription.id for s in self.subscriptions):
            raise ValueError(f"id: subscription {subscription.id!r} exists already")
        check_owner_quota(self.subscriptions, subscription, subscription.owner_quota or per_owner)
        if len(self.subscriptions) >= MAX_SUBSCRIPTIONS:
            raise ValueError(f"at most {MAX_SUBSCRIPTIONS} subscriptions are kept")

    def add(self, subscription: Subscription) -> Subscription:
        self.check_add(subscription)
        kept = subscription.model_copy(update={"owner_quota": None})
        self.subscriptions.append(kept)
        return kept

    def remove(self, request: RemoveSubscription) -> bool:
        """Remove the subscription if ``request.owner`` may; False if it sees none by that id
        (unknown, or another scope's: answered alike)."""
        for index, subscription in enumerate(self.subscriptions):
            if subscription.id == request.id and request.owner.may_remove(subscription):
                del self.subscriptions[index]
                return True
        return False

    def rotate_secret(self, request: RotateSecret) -> Subscription | None:
        """The subscription with a new secret (its rotation counted up), if ``request.owner``
        may remove it; None otherwise (unknown, or another scope's: answered alike)."""
        for index, subscription in enumerate(self.subscriptions):
            if subscription.id == request.id and request.owner.may_remove(subscription):
                rotated = subscription.model_copy(
                    update={"secret_rotation": subscription.secret_rotation + 1}
                )
                self.subscriptions[index] = rotated
                return rotated
        return None

    def record_failure(self, failure: HubDeliveryFailure) -> Subscription | None:
        """Keep ``failure``; the subscription it suspends, if its callback has now failed on
        SUSPEND_AFTER_FAILED_DAYS consecutive days (None otherwise, or if already)."""
        self.failures.append(failure)
        del self.failures[:-MAX_FAILURES_KEPT]
        subscription = next(
            (s for s in self.subscriptions if s.id == failure.subscription_id), None
        )
        if subscription is None or subscription.suspended_at is not None:
            return None
        days = {
            f.at.astimezone(UTC).date()
            for f in self.failures
            if f.subscription_id == subscription.id
        }
        latest = failure.at.astimezone(UTC).date()
        if all(latest - timedelta(days=n) in days for n in range(SUSPEND_AFTER_FAILED_DAYS)):
            subscription.suspended_at = failure.at
            subscription.suspended_reason = suspension_reason(failure)
            return subscription
        return None

    def seen_by(self, owner: SubscriptionOwner) -> list[Subscription]:
        """The subscriptions ``owner`` sees: its scope's own, or every one for a manager."""
        return [s for s in self.subscriptions if owner.may_remove(s)]


def suspension_reason(failure: HubDeliveryFailure) -> str:
    """Why a subscription was suspended, for its owner: the rule, and the last error."""
    prefix = (
        f"its deliveries gave up (each after a day of retries) on {SUSPEND_AFTER_FAILED_DAYS}"
        " consecutive days (UTC); the last, event "
    )
    text = f"{prefix}{failure.event_id}, failed with: {failure.error}"
    if len(text) <= SUSPENDED_REASON_CHARS:
        return text
    return text[: SUSPENDED_REASON_CHARS - 3] + "..."


def seen_subscription(
    subscriptions: list[Subscription], subscription_id: str, owner: SubscriptionOwner
) -> Subscription | None:
    """The subscription by that id if ``owner`` sees it; None for an unknown id and for
    another scope's alike, after the same walk over every subscription (the answer's
    timing tells them apart no more than its body)."""
    found: Subscription | None = None
    for subscription in subscriptions:
        matches = subscription.id == subscription_id
        sees = owner.may_remove(subscription)
        if matches and sees:
            found = subscription
    return found


def check_owner_quota(
    subscriptions: list[Subscription], subscription: Subscription, per_owner: int
) -> None:
    """ValueError if ``subscription``'s owner may not add it: it has ``per_owner``
    subscriptions already (at most MAX_SUBSCRIPTIONS_PER_OWNER), or one with the same
    callback (named, so that the owner can use or remove it)."""
    limit = min(per_owner, MAX_SUBSCRIPTIONS_PER_OWNER)
    own = [s for s in subscriptions if s.owner == subscription.owner]
    same = next((s for s in own if s.callback == subscription.callback), None)
    if same is not None:
        raise ValueError(
            f"callback: already subscribed by this key's owner, as subscription {same.id}"
            " (one subscription per callback: remove it to subscribe again)"
        )
    if len(own) >= limit:
        raise ValueError(
            f"at most {limit} subscriptions per owner are kept; remove one to add another"
        )
