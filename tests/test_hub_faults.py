"""The hub with real processes: a dev server on its own SQLite file, `python worker.py`
children, the API app, and a real HTTP listener.

1. A worker killed with SIGKILL while an event is being delivered: every event still
   arrives, signed, and a receiver deduping by ``Idempotency-Key`` sees each exactly once.
2. Subscriptions survive restarting the API, the worker and the server.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from settings import WEBHOOK_MASTER_SECRET_ENV, Settings
from starter.api.app import create_app
from starter.api.keys import KeyStore
from starter.client import PartyOrderClient
from starter.samples import example_order
from tests.conftest import unique
from tests.hub_listener import HubListener
from tests.processes import DevServer, WorkerProcess, eventually
from tests.test_api import api_for
from workflows.domain import names

pytestmark = pytest.mark.slow


@pytest.fixture
async def listener() -> AsyncIterator[HubListener]:
    receiver = await HubListener().start()
    yield receiver
    await receiver.stop()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DevServer]:
    dev = DevServer(tmp_path / "temporal")
    dev.start()
    yield dev
    dev.stop()


@pytest.fixture
def workers(tmp_path: Path) -> Any:
    started: list[WorkerProcess] = []

    def spawn(name: str, server: DevServer, task_queue: str, **env: str) -> WorkerProcess:
        worker = WorkerProcess(
            name,
            address=server.address,
            task_queue=task_queue,
            outbox=tmp_path / "outbox.jsonl",
            log_dir=tmp_path,
            env=env,
        ).start()
        started.append(worker)
        return worker

    yield spawn
    for worker in started:
        worker.stop(timeout=15)


def bearer(store: KeyStore, role: str, **bound: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {store.create(role, **bound)[1]}"}


def api(
    client: Client, task_queue: str, store: KeyStore, settings: Settings | None = None
) -> httpx.AsyncClient:
    """The API as a fresh process would serve it: its own app and client API (with
    ``settings``, default: the environment's)."""
    return api_for(
        create_app(keys=store, client=PartyOrderClient(client, task_queue), settings=settings)
    )


async def test_a_worker_killed_mid_delivery_loses_no_event_and_repeats_none(
    tmp_path: Path, server: DevServer, workers: Any, listener: HubListener
) -> None:
    client = await server.connect()
    task_queue = unique("hub-kill")
    master = secrets.token_urlsafe(24)
    # The worker calls only the test's own listener on loopback.
    allow = f"127.0.0.1:{listener.port}"
    first = workers(
        "A",
        server,
        task_queue,
        PARTY_ORDERS_WEBHOOK_MASTER_SECRET=master,
        PARTY_ORDERS_CALLBACK_ALLOW=allow,
    )
    await first.wait_polling(client)
    store = KeyStore(tmp_path / "api-keys.json")
    manager = bearer(store, "manager")
    listener.hold = asyncio.Event()  # the first deliveries get no answer: still in flight

    # The API derives the secret it returns from the workers' master secret.
    settings = Settings({**Settings.from_env().values, WEBHOOK_MASTER_SECRET_ENV: master})
    async with api(client, task_queue, store, settings) as http:
        made = (await http.post("/hub", json={"callback": listener.url}, headers=manager)).json()
        secret = made["secret"]
        order_id = unique()
        order = example_order(order_id, datetime.now(UTC))
        assert (await http.post("/partyOrder", json=order, headers=manager)).status_code == 201
        assert (await http.post(f"/partyOrder/{order_id}/checkIn", headers=manager)).is_success

        async def in_flight() -> bool:
            return len(listener.received) >= 1

        await eventually(in_flight, timeout=30, what="a delivery in flight")
        first.kill()  # kill -9 while the receiver holds the request
        listener.hold.set()
        second = workers(
            "B",
            server,
            task_queue,
            PARTY_ORDERS_WEBHOOK_MASTER_SECRET=master,
            PARTY_ORDERS_CALLBACK_ALLOW=allow,
        )
        await second.wait_polling(client)

        wanted = {"PartyOrderCreateEvent", "PartyOrderInformationRequiredEvent"}

        async def retried() -> bool:
            # Arrival is not delivery: the requests held at the kill were never answered,
            # so their activities time out (15 s) and are retried by the new worker.
            arrived = {e["eventType"] for e in listener.events()} == wanted
            return arrived and any(len(items) >= 2 for items in listener.by_key().values())

        await eventually(retried, timeout=90, what="the cut-off deliveries made again")
        await asyncio.sleep(1.0)

    # The delivery cut off by the kill was made again, with the same key and bytes.
    keys = listener.by_key()
    assert len(keys) == 2
    assert max(len(items) for items in keys.values()) >= 2, keys.keys()
    events = listener.events()  # asserts each key's repeats are the same bytes
    assert sorted(e["eventType"] for e in events) == sorted(wanted)
    assert all(key.startswith(f"{made['id']}/{order_id}/") for key in keys)
    listener.assert_signed(secret)
    # One delivery workflow per key, however often the event was published.
    for key in keys:
        handle = client.get_workflow_handle(names.delivery_workflow_id(key))
        assert await handle.result() is True  # delivered, not given up
        assert (await handle.describe()).workflow_type == "DeliverHubEvent"
    logs = second.log_text() + first.log_text()
    assert secret not in logs and master not in logs


async def test_subscriptions_survive_restarts_of_the_api_the_worker_and_the_server(
    tmp_path: Path, server: DevServer, workers: Any, listener: HubListener
) -> None:
    client = await server.connect()
    task_queue = unique("hub-restart")
    allow = f"127.0.0.1:{listener.port}"  # the test's own listener, and nothing else
    worker = workers("A", server, task_queue, PARTY_ORDERS_CALLBACK_ALLOW=allow)
    await worker.wait_polling(client)
    store = KeyStore(tmp_path / "api-keys.json")
    party = unique("P")
    party_key = bearer(store, "party", party_id=party)
    query = "eventType=PartyOrderStateChangeEvent"
    async with api(client, task_queue, store) as http:
        answer = await http.post(
            "/hub", json={"callback": listener.url, "query": query}, headers=party_key
        )
        assert answer.status_code == 201, answer.text
        made = answer.json()

    # Everything restarts: the worker, the server (same SQLite file), the API.
    worker.stop()
    server.stop()
    server.start()
    client = await server.connect()
    worker = workers("B", server, task_queue, PARTY_ORDERS_CALLBACK_ALLOW=allow)
    await worker.wait_polling(client)

    registry = await PartyOrderClient(client, task_queue).subscriptions()
    secret = made.pop("secret")
    assert [s.public() for s in registry.subscriptions] == [made]
    manager = bearer(store, "manager")
    async with api(client, task_queue, store) as http:
        ours = await start(http, manager, party)
        theirs = await start(http, manager, unique("P"))
        for order_id in (ours, theirs):
            patched = await http.patch(
                f"/partyOrder/{order_id}", json={"state": "inProgress"}, headers=manager
            )
            assert patched.status_code == 200, patched.text

        async def arrived() -> bool:
            return len(listener.events()) >= 1

        await eventually(arrived, timeout=30, what="the state change event")
        await asyncio.sleep(1.5)
        (event,) = listener.events()
        assert event["eventType"] == "PartyOrderStateChangeEvent"
        assert event["event"]["partyOrder"]["id"] == ours
        listener.assert_signed(secret)  # the secret given before the restarts still verifies
        # Another key of the same party removes it, after all the restarts.
        again = bearer(store, "party", party_id=party)
        assert (await http.delete(f"/hub/{made['id']}", headers=again)).status_code == 204
    assert (await PartyOrderClient(client, task_queue).subscriptions()).subscriptions == []


async def start(http: httpx.AsyncClient, headers: dict[str, str], party_id: str) -> str:
    order_id = unique()
    order = example_order(order_id, datetime.now(UTC), party_id=party_id)
    answer = await http.post("/partyOrder", json=order, headers=headers)
    assert answer.status_code == 201, answer.text
    return order_id
