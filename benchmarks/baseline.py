"""The floor: workflows with no logic making the same Temporal round trips as an order.

``BaselineOrder`` takes the same start input and signals as ``TrackPartyOrder`` and does
nothing with them: it ends on the signal that says ``delivered`` after an activity has
signal-with-started ``BaselineClose`` (mirroring ``inform_close_process`` and
``ClosePartyOrder``), which ends as soon as it has the signal. Whatever the real workflows
cost above this, on the same server with the same concurrency, is the project's own.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

BASELINE_ORDER = "BenchmarkBaselineOrder"
BASELINE_CLOSE = "BenchmarkBaselineClose"
REPORT_PROGRESS = "report_progress"
ORDER_COMPLETED = "order_completed"


def baseline_order_id(order_id: str) -> str:
    return f"baseline-order-{order_id}"


def baseline_close_id(order_id: str) -> str:
    return f"baseline-close-{order_id}"


@activity.defn(name="benchmark_baseline_inform_close")
async def inform_close(order: dict[str, Any]) -> None:
    """Signal-with-start ``BaselineClose``, as ``inform_close_process`` does for real."""
    try:
        await activity.client().start_workflow(
            BASELINE_CLOSE,
            id=baseline_close_id(order["id"]),
            task_queue=activity.info().task_queue,
            start_signal=ORDER_COMPLETED,
            start_signal_args=[order],
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        return


@workflow.defn(name=BASELINE_ORDER)
class BaselineOrder:
    def __init__(self) -> None:
        self._reports = 0
        self._delivered = False

    @workflow.run
    async def run(self, order: dict[str, Any]) -> dict[str, Any]:
        await workflow.wait_condition(lambda: self._delivered)
        await workflow.execute_activity(
            inform_close, order, start_to_close_timeout=timedelta(seconds=30)
        )
        return {"id": order.get("id"), "reports": self._reports}

    @workflow.signal(name=REPORT_PROGRESS)
    def report_progress(self, report: dict[str, Any]) -> None:
        self._reports += 1
        if report.get("delivered"):
            self._delivered = True


@workflow.defn(name=BASELINE_CLOSE)
class BaselineClose:
    def __init__(self) -> None:
        self._order: dict[str, Any] | None = None

    @workflow.run
    async def run(self) -> str | None:
        await workflow.wait_condition(lambda: self._order is not None)
        return self._order.get("id") if self._order else None

    @workflow.signal(name=ORDER_COMPLETED)
    def order_completed(self, order: dict[str, Any]) -> None:
        self._order = order


BASELINE_WORKFLOWS = [BaselineOrder, BaselineClose]
BASELINE_ACTIVITIES = [inform_close]
