"""The hub's pure rules (query syntax, which notification is which event, scopes, keys),
and its registry workflow continuing as new on the dev server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import MetricBuffer, Runtime, TelemetryConfig

import workflows.hub
from settings import Settings
from starter.client import InvalidInput, PartyOrderClient
from starter.samples import example_order
from tests.conftest import running_worker, unique
from workflows.domain.bounds import MAX_SUBSCRIPTIONS_PER_OWNER, SUSPEND_AFTER_FAILED_DAYS
from workflows.domain.effects import ForwardChangeRequest, Notification, Notify
from workflows.domain.hub import (
    EVENT_TYPES,
    SUBSCRIPTIONS_MEMO,
    HubDeliveryFailure,
    HubEventSource,
    RegistryState,
    RemoveSubscription,
    Subscription,
    SubscriptionOwner,
    created_source,
    delivery_key,
    parse_query,
    registry_workflow_id,
    source_of,
    wants,
)
from workflows.domain.model import PartyOrderSpec
from workflows.domain.names import HUB_DELIVERY_FAILED
from workflows.domain.rules import CURRENT_RULES
from workflows.domain.tracker import PartyOrderTracker, TrackerState
from workflows.hub import SUSPENDED_METRIC

NOW = datetime(2027, 1, 11, 9, 0, tzinfo=UTC)
MANAGER = SubscriptionOwner(role="manager")
ACME = SubscriptionOwner(role="party", party_id="ACME")
SOH = SubscriptionOwner(role="process", process="service-order-handling")


def notification(
    kind: str, recipient_kind: str = "party", key: str = "PO-1/run/x-1"
) -> Notification:
    return Notification.model_validate(
        {
            "idempotencyKey": key,
            "orderId": "PO-1",
            "recipientKind": recipient_kind,
            "recipient": "someone",
            "kind": kind,
            "subject": f"{kind} on PO-1",
            "occurredAt": NOW,
            "body": {"level": 1, "order": {"id": "PO-1", "state": "inProgress"}},
        }
    )


def subscription(query: str = "", owner: SubscriptionOwner = MANAGER) -> Subscription:
    return Subscription(
        id=unique("sub"), callback="https://x.test/", query=query, owner=owner, created_at=NOW
    )


def event(event_type: str, order_id: str = "PO-1", party: str = "ACME") -> HubEventSource:
    return HubEventSource(
        event_id=f"{order_id}/run/e-1",
        event_type=event_type,
        event_time=NOW,
        order_id=order_id,
        party_id=party,
        process="service-order-handling",
        kind="k",
        subject="s",
    )


def test_query_syntax() -> None:
    everything = parse_query("")
    assert everything.accepts("PartyOrderCreateEvent", "PO-1", None)
    query = parse_query(
        " eventType=PartyOrderStateChangeEvent, PartyOrderMilestoneEvent & partyOrder.id=PO-1,PO-2"
    )
    assert query.event_types == {"PartyOrderStateChangeEvent", "PartyOrderMilestoneEvent"}
    assert query.accepts("PartyOrderMilestoneEvent", "PO-2", "ACME")
    assert not query.accepts("PartyOrderMilestoneEvent", "PO-3", "ACME")
    assert not query.accepts("PartyOrderCreateEvent", "PO-1", "ACME")
    by_party = parse_query("partyOrder.party.id=ACME")
    assert by_party.accepts("PartyOrderCreateEvent", "PO-9", "ACME")
    assert not by_party.accepts("PartyOrderCreateEvent", "PO-9", "GLOBEX")
    for bad, error in (
        (
            "eventType=Nope",
            "query: unknown eventType 'Nope' (one of PartyOrderCreateEvent,"
            " PartyOrderStateChangeEvent, PartyOrderJeopardyAlertEvent, PartyOrderMilestoneEvent,"
            " PartyOrderInformationRequiredEvent, PartyOrderChangeRequestEvent)",
        ),
        (
            "state=held",
            "query: unknown field 'state' (one of eventType, partyOrder.id, partyOrder.party.id)",
        ),
        ("eventType", "query: 'eventType' is not field=value"),
        ("partyOrder.id=PO-1,", "query: partyOrder.id has an empty value"),
        (
            "partyOrder.id=PO 1",
            "query: partyOrder.id: order id 'PO 1' is invalid: use 1 to 64 letters, digits,"
            " '.', '_' or '-', starting with a letter or digit",
        ),
        (
            "eventType=PartyOrderCreateEvent&eventType=PartyOrderCreateEvent",
            "query: eventType is given twice; list its values with commas",
        ),
        ("x" * 2001, "query: at most 2000 characters are allowed"),
    ):
        with pytest.raises(ValueError) as raised:
            parse_query(bad)
        assert str(raised.value) == error


def test_each_domain_event_is_one_notification_kind_to_one_recipient() -> None:
    expected = {
        ("party", "checkIn"): "PartyOrderInformationRequiredEvent",
        ("party", "stateChanged"): "PartyOrderStateChangeEvent",
        ("party", "completed"): "PartyOrderStateChangeEvent",
        # rules 4: work started on the first report, a cancellation that took effect
        ("originatingProcess", "stateChanged"): "PartyOrderStateChangeEvent",
        ("party", "milestoneViolated"): "PartyOrderMilestoneEvent",
        ("contact", "milestoneViolated"): None,  # the manager's copy of the same event
        ("originatingProcess", "changeRequest"): "PartyOrderChangeRequestEvent",
        ("party", "changeResolved"): "PartyOrderChangeRequestEvent",
        ("contact", "escalation"): "PartyOrderJeopardyAlertEvent",
        ("contact", "escalationReminder"): None,  # nothing changed
        ("contact", "digest"): None,
        ("originatingProcess", "failed"): None,  # the party's stateChanged says it
    }
    for (recipient, kind), event_type in expected.items():
        source = source_of(notification(kind, recipient), "ACME", "soh")
        assert (source.event_type if source else None) == event_type, (recipient, kind)
    made = source_of(notification("checkIn"), "ACME", "soh")
    assert made is not None
    assert made.envelope() == {
        "eventId": "PO-1/run/x-1",
        "eventTime": "2027-01-11T09:00:00Z",
        "eventType": "PartyOrderInformationRequiredEvent",
        "event": {
            "partyOrder": {
                "id": "PO-1",
                "state": "inProgress",
                "party": {"id": "ACME"},
                "originatingProcess": {"name": "soh"},
            },
            "notification": {"kind": "checkIn", "subject": "checkIn on PO-1", "level": 1},
        },
    }
    assert set(made.envelope()) == {"eventId", "eventTime", "eventType", "event"}
    assert source_of(notification("somethingNew"), None, None) is None
    assert set(EVENT_TYPES) == {t for t in expected.values() if t} | {"PartyOrderCreateEvent"}


def test_a_cleared_jeopardy_told_to_each_level_is_one_event() -> None:
    level_1 = source_of(
        notification("deEscalation", "contact", "PO-1/run/deEscalation-7"), "A", "p"
    )
    level_2 = source_of(
        notification("deEscalation", "contact", "PO-1/run/deEscalation-8"), "A", "p"
    )
    assert level_1 is not None and level_2 is not None
    assert level_1.event_id == level_2.event_id == "PO-1/run/deEscalation@2027-01-11T09:00:00Z"
    escalation = source_of(notification("escalation", "contact", "PO-1/run/escalation-9"), "A", "p")
    assert escalation is not None and escalation.event_id == "PO-1/run/escalation-9"


def test_scopes_and_queries_decide_who_hears_an_event() -> None:
    created = event("PartyOrderCreateEvent")
    assert wants(subscription(), created)
    assert wants(subscription(owner=ACME), created)
    assert not wants(subscription(owner=ACME), event("PartyOrderCreateEvent", party="GLOBEX"))
    assert wants(subscription(owner=SOH), created)
    other_process = SubscriptionOwner(role="process", process="other")
    assert not wants(subscription(owner=other_process), created)
    assert not wants(subscription("eventType=PartyOrderMilestoneEvent"), created)
    assert wants(subscription("partyOrder.id=PO-1"), created)
    assert not wants(subscription("partyOrder.id=PO-2"), created)
    assert delivery_key("s1", created.event_id) == "s1/PO-1/run/e-1"


def test_created_event_of_a_start_input() -> None:
    spec = PartyOrderSpec.model_validate(example_order("PO-7", NOW))
    source = created_source(spec, "run-1", NOW)
    envelope = source.envelope()
    assert envelope["eventId"] == "PO-7/run-1/created"
    assert envelope["eventType"] == "PartyOrderCreateEvent"
    order = envelope["event"]["partyOrder"]
    assert order["state"] == "acknowledged"
    assert order["party"] == {"id": "ACME"}
    assert order["dueDate"] == "2027-05-01T09:00:00Z"


def test_the_registry_refuses_duplicates_and_removes_only_for_its_scope() -> None:
    state = RegistryState()
    mine = state.add(subscription(owner=ACME))
    with pytest.raises(ValueError) as raised:
        state.add(mine)
    assert str(raised.value) == f"id: subscription {mine.id!r} exists already"
    globex = SubscriptionOwner(role="party", party_id="GLOBEX")
    assert not state.remove(RemoveSubscription(id=mine.id, owner=globex))
    assert not state.remove(RemoveSubscription(id=mine.id, owner=SOH))
    assert state.remove(RemoveSubscription(id=mine.id, owner=ACME))
    assert not state.remove(RemoveSubscription(id=mine.id, owner=ACME))
    theirs = state.add(subscription(owner=globex))
    assert state.remove(RemoveSubscription(id=theirs.id, owner=MANAGER))
    assert state.subscriptions == []
    assert registry_workflow_id("party-orders") == "party-orders-subscriptions"
    assert registry_workflow_id("tq-1") == "party-orders-subscriptions-tq-1"


async def test_the_registry_continues_as_new_with_every_subscription(
    dev_client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workflows.hub, "REGISTRY_HISTORY_LIMIT", 25)
    async with running_worker(dev_client, tmp_path / "outbox.jsonl") as (_, task_queue):
        client = PartyOrderClient(dev_client, task_queue)
        with pytest.raises(InvalidInput, match="query"):
            await client.subscribe("https://x.test/", "eventType=Nope", MANAGER)
        with pytest.raises(InvalidInput, match="callback"):
            await client.subscribe("file:///etc/passwd", "", MANAGER)
        made = [
            await client.subscribe(f"https://x.test/{n}", "", ACME if n % 2 else MANAGER)
            for n in range(12)
        ]
        handle = dev_client.get_workflow_handle(registry_workflow_id(task_queue))
        description = await handle.describe()
        assert (
            description.run_id != description.raw_description.workflow_execution_info.first_run_id
        )
        held = await client.subscriptions()
        assert [s.id for s in held.subscriptions] == [s.id for s in made]
        memo: list[dict[str, Any]] = await description.memo_value(SUBSCRIPTIONS_MEMO)
        assert [item["id"] for item in memo] == [s.id for s in made]
        # The run starts with the memo it was continued with: from its first instant the
        # API's quota check and the publishers read the subscriptions held then, not none.
        started = (await handle.fetch_history()).events[0]
        carried = started.workflow_execution_started_event_attributes.memo.fields
        assert SUBSCRIPTIONS_MEMO in carried, "the continued run started without a memo"
        (at_start,) = await dev_client.data_converter.decode([carried[SUBSCRIPTIONS_MEMO]])
        assert at_start, "the continued run started with no subscription in its memo"
        assert [item["id"] for item in at_start] == [s.id for s in made[: len(at_start)]]
        assert await client.unsubscribe(made[0].id, MANAGER)
        assert not await client.unsubscribe(
            made[1].id, MANAGER.model_copy(update={"role": "process", "process": "x"})
        )
        assert len((await client.subscriptions()).subscriptions) == 11
        await handle.terminate("test over")


async def test_with_encryption_the_registry_holds_only_ciphertext(
    dev_client: Client, tmp_path: Path
) -> None:
    from temporalio.api.history.v1 import History

    from activities.hub import HubPublisher
    from privacy.codec import ENCRYPTED_ENCODING, data_converter
    from settings import ENCRYPTION_KEYS_ENV
    from tests.integration.test_encrypted_orders import key_entry, payloads_in

    token = "s3cret-hub-token"
    callback = f"https://hooks.acme.example/events?token={token}"
    converter = data_converter(Settings({ENCRYPTION_KEYS_ENV: key_entry("k1")}).encryption_keys())
    encrypted = Client(
        dev_client.service_client, namespace=dev_client.namespace, data_converter=converter
    )
    async with running_worker(encrypted, tmp_path / "outbox.jsonl") as (_, task_queue):
        made = await PartyOrderClient(encrypted, task_queue).subscribe(callback, "", ACME)
        # The workers, with the keys, read it as it was made.
        (read,) = await HubPublisher(encrypted, task_queue).subscriptions(fresh=True)
        assert read == made
        handle = dev_client.get_workflow_handle(registry_workflow_id(task_queue))
        description = await handle.describe()
        memo = description.raw_description.workflow_execution_info.memo.fields
        assert memo[SUBSCRIPTIONS_MEMO].metadata["encoding"] == ENCRYPTED_ENCODING
        history = History(events=(await handle.fetch_history()).events)
        assert token.encode() not in history.SerializeToString()
        assert token.encode() not in memo[SUBSCRIPTIONS_MEMO].data
        encodings = {p.metadata["encoding"] for _, p in payloads_in(history)}
        assert encodings == {ENCRYPTED_ENCODING}
        await handle.terminate("test over")


def test_an_owner_subscribes_a_callback_once_and_up_to_its_quota() -> None:
    state = RegistryState()
    first = state.add(subscription(owner=ACME))
    again = subscription(owner=ACME)  # the same callback, another id
    with pytest.raises(ValueError, match=f"already subscribed .* as subscription {first.id}"):
        state.add(again)
    state.add(subscription(owner=SOH))  # the same callback for another owner is another's
    for n in range(2, 5):
        state.check_add(
            subscription(owner=ACME).model_copy(update={"callback": f"https://x.test/{n}"}), 5
        )
        state.add(subscription(owner=ACME).model_copy(update={"callback": f"https://x.test/{n}"}))
    fifth = subscription(owner=ACME).model_copy(update={"callback": "https://x.test/5"})
    state.check_add(fifth, 5)
    state.add(fifth)
    sixth = subscription(owner=ACME).model_copy(update={"callback": "https://x.test/6"})
    with pytest.raises(ValueError, match="at most 5 subscriptions per owner"):
        state.check_add(sixth, 5)
    state.check_add(sixth)  # the registry's own ceiling is higher
    # A setting cannot raise the registry's own ceiling.
    many = RegistryState(
        subscriptions=[
            subscription(owner=MANAGER).model_copy(update={"callback": f"https://m.test/{n}"})
            for n in range(MAX_SUBSCRIPTIONS_PER_OWNER)
        ]
    )
    with pytest.raises(ValueError, match=f"at most {MAX_SUBSCRIPTIONS_PER_OWNER}"):
        many.check_add(subscription(owner=MANAGER), MAX_SUBSCRIPTIONS_PER_OWNER + 50)


def test_the_registry_holds_the_api_s_quota_and_keeps_none() -> None:
    """Two requests racing past the API's check of the memo meet the quota again in the
    registry, which keeps the number with no subscription."""

    def to(n: int, quota: int | None) -> Subscription:
        made = subscription(owner=ACME)
        return made.model_copy(update={"callback": f"https://q.test/{n}", "owner_quota": quota})

    state = RegistryState()
    for n in range(3):
        assert state.add(to(n, 3)).owner_quota is None
    assert all(s.owner_quota is None for s in state.subscriptions)
    with pytest.raises(ValueError, match="at most 3 subscriptions per owner"):
        state.add(to(3, 3))
    state.add(to(3, None))  # without one, the registry's own ceiling


def failure(subscription_id: str, at: datetime) -> HubDeliveryFailure:
    return HubDeliveryFailure(
        at=at, subscription_id=subscription_id, event_id="e", event_type="x", error="refused"
    )


def test_a_callback_that_fails_on_consecutive_days_is_suspended() -> None:
    state = RegistryState()
    dead = state.add(subscription(owner=ACME))
    other = state.add(subscription(owner=SOH))
    day = timedelta(days=1)
    # Failures on days apart do not suspend it; many on one day neither.
    for at in (NOW, NOW + 2 * day, NOW + 2 * day + timedelta(hours=3)):
        assert state.record_failure(failure(dead.id, at)) is None
    assert state.record_failure(failure(other.id, NOW + 3 * day)) is None
    assert state.record_failure(failure(dead.id, NOW + 3 * day)) is None  # days 3 and 4 only
    assert SUSPEND_AFTER_FAILED_DAYS == 3
    suspended = state.record_failure(failure(dead.id, NOW + 4 * day))
    assert suspended is not None and suspended.id == dead.id
    assert suspended.suspended_at == NOW + 4 * day
    assert suspended.suspended_reason is not None
    assert "3 consecutive days" in suspended.suspended_reason
    assert "refused" in suspended.suspended_reason  # the last error, for its owner
    assert state.record_failure(failure(dead.id, NOW + 5 * day)) is None  # told once
    created = event("PartyOrderCreateEvent")
    assert not wants(state.subscriptions[0], created)
    assert wants(state.subscriptions[1], created)  # the other owner's still hears


def test_an_orders_events_carry_a_sequence_that_grows_across_continue_as_new() -> None:
    """Issue 28, item 8: a receiver orders an order's events by ``sequence`` and knows a
    stale one; the copies of one event (a cleared jeopardy told to each level) share it."""
    spec = PartyOrderSpec.model_validate(
        {
            "id": "PO-8",
            "party": {"id": "ACME", "name": "Acme Networks"},
            "requestedCompletionDate": (NOW + timedelta(days=10)).isoformat(),
            "trackingPolicy": {
                "checkInInterval": "P1D",
                "responseWindow": "PT12H",
                "warningLeadTime": "P20D",
                "behindPlanTolerance": 100,
                "escalation": [
                    {"level": 1, "after": "PT0S", "notify": "first@acme.test"},
                    {"level": 2, "after": "PT1H", "notify": "second@acme.test"},
                ],
            },
        }
    )
    tracker = PartyOrderTracker.start(spec, NOW, tracking_id="run-1", rules_version=CURRENT_RULES)
    hour = timedelta(hours=1)
    effects = tracker.advance(NOW) + tracker.advance(NOW + 2 * hour)
    effects += tracker.handle("report_progress", {"percentComplete": 50}, NOW + 3 * hour)
    later = (NOW + timedelta(days=60)).isoformat()
    effects += tracker.handle(
        "request_change",
        {"requestId": "cr", "changes": {"requestedCompletionDate": later}},
        NOW + 3 * hour,
    )
    # Continue-as-new between two events: the sequence goes on from the carried state.
    tracker = PartyOrderTracker(TrackerState.model_validate_json(tracker.state.model_dump_json()))
    effects += tracker.handle(
        "resolve_change", {"changeRequestId": "cr", "decision": "accepted"}, NOW + 4 * hour
    )
    effects += tracker.advance(NOW + 4 * hour)  # the jeopardy clears
    effects += tracker.advance(NOW + timedelta(days=9))  # and is over: each level told
    events = [
        source
        for effect in effects
        if isinstance(effect, Notify | ForwardChangeRequest)
        and (source := source_of(effect.notification, "ACME", "p")) is not None
    ]
    created = created_source(spec, "run-1", NOW)
    sequences = [created.sequence, *(e.sequence for e in events)]
    kinds = [e.kind for e in events]
    assert kinds.count("deEscalation") == 2 and "changeResolved" in kinds
    cleared = [e for e in events if e.kind == "deEscalation"]
    assert cleared[0].event_id == cleared[1].event_id
    assert cleared[0].sequence == cleared[1].sequence
    distinct = [s for s in sequences if s is not None]
    assert len(distinct) == len(sequences) and distinct[0] == 0
    # In the order the events arose, each one's sequence is higher than the one before
    # (the copies of one event apart); the envelope carries it.
    assert distinct[:-1] == sorted(set(distinct)), distinct
    assert [e.envelope()["sequence"] for e in events] == distinct[1:]
    assert created.envelope()["sequence"] == 0


async def test_a_suspension_is_counted_for_the_operator(dev_address: str, tmp_path: Path) -> None:
    """The registry counts each suspension in ``party_orders_hub_subscriptions_suspended``
    (labelled by the owner's role), once, however many failures follow."""
    buffer = MetricBuffer(100_000)
    runtime = Runtime(telemetry=TelemetryConfig(metrics=buffer))
    client = await Client.connect(
        dev_address, data_converter=pydantic_data_converter, runtime=runtime
    )
    async with running_worker(client, tmp_path / "outbox.jsonl") as (_, task_queue):
        registry = PartyOrderClient(client, task_queue)
        dead = await registry.subscribe("https://dead.example.com/events", "", ACME)
        handle = client.get_workflow_handle(registry_workflow_id(task_queue))
        last = datetime.now(UTC)
        for days_ago in (3, 2, 1, 0):  # suspended at the third day; the fourth is no news
            await handle.signal(
                HUB_DELIVERY_FAILED, failure(dead.id, last - timedelta(days=days_ago))
            )

        async def suspended() -> bool:
            held = (await registry.subscriptions()).subscriptions
            return held[0].suspended_at is not None

        deadline = asyncio.get_running_loop().time() + 30
        while not await suspended():
            assert asyncio.get_running_loop().time() < deadline, "never suspended"
            await asyncio.sleep(0.1)
        await registry.subscriptions()  # a query after the last signal: all applied
        counted = [
            update for update in buffer.retrieve_updates() if update.metric.name == SUSPENDED_METRIC
        ]
        await handle.terminate("test over")
    assert sum(int(update.value) for update in counted) == 1
    assert {update.attributes["ownerRole"] for update in counted} == {"party"}
