"""Scale: many open orders on one dev server and one worker process.

The worker runs in its own process with the project's default workflow cache
(``PARTY_ORDERS_MAX_CACHED_WORKFLOWS``, 2,000), so its peak memory is its own. With every
order open, a progress report goes to a random one and ``get_order`` is polled until the
report shows: most orders are then out of the cache, so this includes their replay.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from temporalio.client import Client

from benchmarks.lifecycle import bounded
from benchmarks.orders import lifecycle_reports, order_payload
from benchmarks.report import progress
from benchmarks.worker_process import WorkerProcess
from starter.client import PartyOrderClient
from workflows.domain.model import track_workflow_id

MEBIBYTE = 1024 * 1024


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` in 0..1) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


@dataclass
class Scale:
    orders: int
    start_seconds: float
    settle_seconds: float
    worker_peak_rss_bytes: int
    worker_rss_bytes: int
    latencies_ms: list[float] = field(default_factory=list)
    # Then every order is delivered, and the views over ended orders are timed.
    ended_orders: int = 0
    scorecard_seconds: float = 0.0
    report_seconds: float = 0.0

    @property
    def start_rate(self) -> float:
        return self.orders / self.start_seconds

    def to_json(self) -> dict[str, Any]:
        return {
            "openOrders": self.orders,
            "startSeconds": round(self.start_seconds, 3),
            "startsPerSecond": round(self.start_rate, 1),
            "secondsUntilAllAcknowledged": round(self.settle_seconds, 3),
            "workerPeakRssBytes": self.worker_peak_rss_bytes,
            "workerRssAtEndBytes": self.worker_rss_bytes,
            "latencySamples": len(self.latencies_ms),
            "latencyMs": {
                "p50": round(percentile(self.latencies_ms, 0.5), 2),
                "p90": round(percentile(self.latencies_ms, 0.9), 2),
                "p99": round(percentile(self.latencies_ms, 0.99), 2),
                "max": round(max(self.latencies_ms), 2),
                "mean": round(statistics.fmean(self.latencies_ms), 2),
            },
            "endedOrders": self.ended_orders,
            "scorecardSeconds": round(self.scorecard_seconds, 3),
            "reportSeconds": round(self.report_seconds, 3),
        }


async def _until_acknowledged(client: Client, party_id: str, orders: int, timeout: float) -> None:
    """Wait until visibility shows every order acknowledged by the worker."""
    query = f"PartyId = '{party_id}' AND PartyOrderState = 'acknowledged'"
    deadline = time.monotonic() + timeout
    while True:
        if (await client.count_workflows(query)).count >= orders:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"not every one of {orders} orders was acknowledged in {timeout}s")
        await asyncio.sleep(0.25)


async def _until_ended(client: Client, party_id: str, orders: int, timeout: float) -> None:
    """Wait until visibility shows every order's tracking completed."""
    query = f"PartyId = '{party_id}' AND ExecutionStatus = 'Completed'"
    deadline = time.monotonic() + timeout
    while (await client.count_workflows(query)).count < orders:
        if time.monotonic() > deadline:
            raise TimeoutError(f"not every one of {orders} orders ended in {timeout}s")
        await asyncio.sleep(0.5)


async def signal_to_query(client: Client, order_id: str, value: int, request_id: str) -> float:
    """Milliseconds from sending a progress report until ``get_order`` shows it."""
    handle = client.get_workflow_handle(track_workflow_id(order_id))
    started = time.perf_counter()
    await handle.signal(
        "report_progress",
        {"requestId": request_id, "source": "enterprise", "percentComplete": value},
    )
    deadline = started + 60
    while True:
        order = await handle.query("get_order")
        if isinstance(order, dict) and order.get("percentComplete") == value:
            return 1000 * (time.perf_counter() - started)
        if time.perf_counter() > deadline:
            raise TimeoutError(f"the report to {order_id} did not show within 60 s")


async def scale(
    client: Client,
    *,
    target: str,
    workdir: Path,
    orders: int,
    concurrency: int,
    samples: int,
    seed: int = 1,
    workflow_runner: str = "default",
) -> Scale:
    tag = uuid.uuid4().hex[:8]
    party_id = f"SCALE-{tag}"
    order_ids = [f"S{tag}-{n}" for n in range(orders)]
    async with WorkerProcess(
        target=target,
        task_queue=f"bench-scale-{tag}",
        kind="orders",
        outbox=workdir / "scale-outbox.jsonl",
        log_path=workdir / "scale-worker.log",
        workflow_runner=workflow_runner,
    ) as worker:

        async def start(order_id: str) -> None:
            await client.start_workflow(
                "TrackPartyOrder",
                order_payload(order_id, datetime.now(UTC), party_id=party_id),
                id=track_workflow_id(order_id),
                task_queue=worker.task_queue,
            )

        began = time.perf_counter()
        await bounded([partial(start, order_id) for order_id in order_ids], concurrency)
        start_seconds = time.perf_counter() - began
        progress(f"scale: {orders:,} started in {start_seconds:.1f}s; waiting for the worker")
        await _until_acknowledged(client, party_id, orders, timeout=max(120.0, orders / 10))
        settle_seconds = time.perf_counter() - began
        progress(f"scale: all acknowledged after {settle_seconds:.1f}s; {samples} latency samples")

        rng = random.Random(seed)
        percent = dict.fromkeys(order_ids, 0)
        latencies = []
        for sample in range(samples):
            order_id = rng.choice(order_ids)
            percent[order_id] = percent[order_id] % 99 + 1
            latencies.append(
                await signal_to_query(client, order_id, percent[order_id], f"latency-{sample}")
            )
        peak_rss, rss = worker.peak_rss_bytes(), worker.rss_bytes()

        # Deliver them all, then time the views an order manager reads over ended orders:
        # the supplier scorecard (every final order read from Temporal) and the report.
        progress(f"scale: delivering all {orders:,}; then the scorecard and report over them")
        delivery = lifecycle_reports("x")[-1]

        async def deliver(order_id: str) -> None:
            handle = client.get_workflow_handle(track_workflow_id(order_id))
            await handle.signal(
                "report_progress", {**delivery, "requestId": f"{order_id}-delivered"}
            )

        await bounded([partial(deliver, order_id) for order_id in order_ids], concurrency)
        await _until_ended(client, party_id, orders, timeout=max(120.0, orders / 5))
        orders_client = PartyOrderClient(client)
        began = time.perf_counter()
        scores = await orders_client.scorecard(party=party_id)
        scorecard_seconds = time.perf_counter() - began
        ended = sum(score.orders for score in scores)
        if ended != orders:
            raise RuntimeError(f"the scorecard scored {ended} of {orders} ended orders")
        began = time.perf_counter()
        report = await orders_client.report(party=party_id)
        report_seconds = time.perf_counter() - began
        if report.total != orders or report.by_state.get("completed") != orders:
            raise RuntimeError(f"the report counted {report.total} of {orders} orders")
        return Scale(
            orders=orders,
            start_seconds=start_seconds,
            settle_seconds=settle_seconds,
            worker_peak_rss_bytes=peak_rss,
            worker_rss_bytes=rss,
            latencies_ms=latencies,
            ended_orders=ended,
            scorecard_seconds=scorecard_seconds,
            report_seconds=report_seconds,
        )
