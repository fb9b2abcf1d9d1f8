"""Orders stay responsive under a signal flood (real dev server, real worker).

A run continues as new at its message budget even while messages keep arriving, applies
a flood in slices (no activation near the 2 s deadlock detector), and the client retries
a signal the server refuses for a run's limits. Every message is applied exactly once.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from scripts.record_histories import run_chain
from starter.client import PartyOrderClient
from tests.conftest import read_outbox, running_worker, unique
from tests.test_bounds import biggest_start_input
from worker import workflow_runner
from workflows.close_party_order import ClosePartyOrder
from workflows.domain.bounds import LIMITS_V2
from workflows.domain.instants import iso
from workflows.domain.model import track_workflow_id
from workflows.notification_pool import NOTIFICATIONS_IN_FLIGHT
from workflows.run_budget import MESSAGES_PER_RUN
from workflows.track_party_order import TrackPartyOrder

FLOOD = 12_000
AT_ONCE = 50  # signals in flight at a time, as a busy integration would send them
# Failures the server makes, not the workflow code: a signal arrived while the task that
# continues as new was in flight (UnhandledCommand), or more than 100 events arrived while
# one task ran (the server's buffered-events limit force-closes it). Both are retried with
# every signal kept.
SERVER_MADE = {
    WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND,
    WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_FORCE_CLOSE_COMMAND,
}

pytestmark = pytest.mark.slow


async def flood(
    client: Client, task_queue: str, count: int, per_second: float | None
) -> tuple[PartyOrderClient, str]:
    """Start an order and send it ``count`` signals, ``AT_ONCE`` at a time, at most
    ``per_second`` a second (None: as fast as they go). Each names an unknown milestone, so
    the order records every one as rejected and the count says exactly how many were
    applied: a loss or a double shows."""
    orders = PartyOrderClient(client, task_queue)
    now = datetime.now(UTC)
    order_id = unique("FLOOD")
    await orders.start(
        {
            "id": order_id,
            "party": {"id": "ACME", "name": "Acme Networks"},
            "requestedCompletionDate": iso(now + timedelta(days=90)),
            "milestones": [{"id": "m1", "milestoneDate": iso(now + timedelta(days=30))}],
        }
    )

    async def send(number: int) -> None:
        await orders.report_progress(
            order_id, {"requestId": f"flood-{number}", "milestones": [{"id": f"x{number}"}]}
        )

    loop = asyncio.get_running_loop()
    for first in range(0, count, AT_ONCE):
        began = loop.time()
        await asyncio.gather(*(send(n) for n in range(first, min(count, first + AT_ONCE))))
        if per_second is not None:
            await asyncio.sleep(max(0.0, AT_ONCE / per_second - (loop.time() - began)))

    deadline = loop.time() + 120
    while (await orders.get(order_id)).rejected_message_count < count:
        assert loop.time() < deadline, "not every signal was applied"
        await asyncio.sleep(0.5)
    order = await orders.get(order_id)
    assert order.rejected_message_count == count  # none applied twice
    assert order.state == "acknowledged"  # rejected messages changed nothing else
    return orders, order_id


def workflow_code_failures(history: WorkflowHistory) -> list[str]:
    found = [
        WorkflowTaskFailedCause.Name(event.workflow_task_failed_event_attributes.cause)
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
        and event.workflow_task_failed_event_attributes.cause not in SERVER_MADE
    ]
    found += [
        "WorkflowTaskTimedOut"
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT
    ]
    return found


async def replays(runs: list[WorkflowHistory]) -> None:
    """Every run replays on the current code (the sliced and budgeted paths included)."""
    replayer = Replayer(
        workflows=[TrackPartyOrder, ClosePartyOrder],
        data_converter=pydantic_data_converter,
        workflow_runner=workflow_runner(),
    )
    for history in runs:
        await replayer.replay_workflow(history)


def signals_in(history: WorkflowHistory) -> int:
    return sum(
        event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        for event in history.events
    )


async def test_a_flood_as_fast_as_the_client_sends_is_applied_exactly_once(
    dev_client: Client, tmp_path: Path
) -> None:
    async with running_worker(dev_client, tmp_path / "outbox.jsonl") as (_, task_queue):
        _, order_id = await flood(dev_client, task_queue, FLOOD, per_second=None)
        runs = await run_chain(dev_client, track_workflow_id(order_id))
    assert len(runs) > 1
    for history in runs:
        # No deadlock, no task timeout, no payload too large: whatever the server did to
        # a task under the flood, the workflow code never failed one.
        assert workflow_code_failures(history) == []
    await replays(runs)


async def test_a_steady_stream_continues_as_new_at_the_message_budget(
    dev_client: Client, tmp_path: Path
) -> None:
    count = 3 * MESSAGES_PER_RUN
    async with running_worker(dev_client, tmp_path / "outbox.jsonl") as (_, task_queue):
        _, order_id = await flood(dev_client, task_queue, count, per_second=250)
        runs = await run_chain(dev_client, track_workflow_id(order_id))
    # The stream never paused, yet each run handed over at its budget (give or take what
    # arrived while the hand-over was in flight), far from the 10,000-signal cap.
    assert len(runs) >= 3
    for history in runs:
        assert workflow_code_failures(history) == []
        assert signals_in(history) <= MESSAGES_PER_RUN + 2 * AT_ONCE
    await replays(runs)


async def test_hundreds_of_milestones_due_at_one_instant_keep_the_order_answering(
    dev_client: Client, tmp_path: Path
) -> None:
    milestones = 200  # as many as an order may have
    outbox = tmp_path / "outbox.jsonl"
    async with running_worker(dev_client, outbox) as (_, task_queue):
        orders = PartyOrderClient(dev_client, task_queue)
        now = datetime.now(UTC)
        due = iso(now + timedelta(seconds=3))
        order_id = unique("MANY")
        await orders.start(
            {
                "id": order_id,
                "party": {"id": "ACME", "name": "Acme Networks"},
                "requestedCompletionDate": iso(now + timedelta(days=90)),
                "milestones": [{"id": f"m{n}", "milestoneDate": due} for n in range(milestones)],
            }
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 120
        while True:
            await orders.get(order_id)  # it answers throughout
            violations = [n for n in read_outbox(outbox) if n["kind"] == "milestoneViolated"]
            if len(violations) >= 2:
                break
            assert loop.time() < deadline, f"{len(violations)} violation notices so far"
            await asyncio.sleep(0.2)
        final = await orders.get(order_id)
    assert all(m.status == "violated" for m in final.milestones)
    assert final.jeopardy.status == "critical"
    # One notice to the party and one to the order manager, each listing all of them.
    assert sorted(n["recipient"] for n in violations) == ["ACME", "order-manager"]
    for notice in violations:
        assert len(notice["body"]["milestones"]) == milestones


async def test_notifications_in_flight_stay_within_their_bound(
    dev_client: Client, tmp_path: Path
) -> None:
    changes = 150  # each is forwarded to the originating process by its own activity
    outbox = tmp_path / "outbox.jsonl"
    async with running_worker(dev_client, outbox) as (_, task_queue):
        orders = PartyOrderClient(dev_client, task_queue)
        now = datetime.now(UTC)
        order_id = unique("FANOUT")
        await orders.start(
            {
                "id": order_id,
                "party": {"id": "ACME", "name": "Acme Networks"},
                "requestedCompletionDate": iso(now + timedelta(days=90)),
            }
        )
        handle = dev_client.get_workflow_handle(track_workflow_id(order_id))
        await asyncio.gather(
            *(
                orders.request_change(
                    order_id,
                    {
                        "requestId": f"CR-{n}",
                        "changes": {"requestedCompletionDate": iso(now + timedelta(days=91))},
                    },
                )
                for n in range(changes)
            )
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 120
        most_in_flight = 0
        while True:
            described = await handle.describe()
            most_in_flight = max(most_in_flight, len(described.raw_description.pending_activities))
            forwarded = [n for n in read_outbox(outbox) if n["kind"] == "changeRequest"]
            if len(forwarded) >= changes:
                break
            assert loop.time() < deadline, f"{len(forwarded)} change requests forwarded so far"
            await asyncio.sleep(0.1)
    # Never more in flight than the bound (the server's own limit is 2,000 per workflow).
    assert most_in_flight <= NOTIFICATIONS_IN_FLIGHT
    assert len({n["idempotencyKey"] for n in forwarded}) == changes


async def test_an_order_filled_to_its_bounds_continues_as_new_and_answers(
    dev_client: Client, tmp_path: Path
) -> None:
    """The largest start input, then the messages that grow the order most, through the
    client API, until the run budget makes it continue as new: the carried state is the
    next run's input, and that run answers get_order with every record at its bound."""
    spec = biggest_start_input()
    spec["id"] = unique("BOUND")
    spec["requestedCompletionDate"] = iso(datetime.now(UTC) + timedelta(days=300))
    async with running_worker(dev_client, tmp_path / "outbox.jsonl") as (_, task_queue):
        orders = PartyOrderClient(dev_client, task_queue)
        order_id = spec["id"]
        await orders.start(spec)
        gate = asyncio.Semaphore(AT_ONCE)

        async def send(name: str, message: dict[str, object]) -> None:
            # Past the client API's own validation, as any other sender could: the order
            # itself must record what it cannot take.
            async with gate:
                await orders._send(orders._handle(order_id), name, message, order_id)

        applied = LIMITS_V2.applied_messages + 10
        rejected = LIMITS_V2.rejected_messages + 10
        await asyncio.gather(
            *(
                send(
                    "report_progress",
                    {"requestId": f"{n:05d}" + "k" * 195, "source": "enterprise", "note": "n"},
                )
                for n in range(applied)
            ),
            *(
                send("report_progress", {"requestId": "b" * 200, "note": "n" * 5_000, "x": n})
                for n in range(rejected)
            ),
        )
        for n in range(8):  # change requests as large as they come, until one is refused
            items = [{"id": f"{n}-{i}", "description": "d" * 1_900} for i in range(50)]
            await send(
                "request_change",
                {
                    "requestId": f"{n:03d}" + "c" * 197,
                    "reason": "r" * 4_000,
                    "changes": {"orderItems": items},
                },
            )
        # Cheap messages on top, past the run's budget of messages.
        filler = MESSAGES_PER_RUN - applied - rejected + 50
        await asyncio.gather(
            *(send("report_progress", {"milestones": [{"id": f"none-{n}"}]}) for n in range(filler))
        )
        workflow_id = track_workflow_id(order_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 120
        while True:
            order = await orders.get(order_id)  # it answers throughout
            runs = await run_chain(dev_client, workflow_id)
            if len(runs) > 1 and order.rejected_message_count >= rejected + filler:
                break
            assert loop.time() < deadline, f"{len(runs)} run(s) so far"
            await asyncio.sleep(0.5)
    assert len(order.rejected_messages) == LIMITS_V2.rejected_messages
    # The order took change requests until the next would have made it too large.
    assert 2 <= len(order.change_requests) < 8
    carried = runs[-1].events[0].workflow_execution_started_event_attributes.input
    size = sum(len(payload.data) for payload in carried.payloads)
    assert 200_000 < size < 2 * 1024 * 1024, size  # the state at its bounds, under 2 MB
    for history in runs:
        assert workflow_code_failures(history) == []
