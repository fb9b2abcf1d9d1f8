"""A three-item order followed item by item over four months on the time-skipping server:
check-ins before each milestone and at a checkpoint, one item cancelled by an agreed
change, one item late and in jeopardy by name, and the order ends ``partial``, closed by
ClosePartyOrder with the items that were delivered."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment

from tests.conftest import get_order, read_outbox, running_worker, unique
from tests.support.clock import skip
from workflows.close_party_order import ClosureRecord
from workflows.domain.instants import iso
from workflows.domain.model import PartyOrder, close_workflow_id, track_workflow_id

DAY = timedelta(days=1)


def three_item_order(order_id: str, began: datetime) -> dict[str, Any]:
    return {
        "id": order_id,
        "description": "Site 42 fit-out",
        "party": {"id": "ACME", "name": "Acme Networks", "role": "supplier"},
        "originatingProcess": {"name": "service-order-handling", "reference": "SO-42"},
        "orderItems": [
            {"id": "1", "description": "10G circuit", "quantity": 2},
            {"id": "2", "description": "edge router", "quantity": 1},
            {"id": "3", "description": "spare rack", "quantity": 1},
        ],
        "requestedCompletionDate": iso(began + 120 * DAY),
        "milestones": [
            {"id": "circuit", "milestoneDate": iso(began + 30 * DAY), "orderItemIds": ["1"]},
            {"id": "router", "milestoneDate": iso(began + 60 * DAY), "orderItemIds": ["2"]},
            {"id": "rack", "milestoneDate": iso(began + 90 * DAY), "orderItemIds": ["3"]},
        ],
        "checkpoints": [{"id": "design", "name": "Design review", "date": iso(began + 45 * DAY)}],
        "trackingPolicy": {
            "checkInInterval": "P20D",
            "responseWindow": "P2D",
            "warningLeadTime": "P1D",
            "checkInBeforeMilestone": "P3D",
            "behindPlanTolerance": 100,
        },
    }


async def sleep_until(env: WorkflowEnvironment, instant: datetime) -> None:
    await skip(env, instant - await env.get_current_time())


# The party's messages arrive a few hours into a day, never at the instant a timer of the
# order is due (check-ins, escalation levels and reminders fall on whole days from the
# messages before): a message and a due timer at one instant can trip the time-skipping
# server.
H = timedelta(hours=1)


async def test_a_three_item_order_ends_partial_and_is_closed_with_the_delivered_items(
    time_env: WorkflowEnvironment, outbox: Path
) -> None:
    async with running_worker(time_env.client, outbox) as (_, task_queue):
        began = await time_env.get_current_time()
        order_id = unique()
        handle = await time_env.client.start_workflow(
            "TrackPartyOrder",
            three_item_order(order_id, began),
            id=track_workflow_id(order_id),
            task_queue=task_queue,
            result_type=PartyOrder,
        )
        order = await get_order(handle)
        assert [i.state for i in order.order_items] == ["acknowledged"] * 3

        # Day 10: the party starts on the circuit.
        await sleep_until(time_env, began + 10 * DAY + 3 * H)
        await handle.signal(
            "report_progress",
            {"orderItems": [{"id": "1", "state": "inProgress", "percentComplete": 50}]},
        )
        order = await get_order(handle)
        assert order.state == "inProgress"
        assert order.percent_complete == (2 * 50) // 4  # weighted by quantity

        # Day 28 (after the check-in three days before the circuit milestone).
        await sleep_until(time_env, began + 28 * DAY + 3 * H)
        await handle.signal(
            "report_progress",
            {
                "milestones": [{"id": "circuit"}],
                "orderItems": [{"id": "1", "state": "completed", "note": "circuit live"}],
            },
        )
        # The rack is no longer needed: a change request, applied only once agreed.
        await handle.signal(
            "request_change",
            {
                "requestId": "CR-rack",
                "origin": "enterprise",
                "reason": "site design changed, no rack",
                "changes": {
                    "orderItems": [{"id": "3", "state": "cancelled"}],
                    "milestones": [{"id": "rack", "action": "delete"}],
                },
            },
        )
        await skip(time_env, timedelta(hours=1))
        order = await get_order(handle)
        assert order.order_item("3").state == "acknowledged"  # type: ignore[union-attr]
        assert order.change_request("CR-rack").status == "forwarded"  # type: ignore[union-attr]
        await handle.signal(
            "resolve_change",
            {"changeRequestId": "CR-rack", "decision": "accepted", "resolvedBy": "SO-42 owner"},
        )
        order = await get_order(handle)
        assert order.order_item("3").state == "cancelled"  # type: ignore[union-attr]
        assert [m.id for m in order.milestones] == ["circuit", "router"]
        assert order.percent_complete == (2 * 100 + 0) // 3

        # Day 50: the router will be late, past the agreed date: critical, naming item 2.
        await sleep_until(time_env, began + 50 * DAY + 3 * H)
        await handle.signal(
            "report_progress",
            {
                "orderItems": [
                    {
                        "id": "2",
                        "state": "inProgress",
                        "percentComplete": 20,
                        "expectedCompletionDate": iso(began + 130 * DAY),
                        "note": "router stuck in customs",
                    }
                ]
            },
        )
        await skip(time_env, timedelta(hours=1))
        order = await get_order(handle)
        assert order.jeopardy.status == "critical"
        assert any("order item 2 forecast" in r for r in order.jeopardy.reasons)
        alert = order.jeopardy_alerts[-1]
        assert alert.jeopardy_type == "critical"
        assert [ref.id for ref in alert.order_item or []] == ["2"]

        # Day 58: the router arrives after all, and the milestone is made.
        await sleep_until(time_env, began + 58 * DAY + 9 * H)
        await handle.signal(
            "report_progress",
            {
                "milestones": [{"id": "router"}],
                "orderItems": [
                    {
                        "id": "2",
                        "percentComplete": 80,
                        "expectedCompletionDate": iso(began + 100 * DAY),
                    }
                ],
            },
        )
        await skip(time_env, timedelta(hours=1))
        assert (await get_order(handle)).jeopardy.status == "none"

        # Day 99: the router is delivered; with the rack cancelled the order is partial.
        await sleep_until(time_env, began + 99 * DAY + 15 * H)
        await handle.signal(
            "report_progress",
            {
                "orderItems": [{"id": "2", "state": "completed"}],
                "note": "all that was ordered is in",
            },
        )
        final = await handle.result()
        assert final.state == "partial"
        assert final.percent_complete == 100
        assert [(i.id, i.state) for i in final.order_items] == [
            ("1", "completed"),
            ("2", "completed"),
            ("3", "cancelled"),
        ]
        assert [n.text for n in final.notes] == [
            "Order item 1: circuit live",
            "Order item 2: router stuck in customs",
            "all that was ordered is in",
        ]
        assert final.notes[0].author == "Acme Networks"
        # Dated by the workflow's time of the message (the test's clock is a moment behind).
        assert abs(final.notes[0].date - (began + 28 * DAY + 3 * H)) < timedelta(minutes=1)

        closure = await time_env.client.get_workflow_handle(
            close_workflow_id(order_id), result_type=ClosureRecord
        ).result()
        assert closure.state == "partial"
        assert [ref.id for ref in closure.delivered_items] == ["1", "2"]
        assert closure.party_notified and closure.originating_process_notified

        sent = [n for n in read_outbox(outbox) if n["orderId"] == order_id]
        check_ins = {
            n["body"]["requestedBy"]: datetime.fromisoformat(n["occurredAt"])
            for n in sent
            if n["kind"] == "checkIn"
        }
        # Three days before each open milestone, and at the checkpoint. (The timer fires a
        # few milliseconds after its instant here; the exact instants are core tests.)
        for what, due in (
            ("check-in before milestone circuit", began + 27 * DAY),
            ("check-in before milestone router", began + 57 * DAY),
            ("checkpoint design check-in", began + 45 * DAY),
        ):
            assert timedelta(0) <= check_ins[what] - due < timedelta(seconds=1), what
        assert "check-in before milestone rack" not in check_ins  # deleted with its item
        closed = [n for n in sent if n["kind"] == "orderClosed"]
        to_process = next(n for n in closed if n["recipientKind"] == "originatingProcess")
        assert [i["id"] for i in to_process["body"]["deliveredItems"]] == ["1", "2"]
        assert to_process["body"]["state"] == "partial"
