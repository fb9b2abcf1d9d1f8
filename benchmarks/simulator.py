"""The party of a long-lived order, as a workflow: hourly reports in simulated time.

Sending tens of thousands of signals from a client, each followed by a time-skipping
sleep, costs a round trip to the test server per simulated hour (about 20 ms: ten minutes
for three years). Run as a workflow on the same test server instead, the party's timer and
its signal to the order happen inside the server, which skips time between them on its
own. The order still receives ordinary ``report_progress`` signals, as from a client.

Two streams of signals, never at the same instant as each other or as the order's
check-in timer (the time-skipping test server can lose a timer that falls due in the same
millisecond as a signal):

* a progress report every ``report_every`` (source ``enterprise``), half an interval off
  the hour; it says percent complete in line with elapsed time, completes each milestone
  ``complete_milestones_before`` its date, and the last one says ``delivered``;
* the party's answer to each check-in, ``answer_after`` after the check-in is sent
  (source ``party``), which restarts the order's check-in rhythm as the contract says.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

PARTY_SIMULATOR = "BenchmarkPartySimulator"
SIGNALS_PER_RUN = 500  # the simulator continues as new well before its own limits


@dataclass
class MilestonePlan:
    id: str
    date: datetime


@dataclass
class PartySimulation:
    order_id: str
    order_workflow_id: str
    began: datetime
    reports: int
    report_every: timedelta
    check_in_interval: timedelta
    answer_after: timedelta
    milestones: list[MilestonePlan] = field(default_factory=list)
    complete_milestones_before: timedelta = timedelta(days=5)
    next_report: int = 1
    next_check_in: datetime | None = None
    answers: int = 0

    def report_at(self, number: int) -> datetime:
        return self.began + self.report_every / 2 + (number - 1) * self.report_every


@dataclass
class SimulationResult:
    reports: int
    answers: int


def progress_report(sim: PartySimulation, number: int) -> dict[str, Any]:
    """Progress report ``number`` (1-based) from the enterprise's own tracking."""
    at = sim.report_at(number)
    report: dict[str, Any] = {
        "requestId": f"{sim.order_id}-r{number}",
        "source": "enterprise",
        "percentComplete": min(99, number * 100 // sim.reports),
        "note": f"report {number}: work on schedule",
    }
    due = [
        {"id": m.id, "status": "completed"}
        for m in sim.milestones
        if at - sim.report_every < m.date - sim.complete_milestones_before <= at
    ]
    if due:
        report["milestones"] = due
    if number == sim.reports:
        report.update(percentComplete=100, delivered=True, note="delivered")
    return report


@workflow.defn(name=PARTY_SIMULATOR)
class PartySimulator:
    @workflow.run
    async def run(self, sim: PartySimulation) -> SimulationResult:
        order = workflow.get_external_workflow_handle(sim.order_workflow_id)
        next_check_in = sim.next_check_in or sim.began + sim.check_in_interval
        number, answers, sent = sim.next_report, sim.answers, 0
        while number <= sim.reports:
            report_at = sim.report_at(number)
            answer_at = next_check_in + sim.answer_after
            if answer_at < report_at:
                await self._until(answer_at, "answer the check-in")
                answers += 1
                await order.signal(
                    "report_progress",
                    {
                        "requestId": f"{sim.order_id}-a{answers}",
                        "source": "party",
                        "note": "answering the check-in: on schedule",
                    },
                )
                next_check_in = answer_at + sim.check_in_interval
            else:
                await self._until(report_at, "next progress report")
                await order.signal("report_progress", progress_report(sim, number))
                number += 1
            sent += 1
            if sent >= SIGNALS_PER_RUN and number <= sim.reports:
                workflow.continue_as_new(
                    dataclasses.replace(
                        sim, next_report=number, next_check_in=next_check_in, answers=answers
                    )
                )
        return SimulationResult(reports=number - 1, answers=answers)

    @staticmethod
    async def _until(instant: datetime, what: str) -> None:
        if instant > workflow.now():
            await workflow.sleep(instant - workflow.now(), summary=what)
