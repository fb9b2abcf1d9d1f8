"""Histories on the time-skipping test server: a quiet check-in, and an order's long life."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.api.testservice.v1 import UnlockTimeSkippingRequest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.settings import NotificationSettings
from benchmarks.history import QUIET_CHECK_IN_FLOOR, RunStats, chain, check_in_cycles
from benchmarks.orders import order_payload
from benchmarks.simulator import MilestonePlan, PartySimulation, PartySimulator
from worker import build_worker
from workflows.domain.model import close_workflow_id, track_workflow_id


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# ---------------------------------------------------------------- quiet check-in


@dataclass
class QuietCheckIn:
    check_in_interval: str
    response_window: str
    cycles_seen: int
    events: int  # of one steady-state cycle
    event_types: list[str]
    floor: list[str] = field(default_factory=lambda: list(QUIET_CHECK_IN_FLOOR))

    @property
    def extra(self) -> dict[str, int]:
        """Events in the cycle beyond the floor, by type."""
        extra = Counter(self.event_types)
        extra.subtract(Counter(self.floor))
        return {name: count for name, count in sorted(extra.items()) if count > 0}

    def to_json(self) -> dict[str, Any]:
        return {
            "checkInInterval": self.check_in_interval,
            "responseWindow": self.response_window,
            "cyclesSeen": self.cycles_seen,
            "events": self.events,
            "eventTypes": self.event_types,
            "floorEvents": len(self.floor),
            "floorEventTypes": self.floor,
            "beyondFloor": self.extra,
        }


async def quiet_check_in(env: WorkflowEnvironment, outbox: Path) -> QuietCheckIn:
    """An order whose party answers nothing, checked in with hourly: one cycle's events.

    ``unansweredCheckInLimit`` is set out of reach so that no jeopardy or escalation
    mixes into the cycles: what is left is the cost of the check-in itself.
    """
    interval, window = "PT1H", "PT30M"
    task_queue = _unique("bench-quiet")
    order_id = _unique("QUIET")
    async with build_worker(
        env.client, task_queue, settings=NotificationSettings(outbox_path=outbox)
    ):
        now = await env.get_current_time()
        payload = order_payload(
            order_id,
            now,
            due_in=timedelta(days=365),
            milestones=[],
            tracking_policy={
                "checkInInterval": interval,
                "responseWindow": window,
                "unansweredCheckInLimit": 1_000_000,
            },
        )
        handle = await env.client.start_workflow(
            "TrackPartyOrder", payload, id=track_workflow_id(order_id), task_queue=task_queue
        )
        await env.sleep(timedelta(hours=5, minutes=15))
        history = await handle.fetch_history()
        await handle.signal("cancel_order", {"reason": "benchmark done"})
        await handle.result()
    cycles = check_in_cycles(history)
    if len(cycles) < 2:
        raise RuntimeError(f"expected several check-in cycles, saw {len(cycles)}")
    # The first cycle may still carry start-up work; later ones are the steady state.
    steady = cycles[1:]
    typical, _ = Counter(tuple(c) for c in steady).most_common(1)[0]
    # Shown from the timer that starts the cycle (the same events, in their turn).
    if "TimerFired" in typical:
        first = typical.index("TimerFired")
        typical = typical[first:] + typical[:first]
    return QuietCheckIn(
        check_in_interval=interval,
        response_window=window,
        cycles_seen=len(cycles),
        events=len(typical),
        event_types=list(typical),
    )


# ---------------------------------------------------------------- long life

STALL_CHECK_SECONDS = 2.0


async def release_stalls(env: WorkflowEnvironment, done: asyncio.Event) -> int:
    """Unblock the test server's time skipping when it stalls; how many times it did.

    The time-skipping test server counts an activity scheduled in the same workflow task as
    a continue-as-new as pending for ever, so its clock stops skipping and follows the wall
    clock (a real server just drops that activity). When the virtual clock has moved less
    than a minute in two checks in a row while the simulation runs, one extra
    ``UnlockTimeSkipping`` balances that lock. Each release is counted and reported.
    """
    stalls, slow_checks = 0, 0
    last = await env.get_current_time()
    while not done.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), STALL_CHECK_SECONDS)
            break
        now = await env.get_current_time()
        slow_checks = slow_checks + 1 if now - last < timedelta(minutes=1) else 0
        last = now
        if slow_checks >= 2:
            await env.client.test_service.unlock_time_skipping(UnlockTimeSkippingRequest())
            stalls += 1
            slow_checks = 0
    return stalls


@dataclass
class LongLife:
    simulated_days: float
    reports: int
    answers: int
    milestones: int
    wall_seconds: float
    stalls_released: int
    final_state: str
    runs: list[RunStats]

    @property
    def largest_events(self) -> RunStats:
        return max(self.runs, key=lambda r: r.events)

    @property
    def largest_bytes(self) -> RunStats:
        return max(self.runs, key=lambda r: r.bytes)

    def to_json(self) -> dict[str, Any]:
        return {
            "simulatedDays": self.simulated_days,
            "progressReports": self.reports,
            "checkInAnswers": self.answers,
            "milestones": self.milestones,
            "wallSeconds": round(self.wall_seconds, 2),
            "timeSkippingStallsReleased": self.stalls_released,
            "finalState": self.final_state,
            "runCount": len(self.runs),
            "totalEvents": sum(r.events for r in self.runs),
            "maxRunEvents": self.largest_events.events,
            "maxRunBytes": self.largest_bytes.bytes,
            "maxRunInputBytes": max(r.input_bytes for r in self.runs),
            "runs": [r.to_json() for r in self.runs],
        }


async def long_life(
    env: WorkflowEnvironment,
    outbox: Path,
    *,
    days: float,
    report_every: timedelta = timedelta(hours=1),
    timeout: float | None = None,
) -> LongLife:
    """An order tracked for ``days`` with daily check-ins and a report every ``report_every``.

    The party (``PartySimulator``) answers each check-in two hours after it is sent and
    milestones (up to 12, about quarterly) are completed ahead of time, so the order stays
    on plan: what grows is only what any long order accumulates.
    """
    task_queue = _unique("bench-long")
    party_queue = _unique("bench-party")
    order_id = _unique("LONG")
    life = timedelta(days=days)
    reports = max(1, int(life / report_every))
    count = min(12, int(days) // 28)
    async with (
        build_worker(env.client, task_queue, settings=NotificationSettings(outbox_path=outbox)),
        Worker(env.client, task_queue=party_queue, workflows=[PartySimulator]),
    ):
        began = await env.get_current_time()
        milestones = [
            MilestonePlan(id=f"M{i}", date=began + life * i / (count + 1))
            for i in range(1, count + 1)
        ]
        payload = order_payload(
            order_id,
            began,
            due_in=life + timedelta(days=7),
            milestones=[(m.id, m.date) for m in milestones],
            tracking_policy={"checkInInterval": "P1D", "responseWindow": "PT12H"},
        )
        started = time.perf_counter()
        handle = await env.client.start_workflow(
            "TrackPartyOrder", payload, id=track_workflow_id(order_id), task_queue=task_queue
        )
        party = await env.client.start_workflow(
            PartySimulator.run,
            PartySimulation(
                order_id=order_id,
                order_workflow_id=track_workflow_id(order_id),
                began=began,
                reports=reports,
                report_every=report_every,
                check_in_interval=timedelta(days=1),
                answer_after=timedelta(hours=2),
                milestones=milestones,
            ),
            id=_unique("bench-party"),
            task_queue=party_queue,
        )
        done = asyncio.Event()
        watchdog = asyncio.create_task(release_stalls(env, done))
        try:
            async with asyncio.timeout(timeout):
                simulated = await party.result()
                final = await handle.result()
                await env.client.get_workflow_handle(close_workflow_id(order_id)).result()
        finally:
            done.set()
            stalls = await watchdog
        wall = time.perf_counter() - started
    first_run = handle.first_execution_run_id or handle.run_id
    assert first_run is not None
    runs = await chain(env.client, track_workflow_id(order_id), first_run)
    return LongLife(
        simulated_days=days,
        reports=simulated.reports,
        answers=simulated.answers,
        milestones=count,
        wall_seconds=wall,
        stalls_released=stalls,
        final_state=str(final.get("state")) if isinstance(final, dict) else str(final),
        runs=runs,
    )
