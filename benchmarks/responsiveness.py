"""Responsiveness: a flood waiting for the worker, and recovery from a worker crash.

1. **Buffered flood**: an order gets ``signals`` signals while no worker runs, so they all
   wait in Temporal; then the worker starts. The figure is the longest workflow task of
   the order's runs (WorkflowTaskStarted to WorkflowTaskCompleted, as the server timed
   it): the SDK's deadlock detector fails an activation that takes 2 s.
2. **Recovery**: one worker process runs ``idle`` open orders and ``streaming`` orders that
   take a steady stream of reports. The worker is killed (SIGKILL) mid-stream and a new
   one started; the figure is the seconds from the new start until every order has
   answered ``get_order`` once (each answer needs the order replayed onto the new worker).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.service import RPCError

from benchmarks.lifecycle import bounded
from benchmarks.orders import order_payload
from benchmarks.report import progress
from benchmarks.worker_process import WorkerProcess
from workflows.domain.model import track_workflow_id


@dataclass
class Responsiveness:
    buffered_signals: int
    longest_task_ms: float
    seconds_to_apply: float
    runs: int
    idle_orders: int
    streaming_orders: int
    recovery_seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "bufferedSignals": self.buffered_signals,
            "longestWorkflowTaskMs": round(self.longest_task_ms, 1),
            "secondsToApplyBuffered": round(self.seconds_to_apply, 2),
            "runsForBuffered": self.runs,
            "idleOrders": self.idle_orders,
            "streamingOrders": self.streaming_orders,
            "recoverySeconds": round(self.recovery_seconds, 2),
        }


def _rejected_report(number: int) -> dict[str, Any]:
    # An unknown milestone: recorded as rejected, so the order's count says what it applied.
    return {"requestId": f"flood-{number}", "milestones": [{"id": f"x{number}"}]}


async def _run_ids(client: Client, workflow_id: str) -> list[str | None]:
    """Run ids of a workflow id's continue-as-new chain, newest first (None: the latest)."""
    run_ids: list[str | None] = [None]
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_ids[-1]).fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        if not started.continued_execution_run_id:
            return run_ids
        run_ids.append(started.continued_execution_run_id)


async def _longest_task_ms(client: Client, workflow_id: str) -> tuple[float, int]:
    longest, runs = 0.0, 0
    for run_id in await _run_ids(client, workflow_id):
        runs += 1
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        started_at: datetime | None = None
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
                started_at = event.event_time.ToDatetime()
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED and started_at:
                took = (event.event_time.ToDatetime() - started_at).total_seconds()
                longest = max(longest, 1000 * took)
    return longest, runs


async def buffered_flood(
    client: Client, *, target: str, workdir: Path, signals: int, concurrency: int
) -> tuple[float, float, int]:
    tag = uuid.uuid4().hex[:8]
    task_queue = f"bench-flood-{tag}"
    order_id = f"FLOOD{tag}"
    handle = await client.start_workflow(
        "TrackPartyOrder",
        order_payload(order_id, datetime.now(UTC)),
        id=track_workflow_id(order_id),
        task_queue=task_queue,
    )
    progress(f"buffered flood: {signals:,} signals to an order with no worker yet")
    await bounded(
        [
            partial(handle.signal, "report_progress", _rejected_report(number))
            for number in range(signals)
        ],
        concurrency,
    )
    async with WorkerProcess(
        target=target,
        task_queue=task_queue,
        kind="orders",
        outbox=workdir / "flood-outbox.jsonl",
        log_path=workdir / "flood-worker.log",
    ):
        began = time.perf_counter()
        deadline = began + 300
        while True:
            try:
                order = await handle.query("get_order")
                if order.get("rejectedMessageCount") == signals:
                    break
            except RPCError:
                pass  # the worker is still taking the flood
            if time.perf_counter() > deadline:
                raise TimeoutError("the buffered flood was not applied within 300 s")
            await asyncio.sleep(0.2)
        seconds = time.perf_counter() - began
    longest, runs = await _longest_task_ms(client, handle.id)
    return longest, seconds, runs


async def recovery(
    client: Client,
    *,
    target: str,
    workdir: Path,
    idle: int,
    streaming: int,
    concurrency: int,
    stream_seconds: float = 5.0,
) -> float:
    tag = uuid.uuid4().hex[:8]
    task_queue = f"bench-recovery-{tag}"
    order_ids = [f"R{tag}-{n}" for n in range(idle + streaming)]
    streamed = order_ids[:streaming]

    def worker(name: str) -> WorkerProcess:
        return WorkerProcess(
            target=target,
            task_queue=task_queue,
            kind="orders",
            outbox=workdir / "recovery-outbox.jsonl",
            log_path=workdir / f"recovery-worker-{name}.log",
        )

    async def start(order_id: str) -> None:
        await client.start_workflow(
            "TrackPartyOrder",
            order_payload(order_id, datetime.now(UTC)),
            id=track_workflow_id(order_id),
            task_queue=task_queue,
        )

    sent = 0

    async def stream(order_id: str, until: float) -> None:
        nonlocal sent
        handle = client.get_workflow_handle(track_workflow_id(order_id))
        while time.perf_counter() < until:
            await handle.signal("report_progress", _rejected_report(sent))
            sent += 1

    first = worker("first")
    async with first:
        progress(f"recovery: {idle:,} idle orders and {streaming} streams")
        await bounded([partial(start, order_id) for order_id in order_ids], concurrency)
        until = time.perf_counter() + stream_seconds
        await asyncio.gather(*(stream(order_id, until) for order_id in streamed))
        first.kill()  # SIGKILL mid-stream: no clean shutdown
        await asyncio.gather(*(stream(order_id, time.perf_counter() + 1) for order_id in streamed))
    progress(f"recovery: worker killed after {sent:,} streamed reports; starting a new one")
    async with worker("second"):
        began = time.perf_counter()
        waiting = set(order_ids)

        async def answers(order_id: str) -> None:
            try:
                await client.get_workflow_handle(track_workflow_id(order_id)).query(
                    "get_order", rpc_timeout=timedelta(seconds=10)
                )
                waiting.discard(order_id)
            except RPCError:
                pass

        deadline = began + 300
        while waiting:
            await bounded([partial(answers, order_id) for order_id in list(waiting)], concurrency)
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{len(waiting)} orders did not answer within 300 s")
        return time.perf_counter() - began


async def responsiveness(
    client: Client,
    *,
    target: str,
    workdir: Path,
    signals: int,
    idle: int,
    stream_seconds: float,
    concurrency: int,
) -> Responsiveness:
    longest, seconds, runs = await buffered_flood(
        client, target=target, workdir=workdir, signals=signals, concurrency=concurrency
    )
    progress(f"buffered flood: applied in {seconds:.1f}s, longest workflow task {longest:.0f} ms")
    recovered = await recovery(
        client,
        target=target,
        workdir=workdir,
        idle=idle,
        streaming=5,
        concurrency=concurrency,
        stream_seconds=stream_seconds,
    )
    progress(f"recovery: every order answered {recovered:.1f}s after the new worker started")
    return Responsiveness(
        buffered_signals=signals,
        longest_task_ms=longest,
        seconds_to_apply=seconds,
        runs=runs,
        idle_orders=idle,
        streaming_orders=5,
        recovery_seconds=recovered,
    )
