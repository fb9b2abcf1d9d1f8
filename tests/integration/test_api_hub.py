"""Event subscriptions and escalation acknowledgements through the HTTP API, against the
real dev server and the session's worker, with a real HTTP listener receiving the events.

Each test uses party ids of its own, so the events of other tests' orders never reach its
subscriptions; every subscription made is removed at the end.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from temporalio.client import Client

from activities.hub import HubPublisher
from activities.outbound import AllowList
from activities.signing import signed_headers
from settings import (
    CALLBACK_ALLOW_ENV,
    HUB_SUBSCRIPTIONS_PER_OWNER_ENV,
    WEBHOOK_MASTER_SECRET_ENV,
    Settings,
)
from starter.api.app import create_app
from starter.api.keys import KeyStore
from starter.api.routes import BASE_PATH
from starter.client import PartyOrderClient
from starter.samples import example_order
from tests.conftest import TEST_ALLOW, TEST_CALLBACK_ALLOW, TEST_MASTER_SECRET, unique
from tests.integration.test_api import api_for, assert_error
from tests.support.hub_listener import HubListener, Received
from workflows.domain.hub import (
    HubDeliveryFailure,
    HubEventSource,
    Subscription,
    SubscriptionOwner,
    created_source,
    registry_workflow_id,
)
from workflows.domain.instants import iso
from workflows.domain.model import PartyOrderSpec
from workflows.domain.names import HUB_DELIVERY_FAILED

PROCESS = "service-order-handling"


class Keys:
    def __init__(self, store: KeyStore) -> None:
        self.store = store

    def make(self, role: str, **bound: str) -> dict[str, str]:
        _, key = self.store.create(role, **bound)
        return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    return Keys(KeyStore(tmp_path / "api-keys.json"))


@pytest.fixture
def manager(keys: Keys) -> dict[str, str]:
    return keys.make("manager")


@pytest.fixture
async def api(
    dev_client: Client, dev_task_queue: str, keys: Keys, manager: dict[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    client = PartyOrderClient(dev_client, dev_task_queue, callback_allow=TEST_ALLOW)
    async with api_for(create_app(keys=keys.store, client=client)) as http:
        yield http
        # Leave no subscription behind for later tests of the session.
        for subscription in (await client.subscriptions()).subscriptions:
            if subscription.callback.startswith("http://127.0.0.1:"):
                await http.delete(f"/hub/{subscription.id}", headers=manager)


@asynccontextmanager
async def api_with(
    dev_client: Client, task_queue: str, keys: Keys, values: dict[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    """The API as an operator configured it: its settings are ``values`` only (as deployed:
    nothing internal listed unless ``values`` list it), for the app and its client."""
    settings = Settings(values)
    client = PartyOrderClient(dev_client, task_queue, callback_allow=settings.callback_allow())
    async with api_for(create_app(keys=keys.store, client=client, settings=settings)) as http:
        yield http


DEPLOYED = {WEBHOOK_MASTER_SECRET_ENV: TEST_MASTER_SECRET}


@pytest.fixture
async def listener() -> AsyncIterator[HubListener]:
    receiver = await HubListener().start()
    yield receiver
    await receiver.stop()


async def eventually(check: Callable[[], Awaitable[bool] | bool], timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if await result if isinstance(result, Awaitable) else result:
            return
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.2)


async def start(
    api: httpx.AsyncClient, headers: dict[str, str], party_id: str, **options: Any
) -> str:
    order_id = unique()
    order = example_order(order_id, datetime.now(UTC), party_id=party_id, **options)
    answer = await api.post("/partyOrder", json=order, headers=headers)
    assert answer.status_code == 201, answer.text
    return order_id


async def subscribe(
    api: httpx.AsyncClient, headers: dict[str, str], callback: str, query: str | None = None
) -> dict[str, Any]:
    body = {"callback": callback} if query is None else {"callback": callback, "query": query}
    answer = await api.post("/hub", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    made: dict[str, Any] = answer.json()
    assert set(made) == {"id", "callback", "query", "secret"}
    assert made["secret"].startswith("whsec_")
    assert answer.headers["Location"] == f"{BASE_PATH}/hub/{made['id']}"
    return made


async def subscribe_to_state_changes(
    api: httpx.AsyncClient, keys: Keys, callback: str, party_id: str
) -> dict[str, Any]:
    """The originating process's subscription to the state changes of one party's orders."""
    key = keys.make("process", process=PROCESS)
    query = f"partyOrder.party.id={party_id}&eventType=PartyOrderStateChangeEvent"
    return await subscribe(api, key, callback, query)


# ---------------------------------------------------------------- escalationAcknowledgement


async def test_escalation_acknowledgement_by_role_and_status(
    api: httpx.AsyncClient, keys: Keys, manager: dict[str, str]
) -> None:
    party = unique("P")
    # Due in a moment (a start whose dates have passed is refused): critical then, level 1.
    late = iso(datetime.now(UTC) + timedelta(seconds=2))
    order_id = await start(
        api,
        manager,
        party,
        requestedCompletionDate=late,
        expectedCompletionDate=late,
        orderDate=iso(datetime.now(UTC) - timedelta(days=2)),
    )
    path = f"/partyOrder/{order_id}/escalationAcknowledgement"

    async def level_reached() -> bool:
        order = (await api.get(f"/partyOrder/{order_id}", headers=manager)).json()
        return bool(order["jeopardy"]["escalationLevel"] == 1)

    await eventually(level_reached)
    body = {"level": 1, "note": "calling the party"}
    assert_error(await api.post(path, json=body), 401)
    for role, bound in (("party", {"party_id": party}), ("process", {"process": PROCESS})):
        assert_error(await api.post(path, json=body, headers=keys.make(role, **bound)), 403, role)
    refused = await api.post(path, json={"level": 2, "by": "ops"}, headers=manager)
    assert_error(refused, 409, "level: 2 has not been reached")
    assert_error(await api.post(path, json={"level": 0}, headers=manager), 400, "level")
    assert_error(await api.post(path, json={"level": 1, "lvl": 2}, headers=manager), 400, "lvl")
    malformed = await api.post(
        path, content=b"{not json", headers={**manager, "Content-Type": "application/json"}
    )
    assert_error(malformed, 400, "JSON")
    unknown = f"/partyOrder/{unique()}/escalationAcknowledgement"
    assert_error(await api.post(unknown, json=body, headers=manager), 404)

    answer = await api.post(path, json=body, headers=manager)
    assert answer.status_code == 200, answer.text
    jeopardy = answer.json()["jeopardy"]
    assert jeopardy["acknowledgedLevel"] == 1
    assert jeopardy["acknowledgedNote"] == "calling the party"
    assert jeopardy["acknowledgedBy"].startswith("manager:")  # the key, when "by" is left out


# ---------------------------------------------------------------- POST /hub, DELETE /hub


async def test_every_role_subscribes_and_only_its_scope_deletes(
    api: httpx.AsyncClient, keys: Keys, manager: dict[str, str], listener: HubListener
) -> None:
    party = unique("P")
    acme, acme_again = keys.make("party", party_id=party), keys.make("party", party_id=party)
    other_party = keys.make("party", party_id=unique("P"))
    process = keys.make("process", process=PROCESS)
    query = "eventType=PartyOrderStateChangeEvent"
    made = {
        name: await subscribe(api, headers, listener.url, query)
        for name, headers in (("party", acme), ("process", process), ("manager", manager))
    }
    assert made["party"]["callback"] == listener.url
    assert made["party"]["query"] == query
    assert len({m["id"] for m in made.values()}) == 3
    everything = f"{listener.url}?all"  # a callback once per owner: this is another
    assert (await subscribe(api, acme, everything))["query"] == ""  # no query: every event

    # Another party's subscription does not exist for this key; another process's neither.
    assert_error(await api.delete(f"/hub/{made['party']['id']}", headers=other_party), 404)
    assert_error(await api.delete(f"/hub/{made['manager']['id']}", headers=acme), 404)
    assert_error(await api.delete(f"/hub/{made['party']['id']}", headers=process), 404)
    assert_error(await api.delete(f"/hub/{made['party']['id']}"), 401)
    # Any key of the same party removes it; once removed it is gone.
    assert (await api.delete(f"/hub/{made['party']['id']}", headers=acme_again)).status_code == 204
    assert_error(await api.delete(f"/hub/{made['party']['id']}", headers=acme), 404)
    # A manager removes any; an unknown id is 404.
    assert (await api.delete(f"/hub/{made['process']['id']}", headers=manager)).status_code == 204
    assert_error(await api.delete(f"/hub/{unique('sub')}", headers=manager), 404)


async def test_an_owner_subscribes_a_callback_once_and_up_to_its_quota(
    dev_client: Client,
    dev_task_queue: str,
    keys: Keys,
    listener: HubListener,
    manager: dict[str, str],
) -> None:
    values = {
        **DEPLOYED,
        CALLBACK_ALLOW_ENV: TEST_CALLBACK_ALLOW,
        HUB_SUBSCRIPTIONS_PER_OWNER_ENV: "3",
    }
    async with api_with(dev_client, dev_task_queue, keys, values) as api:
        try:
            await _subscribe_up_to_the_quota(api, keys, listener)
        finally:
            registry = PartyOrderClient(dev_client, dev_task_queue)
            for subscription in (await registry.subscriptions()).subscriptions:
                if subscription.callback.startswith("http://127.0.0.1:"):
                    await api.delete(f"/hub/{subscription.id}", headers=manager)


async def _subscribe_up_to_the_quota(
    api: httpx.AsyncClient, keys: Keys, listener: HubListener
) -> None:
    party = unique("P")
    acme, acme_again = keys.make("party", party_id=party), keys.make("party", party_id=party)
    first = await subscribe(api, acme, listener.url)
    twice = await api.post("/hub", json={"callback": listener.url}, headers=acme_again)
    assert_error(twice, 409, "callback", first["id"])
    # Another owner subscribes the same callback: it is theirs.
    await subscribe(api, keys.make("party", party_id=unique("P")), listener.url)
    for n in (2, 3):
        await subscribe(api, acme, f"{listener.url}?n={n}")
    loop = asyncio.get_running_loop()
    began = loop.time()
    full = await api.post("/hub", json={"callback": f"{listener.url}?n=4"}, headers=acme)
    took = loop.time() - began
    assert_error(full, 409, "at most 3 subscriptions per owner")
    assert took < 1.0, took
    # Removing one makes room again.
    assert (await api.delete(f"/hub/{first['id']}", headers=acme)).status_code == 204
    await subscribe(api, acme, f"{listener.url}?n=4")


async def test_requests_racing_to_an_owner_s_last_place_get_it_once(
    dev_client: Client, dev_task_queue: str, keys: Keys, listener: HubListener
) -> None:
    values = {
        **DEPLOYED,
        CALLBACK_ALLOW_ENV: TEST_CALLBACK_ALLOW,
        HUB_SUBSCRIPTIONS_PER_OWNER_ENV: "2",
    }
    party = keys.make("party", party_id=unique("P"))
    async with api_with(dev_client, dev_task_queue, keys, values) as api:
        first = await subscribe(api, party, listener.url)
        racing = await asyncio.gather(
            *(
                api.post("/hub", json={"callback": f"{listener.url}?n={n}"}, headers=party)
                for n in range(4)
            )
        )
        made = [answer.json()["id"] for answer in racing if answer.status_code == 201]
        refused = [answer for answer in racing if answer.status_code != 201]
        try:
            assert len(made) == 1, [answer.text for answer in racing]
            for answer in refused:
                assert_error(answer, 409, "at most 2 subscriptions per owner")
        finally:
            for subscription_id in (first["id"], *made):
                await api.delete(f"/hub/{subscription_id}", headers=party)


async def test_refused_callbacks_and_queries_are_400_naming_the_field(
    api: httpx.AsyncClient, manager: dict[str, str], listener: HubListener
) -> None:
    for callback in (
        "ftp://example.com/events",
        "javascript:alert(1)",
        "not a url",
        "http:///no-host",
        "http://example.com:99999/x",
        f"http://api.test{BASE_PATH}/hub",  # the API itself, as the caller reached it
    ):
        answer = await api.post("/hub", json={"callback": callback}, headers=manager)
        assert_error(answer, 400, "callback")
    for query, words in (
        ("eventType=PartyOrderExplodedEvent", ("eventType", "PartyOrderExplodedEvent")),
        ("colour=red", ("unknown field", "colour")),
        ("eventType", ("not field=value",)),
        ("eventType=", ("empty value",)),
        ("partyOrder.id=a b", ("partyOrder.id",)),
        ("eventType=PartyOrderCreateEvent&eventType=PartyOrderMilestoneEvent", ("twice",)),
    ):
        answer = await api.post(
            "/hub", json={"callback": listener.url, "query": query}, headers=manager
        )
        assert_error(answer, 400, "query", *words)
    unknown_field = await api.post(
        "/hub", json={"callback": listener.url, "callbak": "x"}, headers=manager
    )
    assert_error(unknown_field, 400, "callbak")
    assert_error(await api.post("/hub", json={"query": ""}, headers=manager), 400, "callback")


def test_a_callback_at_the_api_s_own_socket_is_refused() -> None:
    from starlette.requests import Request

    from starter.api.errors import ApiError
    from starter.api.hub import check_callback

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/hub",
        "headers": [(b"host", b"api.example.com")],
        "server": ("127.0.0.1", 8080),
        "scheme": "https",
        "query_string": b"",
    }
    request = Request(scope)
    # Even where the allow list lets these hosts through, the API's own socket is refused.
    allow = AllowList.parse("localhost,127.0.0.1,[::1],0.0.0.0")
    for callback in (
        "http://localhost:8080/x",
        "http://127.0.0.1:8080/x",
        "http://[::1]:8080/",
        "http://0.0.0.0:8080/",
        "https://api.example.com/hooks",  # the public name, default port
    ):
        with pytest.raises(ApiError, match="points at this API itself"):
            check_callback(callback, request, allow)
    assert check_callback("http://127.0.0.1:9090/x", request, allow) == "http://127.0.0.1:9090/x"
    assert check_callback("https://hooks.example.com/", request) == "https://hooks.example.com/"


# ---------------------------------------------------------------- delivery


async def test_a_party_hears_every_kind_of_event_of_its_own_orders_only(
    api: httpx.AsyncClient, keys: Keys, manager: dict[str, str], listener: HubListener
) -> None:
    party, other = unique("P"), unique("P")
    made = await subscribe(api, keys.make("party", party_id=party), listener.url)
    await asyncio.sleep(2.5)  # past the workers' cache of the subscriptions
    # The survey milestone falls due in 3 s: it is violated (a milestone event), which
    # makes the order critical and escalates to level 1 (a jeopardy alert).
    order_id = await start(api, manager, party, survey_in=timedelta(seconds=3))
    other_id = await start(api, manager, other)
    for target in (order_id, other_id):
        assert (await api.post(f"/partyOrder/{target}/checkIn", headers=manager)).is_success
        patched = await api.patch(
            f"/partyOrder/{target}", json={"state": "inProgress"}, headers=manager
        )
        assert patched.status_code == 200, patched.text
    change = await api.post(
        f"/partyOrder/{order_id}/changeRequest",
        json={"requestId": "CR-1", "reason": "later", "changes": {"expectedCompletionDate": iso(
            datetime.now(UTC) + timedelta(days=130))}},
        headers=manager,
    )  # fmt: skip
    assert change.status_code == 202, change.text

    wanted = {
        "PartyOrderCreateEvent",
        "PartyOrderInformationRequiredEvent",
        "PartyOrderStateChangeEvent",
        "PartyOrderChangeRequestEvent",
        "PartyOrderMilestoneEvent",
        "PartyOrderJeopardyAlertEvent",
    }
    await eventually(lambda: wanted <= {e["eventType"] for e in listener.events()})
    await asyncio.sleep(1.0)  # anything else on its way arrives too
    events = listener.events()
    assert {e["event"]["partyOrder"]["id"] for e in events} == {order_id}
    assert all(e["event"]["partyOrder"]["party"] == {"id": party} for e in events)
    # One event per domain event (the violated milestone goes to the party and to the
    # order manager, and is one event). Two jeopardy alerts: escalation to level 1 when
    # the due milestone makes the order a hazard at once, then critical when it is missed.
    kinds = sorted((e["eventType"], e["event"]["notification"]["kind"]) for e in events)
    assert kinds == sorted(
        [
            ("PartyOrderCreateEvent", "created"),
            ("PartyOrderJeopardyAlertEvent", "escalation"),
            ("PartyOrderJeopardyAlertEvent", "jeopardyWorsened"),
            ("PartyOrderInformationRequiredEvent", "checkIn"),
            ("PartyOrderStateChangeEvent", "stateChanged"),
            ("PartyOrderChangeRequestEvent", "changeRequest"),
            ("PartyOrderMilestoneEvent", "milestoneViolated"),
        ]
    )
    for item in listener.received:
        assert item.key.startswith(f"{made['id']}/")
        assert item.headers["X-Party-Orders-Event"] == item.event["eventType"]
    listener.assert_signed(made["secret"])  # standardwebhooks verifies every delivery
    (created,) = listener.of_type("PartyOrderCreateEvent")
    assert set(created) == {"eventId", "eventTime", "eventType", "sequence", "event"}
    # Every event says where it stands among the order's events (docs/hub.md).
    assert created["sequence"] == 0
    sequences = [item.event["sequence"] for item in listener.received]
    assert all(isinstance(number, int) for number in sequences)
    assert sorted(sequences)[0] == 0 and len(set(sequences)) == len(sequences)
    assert created["event"]["partyOrder"]["state"] == "acknowledged"
    assert created["event"]["partyOrder"]["originatingProcess"] == {"name": PROCESS}
    (asked,) = listener.of_type("PartyOrderInformationRequiredEvent")
    assert asked["event"]["notification"]["kind"] == "checkIn"
    assert "answerBy" in asked["event"]["notification"]
    (changed,) = listener.of_type("PartyOrderStateChangeEvent")
    assert changed["event"]["partyOrder"]["state"] == "inProgress"
    (milestone,) = listener.of_type("PartyOrderMilestoneEvent")
    assert milestone["event"]["notification"]["milestoneId"] == "survey"
    alerts = {
        e["event"]["notification"]["kind"]: e
        for e in listener.of_type("PartyOrderJeopardyAlertEvent")
    }
    escalated, worsened = alerts["escalation"], alerts["jeopardyWorsened"]
    assert escalated["event"]["partyOrder"]["jeopardy"] == "hazard"
    assert escalated["event"]["notification"]["level"] == 1
    assert worsened["event"]["partyOrder"]["jeopardy"] == "critical"
    (cr,) = listener.of_type("PartyOrderChangeRequestEvent")
    assert cr["event"]["notification"]["changeRequest"]["id"] == "CR-1"


async def test_every_state_change_is_an_event_the_first_report_and_a_cancellation_too(
    api: httpx.AsyncClient, keys: Keys, manager: dict[str, str], listener: HubListener
) -> None:
    party = unique("P")
    await subscribe_to_state_changes(api, keys, listener.url, party)
    await asyncio.sleep(2.5)  # past the workers' cache of the subscriptions
    order_id = await start(api, manager, party)
    party_key = keys.make("party", party_id=party)
    reported = await api.post(
        f"/partyOrder/{order_id}/progress", json={"percentComplete": 10}, headers=party_key
    )
    assert reported.status_code == 202, reported.text
    await eventually(lambda: len(listener.events()) == 1)
    cancel = {"partyOrder": {"id": order_id}, "cancellationReason": "site gone"}
    assert (await api.post("/cancelPartyOrder", json=cancel, headers=manager)).status_code == 201
    await eventually(lambda: len(listener.events()) == 3)
    await asyncio.sleep(1.0)  # nothing more is on its way
    changes = [
        (
            e["event"]["partyOrder"]["state"],
            e["event"]["notification"]["kind"],
            e["event"]["notification"].get("state"),
        )
        for e in sorted(listener.events(), key=lambda e: e["eventTime"])
    ]
    # The first report and the cancellation taking effect are told to the process; the
    # cancellation asked for is the party's notice.
    assert changes == [
        ("inProgress", "stateChanged", "inProgress"),
        ("pendingCancellation", "cancelled", None),
        ("cancelled", "stateChanged", "cancelled"),
    ]
    assert len({e["eventId"] for e in listener.events()}) == 3


async def test_the_query_filters_and_a_process_hears_only_its_orders(
    api: httpx.AsyncClient, keys: Keys, manager: dict[str, str]
) -> None:
    party = unique("P")
    by_type, by_order, own_process = [await HubListener().start() for _ in range(3)]
    try:
        first = await start(api, manager, party)
        second = await start(api, manager, party)
        foreign = example_order(unique(), datetime.now(UTC), party_id=party)
        foreign["originatingProcess"] = {"name": "somebody-else"}
        assert (await api.post("/partyOrder", json=foreign, headers=manager)).status_code == 201
        await subscribe(
            api,
            keys.make("party", party_id=party),
            by_type.url,
            "eventType=PartyOrderStateChangeEvent,PartyOrderInformationRequiredEvent",
        )
        await subscribe(api, manager, by_order.url, f"partyOrder.id={second}")
        await subscribe_to_state_changes(api, keys, own_process.url, party)
        await asyncio.sleep(2.5)  # past the workers' cache of the subscriptions
        for order_id in (first, second, foreign["id"]):
            await api.post(f"/partyOrder/{order_id}/checkIn", headers=manager)
            held = await api.patch(
                f"/partyOrder/{order_id}", json={"state": "inProgress"}, headers=manager
            )
            assert held.status_code == 200, held.text
        await eventually(lambda: len(by_type.events()) == 6)
        await eventually(lambda: len(by_order.events()) == 2)
        await eventually(lambda: len(own_process.events()) == 2)
        await asyncio.sleep(1.0)
        assert sorted(e["eventType"] for e in by_type.events()) == sorted(
            ["PartyOrderStateChangeEvent", "PartyOrderInformationRequiredEvent"] * 3
        )
        assert {e["event"]["partyOrder"]["id"] for e in by_order.events()} == {second}
        assert {e["event"]["partyOrder"]["id"] for e in own_process.events()} == {first, second}
        assert {e["eventType"] for e in own_process.events()} == {"PartyOrderStateChangeEvent"}
    finally:
        for receiver in (by_type, by_order, own_process):
            await receiver.stop()


async def test_a_refused_delivery_is_recorded_and_a_removed_subscription_hears_nothing(
    api: httpx.AsyncClient, dev_client: Client, dev_task_queue: str, manager: dict[str, str]
) -> None:
    refusing = await HubListener(status=400).start()
    later = await HubListener().start()
    try:
        order_id = await start(api, manager, unique("P"))
        query = f"partyOrder.id={order_id}"
        refused = await subscribe(api, manager, refusing.url, query)
        removed = await subscribe(api, manager, later.url, query)
        assert (await api.delete(f"/hub/{removed['id']}", headers=manager)).status_code == 204
        await asyncio.sleep(2.5)  # past the workers' cache
        assert (await api.post(f"/partyOrder/{order_id}/checkIn", headers=manager)).is_success
        client = PartyOrderClient(dev_client, dev_task_queue)

        async def recorded() -> bool:
            failures = (await client.subscriptions()).failures
            return any(f.subscription_id == refused["id"] for f in failures)

        await eventually(recorded)
        (failure,) = [
            f for f in (await client.subscriptions()).failures if f.subscription_id == refused["id"]
        ]
        assert failure.event_type == "PartyOrderInformationRequiredEvent"
        assert "400" in failure.error
        assert len(refusing.received) == 1  # a 400 is not retried
        # The order itself is not affected: its own notification was delivered.
        order = (await api.get(f"/partyOrder/{order_id}", headers=manager)).json()
        assert order["deliveryFailures"] == []
        assert later.received == []
    finally:
        await refusing.stop()
        await later.stop()


async def test_a_dead_callback_is_suspended_and_its_owner_reads_why_and_since_when(
    api: httpx.AsyncClient,
    dev_client: Client,
    dev_task_queue: str,
    keys: Keys,
    listener: HubListener,
) -> None:
    party = unique("P")
    acme, acme_again = keys.make("party", party_id=party), keys.make("party", party_id=party)
    dead = await subscribe(api, acme, f"{listener.url}?dead")
    alive = await subscribe(api, acme, listener.url)
    other_party = await subscribe(api, keys.make("party", party_id=unique("P")), listener.url)
    active = (await api.get(f"/hub/{dead['id']}", headers=acme)).json()
    assert active["state"] == "active" and "suspendedAt" not in active
    # Its deliveries gave up on three consecutive days (as DeliverHubEvent records them).
    registry = dev_client.get_workflow_handle(registry_workflow_id(dev_task_queue))
    last = datetime.now(UTC).replace(microsecond=0)
    for days_ago in (2, 1, 0):
        await registry.signal(
            HUB_DELIVERY_FAILED,
            HubDeliveryFailure(
                at=last - timedelta(days=days_ago),
                subscription_id=dead["id"],
                event_id=f"PO-X/run/checkIn-{days_ago}",
                event_type="PartyOrderInformationRequiredEvent",
                error=f"callback answered 503 (day -{days_ago})",
            ),
        )

    async def suspended() -> bool:
        answer = await api.get(f"/hub/{dead['id']}", headers=acme_again)
        return bool(answer.json()["state"] == "suspended")

    await eventually(suspended)
    seen = (await api.get(f"/hub/{dead['id']}", headers=acme_again)).json()
    assert datetime.fromisoformat(seen["suspendedAt"]) == last
    assert "3 consecutive days" in seen["suspendedReason"]
    assert "callback answered 503 (day -0)" in seen["suspendedReason"]
    assert "secret" not in seen
    # The listing shows the owner its own subscriptions, each in its state; no one else's.
    listed = {s["id"]: s for s in (await api.get("/hub", headers=acme)).json()}
    assert set(listed) == {dead["id"], alive["id"]}
    assert listed[dead["id"]] == seen
    assert listed[alive["id"]]["state"] == "active"
    # Another party's key, or a process's, does not see it: 404 as for an unknown id.
    stranger = keys.make("party", party_id=unique("P"))
    assert_error(await api.get(f"/hub/{dead['id']}", headers=stranger), 404)
    assert_error(await api.get(f"/hub/{other_party['id']}", headers=acme), 404)
    process = keys.make("process", process=PROCESS)
    assert_error(await api.get(f"/hub/{dead['id']}", headers=process), 404)
    assert_error(await api.get(f"/hub/{unique('sub')}", headers=acme), 404)
    assert_error(await api.get(f"/hub/{dead['id']}"), 401)


async def test_an_acknowledgement_no_worker_applies_yet_is_202(
    dev_client: Client, keys: Keys, manager: dict[str, str]
) -> None:
    # A task queue no worker polls: Temporal takes the update, nobody applies it yet.
    client = PartyOrderClient(dev_client, unique("nobody"), answer_timeout=timedelta(seconds=1))
    async with api_for(create_app(keys=keys.store, client=client)) as http:
        order = example_order(unique(), datetime.now(UTC))
        assert_error(await http.post("/partyOrder", json=order, headers=manager), 503)
        path = f"/partyOrder/{order['id']}/escalationAcknowledgement"
        queued = await http.post(path, json={"requestId": "ack-1", "level": 1}, headers=manager)
        assert queued.status_code == 202, queued.text
        assert queued.json() == {"requestId": "ack-1"}
        await dev_client.get_workflow_handle(f"party-order-{order['id']}").terminate()


async def test_deliveries_to_one_subscription_are_bounded(dev_client: Client) -> None:
    # No worker polls this queue: every delivery started stays running, as a dead
    # callback's do while they retry.
    publisher = HubPublisher(dev_client, unique("nobody"))
    publisher.deliveries_per_subscription = 2
    dead = Subscription(
        id=unique("sub"),
        callback="https://gone.example/events",
        owner=SubscriptionOwner(role="manager"),
        created_at=datetime.now(UTC),
    )
    alive = dead.model_copy(update={"id": unique("sub"), "callback": "https://up.example/e"})

    async def subscriptions(*, fresh: bool = False) -> list[Subscription]:
        return [dead]

    publisher.subscriptions = subscriptions  # type: ignore[method-assign]
    spec = PartyOrderSpec.model_validate(example_order(unique(), datetime.now(UTC)))

    def event(n: int) -> HubEventSource:
        return created_source(spec, f"run-{n}", datetime.now(UTC))

    try:
        assert [await publisher.publish(event(n)) for n in (1, 2)] == [1, 1]

        async def both_running() -> bool:
            return await publisher.running_deliveries(dead.id) == 2

        await eventually(both_running)
        assert await publisher.publish(event(3)) == 0  # bounded: dropped, not piled up
        assert await publisher.running_deliveries(alive.id) == 0
        publisher.subscriptions = lambda *, fresh=False: _listed([dead, alive])  # type: ignore[method-assign]
        assert await publisher.publish(event(4)) == 1  # another subscription has room
    finally:
        async for execution in dev_client.list_workflows(
            f"WorkflowType = 'DeliverHubEvent' AND TaskQueue = '{publisher.task_queue}'"
        ):
            await dev_client.get_workflow_handle(execution.id).terminate("test over")


async def _listed(subscriptions: list[Subscription]) -> list[Subscription]:
    return subscriptions


# ---------------------------------------------------------------- outbound safety, signatures


@pytest.mark.parametrize(
    ("callback", "rule"),
    [
        ("http://127.1:7243/api/v1/namespaces/default/workflows", "loopback"),
        ("http://2130706433:7243/", "loopback"),
        ("http://0x7f000001:7243/", "loopback"),
        ("http://0177.0.0.1:7243/", "loopback"),
        ("http://[::ffff:127.0.0.1]:7243/", "loopback"),
        ("http://127.0.0.1.:7243/", "loopback"),
        ("http://localhost:9464/metrics", "this machine"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://10.0.0.7/", "private"),
        ("https://user:secret@hooks.example.com/", "user info"),
        ("https://hooks.example.com/a\r\nX-Injected: 1", "line breaks"),
        ("https://\uff48\uff4f\uff4f\uff4bs.example.com/", "internationalised"),
    ],
)
async def test_post_hub_refuses_internal_callbacks_naming_the_rule(
    dev_client: Client, dev_task_queue: str, keys: Keys, callback: str, rule: str
) -> None:
    party = keys.make("party", party_id=unique("P"))
    async with api_with(dev_client, dev_task_queue, keys, DEPLOYED) as api:
        answer = await api.post("/hub", json={"callback": callback}, headers=party)
    assert_error(answer, 400, "callback", rule)
    assert "secret" not in answer.json()["message"]  # user info is not echoed back


async def test_a_party_webhook_at_an_internal_address_is_refused_at_start(
    dev_client: Client, dev_task_queue: str, keys: Keys, manager: dict[str, str]
) -> None:
    order = example_order(unique(), datetime.now(UTC))
    async with api_with(dev_client, dev_task_queue, keys, DEPLOYED) as api:
        for url, rule in (
            ("http://0x7f000001:7243/", "loopback"),
            ("http://[fd00:ec2::254]/", "metadata"),
        ):
            order["party"]["webhookUrl"] = url
            answer = await api.post("/partyOrder", json=order, headers=manager)
            assert_error(answer, 400, "party.webhookUrl", rule)


async def test_post_hub_lets_a_listed_loopback_listener_through(
    api: httpx.AsyncClient,
    dev_client: Client,
    dev_task_queue: str,
    keys: Keys,
    listener: HubListener,
) -> None:
    party = keys.make("party", party_id=unique("P"))
    other_port = {**DEPLOYED, CALLBACK_ALLOW_ENV: f"127.0.0.1:{listener.port + 1}"}
    async with api_with(dev_client, dev_task_queue, keys, other_port) as elsewhere:
        refused = await elsewhere.post("/hub", json={"callback": listener.url}, headers=party)
    assert_error(refused, 400, "callback", "loopback")
    listed = {**DEPLOYED, CALLBACK_ALLOW_ENV: f"127.0.0.1:{listener.port}"}
    async with api_with(dev_client, dev_task_queue, keys, listed) as allowed:
        await subscribe(allowed, party, listener.url)  # removed by the api fixture's end


async def test_post_hub_without_a_master_secret_is_503_and_records_nothing(
    dev_client: Client,
    dev_task_queue: str,
    keys: Keys,
    listener: HubListener,
) -> None:
    party = keys.make("party", party_id=unique("P"))
    no_secret = {CALLBACK_ALLOW_ENV: "127.0.0.1"}
    async with api_with(dev_client, dev_task_queue, keys, no_secret) as api:
        answer = await api.post("/hub", json={"callback": listener.url}, headers=party)
    assert_error(answer, 503, "PARTY_ORDERS_WEBHOOK_MASTER_SECRET")
    registry = await PartyOrderClient(dev_client, dev_task_queue).subscriptions()
    assert all(s.callback != listener.url for s in registry.subscriptions)


def verify(secret: str, item: Received) -> bool:
    """What a subscriber does with each delivery: the ``standardwebhooks`` package."""
    try:
        Webhook(secret).verify(item.body, item.headers)
    except WebhookVerificationError:
        return False
    return True


async def test_each_subscriber_verifies_its_deliveries_and_no_other_can_forge_them(
    api: httpx.AsyncClient,
    dev_client: Client,
    dev_task_queue: str,
    keys: Keys,
    manager: dict[str, str],
    listener: HubListener,
) -> None:
    party = unique("P")
    acme = keys.make("party", party_id=party)
    process = keys.make("process", process=PROCESS)
    query = f"partyOrder.party.id={party}"
    ours, theirs = (
        await subscribe(api, acme, listener.url),
        await subscribe(api, process, listener.url, query),
    )
    assert ours["secret"] != theirs["secret"]
    order_id = await start(api, manager, party)

    def delivered(subscription: dict[str, Any]) -> list[Received]:
        return [r for r in listener.received if r.key.startswith(f"{subscription['id']}/")]

    await eventually(lambda: bool(delivered(ours)) and bool(delivered(theirs)))
    (created,) = delivered(ours)
    assert created.event["event"]["partyOrder"]["id"] == order_id
    assert created.headers["webhook-id"] == created.key
    assert created.headers["webhook-signature"].startswith("v1,")
    assert verify(ours["secret"], created)
    assert verify(theirs["secret"], delivered(theirs)[0])
    # The process, holding only its own secret, forges "completed" to the party: refused.
    forged_body = created.body.replace(b'"acknowledged"', b'"completed"')
    forged = Received(
        {**created.headers, **signed_headers(theirs["secret"], created.key, forged_body)},
        forged_body,
    )
    assert not verify(ours["secret"], forged)
    # A captured delivery replayed later (its timestamp older than the tolerance), or sent
    # again with a fresh timestamp: both refused.
    stale = datetime.now(UTC) - timedelta(minutes=10)
    replayed = Received(
        {**created.headers, **signed_headers(ours["secret"], created.key, created.body, stale)},
        created.body,
    )
    assert not verify(ours["secret"], replayed)
    later = str(int(created.headers["webhook-timestamp"]) + 1)
    refreshed = Received({**created.headers, "webhook-timestamp": later}, created.body)
    assert not verify(ours["secret"], refreshed)
    # Nothing secret is kept in Temporal: the registry holds a rotation count only.
    registry = await PartyOrderClient(dev_client, dev_task_queue).subscriptions()
    assert ours["secret"] not in registry.model_dump_json()
    assert "whsec_" not in registry.model_dump_json()


async def test_a_rotated_secret_signs_what_follows_and_only_the_owner_rotates(
    api: httpx.AsyncClient, keys: Keys, manager: dict[str, str], listener: HubListener
) -> None:
    party = unique("P")
    acme = keys.make("party", party_id=party)
    made = await subscribe(api, acme, listener.url)
    path = f"/hub/{made['id']}/rotateSecret"
    assert_error(await api.post(path, headers=keys.make("party", party_id=unique("P"))), 404)
    assert_error(await api.post(path, headers=keys.make("process", process=PROCESS)), 404)
    assert_error(await api.post(f"/hub/{unique('sub')}/rotateSecret", headers=acme), 404)
    assert_error(await api.post(path), 401)

    answer = await api.post(path, headers=acme)
    assert answer.status_code == 200, answer.text
    rotated = answer.json()
    assert {k: v for k, v in rotated.items() if k != "secret"} == {
        k: v for k, v in made.items() if k != "secret"
    }
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != made["secret"]

    await start(api, manager, party)
    await eventually(lambda: len(listener.received) >= 1)
    for item in listener.received:
        assert verify(rotated["secret"], item)
        assert not verify(made["secret"], item)
    # A manager may rotate any; each rotation is a new secret again.
    again = (await api.post(path, headers=manager)).json()
    assert again["secret"] not in (made["secret"], rotated["secret"])
