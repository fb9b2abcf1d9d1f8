"""The HTTP API against the real dev server and worker (httpx over the ASGI app).

Every operation, every role, every status the contract names: 201/200/202, 400, 401, 403,
404, 409 and 503.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import httpx
import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from settings import Settings
from starter.api.app import create_app
from starter.api.keys import KeyStore
from starter.api.ratelimit import RateLimit, RateLimiter
from starter.api.routes import BASE_PATH
from starter.client import PartyOrderClient, ServerUnavailable
from starter.samples import example_order
from tests.conftest import unique
from workflows.domain.model import track_workflow_id

PROCESS = "service-order-handling"  # the example order's originating process


class Keys:
    """One key per role (and a second party and process), in a store of their own."""

    def __init__(self, path: Path) -> None:
        self.store = KeyStore(path)
        self.acme = self._make("party", party_id="ACME")
        self.other_party = self._make("party", party_id="GLOBEX")
        self.process = self._make("process", process=PROCESS)
        self.other_process = self._make("process", process="somebody-else")
        self.manager = self._make("manager")

    def _make(self, role: str, **bound: str) -> dict[str, str]:
        _, key = self.store.create(role, **bound)
        return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return Keys(tmp_path_factory.mktemp("api") / "api-keys.json")


def api_for(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=f"http://api.test{BASE_PATH}"
    )


@pytest.fixture
async def api(
    dev_client: Client, dev_task_queue: str, keys: Keys
) -> AsyncIterator[httpx.AsyncClient]:
    client = PartyOrderClient(dev_client, dev_task_queue)
    async with api_for(create_app(keys=keys.store, client=client)) as http:
        yield http


def new_order(**overrides: Any) -> dict[str, Any]:
    return example_order(unique(), datetime.now(UTC), **overrides)


async def started(api: httpx.AsyncClient, keys: Keys, **overrides: Any) -> dict[str, Any]:
    order = new_order(**overrides)
    answer = await api.post("/partyOrder", json=order, headers=keys.manager)
    assert answer.status_code == 201, answer.text
    return order


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.2)


def assert_error(answer: httpx.Response, status: int, *words: str) -> dict[str, Any]:
    """A TMF Error with ``status``, whose message holds each of ``words``."""
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"code", "reason", "message", "status"}
    assert body["status"] == str(status)
    for word in words:
        assert word in body["message"], body["message"]
    return body


# ---------------------------------------------------------------- 401


async def test_no_key_unknown_key_and_revoked_key_are_401(
    api: httpx.AsyncClient, keys: Keys
) -> None:
    for headers in (
        {},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer pok_000000000000_not-a-real-secret"},
        {"Authorization": "Bearer " + keys.acme["Authorization"][-10:]},
    ):
        answer = await api.get("/partyOrder", headers=headers)
        assert_error(answer, 401)
        assert answer.headers["WWW-Authenticate"] == "Bearer"
    record, key = keys.store.create("manager")
    assert (await api.get("/partyOrder", headers={"Authorization": f"Bearer {key}"})).is_success
    keys.store.revoke(record.id)
    revoked = await api.get("/partyOrder", headers={"Authorization": f"Bearer {key}"})
    assert_error(revoked, 401)


async def test_authentication_comes_before_the_body(api: httpx.AsyncClient, keys: Keys) -> None:
    # Without a key, a malformed body is still 401; with a forbidden role, 403.
    assert_error(await api.post("/partyOrder", content=b"{not json"), 401)
    forbidden = await api.post("/partyOrder", content=b"{not json", headers=keys.acme)
    assert_error(forbidden, 403, "party", "POST")


# ---------------------------------------------------------------- POST /partyOrder


async def test_start_is_idempotent_and_a_different_order_is_409(
    api: httpx.AsyncClient, keys: Keys
) -> None:
    order = new_order()
    first = await api.post("/partyOrder", json=order, headers=keys.manager)
    assert first.status_code == 201, first.text
    assert first.headers["Location"] == f"{BASE_PATH}/partyOrder/{order['id']}"
    body = first.json()
    assert body["id"] == order["id"]
    assert body["state"] == "acknowledged"
    assert body["party"]["id"] == "ACME"

    # The same order again (keys in another order, as another caller): the tracked order.
    again = await api.post(
        "/partyOrder",
        content=json.dumps(order, sort_keys=True),
        headers={**keys.process, "Content-Type": "application/json"},
    )
    assert again.status_code == 200, again.text
    assert again.json()["trackingId"] == body["trackingId"]

    changed = dict(order, description="another circuit")
    assert_error(
        await api.post("/partyOrder", json=changed, headers=keys.manager), 409, order["id"]
    )


async def test_concurrent_identical_starts_start_one_tracker(
    api: httpx.AsyncClient, keys: Keys
) -> None:
    order = new_order()
    answers = await asyncio.gather(
        *(api.post("/partyOrder", json=order, headers=keys.manager) for _ in range(5))
    )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200, 200, 200, 200, 201], [a.text for a in answers]
    assert len({answer.json()["trackingId"] for answer in answers}) == 1


async def test_a_process_starts_only_orders_it_originates(
    api: httpx.AsyncClient, keys: Keys
) -> None:
    order = new_order()
    foreign = await api.post("/partyOrder", json=order, headers=keys.other_process)
    assert_error(foreign, 403, "originatingProcess.name")

    del order["originatingProcess"]
    own = await api.post("/partyOrder", json=order, headers=keys.other_process)
    assert own.status_code == 201, own.text
    assert own.json()["originatingProcess"]["name"] == "somebody-else"
    assert_error(await api.post("/partyOrder", json=new_order(), headers=keys.acme), 403)

    # A reference without a name: the name is the key's process too.
    order = new_order(originatingProcess={"reference": "SO-9"})
    referenced = await api.post("/partyOrder", json=order, headers=keys.process)
    assert referenced.status_code == 201, referenced.text
    assert referenced.json()["originatingProcess"] == {"name": PROCESS, "reference": "SO-9"}


@pytest.mark.parametrize(
    ("mutate", "words"),
    [
        (lambda o: o["party"].pop("name"), ["party.name", "required"]),
        (lambda o: o.update(percentComplet=3), ["percentComplet", "not permitted"]),
        (lambda o: o["orderItems"][0].update(quantity="many"), ["orderItems.0.quantity"]),
        (lambda o: o.update(id="not an id!"), ["id"]),
        (lambda o: o["trackingPolicy"].update(checkInInterval="weekly"), ["checkInInterval"]),
    ],
)
async def test_an_invalid_order_is_400_naming_the_field(
    api: httpx.AsyncClient, keys: Keys, mutate: Callable[[dict[str, Any]], Any], words: list[str]
) -> None:
    order = new_order()
    mutate(order)
    assert_error(await api.post("/partyOrder", json=order, headers=keys.manager), 400, *words)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"delivered": "yes"}, ["delivered", "valid boolean"]),
        ({"percentComplete": True}, ["percentComplete", "valid integer"]),
        ({"percentComplete": "50"}, ["percentComplete", "valid integer"]),
        ({"expectedCompletionDate": 1900000000}, ["expectedCompletionDate", "datetime"]),
    ],
)
async def test_a_body_is_read_without_coercion(
    api: httpx.AsyncClient, keys: Keys, body: dict[str, Any], words: list[str]
) -> None:
    order = await started(api, keys)
    answer = await api.post(f"/partyOrder/{order['id']}/progress", json=body, headers=keys.acme)
    assert_error(answer, 400, *words)
    got = await api.get(f"/partyOrder/{order['id']}", headers=keys.manager)
    assert got.json()["state"] == "acknowledged"  # "yes" completed nothing


async def test_a_whole_number_written_with_a_fraction_is_that_integer(
    api: httpx.AsyncClient, keys: Keys
) -> None:
    """JSON has one kind of number, and JSON Schema calls 50.0 an integer: so does the API
    (schemathesis sent ``"percentComplete": 90.0`` and was refused)."""
    order = await started(api, keys)
    path = f"/partyOrder/{order['id']}/progress"
    assert_error(await api.post(path, json={"percentComplete": 50.5}, headers=keys.acme), 400)
    answer = await api.post(path, json={"percentComplete": 5e1}, headers=keys.acme)
    assert answer.status_code == 202, answer.text

    async def applied() -> bool:
        return bool((await get_order(api, keys, order["id"]))["percentComplete"] == 50)

    await eventually(applied)


async def test_a_number_is_no_duration_and_every_interval_has_a_minimum(
    api: httpx.AsyncClient, keys: Keys, dev_client: Client, dev_task_queue: str
) -> None:
    order = new_order()
    order["trackingPolicy"].update(checkInInterval=7, responseWindow=2)
    answer = await api.post("/partyOrder", json=order, headers=keys.manager)
    assert_error(answer, 400, "trackingPolicy.checkInInterval")
    # The API's minimum is its settings' (PARTY_ORDERS_MIN_DURATION), the default here.
    minimum = Settings.from_env({}).min_duration()
    client = PartyOrderClient(dev_client, dev_task_queue, min_duration=minimum)
    order["trackingPolicy"].update(checkInInterval="PT1M", responseWindow="PT1M")
    async with api_for(create_app(keys=keys.store, client=client)) as strict:
        answer = await strict.post("/partyOrder", json=order, headers=keys.manager)
    assert_error(
        answer, 400, "trackingPolicy.checkInInterval: PT1M is shorter than the minimum PT5M"
    )


async def test_malformed_json_wrong_types_and_oversize_bodies_are_400(
    dev_client: Client, dev_task_queue: str, keys: Keys
) -> None:
    app = create_app(
        keys=keys.store, client=PartyOrderClient(dev_client, dev_task_queue), max_body_bytes=2048
    )
    async with api_for(app) as api:
        headers = {**keys.manager, "Content-Type": "application/json"}
        bad_json = await api.post("/partyOrder", content=b'{"id": "PO-1",', headers=headers)
        assert_error(bad_json, 400, "not valid JSON")
        not_object = await api.post("/partyOrder", json=[1, 2], headers=keys.manager)
        assert_error(not_object, 400)
        untyped = await api.post("/partyOrder", content=b'{"id": "PO-1"}', headers=keys.manager)
        assert_error(untyped, 400, "Content-Type: application/json")
        huge = new_order(description="x" * 4000)
        assert_error(await api.post("/partyOrder", json=huge, headers=keys.manager), 400, "2048")

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
            yield b'{"id": "PO-1", "description": "'
            for _ in range(10):
                yield b"y" * 500
            yield b'"}'

        chunked = await api.post("/partyOrder", content=chunks(), headers=headers)
        assert_error(chunked, 400, "larger than 2048 bytes")


async def test_a_start_input_past_its_size_is_400_and_starts_nothing(
    api: httpx.AsyncClient, dev_client: Client, keys: Keys
) -> None:
    """Under the body cap but over the start input's 200,000 characters: refused before
    anything starts, where the workflow used to start and fail (503, a Failed workflow)."""
    milestones = [{"id": f"m{n}", "description": "x" * 4_000} for n in range(52)]
    order = new_order(milestones=milestones)
    assert 200_000 < len(json.dumps(order)) < 256 * 1024
    answer = await api.post("/partyOrder", json=order, headers=keys.manager)
    assert_error(answer, 400, "characters of JSON; at most 200000 are accepted")
    with pytest.raises(RPCError) as missing:
        await dev_client.get_workflow_handle(track_workflow_id(order["id"])).describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND


# ---------------------------------------------------------------- GET


async def test_each_role_sees_only_its_orders(api: httpx.AsyncClient, keys: Keys) -> None:
    order = await started(api, keys)
    path = f"/partyOrder/{order['id']}"
    for headers in (keys.manager, keys.acme, keys.process):
        answer = await api.get(path, headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["id"] == order["id"]
        assert answer.json()["jeopardy"]["status"] == "none"

    # TMF attribute selection: only the fields asked for, and the id.
    selected = await api.get(path, params={"fields": "state, jeopardy"}, headers=keys.acme)
    assert selected.status_code == 200, selected.text
    assert selected.json() == {"id": order["id"], "state": "acknowledged", "jeopardy": ANY}
    assert set(selected.json()["jeopardy"]) >= {"status", "reasons", "escalationLevel"}
    typo = await api.get(path, params={"fields": "state,jeopardi"}, headers=keys.acme)
    assert_error(typo, 400, "fields", "'jeopardi'")

    unknown_id = unique()
    unknown = assert_error(await api.get(f"/partyOrder/{unknown_id}", headers=keys.acme), 404)
    for headers in (keys.other_party, keys.other_process):
        hidden = assert_error(await api.get(path, headers=headers), 404)
        # Word for word the answer for an order that does not exist: nothing tells them apart.
        assert hidden == {**unknown, "message": unknown["message"].replace(unknown_id, order["id"])}


async def test_a_party_reads_its_party_view_and_a_process_the_whole_order(
    api: httpx.AsyncClient, keys: Keys
) -> None:
    order = await started(api, keys)
    path = f"/partyOrder/{order['id']}"
    mine = await api.post(f"{path}/progress", json={"note": "crew booked"}, headers=keys.acme)
    assert mine.status_code == 202, mine.text
    internal = {"source": "enterprise", "note": "considering NORDFIBER"}
    ours = await api.post(f"{path}/progress", json=internal, headers=keys.manager)
    assert ours.status_code == 202, ours.text
    whole = await get_order(api, keys, order["id"])
    assert [(n["text"], n["visibility"]) for n in whole["notes"]] == [
        ("crew booked", "party"),
        ("considering NORDFIBER", "internal"),
    ]
    by_process = (await api.get(path, headers=keys.process)).json()
    assert by_process["notes"] == whole["notes"]
    assert by_process["trackingPolicy"]["escalation"][1]["notify"] == "operations-lead"

    seen = (await api.get(path, headers=keys.acme)).json()
    assert [n["text"] for n in seen["notes"]] == ["crew booked"]
    assert "notify" not in seen["trackingPolicy"]["escalation"][1]
    assert "operations-lead" not in json.dumps(seen)
    selected = await api.get(path, params={"fields": "notes"}, headers=keys.acme)
    assert [n["text"] for n in selected.json()["notes"]] == ["crew booked"]


async def test_list_filters_pages_and_counts_visible_orders(
    api: httpx.AsyncClient, keys: Keys
) -> None:
    party = unique("P")
    mine = [await started(api, keys, party_id=party) for _ in range(3)]
    party_key = keys._make("party", party_id=party)
    foreign = await started(api, keys, party_id=unique("Q"))

    async def listed_all() -> bool:
        answer = await api.get("/partyOrder", params={"partyId": party}, headers=keys.manager)
        return answer.headers.get("X-Total-Count") == "3"

    await eventually(listed_all)
    page = await api.get("/partyOrder", params={"limit": 2, "offset": 1}, headers=party_key)
    assert page.status_code == 200, page.text
    assert page.headers["X-Total-Count"] == "3"
    assert len(page.json()) == 2
    everything = await api.get("/partyOrder", headers=party_key)
    ids = {summary["orderId"] for summary in everything.json()}
    assert ids == {order["id"] for order in mine}
    assert foreign["id"] not in ids
    assert {summary["partyId"] for summary in everything.json()} == {party}

    # A process sees the orders it originated, whoever the party.
    originated = await api.get("/partyOrder", params={"partyId": party}, headers=keys.process)
    assert originated.headers["X-Total-Count"] == "3"
    assert {summary["orderId"] for summary in originated.json()} == {o["id"] for o in mine}
    others = await api.get("/partyOrder", params={"partyId": party}, headers=keys.other_process)
    assert others.json() == [] and others.headers["X-Total-Count"] == "0"

    # A party asking for another party's orders sees none; filters combine.
    other = await api.get("/partyOrder", params={"partyId": "ACME"}, headers=party_key)
    assert other.json() == [] and other.headers["X-Total-Count"] == "0"
    held = await api.get("/partyOrder", params={"state": "held"}, headers=party_key)
    assert held.json() == [] and held.headers["X-Total-Count"] == "0"
    acknowledged = await api.get(
        "/partyOrder", params={"state": "acknowledged", "jeopardy": "none"}, headers=party_key
    )
    assert len(acknowledged.json()) == 3
    # Several values: any of them ("hazard,critical" is every order in jeopardy).
    either = await api.get(
        "/partyOrder", params={"state": "held,acknowledged", "jeopardy": "none,hazard"},
        headers=party_key,
    )  # fmt: skip
    assert len(either.json()) == 3
    assert_error(
        await api.get("/partyOrder", params={"jeopardy": "hazard,red"}, headers=party_key),
        400, "jeopardy", "red",
    )  # fmt: skip

    bad_state = await api.get("/partyOrder", params={"state": "bogus"}, headers=keys.manager)
    assert_error(bad_state, 400, "state", "bogus")
    # A bad filter is refused as the document says, even where no order could match.
    for params in (
        {"partyId": "ACME", "state": "bogus"},
        {"partyId": "ACME", "jeopardy": "HAZARD"},
        {"partyId": "ACME\x0f"},
    ):
        refused = await api.get("/partyOrder", params=params, headers=party_key)
        assert_error(refused, 400, *params.keys() - {"partyId"} or {"partyId"})
    assert_error(
        await api.get("/partyOrder", params={"limit": 0}, headers=keys.manager), 400, "limit"
    )


# ---------------------------------------------------------------- messages


async def get_order(api: httpx.AsyncClient, keys: Keys, order_id: str) -> dict[str, Any]:
    answer = await api.get(f"/partyOrder/{order_id}", headers=keys.manager)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def test_progress_from_the_party(api: httpx.AsyncClient, keys: Keys) -> None:
    order = await started(api, keys)
    path = f"/partyOrder/{order['id']}/progress"
    report = {"percentComplete": 40, "milestones": [{"id": "survey", "status": "completed"}]}
    answer = await api.post(path, json=report, headers=keys.acme)
    assert answer.status_code == 202, answer.text
    request_id = answer.json()["requestId"]
    assert request_id

    current = await get_order(api, keys, order["id"])
    assert current["percentComplete"] == 40
    assert current["state"] == "inProgress"
    assert current["milestones"][0]["status"] == "completed"

    # Sent again with its request id: applied once; a message the order cannot apply shows
    # in rejectedMessages under its request id.
    same = await api.post(path, json={**report, "requestId": request_id}, headers=keys.acme)
    assert same.json() == {"requestId": request_id}
    unknown_milestone = await api.post(
        path, json={"milestones": [{"id": "no-such"}], "requestId": "r-x"}, headers=keys.manager
    )
    assert unknown_milestone.status_code == 202
    rejected = (await get_order(api, keys, order["id"]))["rejectedMessages"]
    assert [r["requestId"] for r in rejected] == ["r-x"]

    assert_error(
        await api.post(path, json={"source": "enterprise", "note": "n"}, headers=keys.acme),
        403,
        "source",
    )
    assert_error(await api.post(path, json=report, headers=keys.process), 403)
    assert_error(await api.post(path, json=report, headers=keys.other_party), 404)
    assert_error(await api.post(path, json={}, headers=keys.acme), 400, "at least one")
    assert_error(
        await api.post(path, json={"percentComplete": 140}, headers=keys.acme),
        400,
        "percentComplete",
    )
    assert_error(
        await api.post(f"/partyOrder/{unique()}/progress", json=report, headers=keys.acme), 404
    )


async def test_change_request_and_resolution(api: httpx.AsyncClient, keys: Keys) -> None:
    order = await started(api, keys)
    later = (datetime.now(UTC) + timedelta(days=130)).isoformat()
    change = {
        "requestId": "CR-1",
        "reason": "permit",
        "changes": {"requestedCompletionDate": later},
    }
    path = f"/partyOrder/{order['id']}/changeRequest"
    answer = await api.post(path, json=change, headers=keys.acme)
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"requestId": "CR-1"}
    for headers in (keys.process, keys.manager):  # every role may ask
        assert (
            await api.post(path, json={**change, "requestId": None}, headers=headers)
        ).status_code == 202
    assert_error(
        await api.post(path, json={**change, "origin": "external"}, headers=keys.acme),
        403,
        "origin",
    )
    assert_error(await api.post(path, json={"changes": {}}, headers=keys.acme), 400, "changes")
    for headers in (keys.other_party, keys.other_process):
        assert_error(await api.post(path, json=change, headers=headers), 404)

    resolution = f"/partyOrder/{order['id']}/changeRequest/CR-1/resolution"
    assert_error(await api.post(resolution, json={"decision": "accepted"}, headers=keys.acme), 403)
    assert_error(
        await api.post(resolution, json={"decision": "maybe"}, headers=keys.process),
        400,
        "decision",
    )
    mismatch = {"decision": "accepted", "changeRequestId": "CR-2"}
    assert_error(
        await api.post(resolution, json=mismatch, headers=keys.process), 400, "changeRequestId"
    )
    accepted = await api.post(resolution, json={"decision": "accepted"}, headers=keys.process)
    assert accepted.status_code == 202, accepted.text

    current = await get_order(api, keys, order["id"])
    (request,) = [c for c in current["changeRequests"] if c["id"] == "CR-1"]
    assert request["status"] == "accepted"
    assert request["resolvedBy"] == f"process:{PROCESS}"
    assert datetime.fromisoformat(current["requestedCompletionDate"]) == datetime.fromisoformat(
        later
    )


async def test_check_in_now(api: httpx.AsyncClient, keys: Keys) -> None:
    order = await started(api, keys)
    path = f"/partyOrder/{order['id']}/checkIn"
    assert (await api.post(path, headers=keys.process)).status_code == 202
    answer = await api.post(path, json={"requestedBy": "ops"}, headers=keys.manager)
    assert answer.status_code == 202, answer.text
    assert (await get_order(api, keys, order["id"]))["checkIns"]["sent"] == 2
    assert_error(await api.post(path, headers=keys.acme), 403)
    assert_error(await api.post(path, headers=keys.other_process), 404)
    assert_error(
        await api.post(path, json={"requestedBy": 5}, headers=keys.process), 400, "requestedBy"
    )


async def test_patch_changes_the_state(api: httpx.AsyncClient, keys: Keys) -> None:
    order = await started(api, keys)
    path = f"/partyOrder/{order['id']}"
    illegal = await api.patch(path, json={"state": "held", "reason": "r"}, headers=keys.process)
    assert_error(illegal, 409, "acknowledged", "held")
    moved = await api.patch(path, json={"state": "pending", "reason": "plan"}, headers=keys.process)
    assert moved.status_code == 200, moved.text
    assert moved.json()["state"] == "pending"
    assert moved.json()["stateReason"] == "plan"
    assert_error(await api.patch(path, json={"state": "bogus"}, headers=keys.manager), 400, "state")
    assert_error(await api.patch(path, json={"state": "inProgress"}, headers=keys.acme), 403)
    assert_error(
        await api.patch(path, json={"state": "inProgress"}, headers=keys.other_process), 404
    )


async def test_cancel_party_order(api: httpx.AsyncClient, keys: Keys) -> None:
    order = await started(api, keys)
    body = {"partyOrder": {"id": order["id"]}, "cancellationReason": "site gone"}
    assert_error(await api.post("/cancelPartyOrder", json=body, headers=keys.acme), 403)
    assert_error(await api.post("/cancelPartyOrder", json=body, headers=keys.other_process), 404)
    answer = await api.post("/cancelPartyOrder", json=body, headers=keys.process)
    assert answer.status_code == 201, answer.text
    task = answer.json()
    assert task["state"] == "acknowledged"
    assert task["partyOrder"] == {
        "id": order["id"],
        "href": f"{BASE_PATH}/partyOrder/{order['id']}",
    }
    assert task["cancellationReason"] == "site gone"
    assert task["requestedBy"] == f"process:{PROCESS}"

    async def cancelled() -> bool:
        return (await get_order(api, keys, order["id"]))["state"] == "cancelled"

    await eventually(cancelled)
    # The order is closed: it takes no more messages.
    closed = await api.post(f"/partyOrder/{order['id']}/checkIn", headers=keys.manager)
    assert_error(closed, 409, "closed")
    missing = {"partyOrder": {"id": unique()}}
    assert_error(await api.post("/cancelPartyOrder", json=missing, headers=keys.manager), 404)
    assert_error(
        await api.post("/cancelPartyOrder", json={"partyOrder": {}}, headers=keys.manager),
        400,
        "partyOrder.id",
    )


# ---------------------------------------------------------------- 429, 503 and the rest


async def test_each_key_has_its_own_rate_limit(keys: Keys) -> None:
    now = [0.0]
    app = create_app(keys=keys.store, connect=refuse)
    # A clock of the test's own: the limit is checked without waiting for real seconds.
    app.state.rate_limiter = RateLimiter(RateLimit(rate=1, burst=3), clock=lambda: now[0])
    async with api_for(app) as api:
        for _ in range(3):  # the burst; Temporal is unreachable here, which is beside the point
            assert (await api.get(f"/partyOrder/{unique()}", headers=keys.acme)).status_code == 503
        limited = await api.get(f"/partyOrder/{unique()}", headers=keys.acme)
        assert_error(limited, 429, "rate limit")
        assert limited.headers["Retry-After"] == "1"
        # Another key is not held back; after a second, the first key may go on.
        assert (await api.get("/partyOrder", headers=keys.manager)).status_code == 503
        now[0] += 1.0
        assert (await api.get(f"/partyOrder/{unique()}", headers=keys.acme)).status_code == 503
        assert (await api.get(f"/partyOrder/{unique()}", headers=keys.acme)).status_code == 429


async def refuse() -> PartyOrderClient:
    raise ServerUnavailable("cannot reach the Temporal service at localhost:1: refused")


async def test_a_damaged_key_file_is_503_not_a_way_in(tmp_path: Path) -> None:
    path = tmp_path / "api-keys.json"
    store = KeyStore(path)
    _, key = store.create("manager")
    path.write_text("{not json")
    async with api_for(create_app(keys=store, connect=refuse)) as api:
        answer = await api.get("/partyOrder", headers={"Authorization": f"Bearer {key}"})
        assert_error(answer, 503, "API keys cannot be read")


async def test_temporal_unreachable_is_503_with_retry_after(
    dev_client: Client, dev_task_queue: str, keys: Keys
) -> None:
    attempts: list[float] = []
    reachable = False

    async def connect() -> PartyOrderClient:
        attempts.append(asyncio.get_running_loop().time())
        if not reachable:
            await refuse()
        return PartyOrderClient(dev_client, dev_task_queue)

    app = create_app(keys=keys.store, connect=connect)
    app.state.clients.RECONNECT_PAUSE = 0.5
    async with api_for(app) as api:
        for _ in range(3):  # one attempt; the next requests are answered at once
            answer = await api.get(f"/partyOrder/{unique()}", headers=keys.manager)
            assert_error(answer, 503, "cannot reach")
            assert answer.headers["Retry-After"].isdigit()
        assert len(attempts) == 1
        # Temporal is back: after the pause, the API connects and answers.
        reachable = True
        await asyncio.sleep(0.6)
        answer = await api.get("/partyOrder", params={"limit": 1}, headers=keys.manager)
        assert answer.status_code == 200, answer.text
        assert len(attempts) == 2


async def test_no_worker_answering_is_503(dev_client: Client, keys: Keys) -> None:
    # A task queue no worker polls: the order is taken, but nobody answers its query.
    client = PartyOrderClient(dev_client, unique("nobody"), answer_timeout=timedelta(seconds=1))
    async with api_for(create_app(keys=keys.store, client=client)) as api:
        order = new_order()
        answer = await api.post("/partyOrder", json=order, headers=keys.manager)
        assert_error(answer, 503, "did not answer")
        assert "Retry-After" in answer.headers
        # Messages are still taken (Temporal holds them for the worker).
        progress = await api.post(
            f"/partyOrder/{order['id']}/progress", json={"note": "n"}, headers=keys.acme
        )
        assert progress.status_code == 202, progress.text
        queued = await api.patch(
            f"/partyOrder/{order['id']}", json={"state": "pending"}, headers=keys.manager
        )
        assert queued.status_code == 202, queued.text
        assert queued.json()["requestId"]
        await dev_client.get_workflow_handle(f"party-order-{order['id']}").terminate()


async def test_openapi_document_unknown_paths_and_no_key_in_logs(
    api: httpx.AsyncClient, keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    document = (await api.get("/openapi.json")).json()
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    start = document["paths"][f"{BASE_PATH}/partyOrder"]["post"]
    assert start["x-roles"] == ["process", "manager"]
    example = start["requestBody"]["content"]["application/json"]["examples"]["PO-1001"]
    assert example["value"]["id"] == "PO-1001"
    assert "422" not in json.dumps(document["paths"])

    assert_error(await api.get("/nowhere", headers=keys.manager), 404)
    assert_error(await api.delete("/partyOrder", headers=keys.manager), 405)

    with caplog.at_level(logging.DEBUG):
        await api.get(f"/partyOrder/{unique()}", headers=keys.acme)
        await api.get("/partyOrder", headers={"Authorization": "Bearer pok_abc_secret-value"})
    secret = keys.acme["Authorization"].removeprefix("Bearer ")
    assert secret not in caplog.text
    assert "secret-value" not in caplog.text


# ---------------------------------------------------------------- the low findings


async def test_405_lists_every_method_of_the_path(api: httpx.AsyncClient, keys: Keys) -> None:
    wrong = await api.delete("/partyOrder", headers=keys.manager)
    assert_error(wrong, 405)
    assert wrong.headers["Allow"] == "GET, POST"
    one = await api.put(f"/partyOrder/{unique()}", headers=keys.manager)
    assert_error(one, 405)
    assert one.headers["Allow"] == "GET, PATCH"


async def test_a_start_whose_dates_have_passed_is_refused_naming_the_field(
    api: httpx.AsyncClient, keys: Keys
) -> None:
    order = new_order(expectedCompletionDate="1900-01-01T00:00:00Z")
    answer = await api.post("/partyOrder", json=order, headers=keys.manager)
    assert_error(answer, 400, "expectedCompletionDate", "1900-01-01", "passed")
    agreed = new_order(requestedCompletionDate="1999-06-01T00:00:00Z")
    agreed.pop("expectedCompletionDate", None)
    answer = await api.post("/partyOrder", json=agreed, headers=keys.manager)
    assert_error(answer, 400, "requestedCompletionDate", "1999-06-01")
    for sent in (order, agreed):
        assert_error(await api.get(f"/partyOrder/{sent['id']}", headers=keys.manager), 404)


async def test_an_ended_order_is_tracked_again_only_with_again_true(
    api: httpx.AsyncClient, keys: Keys
) -> None:
    order = await started(api, keys)
    path = f"/partyOrder/{order['id']}"
    first = (await get_order(api, keys, order["id"]))["trackingId"]
    cancel = {"partyOrder": {"id": order["id"]}, "cancellationReason": "site gone"}
    assert (await api.post("/cancelPartyOrder", json=cancel, headers=keys.manager)).is_success

    async def cancelled() -> bool:
        return (await get_order(api, keys, order["id"]))["state"] == "cancelled"

    await eventually(cancelled)
    changed = {**order, "description": "the same circuit, ordered again"}
    refused = await api.post("/partyOrder", json=changed, headers=keys.manager)
    assert_error(refused, 409, "again=true")
    again = await api.post(
        "/partyOrder", params={"again": "true"}, json=changed, headers=keys.manager
    )
    assert again.status_code == 201, again.text
    assert again.headers["Location"] == f"{BASE_PATH}{path}"
    assert again.json()["state"] == "acknowledged"
    assert again.json()["trackingId"] not in (None, first)
    # A running order is not started twice: the same order is 200, another 409.
    same = await api.post(
        "/partyOrder", params={"again": "true"}, json=changed, headers=keys.manager
    )
    assert same.status_code == 200, same.text
    other = {**changed, "description": "yet another"}
    other_answer = await api.post(
        "/partyOrder", params={"again": "true"}, json=other, headers=keys.manager
    )
    assert_error(other_answer, 409)


async def test_the_location_of_a_cancellation_answers(api: httpx.AsyncClient, keys: Keys) -> None:
    order = await started(api, keys)
    task_path = f"/cancelPartyOrder/{order['id']}"
    assert_error(await api.get(task_path, headers=keys.process), 404, "no cancellation")
    body = {"partyOrder": {"id": order["id"]}, "cancellationReason": "site gone"}
    answer = await api.post("/cancelPartyOrder", json=body, headers=keys.process)
    assert answer.status_code == 201, answer.text
    location = answer.headers["Location"]
    assert location == f"{BASE_PATH}{task_path}" == answer.json()["href"]
    assert answer.json()["requestId"]

    async def done() -> bool:
        task = await api.get(task_path, headers=keys.process)
        return task.status_code == 200 and task.json()["state"] == "done"

    await eventually(done)
    task = (await api.get(task_path, headers=keys.process)).json()
    assert task["id"] == order["id"]
    assert task["cancellationReason"] == "site gone"
    assert task["requestedBy"] == f"process:{PROCESS}"
    assert_error(await api.get(task_path, headers=keys.other_process), 404)
    assert_error(await api.get(task_path, headers=keys.acme), 403)


async def test_the_api_waits_for_a_worker_as_long_as_its_settings_say(
    monkeypatch: pytest.MonkeyPatch, dev_client: Client
) -> None:
    from settings import ANSWER_TIMEOUT_ENV, Settings
    from starter.api import app as app_module

    seen: list[timedelta] = []

    async def connect(**given: Any) -> PartyOrderClient:
        seen.append(given["answer_timeout"])
        return PartyOrderClient(dev_client, answer_timeout=given["answer_timeout"])

    monkeypatch.setattr(app_module.PartyOrderClient, "connect", connect)
    client = await app_module.Clients(settings=Settings({ANSWER_TIMEOUT_ENV: "3"})).get()
    assert seen == [timedelta(seconds=3)]
    assert client.answer_timeout == timedelta(seconds=3)
    # An unusable value is named when the API first needs Temporal: 503, never a guess.
    with pytest.raises(ServerUnavailable, match=ANSWER_TIMEOUT_ENV):
        await app_module.Clients(settings=Settings({ANSWER_TIMEOUT_ENV: "soon"})).get()


async def test_the_document_states_the_rules_the_api_enforces(api: httpx.AsyncClient) -> None:
    document = (await api.get("/openapi.json")).json()
    listing = document["paths"][f"{BASE_PATH}/partyOrder"]["get"]["parameters"]
    by_name = {p["name"]: p["schema"] for p in listing}
    assert "|inProgress|" in by_name["state"]["pattern"]
    assert by_name["jeopardy"]["pattern"] == (
        "^(?:none|hazard|critical)(?:,(?:none|hazard|critical))*$"
    )
    one = document["paths"][f"{BASE_PATH}/partyOrder/{{order_id}}"]["get"]["parameters"]
    schemas = {p["name"]: p["schema"] for p in one}
    assert schemas["order_id"]["pattern"] == "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
    assert "pattern" in json.dumps(schemas["fields"])
    spec = document["components"]["schemas"]["PartyOrderSpec"]
    assert {"required": ["requestedCompletionDate"]} in [
        {"required": alt["required"]} for alt in spec["anyOf"]
    ]
    hub = document["components"]["schemas"]["HubSubscriptionInput"]["properties"]["query"]
    assert "PartyOrderStateChangeEvent" in json.dumps(hub)


async def test_a_start_the_workflow_would_refuse_is_400_not_a_failed_tracking(
    api: httpx.AsyncClient, keys: Keys
) -> None:
    unknown_item = new_order()
    unknown_item["milestones"][0]["orderItemIds"] = ["no-such-item"]
    answer = await api.post("/partyOrder", json=unknown_item, headers=keys.manager)
    assert_error(answer, 400, "orderItemIds", "no-such-item")
    future = new_order()
    future["milestones"][0].update(status="completed", completedAt="2999-01-01T00:00:00Z")
    answer = await api.post("/partyOrder", json=future, headers=keys.manager)
    assert_error(answer, 400, "completedAt", "future")
    for sent in (unknown_item, future):
        assert_error(await api.get(f"/partyOrder/{sent['id']}", headers=keys.manager), 404)
