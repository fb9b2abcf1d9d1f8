"""What operators see without querying an order, on the real dev server.

The contract's six search attributes (``temporal workflow list --query`` and the Web UI's
list), the workflow's current details (the Markdown on the "User Metadata" tab) and the
starter's static summary. Visibility is eventually consistent, so every check polls with a
deadline. The orders here run in real time: one is due in months and stays calm, the other
has a milestone a few seconds away and a seconds-long policy, so it turns critical and
climbs the escalation ladder while the test watches.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributeKey, TypedSearchAttributes
from temporalio.converter import decode_typed_search_attributes
from temporalio.service import RPCError

from starter.client import PartyOrderClient
from starter.local.binaries import temporal_cli_path
from tests.conftest import unique
from workflows.domain.instants import iso
from workflows.domain.model import PartyOrder, track_workflow_id

T = TypeVar("T")

STATE = SearchAttributeKey.for_keyword("PartyOrderState")
JEOPARDY = SearchAttributeKey.for_keyword("PartyOrderJeopardy")
ESCALATION_LEVEL = SearchAttributeKey.for_int("PartyOrderEscalationLevel")
PARTY_ID = SearchAttributeKey.for_keyword("PartyId")
ORIGINATING_PROCESS = SearchAttributeKey.for_keyword("OriginatingProcess")
DUE_DATE = SearchAttributeKey.for_datetime("PartyOrderDueDate")
CONTRACT_KEYS: list[SearchAttributeKey[Any]] = [
    STATE,
    JEOPARDY,
    ESCALATION_LEVEL,
    PARTY_ID,
    ORIGINATING_PROCESS,
    DUE_DATE,
]

VISIBILITY_DEADLINE = 30.0  # seconds for the dev server's visibility store to catch up
METADATA_QUERY = "__temporal_workflow_metadata"  # what the Web UI asks for current details


def whole_seconds_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def calm_order(order_id: str, party_id: str, now: datetime, **overrides: Any) -> dict[str, Any]:
    """A contract start input due in months, with the default (days-long) policy."""
    order: dict[str, Any] = {
        "id": order_id,
        "description": "10G backhaul circuit for site 42",
        "party": {"id": party_id, "name": "Acme Networks", "role": "supplier"},
        "originatingProcess": {"name": "service-order-handling", "reference": "SO-77"},
        "orderItems": [{"id": "1", "description": "10G circuit", "quantity": 1}],
        "requestedCompletionDate": iso(now + timedelta(days=120)),
        "expectedCompletionDate": iso(now + timedelta(days=110)),
        "milestones": [
            {"id": "survey", "name": "Site survey", "milestoneDate": iso(now + timedelta(days=20))}
        ],
    }
    order.update(overrides)
    return order


def critical_order(order_id: str, party_id: str, now: datetime) -> dict[str, Any]:
    """An order whose survey milestone passes in 3 s, then escalates at +0 s, +2 s, +4 s."""
    return calm_order(
        order_id,
        party_id,
        now,
        originatingProcess={"name": "partner-order-handling", "reference": "PA-9"},
        milestones=[
            {
                "id": "survey",
                "name": "Site survey",
                "milestoneDate": iso(now + timedelta(seconds=3)),
            }
        ],
        trackingPolicy={
            "checkInInterval": "PT3S",
            "responseWindow": "PT1S",
            "unansweredCheckInLimit": 2,
            "warningLeadTime": "PT0S",
            "changeResolutionWindow": "P2D",
            "escalation": [
                {"level": 1, "after": "PT0S", "notify": "order-manager"},
                {"level": 2, "after": "PT2S", "notify": "operations-lead"},
                {"level": 3, "after": "PT4S", "notify": "executive-sponsor"},
            ],
        },
    )


async def start_order(
    client: Client, task_queue: str, order: dict[str, Any], summary: str | None = None
) -> WorkflowHandle[Any, PartyOrder]:
    return await client.start_workflow(
        "TrackPartyOrder",
        order,
        id=track_workflow_id(order["id"]),
        task_queue=task_queue,
        result_type=PartyOrder,
        static_summary=summary or f"Party order {order['id']} for {order['party']['id']}",
    )


async def stop_orders(*handles: WorkflowHandle[Any, Any]) -> None:
    """Terminate test orders so seconds-long check-ins do not run for the whole session."""
    for handle in handles:
        with contextlib.suppress(RPCError):  # already closed
            await handle.terminate(reason="test finished")


async def eventually(
    probe: Callable[[], Awaitable[T | None]],
    what: str,
    timeout: float = VISIBILITY_DEADLINE,
    interval: float = 0.25,
) -> T:
    """Poll ``probe`` until it returns something truthy; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = await probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}"
            )
        await asyncio.sleep(interval)


async def typed_attributes(handle: WorkflowHandle[Any, Any]) -> TypedSearchAttributes:
    return (await handle.describe()).typed_search_attributes


async def attributes_matching(
    handle: WorkflowHandle[Any, Any], **expected: Any
) -> TypedSearchAttributes:
    """Wait until the described search attributes carry ``expected`` (key name -> value)."""
    keys = {key.name: key for key in CONTRACT_KEYS}

    async def probe() -> TypedSearchAttributes | None:
        attributes = await typed_attributes(handle)
        ok = all(attributes.get(keys[name]) == value for name, value in expected.items())
        return attributes if ok else None

    return await eventually(probe, f"{handle.id} search attributes {expected}")


async def current_details(handle: WorkflowHandle[Any, Any]) -> str:
    """The workflow's current details, read the way the Web UI reads them."""
    metadata = await handle.query(METADATA_QUERY, result_type=WorkflowMetadata)
    return metadata.current_details


async def details_containing(handle: WorkflowHandle[Any, Any], *parts: str) -> str:
    async def probe() -> str | None:
        details = await current_details(handle)
        return details if all(part in details for part in parts) else None

    return await eventually(probe, f"{handle.id} current details with {parts}")


async def listed_ids(client: Client, query: str) -> set[str]:
    return {execution.id async for execution in client.list_workflows(query)}


async def list_settles_on(client: Client, query: str, expected: set[str]) -> set[str]:
    async def probe() -> set[str] | None:
        found = await listed_ids(client, query)
        return found if found == expected else None

    return await eventually(probe, f"list_workflows({query!r}) == {sorted(expected)}")


async def cli_list(address: str, query: str) -> set[str]:
    """Workflow ids from the real ``temporal workflow list --query ... -o json``."""
    process = await asyncio.create_subprocess_exec(
        temporal_cli_path(),
        "workflow",
        "list",
        "--address",
        address,
        "--namespace",
        "default",
        "--query",
        query,
        "-o",
        "json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, err.decode()
    text = out.decode().strip()
    rows: Any = json.loads(text) if text else []
    if isinstance(rows, dict):
        rows = [rows]
    return {row["execution"]["workflowId"] for row in rows}


async def cli_list_settles_on(address: str, query: str, expected: set[str]) -> set[str]:
    async def probe() -> set[str] | None:
        found = await cli_list(address, query)
        return found if found == expected else None

    return await eventually(probe, f"temporal workflow list --query {query!r} == {expected}")


# ---------------------------------------------------------------------- a calm order


async def test_search_attributes_details_and_summary_follow_the_order(
    dev_client: Client, dev_task_queue: str
) -> None:
    party_id = unique("PARTY")
    now = whole_seconds_now()
    order = calm_order(unique(), party_id, now)
    handle = await start_order(dev_client, dev_task_queue, order, "Backhaul for site 42 (SO-77)")
    # Only requestedCompletionDate: the due date falls back to it.
    fallback = calm_order(unique(), party_id, now, expectedCompletionDate=None)
    fallback_handle = await start_order(dev_client, dev_task_queue, fallback)
    try:
        attributes = await attributes_matching(
            handle,
            PartyOrderState="acknowledged",
            PartyOrderJeopardy="none",
            PartyOrderEscalationLevel=0,
            PartyId=party_id,
            OriginatingProcess="service-order-handling",
        )
        due = attributes.get(DUE_DATE)
        assert isinstance(due, datetime) and due.tzinfo is not None
        assert due == now + timedelta(days=110)
        assert {pair.key.name for pair in attributes} >= {key.name for key in CONTRACT_KEYS}

        fallback_attributes = await attributes_matching(fallback_handle, PartyId=party_id)
        assert fallback_attributes.get(DUE_DATE) == now + timedelta(days=120)

        description = await handle.describe()
        assert await description.static_summary() == "Backhaul for site 42 (SO-77)"

        await handle.signal(
            "report_progress", {"requestId": "p1", "percentComplete": 40, "note": "survey booked"}
        )
        await attributes_matching(handle, PartyOrderState="inProgress", PartyOrderJeopardy="none")
        await list_settles_on(
            dev_client,
            f'PartyId="{party_id}" AND PartyOrderState="inProgress"',
            {handle.id},
        )
        await list_settles_on(
            dev_client,
            f'PartyId="{party_id}" AND PartyOrderDueDate > "{iso(now + timedelta(days=115))}"',
            {fallback_handle.id},
        )

        details = await details_containing(handle, "State: **inProgress**")
        tracked = await handle.query("get_order", result_type=PartyOrder)
        assert tracked.check_ins.next_at is not None
        assert "Percent complete: 40%" in details
        assert "Jeopardy: **none**" in details
        assert f"Next check-in: {iso(tracked.check_ins.next_at.replace(microsecond=0))}" in details
        assert "Next milestone: Site survey" in details
        assert order["id"] in details
    finally:
        await stop_orders(handle, fallback_handle)


async def upserted(handle: WorkflowHandle[Any, Any]) -> list[set[str]]:
    """The names of the attributes of each upsert in the order's history, in order."""
    names: list[set[str]] = []
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
            names.append(set(fields.indexed_fields))
    return names


async def test_what_the_start_set_is_not_upserted_again(
    dev_client: Client, dev_task_queue: str
) -> None:
    """Rules 4: a start through the client API sets the six attributes, so the order's
    first workflow task upserts none of them; the first report upserts only the state."""
    orders = PartyOrderClient(dev_client, dev_task_queue)
    order = calm_order(unique(), unique("PARTY"), whole_seconds_now())
    await orders.start(order)
    handle = dev_client.get_workflow_handle(track_workflow_id(order["id"]))
    try:
        assert (await orders.get(order["id"])).state == "acknowledged"  # first task done
        contract = {key.name for key in CONTRACT_KEYS}
        assert [names & contract for names in await upserted(handle)] in ([], [set()])
        await orders.report_progress(order["id"], {"percentComplete": 5}, confirm=True)
        assert [names & contract for names in await upserted(handle) if names & contract] == [
            {"PartyOrderState"}
        ]
        party_id = order["party"]["id"]
        await attributes_matching(handle, PartyOrderState="inProgress", PartyId=party_id)
    finally:
        await stop_orders(handle)


# ---------------------------------------------------------------------- a critical order


@dataclass
class JeopardyPair:
    party_id: str
    calm: WorkflowHandle[Any, PartyOrder]
    critical: WorkflowHandle[Any, PartyOrder]


@pytest.fixture(scope="module")
async def jeopardy_pair(dev_client: Client, dev_task_queue: str) -> AsyncIterator[JeopardyPair]:
    """Two orders of one unique party: one stays calm, one turns critical within seconds."""
    party_id = unique("PARTY")
    now = whole_seconds_now()
    calm = await start_order(dev_client, dev_task_queue, calm_order(unique(), party_id, now))
    critical = await start_order(
        dev_client, dev_task_queue, critical_order(unique(), party_id, now)
    )
    try:
        yield JeopardyPair(party_id, calm, critical)
    finally:
        await stop_orders(calm, critical)


async def published_levels(handle: WorkflowHandle[Any, Any]) -> list[tuple[datetime, int]]:
    """Every escalation level the workflow upserted, with the time of the upsert, in order."""
    levels: list[tuple[datetime, int]] = []
    async for event in handle.fetch_history_events():
        if event.event_type != EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            continue
        attributes = decode_typed_search_attributes(
            event.upsert_workflow_search_attributes_event_attributes.search_attributes
        )
        level = attributes.get(ESCALATION_LEVEL)
        if level is not None:
            levels.append((event.event_time.ToDatetime(tzinfo=UTC), level))
    return levels


async def test_critical_order_escalates_and_is_found_by_its_attributes(
    dev_client: Client, jeopardy_pair: JeopardyPair
) -> None:
    pair = jeopardy_pair
    attributes = await attributes_matching(
        pair.critical,
        PartyOrderJeopardy="critical",
        PartyOrderEscalationLevel=3,
        PartyOrderState="acknowledged",
        PartyId=pair.party_id,
        OriginatingProcess="partner-order-handling",
    )
    assert attributes.get(DUE_DATE) is not None

    # The level rose over time, as the policy's "after" durations say (each level is its
    # own upsert, normally 0, 1, 2, 3; a badly delayed worker may merge two steps).
    levels = await published_levels(pair.critical)
    values = [level for _, level in levels]
    assert values[0] == 0 and values[-1] == 3, values
    assert values == sorted(set(values)), values
    assert len(values) >= 3, values
    first_escalated_at = next(at for at, level in levels if level >= 1)
    level_three_at = levels[-1][0]
    assert level_three_at - first_escalated_at >= timedelta(seconds=3.5)

    await attributes_matching(
        pair.calm, PartyOrderJeopardy="none", PartyOrderEscalationLevel=0, PartyId=pair.party_id
    )
    scope = f'PartyId="{pair.party_id}"'
    await list_settles_on(
        dev_client, f'PartyOrderJeopardy="critical" AND {scope}', {pair.critical.id}
    )
    await list_settles_on(
        dev_client, f"PartyOrderEscalationLevel >= 2 AND {scope}", {pair.critical.id}
    )
    await list_settles_on(dev_client, f'PartyOrderJeopardy="none" AND {scope}', {pair.calm.id})
    await list_settles_on(dev_client, scope, {pair.calm.id, pair.critical.id})

    details = await details_containing(pair.critical, "Jeopardy: **critical**, escalation level 3")
    assert "State: **acknowledged**" in details
    assert "Percent complete: 0%" in details
    assert "milestone survey violated" in details
    assert "Violated milestones: survey" in details
    assert "Next check-in: " in details


async def test_temporal_cli_list_query_finds_exactly_the_critical_order(
    dev_address: str, jeopardy_pair: JeopardyPair
) -> None:
    pair = jeopardy_pair
    scope = f'PartyId="{pair.party_id}"'
    await cli_list_settles_on(
        dev_address, f'PartyOrderJeopardy="critical" AND {scope}', {pair.critical.id}
    )
    await cli_list_settles_on(
        dev_address, f"PartyOrderEscalationLevel >= 2 AND {scope}", {pair.critical.id}
    )
    await cli_list_settles_on(dev_address, scope, {pair.calm.id, pair.critical.id})
    # The escalation query, unscoped, must never list a calm order of this party.
    assert pair.calm.id not in await cli_list(dev_address, "PartyOrderEscalationLevel >= 2")
