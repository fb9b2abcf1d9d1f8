"""The HTTP API's cost: the same calls through the API and straight through the client API.

``party-orders api`` runs in a process of its own (as it would in production) against the
benchmark's dev server and orders worker. For ``POST /partyOrder/{id}/progress`` and
``GET /partyOrder/{id}``, the same number of calls, as many at a time, are made through
the API (httpx, a manager key) and directly with ``PartyOrderClient`` from this process;
the ratio of the two rates is what the API costs.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from benchmarks.worker_process import PROJECT_ROOT
from settings import API_BURST_ENV, API_KEYS_ENV, API_RATE_ENV, TASK_QUEUE_ENV
from starter.api.keys import KeyStore
from starter.api.routes import BASE_PATH
from starter.client import PartyOrderClient
from starter.samples import example_order

PROGRESS = {"percentComplete": 10, "source": "enterprise"}


@dataclass
class ApiThroughput:
    requests: int
    concurrency: int
    progress_per_second: float
    direct_progress_per_second: float
    get_per_second: float
    direct_get_per_second: float

    @property
    def progress_ratio(self) -> float:
        return self.progress_per_second / self.direct_progress_per_second

    @property
    def get_ratio(self) -> float:
        return self.get_per_second / self.direct_get_per_second

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "concurrency": self.concurrency,
            "progressPerSecond": round(self.progress_per_second, 1),
            "directProgressPerSecond": round(self.direct_progress_per_second, 1),
            "progressRatio": round(self.progress_ratio, 3),
            "getPerSecond": round(self.get_per_second, 1),
            "directGetPerSecond": round(self.direct_get_per_second, 1),
            "getRatio": round(self.get_ratio, 3),
        }


async def _rate(call: Callable[[int], Awaitable[None]], count: int, concurrency: int) -> float:
    """Calls per second for ``count`` calls of ``call(i)``, ``concurrency`` at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int) -> None:
        async with gate:
            await call(index)

    began = time.perf_counter()
    await asyncio.gather(*(one(index) for index in range(count)))
    return count / (time.perf_counter() - began)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def running_api(
    *,
    target: str,
    task_queue: str,
    workdir: Path,
    store: KeyStore,
    key: str,
    concurrency: int,
    settings: dict[str, str] | None = None,
) -> AsyncIterator[httpx.AsyncClient]:
    """``party-orders api`` in a process of its own over ``target``, with the keys in
    ``store`` and ``settings`` besides; yields an HTTP client using ``key``, once the API
    answers (its ``openapi.json``: no order or worker needed)."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "PARTY_ORDERS_"))}
    env.update(
        {
            "TEMPORAL_ADDRESS": target,
            TASK_QUEUE_ENV: task_queue,
            API_KEYS_ENV: str(store.path),
            # The benchmark measures the API's cost, not its limits.
            API_RATE_ENV: "1000000",
            API_BURST_ENV: "1000000",
            **(settings or {}),
        }
    )
    with (workdir / "api.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "starter", "api", "--port", str(port), "--log-level", "warning"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        # Idle connections are dropped before uvicorn closes them (its keep-alive is 5 s):
        # a request sent on a connection the server is closing fails with a ReadError.
        limits = httpx.Limits(
            max_connections=concurrency,
            max_keepalive_connections=concurrency,
            keepalive_expiry=2.0,
        )
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}{BASE_PATH}",
            headers={"Authorization": f"Bearer {key}"},
            limits=limits,
            timeout=60,
        ) as http:
            deadline = time.monotonic() + 30
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"the API exited: {(workdir / 'api.log').read_text()}")
                try:
                    (await http.get("/openapi.json")).raise_for_status()
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.2)
            yield http
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(process.wait, 30)


async def api_throughput(
    client: Client,
    *,
    target: str,
    task_queue: str,
    workdir: Path,
    requests: int,
    concurrency: int,
) -> ApiThroughput:
    orders = PartyOrderClient(client, task_queue)
    tag = uuid.uuid4().hex[:6]
    # Calls spread over as many orders as run at once, so no one order is the bottleneck.
    ids = [f"API{tag}-{index}" for index in range(max(1, concurrency))]
    now = datetime.now(UTC)
    await asyncio.gather(*(orders.start(example_order(order_id, now)) for order_id in ids))
    await asyncio.gather(*(orders.get(order_id) for order_id in ids))  # all running

    store = KeyStore(workdir / "api-keys.json")
    _, key = store.create("manager", label="benchmark")
    async with running_api(
        target=target,
        task_queue=task_queue,
        workdir=workdir,
        store=store,
        key=key,
        concurrency=concurrency,
    ) as http:
        # The API connects to Temporal on its first call: not counted.
        (await http.get(f"/partyOrder/{ids[0]}")).raise_for_status()

        async def api_progress(index: int) -> None:
            answer = await http.post(f"/partyOrder/{ids[index % len(ids)]}/progress", json=PROGRESS)
            answer.raise_for_status()

        async def direct_progress(index: int) -> None:
            await orders.report_progress(ids[index % len(ids)], PROGRESS)

        async def api_get(index: int) -> None:
            (await http.get(f"/partyOrder/{ids[index % len(ids)]}")).raise_for_status()

        async def direct_get(index: int) -> None:
            await orders.get(ids[index % len(ids)])

        direct_p = await _rate(direct_progress, requests, concurrency)
        api_p = await _rate(api_progress, requests, concurrency)
        direct_g = await _rate(direct_get, requests, concurrency)
        api_g = await _rate(api_get, requests, concurrency)
    return ApiThroughput(
        requests=requests,
        concurrency=concurrency,
        progress_per_second=api_p,
        direct_progress_per_second=direct_p,
        get_per_second=api_g,
        direct_get_per_second=direct_g,
    )
