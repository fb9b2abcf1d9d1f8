"""The contract from the `temporal` CLI: every payload accepted exactly as written.

An operator with nothing but the Temporal CLI starts an order with the contract's JSON,
sends progress, a change request and its resolution, holds and resumes it, queries it and
delivers it; the close process runs. The README's Web UI queries find the right orders.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus

from starter.local.binaries import temporal_cli_path
from starter.samples import example_order
from tests.conftest import read_outbox, unique
from workflows.close_party_order import ClosureRecord
from workflows.domain.instants import iso
from workflows.domain.model import PartyOrder, close_workflow_id, track_workflow_id
from workflows.patches import TEMPORAL_CANCEL_BY, TEMPORAL_CANCEL_REASON


def temporal(address: str, *args: str) -> str:
    """Run the real Temporal CLI against the test server; fail with its output if it fails."""
    done = subprocess.run(
        [temporal_cli_path(), *args, "--address", address, "--namespace", "default"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"temporal {' '.join(args)}: {done.stderr or done.stdout}"
    return done.stdout


async def run_cli(address: str, *args: str) -> str:
    return await asyncio.to_thread(temporal, address, *args)


async def query_order(address: str, workflow_id: str) -> dict[str, Any]:
    out = await run_cli(
        address, "workflow", "query", "--workflow-id", workflow_id, "--type", "get_order",
        "-o", "json",
    )  # fmt: skip
    result = json.loads(out)
    return result["queryResult"][0] if "queryResult" in result else result


async def eventually_listed(address: str, query: str, expected: set[str]) -> None:
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        out = await run_cli(address, "workflow", "list", "--query", query, "-o", "json")
        found = {w["execution"]["workflowId"] for w in json.loads(out or "[]")}
        if found == expected:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{query}: found {found}, expected {expected}")
        await asyncio.sleep(0.5)


async def test_an_order_driven_only_by_the_temporal_cli(
    dev_client: Client, dev_address: str, dev_task_queue: str
) -> None:
    now = datetime.now(UTC)
    order_id = unique()
    workflow_id = track_workflow_id(order_id)
    order = example_order(order_id, now)
    await run_cli(
        dev_address, "workflow", "start", "--type", "TrackPartyOrder",
        "--task-queue", dev_task_queue, "--workflow-id", workflow_id,
        "--input", json.dumps(order),
    )  # fmt: skip

    def signal(name: str, payload: dict[str, Any]) -> Any:
        return run_cli(
            dev_address, "workflow", "signal", "--workflow-id", workflow_id,
            "--name", name, "--input", json.dumps(payload),
        )  # fmt: skip

    await signal(
        "report_progress", {"requestId": "r-1", "percentComplete": 20, "note": "survey booked"}
    )
    new_date = iso(now + timedelta(days=130))
    await signal(
        "request_change",
        {"requestId": "CR-1", "origin": "party", "kind": "requested", "reason": "permit",
         "changes": {"expectedCompletionDate": new_date}},
    )  # fmt: skip
    await signal(
        "resolve_change",
        {
            "requestId": "res-1",
            "changeRequestId": "CR-1",
            "decision": "accepted",
            "resolvedBy": "SO",
        },
    )
    for state in ("held", "inProgress"):
        await run_cli(
            dev_address, "workflow", "update", "execute", "--workflow-id", workflow_id,
            "--name", "change_state", "--input", json.dumps({"state": state, "reason": "cli"}),
        )  # fmt: skip
    await signal("check_in_now", {"requestedBy": "operator"})

    seen = await query_order(dev_address, workflow_id)
    assert seen["state"] == "inProgress"
    assert seen["percentComplete"] == 20
    assert seen["changeRequests"][0]["status"] == "accepted"
    assert seen["expectedCompletionDate"] == new_date
    assert seen["checkIns"]["sent"] >= 1
    assert [s["to"] for s in seen["stateHistory"]] == [
        "acknowledged", "inProgress", "held", "inProgress",
    ]  # fmt: skip
    assert seen["rejectedMessageCount"] == 0, seen

    await signal("report_progress", {"requestId": "r-2", "delivered": True})
    final = await dev_client.get_workflow_handle(workflow_id, result_type=PartyOrder).result()
    assert final.state == "completed"
    closure = await dev_client.get_workflow_handle(
        close_workflow_id(order_id), result_type=ClosureRecord
    ).result()
    assert closure.order_id == order_id and closure.party_notified


async def test_the_readme_queries_find_the_right_orders(
    dev_client: Client, dev_address: str, dev_task_queue: str
) -> None:
    now = datetime.now(UTC)
    party = unique("PARTY")
    process = unique("process")
    soon, later = unique(), unique()
    started = []
    for order_id, due_in in ((soon, timedelta(days=3)), (later, timedelta(days=40))):
        order = example_order(order_id, now, milestones=[])
        order["party"]["id"] = party
        order["originatingProcess"]["name"] = process if order_id == soon else "other"
        order["expectedCompletionDate"] = iso(now + due_in)
        started.append(
            await dev_client.start_workflow(
                "TrackPartyOrder", order, id=track_workflow_id(order_id), task_queue=dev_task_queue
            )
        )
    try:
        both = {track_workflow_id(soon), track_workflow_id(later)}
        await eventually_listed(dev_address, f'PartyId = "{party}"', both)
        await eventually_listed(
            dev_address,
            f'OriginatingProcess = "{process}" AND PartyId = "{party}"',
            {track_workflow_id(soon)},
        )
        week = (iso(now), iso(now + timedelta(days=7)))
        await eventually_listed(
            dev_address,
            f'PartyOrderDueDate BETWEEN "{week[0]}" AND "{week[1]}"'
            f' AND ExecutionStatus = "Running" AND PartyId = "{party}"',
            {track_workflow_id(soon)},
        )
        # Due within the warning lead time: the first is a hazard, the second is not.
        await eventually_listed(
            dev_address,
            f'PartyOrderJeopardy IN ("hazard", "critical") AND ExecutionStatus = "Running"'
            f' AND PartyId = "{party}"',
            {track_workflow_id(soon)},
        )
        # The negative case needs visibility to have caught up, or an empty answer proves
        # nothing: move one order to pending until the query finds it, then back to
        # inProgress until it is gone again.
        on_hold = f'PartyOrderState IN ("held", "pending") AND PartyId = "{party}"'
        for state, expected in (("pending", {track_workflow_id(later)}), ("inProgress", set())):
            await started[1].execute_update("change_state", {"state": state, "reason": "test"})
            await eventually_listed(dev_address, on_hold, expected)
    finally:
        for handle in started:
            await handle.terminate(reason="test finished")


async def test_temporal_cancel_is_the_orders_cancellation(
    dev_client: Client, dev_address: str, dev_task_queue: str, session_outbox: Path
) -> None:
    """The Web UI's "Request Cancellation" and `temporal workflow cancel` are one request:
    the order ends cancelled, the party is told, and so is the originating process."""
    order_id = unique()
    workflow_id = track_workflow_id(order_id)
    await run_cli(
        dev_address, "workflow", "start", "--type", "TrackPartyOrder",
        "--task-queue", dev_task_queue, "--workflow-id", workflow_id,
        "--input", json.dumps(example_order(order_id, datetime.now(UTC))),
    )  # fmt: skip
    await query_order(dev_address, workflow_id)  # tracking has begun
    await run_cli(dev_address, "workflow", "cancel", "--workflow-id", workflow_id)

    handle = dev_client.get_workflow_handle(workflow_id, result_type=PartyOrder)
    final = await asyncio.wait_for(handle.result(), timeout=60)  # completed, not CANCELED
    assert final.state == "cancelled"
    assert final.cancellation is not None
    assert final.cancellation.requested_by == TEMPORAL_CANCEL_BY
    assert final.cancellation.reason == TEMPORAL_CANCEL_REASON
    told = [
        (n["recipientKind"], n["kind"])
        for n in read_outbox(session_outbox)
        if n["orderId"] == order_id and n["kind"] in ("cancelled", "stateChanged")
    ]
    assert ("party", "cancelled") in told
    assert ("originatingProcess", "stateChanged") in told
    status = (await handle.describe()).status
    assert status == WorkflowExecutionStatus.COMPLETED
