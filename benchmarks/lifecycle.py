"""Lifecycle throughput: orders from start to closed, against the logic-free baseline.

One order's life, as a client drives it: start, three progress reports, the delivery
report, then wait for the order's result and for its close process's result. The
baseline makes the same calls against ``BaselineOrder`` and ``BaselineClose``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from temporalio.client import Client

from benchmarks import procfs
from benchmarks.baseline import BASELINE_ORDER, baseline_close_id, baseline_order_id
from benchmarks.history import RunStats, run_stats
from benchmarks.orders import lifecycle_reports, order_payload, start_attributes
from benchmarks.worker_process import WorkerProcess
from workflows.domain.model import close_workflow_id, track_workflow_id

ORDERS = "orders"
BASELINE = "baseline"


@dataclass(frozen=True)
class Kind:
    name: str
    workflow: str
    order_workflow_id: Callable[[str], str]
    close_workflow_id: Callable[[str], str]


KINDS = {
    ORDERS: Kind(ORDERS, "TrackPartyOrder", track_workflow_id, close_workflow_id),
    BASELINE: Kind(BASELINE, BASELINE_ORDER, baseline_order_id, baseline_close_id),
}


async def drive_order(client: Client, kind: Kind, task_queue: str, order_id: str) -> None:
    """One order's whole life, as a client sees it."""
    payload = order_payload(order_id, datetime.now(UTC))
    # An order starts as the client API starts it, its search attributes set at once; the
    # baseline has none.
    attributes = start_attributes(payload) if kind.name == ORDERS else None
    handle = await client.start_workflow(
        kind.workflow,
        payload,
        id=kind.order_workflow_id(order_id),
        task_queue=task_queue,
        search_attributes=attributes,
    )
    for report in lifecycle_reports(order_id):
        await handle.signal("report_progress", report)
    result = await handle.result()
    if kind.name == ORDERS and (not isinstance(result, dict) or result.get("state") != "completed"):
        raise RuntimeError(f"order {order_id} ended {result!r}, not completed")
    await client.get_workflow_handle(kind.close_workflow_id(order_id)).result()


@dataclass
class Round:
    kind: str
    orders: int
    seconds: float
    worker_cpu_seconds: float
    server_cpu_seconds: float
    client_cpu_seconds: float
    worker_threads_cpu_seconds: dict[str, float] = field(default_factory=dict)
    encrypted: bool = False  # payloads through the AES-GCM codec (client and worker)

    @property
    def rate(self) -> float:
        return self.orders / self.seconds

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "encrypted": self.encrypted,
            "orders": self.orders,
            "seconds": round(self.seconds, 3),
            "ordersPerSecond": round(self.rate, 2),
            "workerCpuMsPerOrder": round(1000 * self.worker_cpu_seconds / self.orders, 2),
            "serverCpuMsPerOrder": round(1000 * self.server_cpu_seconds / self.orders, 2),
            "clientCpuMsPerOrder": round(1000 * self.client_cpu_seconds / self.orders, 2),
            "workerThreadsCpuSeconds": {
                name: round(seconds, 3)
                for name, seconds in sorted(
                    self.worker_threads_cpu_seconds.items(), key=lambda item: -item[1]
                )
            },
        }


async def bounded(jobs: list[Callable[[], Awaitable[None]]], concurrency: int) -> None:
    """Run every job, at most ``concurrency`` at once; the first failure stops them all."""
    pending = iter(jobs)

    async def lane() -> None:
        for job in pending:
            await job()

    async with asyncio.TaskGroup() as group:
        for _ in range(min(concurrency, len(jobs))):
            group.create_task(lane())


def server_cpu_seconds() -> float:
    """CPU time of the dev server (a child process of this one) so far."""
    return sum(procfs.cpu_seconds(pid) for pid in procfs.children(os.getpid(), "temporal"))


def _thread_delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before.get(name, 0.0) for name in after}


async def run_round(
    client: Client,
    worker: WorkerProcess,
    kind: str,
    order_ids: list[str],
    concurrency: int,
    *,
    encrypted: bool = False,
) -> Round:
    """Drive ``order_ids`` through their lives on ``worker``; time and CPU it took."""
    spec = KINDS[kind]
    worker_before, threads_before = worker.cpu_seconds(), worker.thread_cpu_seconds()
    server_before, client_before = server_cpu_seconds(), time.process_time()
    started = time.perf_counter()
    await bounded(
        [partial(drive_order, client, spec, worker.task_queue, order_id) for order_id in order_ids],
        concurrency,
    )
    seconds = time.perf_counter() - started
    return Round(
        kind=kind,
        orders=len(order_ids),
        seconds=seconds,
        worker_cpu_seconds=worker.cpu_seconds() - worker_before,
        server_cpu_seconds=server_cpu_seconds() - server_before,
        client_cpu_seconds=time.process_time() - client_before,
        worker_threads_cpu_seconds=_thread_delta(worker.thread_cpu_seconds(), threads_before),
        encrypted=encrypted,
    )


@dataclass
class LifecycleHistory:
    """The events of one complete life: the order's workflow and its close process."""

    order: RunStats
    close: RunStats

    @property
    def events(self) -> int:
        return self.order.events + self.close.events

    def to_json(self) -> dict[str, Any]:
        return {"events": self.events, "order": self.order.to_json(), "close": self.close.to_json()}


async def lifecycle_history(client: Client, kind: str, order_id: str) -> LifecycleHistory:
    spec = KINDS[kind]
    order = client.get_workflow_handle(spec.order_workflow_id(order_id))
    close = client.get_workflow_handle(spec.close_workflow_id(order_id))
    order_history, close_history = await order.fetch_history(), await close.fetch_history()
    return LifecycleHistory(
        order=run_stats(order_history, order_history.run_id),
        close=run_stats(close_history, close_history.run_id),
    )


async def started_encrypted(client: Client, kind: str, order_id: str) -> bool:
    """True if the order's start input is stored as ciphertext (read without the codec)."""
    handle = client.get_workflow_handle(KINDS[kind].order_workflow_id(order_id))
    async for event in handle.fetch_history_events():
        payloads = event.workflow_execution_started_event_attributes.input.payloads
        return bool(payloads) and all(
            payload.metadata.get("encoding") == b"binary/encrypted" for payload in payloads
        )
    return False
