"""The ``party_orders_*`` metrics of TrackPartyOrder, from the order before and after each step.

The shell shows this module the order after every step (a message applied, time passing,
effects run); it compares with what it saw last and counts what changed:

    party_orders_orders_started                      a tracking began (not a continued run)
    party_orders_orders_ended{outcome}               the order reached a final state
    party_orders_jeopardy_changes{status,from}       the jeopardy status went from ``from``
                                                     to ``status``
    party_orders_escalations{level}                  an escalation level was reached
    party_orders_rejected_messages{message}          a message recorded in rejectedMessages
    party_orders_message_wait{message}   histogram   a message's wait in the workflow's queue,
                                                     from its arrival until it is applied

``workflow.metric_meter()`` adds ``namespace``, ``task_queue`` and ``workflow_type`` and
records nothing while a worker replays history, so a count is not repeated when an order
is rebuilt. Counts are at least once all the same: a workflow task that fails or times out
runs again, and a worker that no longer caches a run and answers a query on it by
replaying may take the run's newest task as new (seen with ``max_cached_workflows=0``).
Metrics are no commands: emitting them never changes what replay expects.
Labels are low-cardinality on purpose (no order ids); an unknown signal name is counted
as ``unknown``, since anyone can send any name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import MetricCounter, MetricHistogramTimedelta

from workflows.domain.model import JeopardyStatus, PartyOrder

PREFIX = "party_orders_"
_DESCRIPTIONS = {
    "orders_started": "Party orders whose tracking began",
    "orders_ended": "Party orders that reached a final state, by outcome",
    "jeopardy_changes": "Changes of an order's jeopardy status, by new and previous status",
    "escalations": "Escalation levels reached, by level",
    "rejected_messages": "Inbound messages recorded as rejected, by message name",
}


@dataclass
class _Seen:
    final: bool
    jeopardy: str
    level: int
    rejected: int


class OrderMetrics:
    """Counts changes between the order as last seen and as it is now."""

    def __init__(self) -> None:
        self._seen: _Seen | None = None
        self._counters: dict[str, MetricCounter] = {}
        self._wait: MetricHistogramTimedelta | None = None

    def _count(self, name: str, attributes: dict[str, str] | None = None) -> None:
        counter = self._counters.get(name)
        if counter is None:
            counter = workflow.metric_meter().create_counter(PREFIX + name, _DESCRIPTIONS[name])
            self._counters[name] = counter
        counter.add(1, attributes)

    def applied(self, message: str, waited: timedelta) -> None:
        """A message was applied ``waited`` after it arrived (workflow time: a flood taken
        in slices waits for the slices before it; one message alone waits 0 ms)."""
        if self._wait is None:
            self._wait = workflow.metric_meter().create_histogram_timedelta(
                PREFIX + "message_wait",
                "Time from a message's arrival to its application, by message name",
                "ms",
            )
        self._wait.record(waited, {"message": _message_label(message)})

    def begin(self, order: PartyOrder, *, continued: bool) -> None:
        """A run starts: a continued run goes on from the order it was handed; a new
        tracking counts as started and from an order with nothing happened yet."""
        if continued:
            self._seen = _snapshot(order)
            return
        self._count("orders_started")
        self._seen = _Seen(final=False, jeopardy=JeopardyStatus.NONE.value, level=0, rejected=0)
        self.observe(order)

    def observe(self, order: PartyOrder) -> None:
        seen = self._seen
        if seen is None:
            return
        now = _snapshot(order)
        if now.jeopardy != seen.jeopardy:
            self._count("jeopardy_changes", {"status": now.jeopardy, "from": seen.jeopardy})
        for level in range(seen.level + 1, now.level + 1):
            self._count("escalations", {"level": str(level)})
        new_rejections = now.rejected - seen.rejected
        if new_rejections > 0:
            recorded = order.rejected_messages[-new_rejections:]
            for rejection in recorded:
                self._count("rejected_messages", {"message": _message_label(rejection.message)})
            # More than the order keeps at once (trimmed before they were seen).
            for _ in range(new_rejections - len(recorded)):
                self._count("rejected_messages", {"message": "unknown"})
        if now.final and not seen.final:
            self._count("orders_ended", {"outcome": order.state.value})
        self._seen = now


def _snapshot(order: PartyOrder) -> _Seen:
    return _Seen(
        final=order.is_final,
        jeopardy=order.jeopardy.status.value,
        level=order.jeopardy.escalation_level,
        rejected=order.rejected_message_count,
    )


def _message_label(name: str) -> str:
    """The message name when the workflow has a handler by that name, else ``unknown``."""
    if workflow.get_signal_handler(name) is not None:
        return name
    if workflow.get_update_handler(name) is not None:
        return name
    return "unknown"
