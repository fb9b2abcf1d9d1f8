"""The domain core of Track & Manage Party Orders (eTOM 1.6.8.3).

``PartyOrderTracker`` owns one order's whole state and changes it in answer to a message
or to the passing of time. It never reads a clock, never talks to anyone, never imports
Temporal: every method takes ``now`` and returns the effects (notifications, the close
process) that the workflow shell then runs as activities. That keeps all rules testable
directly, and the workflow deterministic by construction.

The tracker is a façade: the rules live in the rooms of ``workflows.domain.tracking``
(intake, start, progress, changes, ending, check-ins, escalation, notices), functions
over a ``Tracking`` (the state and the rules it follows).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from workflows.domain.bounds import Limits
from workflows.domain.deadlines import Deadline, next_due
from workflows.domain.effects import Effect, Notification
from workflows.domain.holidays import HolidayRequest
from workflows.domain.jeopardy import Assessment, assess
from workflows.domain.messages import (
    CancelRequest,
    ChangeRequestMessage,
    ChangeResolution,
    CheckInRequest,
    EscalationAcknowledgement,
    InboundMessage,
    ProgressReport,
    StateChangeRequest,
)
from workflows.domain.model import PartyOrder, PartyOrderSpec
from workflows.domain.rules import Rules, rules_of
from workflows.domain.tracking import (
    changes,
    check_ins,
    ending,
    escalation,
    intake,
    notices,
    progress,
    start,
    wake_up,
)
from workflows.domain.tracking.context import OrderSize, TrackerState, Tracking

__all__ = ["PartyOrderTracker", "TrackerState"]


class PartyOrderTracker:
    def __init__(self, state: TrackerState) -> None:
        self.state = state
        self._applied = set(state.applied_request_ids)
        self._size = OrderSize()  # measured when first needed, then accounted

    @classmethod
    def start(
        cls,
        spec: PartyOrderSpec,
        now: datetime,
        tracking_id: str | None = None,
        *,
        rules_version: int,
    ) -> PartyOrderTracker:
        """Begin tracking by ``rules_version``: the order is ``acknowledged`` and its first
        check-in planned. The caller names the rules (a new workflow run takes the newest,
        ``workflows.patches``): no default, so no order is tracked by rules it did not choose.

        Raises ValueError (naming the field) for a start input that breaks a rule across
        fields (rules 2): dates out of order, a completion in the future, an id twice.
        """
        return cls(start.begin(spec, now, tracking_id, rules_of(rules_version)))

    @property
    def order(self) -> PartyOrder:
        return self.state.order

    @property
    def rules(self) -> int:
        """The version number of the rules this order is tracked by."""
        return self.state.rules_version

    @property
    def tracked_by(self) -> Rules:
        """The rules this order is tracked by, as named capabilities."""
        return rules_of(self.state.rules_version)

    @property
    def limits(self) -> Limits:
        return self.tracked_by.limits

    @property
    def _tracking(self) -> Tracking:
        # Made on every call: use_rules may have moved the order onto other rules.
        return Tracking(self.state, self.tracked_by, self._applied, self._size)

    def use_rules(self, rules_version: int) -> None:
        """Move a running order onto other rules (the shell decides, at a run's start)."""
        self.state.rules_version = rules_version

    def next_due(self, now: datetime) -> Deadline | None:
        """The next instant anything is due, by this order's rules."""
        return next_due(self.order, now, self.tracked_by)

    def assess(self, now: datetime) -> Assessment:
        return assess(self.order, now, self.tracked_by)

    # ------------------------------------------------------------------ inbound messages

    def handle(self, name: str, payload: Any, now: datetime) -> list[Effect]:
        """Validate and apply one inbound signal payload (already decoded from JSON).

        Nothing raises out of here: a message that cannot be applied is recorded in
        ``rejectedMessages`` with the reason, and the order is left as it was.
        """
        return intake.handle(self._tracking, name, payload, now)

    def apply(
        self, name: str, message: InboundMessage, payload: Any, now: datetime
    ) -> list[Effect]:
        """Apply one validated message, once per request id (rules 2: per message name);
        ``payload`` is what arrived, kept with the reason if it cannot be applied."""
        return intake.apply(self._tracking, name, message, payload, now)

    def refused_by_rules(self, message: InboundMessage) -> str | None:
        """Why this order's rules refuse a message the models accept, if they do."""
        return intake.refused_by_rules(self._tracking, message)

    def already_applied(self, request_id: str | None, name: str | None = None) -> bool:
        """Whether this message was applied (rules 2: per message name)."""
        return intake.already_applied(self._tracking, request_id, name)

    def validate_update(
        self, name: str, payload: Any, messages_pending: bool = False
    ) -> InboundMessage:
        """The update's message; ValueError, with a readable reason, for one to refuse
        (with ``messages_pending``, only its payload and the rules are judged)."""
        return intake.validate_update(self._tracking, name, payload, messages_pending)

    def reject(self, name: str, payload: Any, error: str, now: datetime) -> None:
        """Record a message that could not be applied, so that nothing is silently lost."""
        intake.reject(self._tracking, name, payload, error, now)

    # ------------------------------------------------------------------ the messages

    def report_progress(self, report: ProgressReport, now: datetime) -> list[Effect]:
        return progress.report_progress(self._tracking, report, now)

    def request_change(self, message: ChangeRequestMessage, now: datetime) -> list[Effect]:
        return changes.request_change(self._tracking, message, now)

    def change_forwarded(self, change_request_id: str) -> None:
        """The originating process has the change request (the forwarding activity ended)."""
        changes.change_forwarded(self._tracking, change_request_id)

    def resolve_change(self, resolution: ChangeResolution, now: datetime) -> list[Effect]:
        return changes.resolve_change(self._tracking, resolution, now)

    def holidays_resolved(self, request: HolidayRequest, dates: list[date], now: datetime) -> None:
        """The party's country holidays for more years (the answer to ResolveHolidays)."""
        changes.holidays_resolved(self._tracking, request, dates, now)

    def cancel(self, request: CancelRequest, now: datetime) -> list[Effect]:
        return ending.cancel(self._tracking, request, now)

    def finish_cancellation(self, now: datetime) -> list[Effect]:
        """The party has been told: the cancellation takes effect."""
        return ending.finish_cancellation(self._tracking, now)

    def check_in_now(self, request: CheckInRequest, now: datetime) -> list[Effect]:
        return check_ins.check_in_now(self._tracking, request, now)

    def validate_state_change(self, request: StateChangeRequest) -> None:
        """Raise IllegalTransition (naming both states) if the change is not allowed."""
        ending.validate_state_change(self._tracking, request)

    def change_state(self, request: StateChangeRequest, now: datetime) -> list[Effect]:
        return ending.change_state(self._tracking, request, now)

    def validate_acknowledgement(self, message: EscalationAcknowledgement) -> None:
        """Raise MessageRejected unless the level named has been reached."""
        escalation.validate_acknowledgement(self._tracking, message)

    def acknowledge_escalation(
        self, message: EscalationAcknowledgement, now: datetime
    ) -> list[Effect]:
        """A contact has the escalation in hand: reminders stop until the next worsening."""
        return escalation.acknowledge_escalation(self._tracking, message, now)

    # ------------------------------------------------------------------ time and delivery

    def advance(self, now: datetime) -> list[Effect]:
        """Do everything due at ``now``: check-ins, response windows, milestones, jeopardy."""
        return wake_up.advance(self._tracking, now)

    def delivery_failed(self, notification: Notification, error: str, now: datetime) -> None:
        """A notification gave up after its retries: keep a record, the order goes on."""
        notices.delivery_failed(self._tracking, notification, error, now)
