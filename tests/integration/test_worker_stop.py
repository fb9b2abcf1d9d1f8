"""A worker stops within its limit of SIGTERM, even with a workflow that cannot be evicted
(issue 28: SIGTERM did not stop a worker whose workflow task was stuck)."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from starter.cli.render import tracking_text
from starter.client import PartyOrderClient
from tests.conftest import unique
from tests.support.processes import WorkerProcess, eventually, tail
from tests.support.stuck_worker import SPIN_WORKFLOW
from worker import EXIT_STUCK, STOP_LIMIT
from workflows.domain.names import track_workflow_id


async def test_sigterm_stops_a_worker_whose_workflow_never_yields(
    dev_client: Client, dev_address: str, tmp_path: Path
) -> None:
    task_queue = unique("tq-stuck")
    process = WorkerProcess(
        "stuck",
        address=dev_address,
        task_queue=task_queue,
        outbox=tmp_path / "outbox.jsonl",
        log_dir=tmp_path,
        module="tests.support.stuck_worker",
    ).start()
    # Under an order's workflow id, so the client reads it as a wedged order.
    order_id = unique("spin")
    handle = await dev_client.start_workflow(
        SPIN_WORKFLOW, id=track_workflow_id(order_id), task_queue=task_queue
    )
    try:
        await process.wait_polling(dev_client)

        async def task_failed() -> bool:  # the deadlock detector has given up on it
            events = [event.event_type async for event in handle.fetch_history_events()]
            return EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED in events

        await eventually(task_failed, timeout=30, what="the spinning task failed")
        # A wedged order is visible from outside: `show` leads with it.
        tracking = await PartyOrderClient(dev_client, task_queue).tracking(order_id)
        assert tracking.status == "running" and tracking.failing_attempts >= 1, tracking
        assert tracking_text(tracking)[0].startswith("Tracking is stuck")
        assert process.proc is not None
        signalled = time.monotonic()
        process.proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(process.proc.wait, STOP_LIMIT.total_seconds() + 15)
        took = time.monotonic() - signalled
        log = tail(process.log_path, 60)
        assert code == EXIT_STUCK, log
        assert took < STOP_LIMIT.total_seconds() + 10, (took, log)
        assert "did not stop within 30 s of the signal" in log
    finally:
        if process.running and process.proc is not None:
            process.proc.kill()
        await handle.terminate("test over")
