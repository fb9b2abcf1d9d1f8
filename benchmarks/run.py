"""Run the benchmark: ``python -m benchmarks.run [--orders N] [--scale-orders M] [--quick]``.

Starts its own Temporal dev server and time-skipping test server (from PyPI), its own
workers (in subprocesses where CPU or memory is measured), and measures:

1. lifecycle throughput of orders against a logic-free baseline (same calls, same server,
   same concurrency, alternating rounds), and the CPU each order costs: once with payloads
   in plain JSON and once encrypted (AES-GCM codec in client and worker, for both kinds),
   in rounds that alternate, so both ratios are measured under the same load;
2. history economy: events per full lifecycle, and per quiet check-in cycle;
3. long life: an order tracked for years (time-skipping) with daily check-ins and hourly
   reports: the largest run of its continue-as-new chain, in events and bytes;
4. scale: many open orders on one worker: start rate, worker peak memory, and
   signal-to-query latency;
5. responsiveness: the longest workflow task while a worker takes ~10,000 signals that
   waited for it, and the seconds until every order answers again after a kill -9;
6. the HTTP API: its cost against the client API, and ``POST /hub`` at an owner's quota
   (``benchmarks/hub.py``, also run alone with ``python -m benchmarks.hub``);

then prints every figure against its target and writes them all as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import temporalio
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from benchmarks import procfs
from benchmarks.api import ApiThroughput, api_throughput
from benchmarks.cost import OrderMonth, cost_table, order_months
from benchmarks.hub import HubQuotaTiming, hub_figures, hub_quota
from benchmarks.lifecycle import (
    BASELINE,
    ORDERS,
    LifecycleHistory,
    Round,
    lifecycle_history,
    run_round,
    started_encrypted,
)
from benchmarks.long_life import LongLife, QuietCheckIn, long_life, quiet_check_in
from benchmarks.profiling import Profile, PySpy, summarize
from benchmarks.report import Figure, machine_lines, progress, table, write_json
from benchmarks.responsiveness import Responsiveness, responsiveness
from benchmarks.scale import MEBIBYTE, Scale, percentile, scale
from benchmarks.servers import start_dev_server, start_time_skipping_server, target_of
from benchmarks.worker_process import RUNNERS, WorkerProcess
from privacy.codec import data_converter
from privacy.keys import parse_keys
from settings import ENCRYPTION_KEYS_ENV
from starter.client import PartyOrderClient
from starter.local.binaries import temporal_cli_path

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_JSON = RESULTS / "latest.json"

# Targets (the issue "Performance: a benchmark against Temporal's own floor").
TARGET_RATIO = 0.8
TARGET_ENCRYPTED_RATIO = 0.7  # payload encryption costs the orders more than the baseline
TARGET_RUN_EVENTS = 10_000
TARGET_RUN_BYTES = 4 * 1024 * 1024
TARGET_WORKER_RSS_MB = 500
# The SDK fails an activation after 2 s (deadlock detection): stay well below it.
TARGET_LONGEST_TASK_MS = 1_000
TARGET_RECOVERY_SECONDS = 30


@dataclass
class Config:
    orders: int = 200
    scale_orders: int = 10_000
    concurrency: int = 50
    rounds: int = 3  # each round runs the baseline and the orders, in alternating order
    warmup: int = 50
    long_life_days: float = 3 * 365
    latency_samples: int = 200
    buffered_signals: int = 9_900  # the server refuses a run's 10,001st signal
    recovery_idle: int = 1_000
    recovery_stream_seconds: float = 5.0
    api_requests: int = 1_000  # of each kind, through the HTTP API and directly
    hub_owners: int = 10  # each filled to its quota of subscriptions
    hub_samples: int = 100  # POST /hub at the quota, and past it
    profile: bool = False
    # "default" is the project's worker as it is; the others are experiments (worker_process).
    workflow_runner: str = "default"
    json_path: Path = DEFAULT_JSON

    @classmethod
    def quick(cls, **overrides: Any) -> Config:
        values: dict[str, Any] = {
            "orders": 100,
            "scale_orders": 200,
            "rounds": 1,
            "warmup": 10,
            "long_life_days": 28,
            "latency_samples": 50,
            "recovery_idle": 200,
            "api_requests": 300,
            "hub_owners": 3,
            "hub_samples": 30,
        }
        values.update(overrides)
        return cls(**values)


@dataclass
class Results:
    config: Config
    machine: dict[str, Any]
    rounds: list[Round]
    orders_life: LifecycleHistory
    baseline_life: LifecycleHistory
    quiet: QuietCheckIn
    long: LongLife
    scale: Scale
    responsiveness: Responsiveness
    scorecard: ScorecardTiming
    api: ApiThroughput
    hub: HubQuotaTiming
    profile: Profile | None
    wall_seconds: float
    cost: tuple[OrderMonth, OrderMonth]  # typical, quiet
    figures: list[Figure] = dataclasses.field(default_factory=list)

    def rate(self, kind: str, *, encrypted: bool = False) -> float:
        """Orders per second over all measured rounds of ``kind``."""
        rounds = [r for r in self.rounds if r.kind == kind and r.encrypted == encrypted]
        return sum(r.orders for r in rounds) / sum(r.seconds for r in rounds)

    def cpu_ms(self, kind: str, what: str, *, encrypted: bool = False) -> float:
        rounds = [r for r in self.rounds if r.kind == kind and r.encrypted == encrypted]
        seconds = sum(getattr(r, f"{what}_cpu_seconds") for r in rounds)
        return 1000 * seconds / sum(r.orders for r in rounds)

    def to_json(self) -> dict[str, Any]:
        config = dataclasses.asdict(self.config)
        config["json_path"] = str(self.config.json_path)
        return {
            "benchmark": "party-order tracker against Temporal's own floor",
            "finishedAt": datetime.now(UTC).isoformat(),
            "wallSeconds": round(self.wall_seconds, 1),
            "machine": self.machine,
            "config": config,
            "figures": [f.to_json() for f in self.figures],
            "lifecycle": {
                "ordersPerSecond": round(self.rate(ORDERS), 2),
                "baselinePerSecond": round(self.rate(BASELINE), 2),
                "encryptedOrdersPerSecond": round(self.rate(ORDERS, encrypted=True), 2),
                "encryptedBaselinePerSecond": round(self.rate(BASELINE, encrypted=True), 2),
                "rounds": [r.to_json() for r in self.rounds],
                "ordersLifecycleHistory": self.orders_life.to_json(),
                "baselineLifecycleHistory": self.baseline_life.to_json(),
            },
            "quietCheckIn": self.quiet.to_json(),
            "longLife": self.long.to_json(),
            "scale": self.scale.to_json(),
            "responsiveness": self.responsiveness.to_json(),
            "scorecard": dataclasses.asdict(self.scorecard),
            "api": self.api.to_json(),
            "hubQuota": self.hub.to_json(),
            "costPerOrderMonth": [month.to_json() for month in self.cost],
            "profile": self.profile.to_json() if self.profile else None,
        }


def benchmark_key() -> str:
    """A fresh AES-256 key in the form PARTY_ORDERS_ENCRYPTION_KEYS takes (``id:base64``)."""
    return f"bench:{base64.b64encode(os.urandom(32)).decode()}"


def machine() -> dict[str, Any]:
    info = procfs.machine()
    info["python"] = platform.python_version()
    info["temporalio"] = temporalio.__version__
    try:
        info["temporalCli"] = subprocess.run(
            [temporal_cli_path(), "--version"], capture_output=True, text=True, timeout=30
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        info["temporalCli"] = "temporal CLI version unknown"
    return info


def figures(r: Results) -> list[Figure]:
    orders, baseline = r.rate(ORDERS), r.rate(BASELINE)
    longest, heaviest = r.long.largest_events, r.long.largest_bytes
    latencies = r.scale.latencies_ms
    quiet_floor = len(r.quiet.floor)
    beyond = ", ".join(f"+{n} {name}" for name, n in r.quiet.extra.items()) or "none"
    found = [
        Figure("lifecycle.ordersPerSecond", "Lifecycle: orders/s", orders, "orders/s"),
        Figure("lifecycle.baselinePerSecond", "Lifecycle: baseline/s", baseline, "orders/s"),
        Figure(
            "lifecycle.ratio",
            "Lifecycle: orders / baseline",
            round(orders / baseline, 3),
            comparison=">=",
            bound=TARGET_RATIO,
            note=f"{r.config.orders} orders a round, {r.config.concurrency} at a time,"
            f" {r.config.rounds} rounds of each kind",
        ),
        Figure(
            "lifecycle.encryptedRatio",
            "Lifecycle, encrypted: orders / baseline",
            round(r.rate(ORDERS, encrypted=True) / r.rate(BASELINE, encrypted=True), 3),
            comparison=">=",
            bound=TARGET_ENCRYPTED_RATIO,
            note=f"orders {r.rate(ORDERS, encrypted=True):.1f}/s, baseline"
            f" {r.rate(BASELINE, encrypted=True):.1f}/s, both through the AES-GCM codec;"
            f" worker CPU per order {r.cpu_ms(ORDERS, 'worker', encrypted=True):.2f} ms"
            f" (unencrypted {r.cpu_ms(ORDERS, 'worker'):.2f} ms)",
        ),
        Figure(
            "lifecycle.workerCpuMsPerOrder",
            "Lifecycle: worker CPU per order",
            round(r.cpu_ms(ORDERS, "worker"), 2),
            "ms",
            note=f"baseline {r.cpu_ms(BASELINE, 'worker'):.2f} ms",
        ),
        Figure(
            "lifecycle.baselineWorkerCpuMsPerOrder",
            "Lifecycle: baseline worker CPU per order",
            round(r.cpu_ms(BASELINE, "worker"), 2),
            "ms",
        ),
        Figure(
            "lifecycle.serverCpuMsPerOrder",
            "Lifecycle: dev server CPU per order",
            round(r.cpu_ms(ORDERS, "server"), 2),
            "ms",
            note=f"baseline {r.cpu_ms(BASELINE, 'server'):.2f} ms",
        ),
        Figure(
            "history.eventsPerLifecycle",
            "History: events per lifecycle (order + close)",
            r.orders_life.events,
            "events",
            note=f"{r.orders_life.order.events} + {r.orders_life.close.events}"
            " (the last order of the last round)",
        ),
        Figure(
            "history.baselineEventsPerLifecycle",
            "History: baseline events per lifecycle",
            r.baseline_life.events,
            "events",
            note=f"{r.baseline_life.order.events} + {r.baseline_life.close.events}",
        ),
        Figure(
            "history.eventsPerQuietCheckIn",
            "History: events per quiet check-in",
            r.quiet.events,
            "events",
            comparison="<=",
            bound=quiet_floor,
            note=f"beyond one timer + one activity + their workflow tasks: {beyond}",
        ),
        Figure(
            "longLife.maxRunEvents",
            f"Long life ({r.long.simulated_days:g} days): largest run, events",
            longest.events,
            "events",
            comparison="<=",
            bound=TARGET_RUN_EVENTS,
            note=f"{len(r.long.runs)} runs, {r.long.reports} reports + {r.long.answers} answers;"
            f" time-skipping stalls released: {r.long.stalls_released}",
        ),
        Figure(
            "longLife.maxRunBytes",
            f"Long life ({r.long.simulated_days:g} days): largest run, size",
            round(heaviest.bytes / MEBIBYTE, 3),
            "MiB",
            comparison="<=",
            bound=TARGET_RUN_BYTES / MEBIBYTE,
        ),
        Figure(
            "longLife.maxCarriedStateBytes",
            "Long life: largest state carried to a new run",
            round(max(run.input_bytes for run in r.long.runs) / 1024, 1),
            "KiB",
        ),
        Figure(
            "longLife.runs",
            "Long life: runs in the continue-as-new chain",
            len(r.long.runs),
        ),
        Figure("longLife.wallSeconds", "Long life: wall time", round(r.long.wall_seconds, 1), "s"),
        Figure(
            "scale.startsPerSecond",
            f"Scale ({r.scale.orders:,} open): starts/s",
            round(r.scale.start_rate, 1),
            "starts/s",
        ),
        Figure(
            "scale.workerPeakRssMiB",
            f"Scale ({r.scale.orders:,} open): worker peak RSS",
            round(r.scale.worker_peak_rss_bytes / MEBIBYTE, 1),
            "MiB",
            comparison="<=",
            bound=TARGET_WORKER_RSS_MB,
        ),
        Figure(
            "scale.signalToQueryP50Ms",
            "Scale: signal-to-query latency p50",
            round(percentile(latencies, 0.5), 2),
            "ms",
        ),
        Figure(
            "scale.signalToQueryP99Ms",
            "Scale: signal-to-query latency p99",
            round(percentile(latencies, 0.99), 2),
            "ms",
            note=f"{len(latencies)} samples",
        ),
        Figure(
            "scorecard.secondsPerThousandOrders",
            f"Scorecard over {r.scorecard.orders:,} ended orders, per 1,000",
            round(1000 * r.scorecard.seconds / max(1, r.scorecard.orders), 2),
            "s",
            note=f"{r.scorecard.seconds:.1f} s in all",
        ),
        Figure(
            "scale.scorecardSeconds",
            f"Scorecard over {r.scale.ended_orders:,} ended orders (scale, delivered)",
            round(r.scale.scorecard_seconds, 2),
            "s",
            note=f"report over the same orders {r.scale.report_seconds:.2f} s",
        ),
        Figure(
            "scale.reportSeconds",
            f"Report over {r.scale.ended_orders:,} ended orders",
            round(r.scale.report_seconds, 2),
            "s",
        ),
        Figure(
            "responsiveness.longestWorkflowTaskMs",
            f"Flood of {r.responsiveness.buffered_signals:,} waiting signals: longest task",
            round(r.responsiveness.longest_task_ms, 1),
            "ms",
            comparison="<=",
            bound=TARGET_LONGEST_TASK_MS,
            note=f"applied in {r.responsiveness.seconds_to_apply:.1f} s over"
            f" {r.responsiveness.runs} runs",
        ),
        Figure(
            "responsiveness.recoverySeconds",
            f"Recovery after kill -9 ({r.responsiveness.streaming_orders} streams,"
            f" {r.responsiveness.idle_orders:,} idle)",
            round(r.responsiveness.recovery_seconds, 1),
            "s",
            comparison="<=",
            bound=TARGET_RECOVERY_SECONDS,
        ),
        Figure(
            "api.progressPerSecond",
            "API: POST progress/s",
            round(r.api.progress_per_second, 1),
            "requests/s",
            note=f"directly {r.api.direct_progress_per_second:.1f}/s",
        ),
        Figure(
            "api.progressRatio",
            "API: POST progress / client API",
            round(r.api.progress_ratio, 3),
            note=f"{r.api.requests} calls each, {r.api.concurrency} at a time",
        ),
        Figure(
            "api.getPerSecond",
            "API: GET order/s",
            round(r.api.get_per_second, 1),
            "requests/s",
            note=f"directly {r.api.direct_get_per_second:.1f}/s",
        ),
        Figure("api.getRatio", "API: GET order / client API", round(r.api.get_ratio, 3)),
        *hub_figures(r.hub),
    ]
    for month in r.cost:
        surplus = ", ".join(f"+{n} {kind}" for kind, n in month.surplus.items()) or "none"
        found.append(
            Figure(
                f"cost.{month.name}ActionsPerOrderMonth",
                f"Cost: billable actions, {month.name} order-month",
                month.total,
                "actions",
                comparison="<=",
                bound=month.needed,
                note=f"{month.check_ins_answered} check-ins answered,"
                f" {month.milestones_completed} milestones, {month.change_requests} change"
                f" request(s); needed by tracking {month.needed}, surplus: {surplus}",
            )
        )
    return found


@dataclass
class ScorecardTiming:
    orders: int
    seconds: float


async def time_scorecard(client: Any) -> ScorecardTiming:
    """The supplier scorecard over every ended lifecycle order (party ACME): each is read
    from its workflow result, as ``party-orders report --by party`` reads them."""
    progress("scorecard: the lifecycle's ended orders, as report --by party reads them")
    began = time.perf_counter()
    scores = await PartyOrderClient(client).scorecard(party="ACME")
    return ScorecardTiming(
        orders=sum(score.orders for score in scores), seconds=time.perf_counter() - began
    )


async def _lifecycle(
    config: Config, workdir: Path
) -> tuple[
    list[Round],
    LifecycleHistory,
    LifecycleHistory,
    Profile | None,
    Scale,
    Responsiveness,
    ScorecardTiming,
    ApiThroughput,
    HubQuotaTiming,
]:
    progress("starting the Temporal dev server")
    env = await start_dev_server()
    try:
        client, target = env.client, target_of(env)
        tag = uuid.uuid4().hex[:6]
        counter = iter(range(10**9))

        def ids(count: int) -> list[str]:
            return [f"B{tag}-{next(counter)}" for _ in range(count)]

        # The lifecycle runs plain and encrypted, each with its own clients and workers (the
        # workers get the keys, or an empty list, in their environment), whatever this
        # process's own PARTY_ORDERS_ENCRYPTION_KEYS say.
        keys = os.environ.get(ENCRYPTION_KEYS_ENV, "").strip() or benchmark_key()
        ambient_encrypted = bool(os.environ.get(ENCRYPTION_KEYS_ENV, "").strip())
        clients = {
            False: await Client.connect(
                target, namespace=client.namespace, data_converter=pydantic_data_converter
            ),
            True: await Client.connect(
                target,
                namespace=client.namespace,
                data_converter=data_converter(parse_keys(keys)),
            ),
        }

        def worker(kind: str, encrypted: bool) -> WorkerProcess:
            name = f"{kind}-{'encrypted' if encrypted else 'plain'}"
            return WorkerProcess(
                target=target,
                task_queue=f"bench-{name}-{tag}",
                kind=kind,
                outbox=workdir / f"{name}-outbox.jsonl",
                log_path=workdir / f"{name}-worker.log",
                workflow_runner=config.workflow_runner,
                env={ENCRYPTION_KEYS_ENV: keys if encrypted else ""},
            )

        async with (
            worker(ORDERS, False) as orders_worker,
            worker(BASELINE, False) as baseline_worker,
            worker(ORDERS, True) as encrypted_orders_worker,
            worker(BASELINE, True) as encrypted_baseline_worker,
        ):
            workers = {
                (ORDERS, False): orders_worker,
                (BASELINE, False): baseline_worker,
                (ORDERS, True): encrypted_orders_worker,
                (BASELINE, True): encrypted_baseline_worker,
            }
            if config.warmup:
                progress(f"warm-up: {config.warmup} orders of each kind, plain and encrypted")
                for (kind, encrypted), w in workers.items():
                    await run_round(
                        clients[encrypted], w, kind, ids(config.warmup), config.concurrency
                    )
            rounds: list[Round] = []
            last: dict[tuple[str, bool], str] = {}  # (kind, encrypted) -> its last order
            sequence = list(workers)  # rotated each round, so no kind always goes first
            for number in range(config.rounds):
                shift = number % len(sequence)
                for kind, encrypted in sequence[shift:] + sequence[:shift]:
                    batch = ids(config.orders)
                    result = await run_round(
                        clients[encrypted],
                        workers[kind, encrypted],
                        kind,
                        batch,
                        config.concurrency,
                        encrypted=encrypted,
                    )
                    label = f"{kind}{' encrypted' if encrypted else ''}"
                    progress(
                        f"round {number + 1} {label}: {result.orders} in {result.seconds:.1f}s"
                        f" = {result.rate:.1f}/s"
                    )
                    rounds.append(result)
                    last[kind, encrypted] = batch[-1]
            # The comparison means something only if each side is what it says.
            for (kind, encrypted), order_id in last.items():
                if await started_encrypted(clients[False], kind, order_id) != encrypted:
                    raise RuntimeError(f"{kind} order {order_id}: encrypted is not {encrypted}")
            orders_life = await lifecycle_history(clients[False], ORDERS, last[ORDERS, False])
            # Reads plain and encrypted orders alike (the codec passes plain payloads through).
            scorecard = await time_scorecard(clients[True])
            baseline_life = await lifecycle_history(clients[False], BASELINE, last[BASELINE, False])
            profile = None
            if config.profile:
                if PySpy.available():
                    progress("profiling the orders worker with py-spy (not counted)")
                    output = config.json_path.parent / "worker-profile.collapsed.txt"
                    async with PySpy(orders_worker.pid, output):
                        await run_round(
                            clients[False],
                            orders_worker,
                            ORDERS,
                            ids(config.orders),
                            config.concurrency,
                        )
                    profile = summarize(output)
                else:
                    progress("py-spy is not installed (pip install py-spy): no profile")
            progress(f"api: {config.api_requests} calls of each kind, through the API and directly")
            # The rest of the benchmark runs as this process is configured: encrypted when
            # PARTY_ORDERS_ENCRYPTION_KEYS is set.
            api = await api_throughput(
                client,
                target=target,
                task_queue=workers[ORDERS, ambient_encrypted].task_queue,
                workdir=workdir,
                requests=config.api_requests,
                concurrency=config.concurrency,
            )
            progress(f"hub: {config.hub_owners} owners at their quota, POST /hub timed")
            hub = await hub_quota(
                target=target,
                task_queue=workers[ORDERS, ambient_encrypted].task_queue,
                workdir=workdir,
                owners=config.hub_owners,
                samples=config.hub_samples,
            )
        progress(f"scale: {config.scale_orders:,} open orders on one worker")
        scaled = await scale(
            client,
            target=target,
            workdir=workdir,
            orders=config.scale_orders,
            concurrency=config.concurrency,
            samples=config.latency_samples,
            workflow_runner=config.workflow_runner,
        )
        responsive = await responsiveness(
            client,
            target=target,
            workdir=workdir,
            signals=config.buffered_signals,
            idle=config.recovery_idle,
            stream_seconds=config.recovery_stream_seconds,
            concurrency=config.concurrency,
        )
        return (
            rounds,
            orders_life,
            baseline_life,
            profile,
            scaled,
            responsive,
            scorecard,
            api,
            hub,
        )
    finally:
        await env.shutdown()


async def _time_skipping(config: Config, workdir: Path) -> tuple[QuietCheckIn, LongLife]:
    progress("starting the time-skipping test server")
    env = await start_time_skipping_server()
    try:
        quiet = await quiet_check_in(env, workdir / "quiet-outbox.jsonl")
        progress(f"long life: {config.long_life_days:g} simulated days of hourly reports")
        long = await long_life(
            env,
            workdir / "long-outbox.jsonl",
            days=config.long_life_days,
            timeout=max(600.0, 2 * config.long_life_days),
        )
        return quiet, long
    finally:
        await env.shutdown()


async def _cost(workdir: Path) -> tuple[OrderMonth, OrderMonth]:
    progress("cost per order-month: a typical and a quiet order, 30 days at a second a day")
    env = await start_dev_server()
    try:
        return await order_months(env.client, workdir / "cost-outbox.jsonl")
    finally:
        await env.shutdown()


async def run_benchmark(config: Config) -> Results:
    """Run every measurement; write the JSON to ``config.json_path`` and return it all."""
    began = time.perf_counter()
    info = machine()
    with tempfile.TemporaryDirectory(prefix="party-orders-bench-") as folder:
        workdir = Path(folder)
        (
            rounds,
            orders_life,
            baseline_life,
            profile,
            scaled,
            responsive,
            scorecard,
            api,
            hub,
        ) = await _lifecycle(config, workdir)
        quiet, long = await _time_skipping(config, workdir)
        cost = await _cost(workdir)
    results = Results(
        config=config,
        machine=info,
        rounds=rounds,
        orders_life=orders_life,
        baseline_life=baseline_life,
        quiet=quiet,
        long=long,
        scale=scaled,
        responsiveness=responsive,
        scorecard=scorecard,
        api=api,
        hub=hub,
        profile=profile,
        wall_seconds=time.perf_counter() - began,
        cost=cost,
    )
    results.figures = figures(results)
    write_json(config.json_path, results.to_json())
    return results


def render(results: Results) -> str:
    parts = [machine_lines(results.machine)]
    if results.config.workflow_runner != "default":
        parts.append(f"Experiment: workflow runner {results.config.workflow_runner!r}")
    parts += ["", table(results.figures), ""]
    notes = [f"  {f.label}: {f.note}" for f in results.figures if f.note]
    if notes:
        parts += ["Notes:", *notes, ""]
    parts.append(f"Quiet check-in cycle: {' '.join(results.quiet.event_types)}")
    parts += ["", "Billable actions per order-month (queries excluded):"]
    parts.append(cost_table(list(results.cost)))
    if results.profile:
        parts += ["", results.profile.text()]
    parts += ["", f"JSON: {results.config.json_path}"]
    return "\n".join(parts)


def parse(argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Benchmark the party-order tracker against Temporal's own floor.",
    )
    parser.add_argument("--orders", type=int, help="orders per lifecycle round (default 200)")
    parser.add_argument(
        "--scale-orders", type=int, help="open orders for the scale test (default 10,000)"
    )
    parser.add_argument("--concurrency", type=int, help="orders in flight at once (default 50)")
    parser.add_argument("--rounds", type=int, help="lifecycle rounds per kind (default 3)")
    parser.add_argument("--long-life-days", type=float, help="simulated days (default 1095)")
    parser.add_argument("--latency-samples", type=int, help="signal-to-query samples (200)")
    parser.add_argument("--quick", action="store_true", help="a smaller run in about two minutes")
    parser.add_argument(
        "--profile", action="store_true", help="also profile the orders worker with py-spy"
    )
    parser.add_argument(
        "--workflow-runner",
        choices=RUNNERS,
        default="default",
        help="an experiment: the SDK sandbox as the project uses it (default), with the"
        " project's modules passed through, or no sandbox (applies to every worker)",
    )
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write JSON")
    args = parser.parse_args(argv)
    overrides: dict[str, Any] = {
        name: value
        for name, value in {
            "orders": args.orders,
            "scale_orders": args.scale_orders,
            "concurrency": args.concurrency,
            "rounds": args.rounds,
            "long_life_days": args.long_life_days,
            "latency_samples": args.latency_samples,
        }.items()
        if value is not None
    }
    overrides.update(
        profile=args.profile, json_path=args.json, workflow_runner=args.workflow_runner
    )
    return Config.quick(**overrides) if args.quick else Config(**overrides)


@contextlib.contextmanager
def servers_output_to(path: Path) -> Iterator[None]:
    """Send what the servers print (they inherit file descriptors 1 and 2) to ``path``.

    Python's own ``sys.stdout`` and ``sys.stderr`` keep going where they went before.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    original = sys.stdout, sys.stderr
    sys.stdout = open(saved[0], "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(saved[1], "w", buffering=1, closefd=False)  # noqa: SIM115
    with path.open("ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        sys.stdout, sys.stderr = original
        os.close(saved[0])
        os.close(saved[1])


def main(argv: list[str] | None = None) -> None:
    config = parse(argv)
    log = config.json_path.parent / "servers.log"
    with servers_output_to(log):
        progress(f"server and worker output: {log}")
        results = asyncio.run(run_benchmark(config))
    print(render(results))
    print()
    print(config.json_path.read_text())


if __name__ == "__main__":
    main()
