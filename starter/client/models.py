"""The read models of the client: orders as the visibility store knows them."""

from __future__ import annotations

from pydantic import AwareDatetime, Field
from temporalio.client import WorkflowExecution, WorkflowExecutionStatus

from workflows import visibility
from workflows.domain import names
from workflows.domain.model import WireModel


class OrderSummary(WireModel):
    """One order as the visibility store knows it (no query to the worker needed)."""

    order_id: str
    workflow_id: str
    run_id: str | None = None
    status: str  # the workflow run status: running, completed, terminated, ...
    state: str | None = None
    jeopardy: str | None = None
    escalation_level: int | None = None
    party_id: str | None = None
    originating_process: str | None = None
    due_date: AwareDatetime | None = None
    start_time: AwareDatetime | None = None
    close_time: AwareDatetime | None = None


class TrackingRun(WireModel):
    """How the order's tracking runs, as Temporal sees it (no worker needed): what a person
    must know before trusting what the order says."""

    status: str  # the run status: running, completed, terminated, ...
    # The workflow task in hand has failed this many times in a row (0: it has not): the
    # order's messages wait, unapplied, until a retry succeeds.
    failing_attempts: int = 0
    terminated_reason: str | None = None

    @property
    def terminated(self) -> bool:
        return self.status == "terminated"


class PortfolioReport(WireModel):
    """Counts of orders by state and by jeopardy, and the open orders that need someone."""

    generated_at: AwareDatetime
    total: int  # every tracked order (open and closed)
    open: int
    by_state: dict[str, int] = Field(default_factory=dict)  # every tracked order
    by_jeopardy: dict[str, int] = Field(default_factory=dict)  # open orders only
    attention: list[OrderSummary] = Field(default_factory=list)  # critical or escalated


def run_status(status: WorkflowExecutionStatus | None) -> str:
    return status.name.lower().replace("_", "-") if status is not None else "unknown"


def summary_of(execution: WorkflowExecution) -> OrderSummary:
    attributes = execution.typed_search_attributes
    order_id = execution.id.removeprefix(names.TRACK_WORKFLOW_ID_PREFIX)
    return OrderSummary(
        order_id=order_id,
        workflow_id=execution.id,
        run_id=execution.run_id,
        status=run_status(execution.status),
        state=attributes.get(visibility.STATE),
        jeopardy=attributes.get(visibility.JEOPARDY),
        escalation_level=attributes.get(visibility.ESCALATION_LEVEL),
        party_id=attributes.get(visibility.PARTY_ID),
        originating_process=attributes.get(visibility.ORIGINATING_PROCESS),
        due_date=attributes.get(visibility.DUE_DATE),
        start_time=execution.start_time,
        close_time=execution.close_time,
    )
