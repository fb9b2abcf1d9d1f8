"""Event subscriptions, pinned (pure, no server): what the API answers for a subscription,
what a create event says, which events a query takes, and what the registry keeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from starter.samples import example_order
from workflows.domain.effects import Notification
from workflows.domain.hub import (
    CREATE_EVENT,
    MAX_FAILURES_KEPT,
    MAX_SUBSCRIPTIONS,
    HubDeliveryFailure,
    RegistryState,
    Subscription,
    SubscriptionOwner,
    created_source,
    source_of,
    wants,
)
from workflows.domain.instants import iso
from workflows.domain.model import PartyOrderSpec

NOW = datetime(2027, 1, 11, 9, 0, tzinfo=UTC)
MANAGER = SubscriptionOwner(role="manager")
SOH = SubscriptionOwner(role="process", process="service-order-handling")


def subscription(
    query: str = "", owner: SubscriptionOwner = MANAGER, id: str = "sub-1"
) -> Subscription:
    return Subscription(
        id=id, callback="https://x.test/hook", query=query, owner=owner, created_at=NOW
    )


def spec() -> PartyOrderSpec:
    data = example_order("PO-5", NOW)
    data["originatingProcess"] = {"name": "service-order-handling"}
    return PartyOrderSpec.model_validate(data)


def test_the_api_answers_a_subscription_with_its_id_callback_and_query() -> None:
    made = subscription("eventType=PartyOrderCreateEvent", id="sub-9")
    assert made.public() == {
        "id": "sub-9",
        "callback": "https://x.test/hook",
        "query": "eventType=PartyOrderCreateEvent",
    }


def test_a_create_event_says_the_order_is_tracked_from_scratch() -> None:
    order = spec()
    created = created_source(order, "run-1", NOW)
    envelope = created.envelope()
    assert envelope == {
        "eventId": "PO-5/run-1/created",
        "eventTime": "2027-01-11T09:00:00Z",
        "eventType": CREATE_EVENT,
        "sequence": 0,  # before every other event of its tracking
        "event": {
            "partyOrder": {
                "state": "acknowledged",
                "percentComplete": 0,
                "dueDate": iso(order.due_date),
                "jeopardy": "none",
                "id": "PO-5",
                "party": {"id": order.party.id},
                "originatingProcess": {"name": "service-order-handling"},
            },
            "notification": {"kind": "created", "subject": "Order PO-5 is tracked"},
        },
    }
    assert created.process == "service-order-handling"


def test_a_process_hears_of_the_orders_it_placed_from_their_creation() -> None:
    created = created_source(spec(), "run-1", NOW)
    assert wants(subscription(owner=SOH), created)
    other = SubscriptionOwner(role="process", process="billing")
    assert not wants(subscription(owner=other), created)


def test_a_query_on_event_type_and_party_filters_events() -> None:
    created = created_source(spec(), "run-1", NOW)
    party = created.party_id
    assert party is not None
    assert wants(subscription(f"eventType={CREATE_EVENT}&partyOrder.party.id={party}"), created)
    assert not wants(subscription("eventType=PartyOrderMilestoneEvent"), created)
    assert not wants(subscription("partyOrder.party.id=SOMEONE-ELSE"), created)


def test_an_event_without_an_order_summary_has_an_empty_one() -> None:
    bare = Notification(
        idempotency_key="PO-1/run/check-in-1",
        order_id="PO-1",
        recipient_kind="party",
        recipient="ACME",
        kind="checkIn",
        subject="How is PO-1 going?",
        occurred_at=NOW,
        body={"respondBy": "2027-01-12T09:00:00Z"},
    )
    event = source_of(bare, "ACME", None)
    assert event is not None
    assert event.order == {}
    assert event.details == {"respondBy": "2027-01-12T09:00:00Z"}


def test_an_events_order_summary_names_the_order_once() -> None:
    notice = Notification(
        idempotency_key="PO-1/run/check-in-1",
        order_id="PO-1",
        recipient_kind="party",
        recipient="ACME",
        kind="checkIn",
        subject="How is PO-1 going?",
        occurred_at=NOW,
        body={"order": {"id": "PO-1", "state": "inProgress", "jeopardy": "none"}},
    )
    event = source_of(notice, "ACME", None)
    assert event is not None
    assert event.order == {"state": "inProgress", "jeopardy": "none"}


def test_the_registry_is_full_at_its_maximum() -> None:
    def of_process(n: int, id: str) -> Subscription:
        # Each process its own callback: no owner past its quota, no callback twice.
        owner = SubscriptionOwner(role="process", process=f"process-{n}")
        made = subscription(owner=owner, id=id)
        return made.model_copy(update={"callback": f"https://x.test/hook/{n}"})

    state = RegistryState(
        subscriptions=[of_process(n, f"sub-{n}") for n in range(MAX_SUBSCRIPTIONS - 1)]
    )
    state.add(of_process(MAX_SUBSCRIPTIONS, "last-one"))  # the maximum itself is kept
    with pytest.raises(ValueError) as full:
        state.add(of_process(MAX_SUBSCRIPTIONS + 1, "one-too-many"))
    assert str(full.value) == f"at most {MAX_SUBSCRIPTIONS} subscriptions are kept"
    assert len(state.subscriptions) == MAX_SUBSCRIPTIONS


def test_the_registry_keeps_the_latest_delivery_failures() -> None:
    state = RegistryState()

    def failure(n: int) -> HubDeliveryFailure:
        return HubDeliveryFailure(
            at=NOW + timedelta(seconds=n),
            subscription_id="sub-1",
            event_id=f"PO-1/run/x-{n}",
            event_type=CREATE_EVENT,
            error="HTTP 503",
        )

    for n in range(MAX_FAILURES_KEPT):
        state.record_failure(failure(n))
    assert [f.event_id for f in state.failures] == [
        f"PO-1/run/x-{n}" for n in range(MAX_FAILURES_KEPT)
    ]
    state.record_failure(failure(MAX_FAILURES_KEPT))
    state.record_failure(failure(MAX_FAILURES_KEPT + 1))
    assert len(state.failures) == MAX_FAILURES_KEPT
    assert state.failures[0].event_id == "PO-1/run/x-2"
    assert state.failures[-1] == failure(MAX_FAILURES_KEPT + 1)
