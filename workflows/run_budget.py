"""How long one run of TrackPartyOrder lasts, and what it hands to the next.

A run continues as new when it is long: by the old rule (the server suggests it, or past
8,000 events), or under the run budget (``bounded-runs``) after 2,000 messages or 4,000
events, whichever comes first, even while messages keep arriving, so that no run nears
the 10,000-signal cap and replaying the longest run after a crash stays short.
"""

from __future__ import annotations

from pydantic import Field
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.domain.effects import Effect, ForwardChangeRequest, Notification, Notify
    from workflows.domain.model import WireModel
    from workflows.domain.tracker import TrackerState
    from workflows.patches import BOUNDED_RUNS_PATCH

# Continue-as-new well before Temporal's hard limits (51,200 events / 50 MB; 10,000 signals
# per run), even if the server never suggests it. Runs that began before the run budget
# (no "bounded-runs" marker in their history) keep this old limit.
MAX_HISTORY_EVENTS = 8_000
MESSAGES_PER_RUN = 2_000
EVENTS_PER_RUN = 4_000


class PendingNotification(WireModel):
    """A notification still on its way when a run continued-as-new."""

    notification: Notification
    change_request_id: str | None = None  # set when it forwards this change request


class ContinuedRun(WireModel):
    """The input of a continued run: the whole state, and the notifications in flight.

    Continue-as-new does not wait for a moment with no notification in flight (a steady
    stream of messages would postpone it forever): those still on their way go over to
    the next run, which sends them again first thing. Each keeps its idempotency key, so
    the outbox and webhook receivers drop a repeat.
    """

    state: TrackerState
    pending: list[PendingNotification] = Field(default_factory=list)


def pending(effect: Effect) -> PendingNotification:
    """A notification effect not yet started, as carried over continue-as-new."""
    assert isinstance(effect, Notify | ForwardChangeRequest)
    change_request_id = (
        effect.change_request_id if isinstance(effect, ForwardChangeRequest) else None
    )
    return PendingNotification(
        notification=effect.notification, change_request_id=change_request_id
    )


def resume(carried: PendingNotification) -> Effect:
    """The effect that sends a carried notification again."""
    if carried.change_request_id is not None:
        return ForwardChangeRequest(carried.notification, carried.change_request_id)
    return Notify(carried.notification)


class RunBudget:
    """The messages a run has received, and whether it is long enough to continue."""

    def __init__(self) -> None:
        self.received = 0  # messages received in this run
        # Whether this run keeps the run budget: decided (workflow.patched) the first time
        # the budget would change what the run does, so runs that never reach it record
        # no patch marker at all.
        self._bounded: bool | None = None

    def count_message(self) -> None:
        self.received += 1

    def applies(self) -> bool:
        """Whether the run budget applies: ``False`` only on replay of a run that began
        before it (its history has no ``bounded-runs`` marker where this is first asked)."""
        if self._bounded is None:
            self._bounded = workflow.patched(BOUNDED_RUNS_PATCH)
        return self._bounded

    def long_enough(self) -> bool:
        """Whether a quiet run continues as new now (deciding the patch if it must)."""
        return self._long_by_old_rule() or (self._over_budget() and self.applies())

    def may_be_long_enough(self) -> bool:
        """``long_enough`` without deciding the patch (for a wait condition)."""
        return self._long_by_old_rule() or (self._over_budget() and self._bounded is not False)

    def _long_by_old_rule(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() > MAX_HISTORY_EVENTS
        )

    def _over_budget(self) -> bool:
        events = workflow.info().get_current_history_length()
        return events > EVENTS_PER_RUN or self.received >= MESSAGES_PER_RUN
