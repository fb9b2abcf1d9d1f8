"""``POST /hub`` at an owner's quota: how long the API takes to answer it.

Issue 23 found the registry workflow not answering ``POST /hub`` within 20 s under
fuzzing; the API now checks the quota from the registry's memo before asking the registry
(starter/api/hub_quota.py). Here ``party-orders api`` runs in a process of its own, as in
production, over the benchmark's dev server and orders worker (which runs the registry).
``owners`` party keys each fill their quota (``PARTY_ORDERS_HUB_SUBSCRIPTIONS_PER_OWNER``),
so the registry holds ``owners x quota`` subscriptions. Then, round robin over the owners,
each sample frees one place (``DELETE``), and times two requests:

- **at the quota**: the ``POST`` that takes the owner's last place (201: the registry adds
  it);
- **past the quota**: one more ``POST`` (409, answered from the memo).

Both should answer within ``TARGET_MS``. Run alone: ``python -m benchmarks.hub`` (its own
dev server and worker, nothing else measured).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks.api import running_api
from benchmarks.report import Figure, progress, table
from benchmarks.scale import percentile
from settings import CALLBACK_ALLOW_ENV, HUB_SUBSCRIPTIONS_PER_OWNER_ENV, WEBHOOK_MASTER_SECRET_ENV
from starter.api.keys import KeyStore

TARGET_MS = 1_000
QUOTA = 20  # the setting's default
# Nothing listens there: a subscription is never delivered to in this case (no orders).
CALLBACK_HOST = "127.0.0.1:9"


@dataclass
class HubQuotaTiming:
    owners: int
    quota: int
    at_quota_ms: list[float]
    past_quota_ms: list[float]
    fill_seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "owners": self.owners,
            "quota": self.quota,
            "samples": len(self.at_quota_ms),
            "atQuotaP50Ms": round(percentile(self.at_quota_ms, 0.5), 2),
            "atQuotaMaxMs": round(max(self.at_quota_ms), 2),
            "pastQuotaP50Ms": round(percentile(self.past_quota_ms, 0.5), 2),
            "pastQuotaMaxMs": round(max(self.past_quota_ms), 2),
            "fillSeconds": round(self.fill_seconds, 2),
        }


def hub_figures(timing: HubQuotaTiming) -> list[Figure]:
    held = f"{timing.owners} owners at their quota of {timing.quota}"
    samples = f"{len(timing.at_quota_ms)} samples; {held}"
    at, past = timing.at_quota_ms, timing.past_quota_ms
    return [
        Figure(
            "hub.atQuotaP50Ms",
            "Hub: POST /hub taking the last place, p50",
            round(percentile(at, 0.5), 2),
            "ms",
            note=f"{samples} ({timing.owners * timing.quota} subscriptions, filled in"
            f" {timing.fill_seconds:.1f} s)",
        ),
        Figure(
            "hub.atQuotaMaxMs",
            "Hub: POST /hub taking the last place, max",
            round(max(at), 2),
            "ms",
            comparison="<=",
            bound=TARGET_MS,
        ),
        Figure(
            "hub.pastQuotaP50Ms",
            "Hub: POST /hub past the quota (409), p50",
            round(percentile(past, 0.5), 2),
            "ms",
        ),
        Figure(
            "hub.pastQuotaMaxMs",
            "Hub: POST /hub past the quota (409), max",
            round(max(past), 2),
            "ms",
            comparison="<=",
            bound=TARGET_MS,
        ),
    ]


async def _post(
    http: httpx.AsyncClient, key: str, callback: str, expected: int
) -> tuple[float, dict[str, Any]]:
    """Milliseconds until ``POST /hub`` answered, which must be ``expected``; its body."""
    began = time.perf_counter()
    answer = await http.post(
        "/hub", json={"callback": callback}, headers={"Authorization": f"Bearer {key}"}
    )
    elapsed = 1000 * (time.perf_counter() - began)
    if answer.status_code != expected:
        raise RuntimeError(f"POST /hub answered {answer.status_code}: {answer.text}")
    body: dict[str, Any] = answer.json()
    return elapsed, body


async def hub_quota(
    *, target: str, task_queue: str, workdir: Path, owners: int, samples: int
) -> HubQuotaTiming:
    """Fill ``owners`` to their quota, then time ``samples`` POSTs at and past it."""
    tag = uuid.uuid4().hex[:6]
    store = KeyStore(workdir / "hub-api-keys.json")
    keys = [store.create("party", party_id=f"HUB{tag}-{n}")[1] for n in range(owners)]
    _, manager = store.create("manager", label="benchmark")
    settings = {
        WEBHOOK_MASTER_SECRET_ENV: uuid.uuid4().hex + uuid.uuid4().hex,
        CALLBACK_ALLOW_ENV: CALLBACK_HOST,
        HUB_SUBSCRIPTIONS_PER_OWNER_ENV: str(QUOTA),
    }
    counter = iter(range(10**9))

    def callback(owner: int) -> str:
        return f"http://{CALLBACK_HOST}/hub/{tag}/{owner}/{next(counter)}"

    async with running_api(
        target=target,
        task_queue=task_queue,
        workdir=workdir,
        store=store,
        key=manager,
        concurrency=max(1, owners),
        settings=settings,
    ) as http:
        held: list[list[str]] = [[] for _ in range(owners)]

        async def fill(owner: int) -> None:
            for _ in range(QUOTA):
                _, made = await _post(http, keys[owner], callback(owner), 201)
                held[owner].append(made["id"])

        began = time.perf_counter()
        await asyncio.gather(*(fill(owner) for owner in range(owners)))
        fill_seconds = time.perf_counter() - began
        at_quota: list[float] = []
        past_quota: list[float] = []
        try:
            for sample in range(samples):
                owner = sample % owners
                freed = held[owner].pop(0)
                removed = await http.delete(
                    f"/hub/{freed}", headers={"Authorization": f"Bearer {keys[owner]}"}
                )
                removed.raise_for_status()
                elapsed, made = await _post(http, keys[owner], callback(owner), 201)
                at_quota.append(elapsed)
                held[owner].append(made["id"])
                elapsed, _ = await _post(http, keys[owner], callback(owner), 409)
                past_quota.append(elapsed)
        finally:  # the registry outlives this case on the benchmark's server: leave it empty
            for ids in held:
                for subscription_id in ids:
                    await http.delete(f"/hub/{subscription_id}")
    return HubQuotaTiming(
        owners=owners,
        quota=QUOTA,
        at_quota_ms=at_quota,
        past_quota_ms=past_quota,
        fill_seconds=fill_seconds,
    )


async def _alone(owners: int, samples: int) -> HubQuotaTiming:
    from benchmarks.lifecycle import ORDERS
    from benchmarks.servers import start_dev_server, target_of
    from benchmarks.worker_process import WorkerProcess

    progress("starting the Temporal dev server")
    env = await start_dev_server()
    try:
        with tempfile.TemporaryDirectory(prefix="party-orders-bench-hub-") as folder:
            workdir = Path(folder)
            task_queue = f"bench-hub-{uuid.uuid4().hex[:6]}"
            async with WorkerProcess(
                target=target_of(env),
                task_queue=task_queue,
                kind=ORDERS,
                outbox=workdir / "outbox.jsonl",
                log_path=workdir / "worker.log",
            ):
                progress(f"hub: {owners} owners to their quota, {samples} samples")
                return await hub_quota(
                    target=target_of(env),
                    task_queue=task_queue,
                    workdir=workdir,
                    owners=owners,
                    samples=samples,
                )
    finally:
        await env.shutdown()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.hub",
        description="Time POST /hub at and past an owner's quota, alone.",
    )
    parser.add_argument("--owners", type=int, default=10, help="owners at their quota (10)")
    parser.add_argument("--samples", type=int, default=100, help="POSTs of each kind (100)")
    args = parser.parse_args(argv)
    timing = asyncio.run(_alone(args.owners, args.samples))
    found = hub_figures(timing)
    print(table(found))
    for figure in found:
        if figure.note:
            print(f"  {figure.label}: {figure.note}")


if __name__ == "__main__":
    main()
