"""Fault tests with real processes: a dev server on SQLite and `python worker.py` children.

1. A worker killed with SIGKILL mid-flight (twice) loses no message and no notification.
2. A server stopped and restarted on the same SQLite file keeps every order as it was.
3. Two worker processes on one task queue share the work.
4. A flaky, deduplicating, signature-checking webhook receiver gets every notification
   exactly once, and the webhook secret never reaches the worker's logs.

Dates are seconds apart so whole order lives fit in a few seconds of wall-clock time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.channels import (
    EVENT_HEADER,
    IDEMPOTENCY_HEADER,
    WebhookChannel,
)
from activities.signing import webhook_secret
from tests.conftest import TEST_ALLOW, local_activity_markers, of_type, read_outbox, unique
from tests.processes import HOST, DevServer, WorkerProcess, eventually, free_port, tail
from workflows.close_party_order import ClosureRecord
from workflows.domain.effects import Notification
from workflows.domain.instants import iso
from workflows.domain.model import PartyOrder, close_workflow_id, track_workflow_id

pytestmark = pytest.mark.slow

NOTIFY_ACTIVITIES = {"notify_party", "notify_originating_process", "notify_contact"}
Handle = WorkflowHandle[Any, PartyOrder]


# ---------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    """One dev server (SQLite file, headless) shared by the tests that do not restart it."""
    dev = DevServer(tmp_path_factory.mktemp("temporal"))
    dev.start()
    try:
        yield dev
    finally:
        dev.stop()


@pytest.fixture(scope="module")
async def client(server: DevServer) -> Client:
    return await server.connect()


Spawn = Callable[..., WorkerProcess]


@pytest.fixture
def spawn_worker(tmp_path: Path) -> Iterator[Spawn]:
    """Start `python worker.py` children; every one is stopped (or killed) at teardown."""
    started: list[WorkerProcess] = []

    def spawn(
        name: str,
        *,
        address: str,
        task_queue: str,
        outbox: Path,
        env: dict[str, str] | None = None,
    ) -> WorkerProcess:
        worker = WorkerProcess(
            name, address=address, task_queue=task_queue, outbox=outbox, log_dir=tmp_path, env=env
        ).start()
        started.append(worker)
        return worker

    try:
        yield spawn
    finally:
        for worker in started:  # SIGTERM all first, so they shut down side by side
            if worker.running and worker.proc is not None:
                worker.proc.terminate()
        for worker in started:
            worker.stop(timeout=15)


def order_json(
    order_id: str,
    now: datetime,
    *,
    due_in: timedelta,
    milestones: dict[str, timedelta],
    check_in: str = "PT2S",
    response: str = "PT1S",
    warning: str = "PT1S",
    change_window: str = "P1D",
    webhook_url: str | None = None,
) -> dict[str, Any]:
    """A contract start input whose whole life is seconds to minutes long."""
    return {
        "id": order_id,
        "description": "10G backhaul circuit (fault test)",
        "party": {
            "id": "ACME",
            "name": "Acme Networks",
            "role": "supplier",
            "contactEmail": "orders@acme.example",
            "webhookUrl": webhook_url,
        },
        "originatingProcess": {"name": "service-order-handling", "reference": f"SO-{order_id}"},
        "orderItems": [{"id": "1", "description": "10G circuit", "quantity": 1}],
        "requestedCompletionDate": iso(now + due_in + timedelta(minutes=5)),
        "expectedCompletionDate": iso(now + due_in),
        "milestones": [
            {"id": name, "name": name.title(), "milestoneDate": iso(now + offset)}
            for name, offset in milestones.items()
        ],
        "trackingPolicy": {
            "checkInInterval": check_in,
            "responseWindow": response,
            "unansweredCheckInLimit": 2,
            "warningLeadTime": warning,
            "changeResolutionWindow": change_window,
            "escalation": [
                {"level": 1, "after": "PT0S", "notify": "order-manager"},
                {"level": 2, "after": "P1D", "notify": "operations-lead"},
                {"level": 3, "after": "P3D", "notify": "executive-sponsor"},
            ],
        },
    }


async def start_order(client: Client, task_queue: str, order: dict[str, Any]) -> Handle:
    return await client.start_workflow(
        "TrackPartyOrder",
        order,
        id=track_workflow_id(order["id"]),
        task_queue=task_queue,
        result_type=PartyOrder,
    )


async def start_orders(
    client: Client, task_queue: str, ids: list[str], now: datetime, **shape: Any
) -> list[Handle]:
    """One order per id, all of the shape ``order_json(..., **shape)`` says, started at once."""
    return list(
        await asyncio.gather(
            *(
                start_order(client, task_queue, order_json(order_id, now, **shape))
                for order_id in ids
            )
        )
    )


async def get_order(handle: Handle) -> PartyOrder:
    return await handle.query("get_order", result_type=PartyOrder)


async def history(client: Client, workflow_id: str) -> list[HistoryEvent]:
    return list((await client.get_workflow_handle(workflow_id).fetch_history()).events)


def worker_identities(events: list[HistoryEvent]) -> tuple[Counter[str], Counter[str]]:
    """Who ran the workflow tasks and the activity tasks of one history."""
    workflow_tasks = Counter(
        e.workflow_task_started_event_attributes.identity
        for e in of_type(events, EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED)
    )
    activity_tasks = Counter(
        e.activity_task_started_event_attributes.identity
        for e in of_type(events, EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)
    )
    return workflow_tasks, activity_tasks


def scheduled_notifications(events: list[HistoryEvent]) -> dict[int, Notification]:
    """The notifications a history scheduled for delivery, by scheduling event id."""
    found: dict[int, Notification] = {}
    for event in of_type(events, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED):
        attributes = event.activity_task_scheduled_event_attributes
        if attributes.activity_type.name in NOTIFY_ACTIVITIES:
            payload = attributes.input.payloads[0]
            found[event.event_id] = pydantic_data_converter.payload_converter.from_payload(
                payload, Notification
            )
    return found


def locally_delivered(events: list[HistoryEvent]) -> list[Notification]:
    """The notifications a history's local activities delivered (ClosePartyOrder's notices):
    a local activity's input is not in the history, its marker holds what the notify
    activity returned, the notification it delivered."""
    return [
        pydantic_data_converter.payload_converter.from_payload(
            marker.details["result"].payloads[0], Notification
        )
        for bookkeeping, marker in local_activity_markers(events)
        if bookkeeping["activity_type"] in NOTIFY_ACTIVITIES and not marker.HasField("failure")
    ]


def completed_activity_ids(events: list[HistoryEvent]) -> set[int]:
    return {
        e.activity_task_completed_event_attributes.scheduled_event_id
        for e in of_type(events, EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED)
    }


def assert_no_failed_workflow_tasks(workflow_id: str, events: list[HistoryEvent]) -> None:
    """A failed workflow task after a restart would mean a replay (determinism) problem."""
    failed = of_type(events, EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED)
    assert not failed, (
        f"{workflow_id}: workflow task failed: "
        f"{failed[0].workflow_task_failed_event_attributes.failure.message}"
    )


async def close_workflow_exists(client: Client, order_id: str) -> bool:
    try:
        await client.get_workflow_handle(close_workflow_id(order_id)).describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


def kinds_by_order(outbox: Path) -> dict[str, Counter[tuple[str, str]]]:
    found: dict[str, Counter[tuple[str, str]]] = {}
    for line in read_outbox(outbox):
        found.setdefault(line["orderId"], Counter())[(line["recipientKind"], line["kind"])] += 1
    return found


async def quiescent(handle: Handle) -> bool:
    """No activity and no workflow task outstanding: the history will not grow by itself."""
    raw = (await handle.describe()).raw_description
    return not raw.pending_activities and not raw.HasField("pending_workflow_task")


# ---------------------------------------------------------------- 1. kill -9 the worker


async def test_worker_killed_mid_flight_loses_no_message_and_no_notification(
    server: DevServer, client: Client, spawn_worker: Spawn, tmp_path: Path
) -> None:
    began = time.monotonic()
    task_queue = unique("faults-kill")
    outbox = tmp_path / "outbox.jsonl"

    def spawn(name: str) -> WorkerProcess:
        return spawn_worker(name, address=server.address, task_queue=task_queue, outbox=outbox)

    first = spawn("A")
    await first.wait_polling(client)

    now = datetime.now(UTC)
    ids = [unique("KILL") for _ in range(10)]
    handles = await start_orders(
        client,
        task_queue,
        ids,
        now,
        due_in=timedelta(minutes=5),
        milestones={"survey": timedelta(seconds=8)},
    )

    rounds = 8

    def report(index: int, round_no: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "requestId": f"{ids[index]}-p{round_no}",
            "source": "party",
            "percentComplete": round_no * 10,
            "note": f"report {round_no}",
        }
        if round_no == 2 and index % 2 == 0:  # even orders finish the survey in time
            body["milestones"] = [{"id": "survey", "status": "completed"}]
        return body

    async def send_round(round_no: int) -> None:
        await asyncio.gather(
            *(
                handle.signal("report_progress", report(index, round_no))
                for index, handle in enumerate(handles)
            )
        )

    for round_no in range(1, 4):
        await send_round(round_no)
        await asyncio.sleep(0.5)
    await asyncio.gather(
        send_round(4),
        *(
            handle.signal("check_in_now", {"requestId": f"{oid}-ci"})
            for oid, handle in zip(ids, handles, strict=True)
        ),
    )
    first.kill()  # round 4 and the check-ins are being applied, notifications are going out
    assert not first.running
    for round_no in (5, 6):  # nobody is polling: the server keeps the signals
        await send_round(round_no)
        await asyncio.sleep(0.5)
    second = spawn("B")
    await second.wait_polling(client)
    for round_no in range(7, rounds + 1):
        await send_round(round_no)
        await asyncio.sleep(0.3)

    async def all_applied() -> list[PartyOrder] | None:
        orders = await asyncio.gather(*(get_order(handle) for handle in handles))
        done = all(
            o.percent_complete == rounds * 10 and o.last_note == f"report {rounds}" for o in orders
        )
        return list(orders) if done else None

    orders = await eventually(all_applied, timeout=60, interval=0.5, what="every report applied")
    applied_at = time.monotonic() - began
    for order in orders:
        assert order.rejected_messages == [] and order.rejected_message_count == 0, order.id
        assert order.state == "inProgress", order.id

    # Deliver six orders, cancel four, and kill the worker again while that is going on.
    delivered, cancelled = ids[:6], ids[6:]
    await asyncio.gather(
        *(
            handle.signal(
                "report_progress",
                {"requestId": f"{order_id}-done", "delivered": True, "note": "circuit live"},
            )
            if order_id in delivered
            else handle.signal(
                "cancel_order",
                {
                    "requestId": f"{order_id}-cancel",
                    "reason": "site decommissioned",
                    "requestedBy": "service-order-handling",
                },
            )
            for order_id, handle in zip(ids, handles, strict=True)
        )
    )

    # Kill the worker as soon as it has begun on the endings: the first order to leave
    # inProgress has its notices (and perhaps its close process) still to run.
    async def ending_begun() -> bool:
        orders = await asyncio.gather(*(get_order(handle) for handle in handles))
        return any(o.state != "inProgress" for o in orders)

    await eventually(ending_begun, timeout=60, interval=0.05, what="the worker began the endings")
    second.kill()
    third = spawn("C")
    await third.wait_polling(client)

    finals = await asyncio.wait_for(
        asyncio.gather(*(handle.result() for handle in handles)), timeout=120
    )
    ended_at = time.monotonic() - began
    for index, (order_id, final) in enumerate(zip(ids, finals, strict=True)):
        assert final.id == order_id
        assert final.rejected_messages == [] and final.rejected_message_count == 0, order_id
        survey = final.milestone("survey")
        assert survey is not None
        assert survey.status == ("completed" if index % 2 == 0 else "violated"), order_id
        if order_id in delivered:
            assert final.state == "completed", order_id
            assert final.percent_complete == 100 and final.completion_date is not None
            assert final.last_note == "circuit live"
        else:
            assert final.state == "cancelled", order_id
            assert final.percent_complete == rounds * 10 and final.last_note == f"report {rounds}"
            assert final.cancellation is not None
            assert final.cancellation.reason == "site decommissioned"
            assert final.cancellation.cancellation_date is not None
            assert [s.to_state for s in final.state_history][-2:] == [
                "pendingCancellation",
                "cancelled",
            ]

    # The close process ran once for each completed order, and only for those.
    closures = await asyncio.wait_for(
        asyncio.gather(
            *(
                client.get_workflow_handle(
                    close_workflow_id(order_id), result_type=ClosureRecord
                ).result()
                for order_id in delivered
            )
        ),
        timeout=90,
    )
    for order_id, closure, final in zip(delivered, closures, finals[: len(delivered)], strict=True):
        assert closure.order_id == order_id
        assert closure.party_notified and closure.originating_process_notified
        assert closure.completion_date == final.completion_date
        assert closure.rejected_messages == []
    for order_id in cancelled:
        assert not await close_workflow_exists(client, order_id)

    # Histories: every signal arrived once, no replay problem after the restarts, and the
    # kills really hit work in flight (workflow tasks timed out on the dead workers).
    timeouts: Counter[str] = Counter()
    scheduled: dict[str, Notification] = {}
    for order_id in ids:
        events = await history(client, track_workflow_id(order_id))
        assert_no_failed_workflow_tasks(order_id, events)
        signals = of_type(events, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)
        assert len(signals) == rounds + 2, order_id  # the reports, a check-in, the ending
        for event in of_type(events, EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT):
            timeouts[
                f"workflow task {event.workflow_task_timed_out_event_attributes.timeout_type}"
            ] += 1
        for event in of_type(events, EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED):
            started = event.activity_task_started_event_attributes
            if started.attempt > 1:
                timeouts[f"activity retried after: {started.last_failure.message}"] += 1
        for event in of_type(events, EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT):
            timeouts[
                f"activity {event.activity_task_timed_out_event_attributes.failure.message}"
            ] += 1
        notifications = scheduled_notifications(events)
        assert set(notifications) <= completed_activity_ids(events), order_id
        scheduled |= {n.idempotency_key: n for n in notifications.values()}
        if order_id in delivered:
            close_events = await history(client, close_workflow_id(order_id))
            assert_no_failed_workflow_tasks(close_workflow_id(order_id), close_events)
            # A close process sends its notices as local activities (closure-notices-local).
            assert scheduled_notifications(close_events) == {}, order_id
            closing = locally_delivered(close_events)
            assert len(closing) == 2, order_id
            scheduled |= {n.idempotency_key: n for n in closing}
    assert timeouts, "the kills should have left tasks to time out on the dead workers"

    # The outbox has every notification the workflows sent, each exactly once.
    lines = read_outbox(outbox)
    keys = [line["idempotencyKey"] for line in lines]
    assert len(keys) == len(set(keys)), "a notification was written twice"
    assert set(keys) == set(scheduled)
    by_order = kinds_by_order(outbox)
    for order_id in delivered:
        kinds = by_order[order_id]
        assert kinds[("party", "completed")] == 1
        assert kinds[("party", "orderClosed")] == 1
        assert kinds[("originatingProcess", "orderClosed")] == 1
        assert kinds[("party", "cancelled")] == 0
    for order_id in cancelled:
        kinds = by_order[order_id]
        assert kinds[("party", "cancelled")] == 1
        assert kinds[("party", "completed")] == 0 and kinds[("party", "orderClosed")] == 0
    print(
        f"\nkill -9: {len(ids)} orders, {len(scheduled)} notifications, timeouts {dict(timeouts)},"
        f" all reports applied at {applied_at:.1f}s, all ended at {ended_at:.1f}s,"
        f" total {time.monotonic() - began:.1f}s"
    )


# ---------------------------------------------------------------- 2. server restart


async def test_server_restart_on_sqlite_keeps_every_order(
    tmp_path: Path, spawn_worker: Spawn
) -> None:
    began = time.monotonic()
    dev = DevServer(tmp_path / "temporal")
    dev.start()
    try:
        client = await dev.connect()
        task_queue = unique("faults-restart")
        outbox = tmp_path / "outbox.jsonl"
        worker = spawn_worker("A", address=dev.address, task_queue=task_queue, outbox=outbox)
        await worker.wait_polling(client)

        # Orders whose next deadline is far away once the survey milestone has been missed,
        # so nothing changes on its own while the server is down.
        now = datetime.now(UTC)
        ids = [unique("RST") for _ in range(4)]
        handles = await start_orders(
            client,
            task_queue,
            ids,
            now,
            due_in=timedelta(minutes=20),
            milestones={"survey": timedelta(seconds=3), "install": timedelta(hours=1)},
            check_in="PT1H",
            response="PT30M",
        )
        later = iso(now + timedelta(minutes=25))
        for order_id, handle in zip(ids, handles, strict=True):
            await handle.signal(
                "report_progress",
                {"requestId": f"{order_id}-p1", "percentComplete": 40, "note": "survey booked"},
            )
            await handle.signal(
                "request_change",
                {
                    "requestId": "CR-1",
                    "reason": "permit delayed",
                    "changes": {"expectedCompletionDate": later},
                },
            )
            await handle.signal(
                "request_change",
                {
                    "requestId": "CR-2",
                    "origin": "enterprise",
                    "changes": {
                        "milestones": [
                            {"id": "install", "milestoneDate": iso(now + timedelta(hours=2))}
                        ]
                    },
                },
            )
            await handle.signal(
                "resolve_change",
                {"changeRequestId": "CR-2", "decision": "accepted", "resolvedBy": "SO owner"},
            )
            await handle.signal("check_in_now", {"requestId": f"{order_id}-ci"})

        async def settled() -> list[PartyOrder] | None:
            orders = await asyncio.gather(*(get_order(handle) for handle in handles))
            for order in orders:
                survey = order.milestone("survey")
                if (
                    survey is None
                    or survey.status != "violated"
                    or [c.status for c in order.change_requests] != ["forwarded", "accepted"]
                    or order.jeopardy.escalation_level != 1
                    or order.check_ins.sent != 1
                ):
                    return None
            quiet = await asyncio.gather(*(quiescent(handle) for handle in handles))
            return list(orders) if all(quiet) else None

        await eventually(settled, timeout=60, interval=0.5, what="orders settled mid-flight")
        before = {
            o.id: o.to_json_dict()
            for o in await asyncio.gather(*(get_order(handle) for handle in handles))
        }
        histories = {
            order_id: await history(client, track_workflow_id(order_id)) for order_id in ids
        }
        for order in before.values():
            assert order["state"] == "inProgress" and order["percentComplete"] == 40
            assert order["jeopardy"]["status"] == "critical"
            alerts = order["jeopardyAlerts"]
            assert "Milestone survey violated" in [a["name"] for a in alerts]
            assert alerts[-1]["jeopardyType"] == "critical"

        stopped_at = time.monotonic()
        code = dev.stop()
        assert not dev.running
        assert code == 0, f"dev server exited with {code}:\n{tail(dev.log_path)}"
        await asyncio.sleep(1.0)
        dev.start()
        fresh = await dev.connect()
        downtime = time.monotonic() - stopped_at

        # The same orders, read back through the worker that lived through the restart.
        async def read_back() -> dict[str, dict[str, Any]]:
            orders = await asyncio.gather(*(get_order(handle) for handle in handles))
            return {o.id: o.to_json_dict() for o in orders}

        after = await eventually(read_back, timeout=60, interval=0.5, what="queries after restart")
        assert after == before
        for order_id in ids:
            assert await history(fresh, track_workflow_id(order_id)) == histories[order_id]
        assert worker.running, f"the worker died with the server:\n{tail(worker.log_path)}"

        # Visibility (search attributes) came back too.
        query = (
            f"WorkflowType = 'TrackPartyOrder' AND PartyOrderState = 'inProgress'"
            f" AND PartyOrderJeopardy = 'critical' AND PartyOrderEscalationLevel = 1"
            f" AND TaskQueue = '{task_queue}'"
        )

        async def visible() -> bool:
            return (await fresh.count_workflows(query)).count == len(ids)

        await eventually(visible, timeout=30, interval=0.5, what="search attributes after restart")

        # And every order goes on to the end: through the client made before the restart.
        for order_id, handle in zip(ids, handles, strict=True):
            await handle.signal(
                "resolve_change",
                {"changeRequestId": "CR-1", "decision": "rejected", "note": "date is contractual"},
            )
            await handle.signal(
                "report_progress",
                {
                    "requestId": f"{order_id}-p2",
                    "percentComplete": 90,
                    "milestones": [
                        {"id": "survey", "status": "completed"},
                        {"id": "install", "status": "completed"},
                    ],
                },
            )
            await handle.signal(
                "report_progress", {"requestId": f"{order_id}-done", "delivered": True}
            )
        finals = await asyncio.wait_for(
            asyncio.gather(*(handle.result() for handle in handles)), timeout=90
        )
        for final in finals:
            assert final.state == "completed"
            assert [c.status for c in final.change_requests] == ["rejected", "accepted"]
            assert final.rejected_messages == []
        for order_id in ids:
            closure = await asyncio.wait_for(
                fresh.get_workflow_handle(
                    close_workflow_id(order_id), result_type=ClosureRecord
                ).result(),
                timeout=60,
            )
            assert closure.party_notified and closure.originating_process_notified
            events = await history(fresh, track_workflow_id(order_id))
            assert_no_failed_workflow_tasks(order_id, events)
            assert set(worker_identities(events)[0]) == {worker.identity}
        print(f"\nserver restart: downtime {downtime:.1f}s, total {time.monotonic() - began:.1f}s")
    finally:
        dev.stop()


# ---------------------------------------------------------------- 3. two workers


async def test_two_workers_on_one_task_queue_share_the_load(
    server: DevServer, client: Client, spawn_worker: Spawn, tmp_path: Path
) -> None:
    began = time.monotonic()
    task_queue = unique("faults-two")
    outbox = tmp_path / "outbox.jsonl"  # shared by both processes, deduplicated under flock
    workers = [
        spawn_worker(name, address=server.address, task_queue=task_queue, outbox=outbox)
        for name in ("A", "B")
    ]
    await asyncio.gather(*(worker.wait_polling(client) for worker in workers))

    now = datetime.now(UTC)
    ids = [unique("TWO") for _ in range(30)]
    handles = await start_orders(
        client,
        task_queue,
        ids,
        now,
        due_in=timedelta(minutes=10),
        milestones={"survey": timedelta(minutes=5)},
        check_in="PT3S",
        response="PT2S",
    )
    with_change = set(ids[::3])
    await asyncio.gather(
        *(
            handle.signal(
                "report_progress",
                {"requestId": f"{order_id}-p1", "percentComplete": 50, "note": "half way"},
            )
            for order_id, handle in zip(ids, handles, strict=True)
        )
    )
    await asyncio.gather(
        *(
            handle.signal(
                "request_change",
                {
                    "requestId": "CR-1",
                    "reason": "more capacity",
                    "changes": {"orderItems": [{"id": "2", "description": "spare port"}]},
                },
            )
            if order_id in with_change
            else handle.signal("check_in_now", {"requestId": f"{order_id}-ci"})
            for order_id, handle in zip(ids, handles, strict=True)
        )
    )

    async def forwarded() -> bool:
        orders = await asyncio.gather(
            *(get_order(h) for o, h in zip(ids, handles, strict=True) if o in with_change)
        )
        return all(o.change_requests[0].status == "forwarded" for o in orders)

    await eventually(forwarded, timeout=60, interval=0.5, what="change requests forwarded")
    await asyncio.gather(
        *(
            handle.signal("resolve_change", {"changeRequestId": "CR-1", "decision": "accepted"})
            for order_id, handle in zip(ids, handles, strict=True)
            if order_id in with_change
        )
    )
    await asyncio.gather(
        *(
            handle.signal("report_progress", {"requestId": f"{order_id}-done", "delivered": True})
            for order_id, handle in zip(ids, handles, strict=True)
        )
    )
    finals = await asyncio.wait_for(
        asyncio.gather(*(handle.result() for handle in handles)), timeout=120
    )
    assert all(final.state == "completed" for final in finals)
    for order_id, final in zip(ids, finals, strict=True):
        assert final.rejected_messages == []
        if order_id in with_change:
            assert final.change_requests[0].status == "accepted"
            assert [item.id for item in final.order_items] == ["1", "2"]
    closures = await asyncio.wait_for(
        asyncio.gather(
            *(
                client.get_workflow_handle(
                    close_workflow_id(order_id), result_type=ClosureRecord
                ).result()
                for order_id in ids
            )
        ),
        timeout=90,
    )
    assert all(c.party_notified and c.originating_process_notified for c in closures)

    workflow_tasks: Counter[str] = Counter()
    activity_tasks: Counter[str] = Counter()
    orders_by_worker: Counter[str] = Counter()
    for order_id in ids:
        for workflow_id in (track_workflow_id(order_id), close_workflow_id(order_id)):
            events = await history(client, workflow_id)
            assert_no_failed_workflow_tasks(workflow_id, events)
            wf, act = worker_identities(events)
            workflow_tasks += wf
            activity_tasks += act
            if workflow_id == track_workflow_id(order_id):
                orders_by_worker.update(set(wf))
    identities = {worker.identity for worker in workers}
    assert set(workflow_tasks) == identities, workflow_tasks
    assert set(activity_tasks) == identities, activity_tasks
    lines = read_outbox(outbox)
    keys = [line["idempotencyKey"] for line in lines]
    assert len(keys) == len(set(keys)), "two workers wrote the same notification"
    by_order = kinds_by_order(outbox)
    for order_id in ids:
        assert by_order[order_id][("party", "completed")] == 1
        assert by_order[order_id][("originatingProcess", "orderClosed")] == 1
    print(
        f"\ntwo workers: workflow tasks {dict(workflow_tasks)}, activity tasks"
        f" {dict(activity_tasks)}, orders touched {dict(orders_by_worker)},"
        f" {time.monotonic() - began:.1f}s"
    )


# ---------------------------------------------------------------- 4. webhook exactly once


@dataclass
class Request:
    path: str
    key: str | None
    event: str | None
    body: bytes
    signed: bool
    status: int


@dataclass
class FlakyReceiver:
    """A webhook receiver as a real one behaves: checks signatures, dedupes by key.

    Request 1 fails with 503 before anything is stored. Request 2 is stored and *then*
    answered 503 (the receiver committed but the answer was lost), so its retry is a
    duplicate that must be acknowledged without being applied again.
    """

    secret: str = field(repr=False)  # the worker's master secret
    base: str = ""  # the receiver's own base URL: each webhook URL has its own secret
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: list[Request] = field(default_factory=list)
    accepted: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    applied: Counter[str] = field(default_factory=Counter)
    duplicates: Counter[str] = field(default_factory=Counter)
    failed_attempts: int = 0

    def verifies(self, path: str, headers: dict[str, str], body: bytes) -> bool:
        """As a receiver checks it: ``standardwebhooks`` with the secret of the URL called."""
        try:
            Webhook(webhook_secret(self.secret, self.base + path)).verify(body, headers)
        except WebhookVerificationError:
            return False
        return True

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> int:
        signed = self.verifies(path, headers, body)
        key = headers.get(IDEMPOTENCY_HEADER.lower())
        with self.lock:
            number = len(self.requests) + 1
            status = self._decide(number, path, key, signed, body)
            self.requests.append(
                Request(path, key, headers.get(EVENT_HEADER.lower()), body, signed, status)
            )
            return status

    def _decide(self, number: int, path: str, key: str | None, signed: bool, body: bytes) -> int:
        if not signed:
            return 401
        if not key:
            return 400
        if number == 1:
            self.failed_attempts += 1
            return 503
        if key in self.accepted:
            self.duplicates[key] += 1
            return 200
        self.accepted[key] = (path, json.loads(body))
        self.applied[key] += 1
        if number == 2:
            self.failed_attempts += 1
            return 503
        return 200


@pytest.fixture
def receiver() -> Iterator[tuple[FlakyReceiver, str]]:
    state = FlakyReceiver(secret=secrets.token_hex(24))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            headers = {name.lower(): value for name, value in self.headers.items()}
            status = state.handle(self.path, headers, body)
            reply = json.dumps({"status": status}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet test output

    httpd = ThreadingHTTPServer((HOST, free_port()), Handler)
    thread = threading.Thread(target=httpd.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    state.base = f"http://{HOST}:{httpd.server_address[1]}"
    try:
        yield state, state.base
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


async def test_webhook_notifications_arrive_exactly_once_signed_despite_failures(
    server: DevServer,
    client: Client,
    spawn_worker: Spawn,
    tmp_path: Path,
    receiver: tuple[FlakyReceiver, str],
) -> None:
    began = time.monotonic()
    state, base_url = receiver
    url_token = secrets.token_hex(8)
    task_queue = unique("faults-webhook")
    worker = spawn_worker(
        "W",
        address=server.address,
        task_queue=task_queue,
        outbox=tmp_path / "outbox.jsonl",
        env={
            "PARTY_ORDERS_WEBHOOK_MASTER_SECRET": state.secret,
            "PARTY_ORDERS_CALLBACK_ALLOW": base_url.removeprefix("http://"),
            "PARTY_ORDERS_PROCESS_WEBHOOK_URL": f"{base_url}/process",
            "PARTY_ORDERS_CONTACT_WEBHOOK_URL": f"{base_url}/contact",
            "PARTY_ORDERS_LOG_LEVEL": "DEBUG",
        },
    )
    await worker.wait_polling(client)

    now = datetime.now(UTC)
    order_id = unique("HOOK")
    handle = await start_order(
        client,
        task_queue,
        order_json(
            order_id,
            now,
            due_in=timedelta(minutes=10),
            milestones={"survey": timedelta(minutes=5)},
            webhook_url=f"{base_url}/party/ACME?token={url_token}",
        ),
    )

    # Two periodic check-ins go out (the first one fails twice) before the party reports.
    async def two_check_ins() -> bool:
        return (await get_order(handle)).check_ins.sent >= 2

    await eventually(two_check_ins, timeout=60, interval=0.1, what="two periodic check-ins")
    await handle.signal(
        "report_progress", {"requestId": "p1", "percentComplete": 30, "note": "survey booked"}
    )
    await handle.signal(
        "request_change",
        {
            "requestId": "CR-1",
            "reason": "permit delayed",
            "changes": {"expectedCompletionDate": iso(now + timedelta(minutes=12))},
        },
    )

    async def forwarded() -> bool:
        change = (await get_order(handle)).change_request("CR-1")
        return change is not None and change.status == "forwarded"

    await eventually(forwarded, timeout=60, interval=0.3, what="CR-1 forwarded")
    await handle.signal(
        "resolve_change", {"changeRequestId": "CR-1", "decision": "accepted", "resolvedBy": "SO"}
    )
    await handle.signal("check_in_now", {"requestId": "ci-1", "requestedBy": "order-manager"})

    async def asked_check_in_arrived() -> bool:
        with state.lock:  # the receiver's threads write it
            return any(
                body["kind"] == "checkIn" and body["body"]["requestedBy"] == "order-manager"
                for _, body in state.accepted.values()
            )

    await eventually(asked_check_in_arrived, timeout=60, what="the asked-for check-in delivered")
    await handle.signal("report_progress", {"requestId": "done", "delivered": True})

    final = await asyncio.wait_for(handle.result(), timeout=90)
    assert final.state == "completed"
    assert final.delivery_failures == []
    assert final.change_request("CR-1").status == "accepted"  # type: ignore[union-attr]
    closure = await asyncio.wait_for(
        client.get_workflow_handle(close_workflow_id(order_id), result_type=ClosureRecord).result(),
        timeout=60,
    )
    assert closure.party_notified and closure.originating_process_notified

    # What the workflows sent, from their histories: every notification delivered, some of
    # them only on a later attempt.
    sent: dict[str, Notification] = {}
    attempts: list[int] = []
    history_bytes = b""
    for workflow_id in (track_workflow_id(order_id), close_workflow_id(order_id)):
        events = await history(client, workflow_id)
        history_bytes += b"".join(event.SerializeToString() for event in events)
        notifications = scheduled_notifications(events)
        assert set(notifications) <= completed_activity_ids(events), workflow_id
        sent |= {n.idempotency_key: n for n in notifications.values()}
        sent |= {n.idempotency_key: n for n in locally_delivered(events)}
        attempts += [
            e.activity_task_started_event_attributes.attempt
            for e in of_type(events, EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)
            if e.activity_task_started_event_attributes.scheduled_event_id in notifications
        ]
    kinds = Counter(n.kind for n in sent.values())
    asked_by = Counter(n.body["requestedBy"] for n in sent.values() if n.kind == "checkIn")
    assert asked_by["periodic tracking"] >= 2 and asked_by["order-manager"] == 1, asked_by
    assert kinds["changeRequest"] == 1
    assert kinds["changeResolved"] == 1 and kinds["completed"] == 1 and kinds["orderClosed"] == 2

    # What the receiver saw: each key accepted (applied) exactly once, with the body the
    # workflow scheduled, on the right endpoint; the failures were retried; all signed.
    assert set(state.accepted) == set(sent)
    assert all(count == 1 for count in state.applied.values()), state.applied
    expected_path = {
        "party": "/party/ACME",
        "originatingProcess": "/process",
        "contact": "/contact",
    }
    for key, (path, body) in state.accepted.items():
        notification = sent[key]
        assert body == notification.to_json_dict()
        assert path.split("?")[0] == expected_path[notification.recipient_kind]
    assert state.failed_attempts == 2
    assert sum(state.duplicates.values()) == 1
    assert len(state.requests) == len(sent) + 2  # one retry per failed attempt, no more
    assert max(attempts) >= 2
    assert all(request.signed for request in state.requests)
    assert all(request.event == json.loads(request.body)["kind"] for request in state.requests)

    # The secret never left the worker: not in its output, not in any history.
    worker.stop()
    logs = worker.log_text()
    assert "delivering checkIn" in logs  # the log is really there, at DEBUG
    assert state.secret not in logs
    assert state.secret.encode() not in history_bytes
    print(
        f"\nwebhook: {len(sent)} notifications, {len(state.requests)} requests,"
        f" {state.failed_attempts} failed, {sum(state.duplicates.values())} duplicate,"
        f" {time.monotonic() - began:.1f}s"
    )


async def test_a_webhook_url_token_stays_out_of_the_logs(
    receiver: tuple[FlakyReceiver, str], caplog: pytest.LogCaptureFixture
) -> None:
    """The worker logs at INFO by default; a token in a party's webhookUrl must not show."""
    state, base_url = receiver
    token = secrets.token_hex(8)
    url = f"{base_url}/party/ACME?token={token}"
    channel = WebhookChannel(url, webhook_secret(state.secret, url), allow=TEST_ALLOW)
    notification = Notification(
        idempotency_key="PO-LOG/checkIn-1",
        order_id="PO-LOG",
        recipient_kind="party",
        recipient="ACME",
        kind="checkIn",
        subject="Progress check-in on order PO-LOG",
        occurred_at=datetime.now(UTC),
    )
    caplog.set_level(logging.INFO)
    try:
        with pytest.raises(ApplicationError):  # the receiver's first answer is a 503
            await channel.deliver(notification)
    finally:
        await channel.aclose()
    assert state.requests, "the receiver was called"
    assert token not in caplog.text
