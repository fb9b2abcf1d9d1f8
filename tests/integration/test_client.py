"""The typed client API (``starter.client``) against a real dev server and worker."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from starter.client import (
    InvalidInput,
    NoAnswer,
    OrderAlreadyTracked,
    OrderClosed,
    OrderNotFound,
    OrderSummary,
    PartyOrderClient,
    RejectedByOrder,
    ServerUnavailable,
    UpdateRejected,
    start_summary,
)
from starter.query import OrderFilters
from workflows.domain.instants import iso
from workflows.domain.messages import ProgressReport
from workflows.domain.model import PartyOrder, PartyOrderSpec

T = TypeVar("T")


def unique(prefix: str = "PO") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def order_json(order_id: str, party_id: str = "ACME", **changes: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    data: dict[str, Any] = {
        "id": order_id,
        "description": "10G backhaul circuit for site 42",
        "party": {"id": party_id, "name": "Acme Networks", "role": "supplier"},
        "originatingProcess": {"name": "service-order-handling", "reference": "SO-77"},
        "expectedCompletionDate": iso(now + timedelta(days=30)),
        "milestones": [
            {"id": "survey", "name": "Site survey", "milestoneDate": iso(now + timedelta(days=10))}
        ],
    }
    data.update(changes)
    return data


async def eventually(
    read: Callable[[], Awaitable[T]], check: Callable[[T], bool], timeout: float = 15.0
) -> T:
    """Poll ``read`` until ``check`` holds (visibility and activities take a moment)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await read()
        if check(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {value!r}")
        await asyncio.sleep(0.2)


@pytest.fixture
def orders(dev_client: Client, dev_task_queue: str) -> PartyOrderClient:
    return PartyOrderClient(dev_client, dev_task_queue)


# ---------------------------------------------------------------- start


async def test_start_tracks_the_order_findable_at_once(
    orders: PartyOrderClient, dev_client: Client
) -> None:
    order_id = unique()
    workflow_id = await orders.start(order_json(order_id))
    assert workflow_id == f"party-order-{order_id}"

    description = await dev_client.get_workflow_handle(workflow_id).describe()
    assert description.workflow_type == "TrackPartyOrder"
    spec = PartyOrderSpec.model_validate(order_json(order_id))
    assert await description.static_summary() == start_summary(spec)
    assert (await description.static_summary() or "").startswith(
        f"Party order {order_id} with Acme Networks (ACME), placed by "
    )
    # The six contract attributes are there from the start, before any workflow task.
    names = {key.name for key, _ in description.typed_search_attributes}
    assert {
        "PartyOrderState",
        "PartyOrderJeopardy",
        "PartyOrderEscalationLevel",
        "PartyId",
        "OriginatingProcess",
        "PartyOrderDueDate",
    } <= names

    order = await orders.get(order_id)
    assert isinstance(order, PartyOrder)
    assert order.id == order_id
    assert order.state == "acknowledged"
    assert order.party.name == "Acme Networks"


async def test_start_accepts_a_model_and_refuses_a_second_tracker(
    orders: PartyOrderClient,
) -> None:
    order_id = unique()
    spec = PartyOrderSpec.model_validate(order_json(order_id))
    await orders.start(spec)
    with pytest.raises(OrderAlreadyTracked, match=f"order {order_id} is already tracked"):
        await orders.start(order_json(order_id))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"party": {"id": "ACME"}}, "party.name"),
        ({"id": "bad id!"}, "id"),
        ({"expectedCompletionDate": "2027-01-10T00:00:00"}, "expectedCompletionDate"),
        ({"expectedCompletionDate": None}, "one of requestedCompletionDate"),
        ({"percentComplet": 3}, "percentComplet"),
        ({"trackingPolicy": {"checkInInterval": "soon"}}, "trackingPolicy.checkInInterval"),
    ],
)
async def test_start_validates_before_sending(
    orders: PartyOrderClient, change: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput, match=f"invalid party order: .*{field}"):
        await orders.start(order_json(unique(), **change))


# ---------------------------------------------------------------- signals


async def test_progress_is_validated_and_gets_a_request_id(orders: PartyOrderClient) -> None:
    order_id = unique()
    await orders.start(order_json(order_id))
    with pytest.raises(
        InvalidInput,
        match="percentComplete: should be less than or equal to 100 \\(received 101\\)",
    ):
        await orders.report_progress(order_id, {"percentComplete": 101})
    with pytest.raises(InvalidInput, match="a progress report needs at least one of"):
        await orders.report_progress(order_id, {})

    request_id = await orders.report_progress(order_id, ProgressReport(percent_complete=30))
    assert uuid.UUID(request_id)
    order = await orders.get(order_id)
    assert (order.state, order.percent_complete) == ("inProgress", 30)
    # Nothing invalid was ever sent.
    assert order.rejected_message_count == 0


async def test_a_request_id_is_applied_once(orders: PartyOrderClient) -> None:
    order_id = unique()
    await orders.start(order_json(order_id))
    await orders.report_progress(order_id, {"percentComplete": 30, "requestId": "r-1"})
    await orders.report_progress(order_id, {"percentComplete": 60, "requestId": "r-2"})
    again = await orders.report_progress(
        order_id, {"percentComplete": 30, "requestId": "r-1"}, confirm=True
    )
    assert again == "r-1"
    assert (await orders.get(order_id)).percent_complete == 60


async def test_confirm_reports_what_the_order_rejected(orders: PartyOrderClient) -> None:
    order_id = unique()
    await orders.start(order_json(order_id))
    with pytest.raises(RejectedByOrder, match="unknown milestone 'nosuch'"):
        await orders.report_progress(order_id, {"milestones": [{"id": "nosuch"}]}, confirm=True)
    # Without confirm the rejection is only recorded on the order.
    request_id = await orders.report_progress(order_id, {"milestones": [{"id": "other"}]})
    order = await orders.get(order_id)
    assert order.rejected_message_count == 2
    assert order.rejected_messages[-1].request_id == request_id


async def test_items_are_reported_one_by_one_and_read_back(orders: PartyOrderClient) -> None:
    order_id = unique()
    items = [{"id": "1", "quantity": 3}, {"id": "2"}]
    await orders.start(order_json(order_id, orderItems=items))
    with pytest.raises(InvalidInput, match=r"orderItems\.0\.state: 'done' is not one of"):
        await orders.report_items(order_id, [{"id": "1", "state": "done"}])
    with pytest.raises(RejectedByOrder, match="orderItems: unknown order item '7'"):
        await orders.report_items(order_id, [{"id": "7", "percentComplete": 5}], confirm=True)
    await orders.report_items(
        order_id,
        [{"id": "1", "percentComplete": 40}, {"id": "2", "state": "completed"}],
        note="first items in",
        confirm=True,
    )
    order = await orders.get(order_id)
    assert [(i.id, i.state, i.percent_complete) for i in order.order_items] == [
        ("1", "acknowledged", 40),
        ("2", "completed", 100),
    ]
    assert order.percent_complete == (3 * 40 + 100) // 4
    assert [(n.author, n.text) for n in order.notes] == [("Acme Networks", "first items in")]


async def test_change_request_and_resolution(orders: PartyOrderClient) -> None:
    order_id = unique()
    await orders.start(order_json(order_id))
    new_due = datetime.now(UTC).replace(microsecond=0) + timedelta(days=60)
    change_id = await orders.request_change(
        order_id,
        {"reason": "equipment late", "changes": {"expectedCompletionDate": iso(new_due)}},
        confirm=True,
    )
    order = await orders.get(order_id)
    change = order.change_request(change_id)
    assert change is not None and change.open and change.reason == "equipment late"

    with pytest.raises(InvalidInput, match="decision"):
        await orders.resolve_change(order_id, {"changeRequestId": change_id, "decision": "ok"})
    await orders.resolve_change(
        order_id,
        {"changeRequestId": change_id, "decision": "accepted", "resolvedBy": "som"},
        confirm=True,
    )
    order = await orders.get(order_id)
    assert order.expected_completion_date == new_due
    resolved = order.change_request(change_id)
    assert resolved is not None and resolved.status == "accepted"
    assert resolved.resolved_by == "som"
    with pytest.raises(RejectedByOrder, match="already accepted"):
        await orders.resolve_change(
            order_id, {"changeRequestId": change_id, "decision": "rejected"}, confirm=True
        )


async def test_check_in_now(orders: PartyOrderClient) -> None:
    order_id = unique()
    await orders.start(order_json(order_id))
    await orders.check_in_now(order_id, {"requestedBy": "order-manager"}, confirm=True)
    order = await orders.get(order_id)
    assert order.check_ins.sent == 1
    assert order.check_ins.answer_by is not None


# ---------------------------------------------------------------- update


async def test_change_state_returns_the_order_or_is_rejected(orders: PartyOrderClient) -> None:
    order_id = unique()
    await orders.start(order_json(order_id))
    with pytest.raises(UpdateRejected, match="from acknowledged to held"):
        await orders.change_state(order_id, {"state": "held", "reason": "why not"})
    with pytest.raises(InvalidInput, match="state"):
        await orders.change_state(order_id, {"state": "completed"})

    order = await orders.change_state(order_id, {"state": "inProgress", "reason": "started"})
    assert isinstance(order, PartyOrder)
    assert order.state == "inProgress"
    order = await orders.change_state(order_id, {"state": "held", "reason": "site closed"})
    assert (order.state, order.state_reason) == ("held", "site closed")


async def test_acknowledge_escalation_returns_the_order_or_is_rejected(
    orders: PartyOrderClient,
) -> None:
    order_id = unique()
    late = iso(datetime.now(UTC) - timedelta(hours=1))  # critical from the start: level 1
    await orders.start(
        order_json(
            order_id,
            requestedCompletionDate=late,
            expectedCompletionDate=late,
            orderDate=iso(datetime.now(UTC) - timedelta(days=2)),
        )
    )
    await eventually(lambda: orders.get(order_id), lambda o: o.jeopardy.escalation_level == 1)
    with pytest.raises(UpdateRejected, match="level: 2 has not been reached"):
        await orders.acknowledge_escalation(order_id, {"level": 2, "by": "ops"})
    with pytest.raises(InvalidInput, match="level"):
        await orders.acknowledge_escalation(order_id, {"level": 0})
    order = await orders.acknowledge_escalation(
        order_id, {"level": 1, "by": "order-manager", "note": "calling the party"}
    )
    assert isinstance(order, PartyOrder)
    assert (order.jeopardy.acknowledged_by, order.jeopardy.acknowledged_level) == (
        "order-manager",
        1,
    )
    assert order.jeopardy.acknowledged_note == "calling the party"


# ---------------------------------------------------------------- ending, errors


async def test_cancel_then_the_order_is_closed(orders: PartyOrderClient) -> None:
    order_id = unique()
    await orders.start(order_json(order_id))
    await orders.cancel(order_id, {"reason": "not needed", "requestedBy": "ops"}, confirm=True)
    order = await eventually(lambda: orders.get(order_id), lambda o: o.state == "cancelled")
    assert order.cancellation is not None and order.cancellation.reason == "not needed"

    handle = orders.client.get_workflow_handle(f"party-order-{order_id}")
    await eventually(handle.describe, lambda d: d.status == WorkflowExecutionStatus.COMPLETED)
    with pytest.raises(OrderClosed, match=f"order {order_id} is closed"):
        await orders.report_progress(order_id, {"percentComplete": 50})
    with pytest.raises(OrderClosed):
        await orders.change_state(order_id, {"state": "inProgress"})
    # The final order can still be read.
    assert (await orders.get(order_id)).state == "cancelled"


async def test_unknown_and_malformed_order_ids(orders: PartyOrderClient) -> None:
    missing = unique("NOPE")
    with pytest.raises(OrderNotFound, match=f"no order {missing}"):
        await orders.get(missing)
    with pytest.raises(OrderNotFound):
        await orders.report_progress(missing, {"percentComplete": 1})
    with pytest.raises(OrderNotFound):
        await orders.change_state(missing, {"state": "held"})
    with pytest.raises(InvalidInput, match="order id 'a b' is invalid"):
        await orders.get("a b")
    with pytest.raises(InvalidInput, match="is invalid"):
        await orders.cancel("-x", {"reason": "r"})


async def test_no_worker_means_no_answer_not_a_hang(dev_client: Client) -> None:
    lonely = PartyOrderClient(dev_client, unique("no-worker"), answer_timeout=timedelta(seconds=1))
    order_id = unique()
    await lonely.start(order_json(order_id))
    with pytest.raises(NoAnswer, match="is a worker running on task queue"):
        await lonely.get(order_id)
    await dev_client.get_workflow_handle(f"party-order-{order_id}").terminate("test done")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_unreachable_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", f"127.0.0.1:{_closed_port()}")
    started = asyncio.get_running_loop().time()
    with pytest.raises(ServerUnavailable, match="cannot reach the Temporal service"):
        await PartyOrderClient.connect(connect_timeout=timedelta(seconds=2))
    assert asyncio.get_running_loop().time() - started < 5


async def test_connect_uses_the_environment(
    monkeypatch: pytest.MonkeyPatch, dev_address: str, dev_task_queue: str
) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", dev_address)
    monkeypatch.setenv("PARTY_ORDERS_TASK_QUEUE", dev_task_queue)
    client = await PartyOrderClient.connect()
    assert client.task_queue == dev_task_queue
    order_id = unique()
    await client.start(order_json(order_id))
    assert (await client.get(order_id)).id == order_id


# ---------------------------------------------------------------- visibility


async def test_list_filters(orders: PartyOrderClient) -> None:
    party = unique("PARTY")
    first, second, other = unique(), unique(), unique()
    await orders.start(order_json(first, party_id=party))
    await orders.start(order_json(second, party_id=party))
    await orders.start(order_json(other, party_id=unique("ELSE")))
    await orders.change_state(second, {"state": "inProgress"})

    def ids(found: list[OrderSummary]) -> set[str]:
        return {summary.order_id for summary in found}

    found = await eventually(
        lambda: orders.list(OrderFilters(party=party, state="inProgress")),
        lambda rows: ids(rows) == {second},
    )
    summary = found[0]
    assert summary.workflow_id == f"party-order-{second}"
    assert (summary.party_id, summary.jeopardy, summary.escalation_level) == (party, "none", 0)
    assert summary.originating_process == "service-order-handling"
    assert summary.status == "running"
    assert summary.due_date is not None

    assert ids(await orders.list(OrderFilters(party=party))) == {first, second}
    injected = await orders.list(OrderFilters(party=f'{party}" OR PartyId != "'))
    assert injected == []
    assert ids(await orders.list(OrderFilters(party=party, due_before="+P1D"))) == set()
    assert ids(await orders.list(OrderFilters(party=party, due_before="+P31D"))) == {first, second}
    with pytest.raises(InvalidInput, match="state: 'nonsense' is not one of"):
        await orders.list(OrderFilters(state="nonsense"))


async def test_report_counts_and_attention(orders: PartyOrderClient) -> None:
    late = unique("LATE")
    past = datetime.now(UTC) - timedelta(hours=1)
    # Already past its due date: critical at once, escalated to level 1 (after PT0S).
    await orders.start(order_json(late, expectedCompletionDate=iso(past), milestones=[]))
    await eventually(lambda: orders.get(late), lambda o: o.jeopardy.escalation_level >= 1)

    report = await eventually(orders.report, lambda r: late in {s.order_id for s in r.attention})
    assert set(report.by_state) >= {"acknowledged", "inProgress", "cancelled", "completed"}
    assert set(report.by_jeopardy) == {"none", "hazard", "critical"}
    assert report.by_jeopardy["critical"] >= 1
    assert report.total >= report.open >= 1
    assert sum(report.by_state.values()) <= report.total
    flagged = next(s for s in report.attention if s.order_id == late)
    assert flagged.jeopardy == "critical"
    await orders.cancel(late, {"reason": "test done"})
