"""The benchmark runs end to end and produces every figure (no timing is asserted here).

A tiny run of ``python -m benchmarks.run``: three orders a round, twenty open orders, a
three-day life. It starts its own dev server, test server and worker subprocesses.
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.run import Config, figures, render, run_benchmark

EXPECTED_FIGURES = {
    "lifecycle.ordersPerSecond",
    "lifecycle.baselinePerSecond",
    "lifecycle.ratio",
    "lifecycle.encryptedRatio",
    "lifecycle.workerCpuMsPerOrder",
    "lifecycle.baselineWorkerCpuMsPerOrder",
    "lifecycle.serverCpuMsPerOrder",
    "history.eventsPerLifecycle",
    "history.baselineEventsPerLifecycle",
    "history.eventsPerQuietCheckIn",
    "longLife.maxRunEvents",
    "longLife.maxRunBytes",
    "longLife.maxCarriedStateBytes",
    "longLife.runs",
    "longLife.wallSeconds",
    "scale.startsPerSecond",
    "scale.workerPeakRssMiB",
    "scale.signalToQueryP50Ms",
    "scale.signalToQueryP99Ms",
    "responsiveness.longestWorkflowTaskMs",
    "scorecard.secondsPerThousandOrders",
    "scale.scorecardSeconds",
    "scale.reportSeconds",
    "responsiveness.recoverySeconds",
    "api.progressPerSecond",
    "api.progressRatio",
    "api.getPerSecond",
    "api.getRatio",
    "hub.atQuotaP50Ms",
    "hub.atQuotaMaxMs",
    "hub.pastQuotaP50Ms",
    "hub.pastQuotaMaxMs",
    "cost.typicalActionsPerOrderMonth",
    "cost.quietActionsPerOrderMonth",
}


async def test_a_tiny_benchmark_run_produces_every_figure(tmp_path: Path) -> None:
    config = Config(
        orders=3,
        scale_orders=20,
        concurrency=3,
        rounds=1,
        warmup=0,
        long_life_days=3,
        latency_samples=5,
        buffered_signals=300,
        recovery_idle=10,
        recovery_stream_seconds=1.0,
        api_requests=20,
        hub_owners=2,
        hub_samples=3,
        json_path=tmp_path / "latest.json",
    )
    results = await run_benchmark(config)

    by_key = {figure.key: figure for figure in results.figures}
    assert set(by_key) == EXPECTED_FIGURES
    for key in ("lifecycle.ordersPerSecond", "lifecycle.baselinePerSecond", "lifecycle.ratio"):
        assert by_key[key].value > 0, key
    for key in ("scale.startsPerSecond", "scale.signalToQueryP50Ms", "scale.workerPeakRssMiB"):
        assert by_key[key].value > 0, key
    assert by_key["scale.signalToQueryP99Ms"].value >= by_key["scale.signalToQueryP50Ms"].value
    # The scale orders were all delivered, then scored and counted (the run checks both).
    assert results.scale.ended_orders == 20
    assert results.scale.scorecard_seconds > 0 and results.scale.report_seconds > 0
    for key in ("api.progressPerSecond", "api.progressRatio", "api.getPerSecond", "api.getRatio"):
        assert by_key[key].value > 0, key
    # POST /hub was timed at the quota (201) and past it (409), once per sample each.
    assert len(results.hub.at_quota_ms) == len(results.hub.past_quota_ms) == 3
    for key in ("hub.atQuotaMaxMs", "hub.pastQuotaMaxMs"):
        assert by_key[key].value > 0, key

    # Every lifecycle really ran: the order completed and its close process ran.
    # Both kinds, plain and encrypted (the run checks each side's start input in Temporal).
    assert {(r.kind, r.encrypted) for r in results.rounds} == {
        (kind, encrypted) for kind in ("orders", "baseline") for encrypted in (False, True)
    }
    assert by_key["lifecycle.encryptedRatio"].value > 0
    assert all(r.orders == 3 for r in results.rounds)
    # (How many events each has depends on how the signals were batched into workflow
    # tasks; what an order does beyond the baseline does not.)
    assert results.baseline_life.order.events > 0
    assert results.orders_life.order.by_type.get("UpsertWorkflowSearchAttributes", 0) >= 1
    assert "UpsertWorkflowSearchAttributes" not in results.baseline_life.order.by_type
    assert results.orders_life.close.events > 0
    assert results.orders_life.order.signals == 4

    # A quiet check-in cycle was found and its events listed.
    assert by_key["history.eventsPerQuietCheckIn"].value == len(results.quiet.event_types) > 0
    assert "ActivityTaskScheduled" in results.quiet.event_types
    assert "TimerFired" in results.quiet.event_types

    # Three simulated days of hourly reports reached the order, which was delivered.
    assert results.long.final_state == "completed"
    assert results.long.reports == 72
    assert results.long.answers >= 1
    assert sum(run.signals for run in results.long.runs) == 72 + results.long.answers
    assert by_key["longLife.maxRunEvents"].value > 0

    # Both order-months ran their 30 days; the typical one had the change request.
    typical, quiet = results.cost
    assert typical.actions["workflow started"] == quiet.actions["workflow started"] == 1
    assert typical.actions["signal"] == typical.check_ins_answered + 3 + 2
    assert quiet.actions["signal"] == quiet.check_ins_answered >= 3
    assert typical.needed <= typical.total and quiet.needed <= quiet.total
    assert "Billable actions per order-month" in render(results)
    assert by_key["longLife.maxRunBytes"].value > 0
    assert by_key["longLife.runs"].value >= 1

    # Every figure with a target says whether it was met; the JSON holds them all.
    assert all(f.met is not None for f in results.figures if f.comparison is not None)
    document = json.loads(config.json_path.read_text())
    assert {f["key"] for f in document["figures"]} == EXPECTED_FIGURES
    assert document["machine"]["cores"] >= 1
    assert document["machine"]["temporalio"]
    assert document["scale"]["latencySamples"] == 5
    assert figures(results) == results.figures
    # The waiting flood was applied (in more than no time) and every order answered again
    # after the kill.
    assert by_key["responsiveness.longestWorkflowTaskMs"].value > 0
    assert document["responsiveness"]["bufferedSignals"] == 300
    assert 0 < by_key["responsiveness.recoverySeconds"].value < 300
    # The scorecard read every ended order of the lifecycle rounds (party ACME), plain and
    # encrypted.
    ordered = sum(r.orders for r in results.rounds if r.kind == "orders")
    assert ordered == 6
    assert results.scorecard.orders == ordered and results.scorecard.seconds > 0
    assert "Lifecycle: orders / baseline" in render(results)
