"""The domain core of Track & Manage Party Orders (eTOM 1.6.8.3).

``PartyOrderTracker`` owns one order's whole state and changes it in answer to a message
or to the passing of time. It never reads a clock, never talks to anyone, never imports
Temporal: every method takes ``now`` and returns the effects (notifications, the close
process) that the workflow shell then runs as activities. That keeps all rules testable
directly, and the workflow deterministic by construction.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import Field, ValidationError

from workflows.domain.calendar import add_working_time, next_working_instant
from workflows.domain.effects import (
    CancelAfterNotice,
    Effect,
    ForwardChangeRequest,
    InformCloseProcess,
    Notification,
    Notify,
    RecipientKind,
    notification_about,
)
from workflows.domain.instants import iso
from workflows.domain.jeopardy import Assessment, assess, is_watched
from workflows.domain.messages import (
    MESSAGE_MODELS,
    CancelRequest,
    ChangeRequestMessage,
    ChangeResolution,
    CheckInRequest,
    InboundMessage,
    ProgressReport,
    StateChangeRequest,
    describe_validation_error,
)
from workflows.domain.model import (
    RESPONSE_TIMES_KEPT,
    Cancellation,
    ChangeRequest,
    ChangeSet,
    DeliveryFailure,
    JeopardyAlert,
    JeopardyStatus,
    MilestoneStatus,
    OrderItem,
    OrderState,
    PartyOrder,
    PartyOrderSpec,
    RejectedMessage,
    StateChange,
    WireModel,
)
from workflows.domain.states import check_transition

# Bounds that keep a months-long order's state small (it is carried by continue-as-new).
APPLIED_REQUEST_IDS_KEPT = 2_000
REJECTED_MESSAGES_KEPT = 200
REJECTED_PAYLOAD_CHARS = 2_000


def check_in_time(order: PartyOrder, due: datetime) -> datetime:
    """When a check-in due at ``due`` goes out: then, or with a party calendar, at the
    party's next working instant."""
    calendar = order.party.calendar
    return due if calendar is None else next_working_instant(calendar, due)


def working_time_after(order: PartyOrder, start: datetime, amount: timedelta) -> datetime:
    """``start`` plus ``amount``, counting only the party's working time when it has a
    calendar (a response window over a weekend waits for Monday)."""
    calendar = order.party.calendar
    return start + amount if calendar is None else add_working_time(calendar, start, amount)


def rejected_message(name: str, payload: Any, error: str, now: datetime) -> RejectedMessage:
    """The record of a message that could not be applied, its payload cut to a bound."""
    request_id = payload.get("requestId") if isinstance(payload, dict) else None
    text = payload if isinstance(payload, str) else json.dumps(payload, default=str)
    return RejectedMessage(
        received_at=now,
        message=name,
        request_id=request_id if isinstance(request_id, str) else None,
        error=error,
        payload=text[:REJECTED_PAYLOAD_CHARS],
    )


class MessageRejected(ValueError):
    """A message that is well-formed but cannot be applied to the order as it is."""


class TrackerState(WireModel):
    """Everything a TrackPartyOrder run holds; continue-as-new carries it over as is."""

    order: PartyOrder
    applied_request_ids: list[str] = Field(default_factory=list)
    next_sequence: int = 1  # numbers notifications and generated ids, never reused


class PartyOrderTracker:
    def __init__(self, state: TrackerState) -> None:
        self.state = state
        self._applied = set(state.applied_request_ids)

    # ------------------------------------------------------------------ start

    @classmethod
    def start(
        cls, spec: PartyOrderSpec, now: datetime, tracking_id: str | None = None
    ) -> PartyOrderTracker:
        """Begin tracking: the order is ``acknowledged`` and its first check-in planned."""
        order = PartyOrder.model_validate(spec.model_dump())
        order.tracking_id = tracking_id
        if order.order_date is None:
            order.order_date = now
        order.check_ins.next_at = check_in_time(
            order, now + order.tracking_policy.check_in_interval
        )
        order.state_history.append(
            StateChange(at=now, to_state=OrderState.ACKNOWLEDGED, reason="tracking started")
        )
        return cls(TrackerState(order=order))

    @property
    def order(self) -> PartyOrder:
        return self.state.order

    # ------------------------------------------------------------------ inbound messages

    def handle(self, name: str, payload: Any, now: datetime) -> list[Effect]:
        """Validate and apply one inbound signal payload (already decoded from JSON).

        Nothing raises out of here: a message that cannot be applied is recorded in
        ``rejectedMessages`` with the reason, and the order is left as it was.
        """
        model = MESSAGE_MODELS.get(name)
        if model is None:
            self.reject(name, payload, f"unknown message {name!r}", now)
            return []
        try:
            message = model.model_validate(payload)
        except ValidationError as error:
            self.reject(name, payload, describe_validation_error(error), now)
            return []
        return self.apply(name, message, payload, now)

    def apply(
        self, name: str, message: InboundMessage, payload: Any, now: datetime
    ) -> list[Effect]:
        """Apply one validated message, once per request id; ``payload`` is what arrived,
        kept with the reason if the message cannot be applied."""
        if self.already_applied(message.request_id):
            return []
        try:
            effects = self._apply(message, now)
        except (MessageRejected, ValueError) as error:
            self.reject(name, payload, str(error), now)
            return []
        self._remember(message.request_id)
        return effects

    def already_applied(self, request_id: str | None) -> bool:
        return request_id is not None and request_id in self._applied

    def _apply(self, message: InboundMessage, now: datetime) -> list[Effect]:
        handlers: dict[type, Callable[[Any, datetime], list[Effect]]] = {
            ProgressReport: self.report_progress,
            ChangeRequestMessage: self.request_change,
            ChangeResolution: self.resolve_change,
            CancelRequest: self.cancel,
            CheckInRequest: self.check_in_now,
            StateChangeRequest: self.change_state,
        }
        return handlers[type(message)](message, now)

    def _remember(self, request_id: str | None) -> None:
        if request_id is None:
            return
        ids = self.state.applied_request_ids
        ids.append(request_id)
        self._applied.add(request_id)
        if len(ids) > APPLIED_REQUEST_IDS_KEPT:
            for old in ids[: len(ids) - APPLIED_REQUEST_IDS_KEPT]:
                self._applied.discard(old)
            del ids[: len(ids) - APPLIED_REQUEST_IDS_KEPT]

    def reject(self, name: str, payload: Any, error: str, now: datetime) -> None:
        """Record a message that could not be applied, so that nothing is silently lost."""
        order = self.order
        order.rejected_message_count += 1
        order.rejected_messages.append(rejected_message(name, payload, error, now))
        # The newest records are kept; the count and the workflow history keep the rest.
        del order.rejected_messages[:-REJECTED_MESSAGES_KEPT]

    def _require_open(self, what: str) -> None:
        if not is_watched(self.order):
            raise MessageRejected(
                f"order {self.order.id} is {self.order.state}: {what} is no longer accepted"
            )

    # report_progress ------------------------------------------------------------

    def report_progress(self, report: ProgressReport, now: datetime) -> list[Effect]:
        self._require_open("a progress report")
        order = self.order
        for item in report.milestones or []:
            if order.milestone(item.id) is None:
                raise MessageRejected(f"milestones: unknown milestone {item.id!r}")

        if order.state == OrderState.ACKNOWLEDGED:
            self._transition(OrderState.IN_PROGRESS, now, "first progress report")
        if report.percent_complete is not None:
            order.percent_complete = report.percent_complete
        for item in report.milestones or []:
            milestone = order.milestone(item.id)
            assert milestone is not None
            if item.status == MilestoneStatus.COMPLETED:
                milestone.status = MilestoneStatus.COMPLETED
                milestone.completed_at = item.completed_at or now
            else:
                milestone.status = MilestoneStatus.YET_TO_REACH
                milestone.completed_at = None
        if report.expected_completion_date is not None:
            order.expected_completion_date = report.expected_completion_date
        if report.note is not None:
            order.last_note = report.note
        order.last_progress_at = now
        if report.source == "party":
            self._party_answered(now)
        if report.delivered:
            return self._complete(now)
        return []

    def _party_answered(self, now: datetime) -> None:
        """Any report from the party answers the open check-in and restarts the rhythm."""
        check_ins = self.order.check_ins
        if check_ins.awaiting_since is not None:
            check_ins.answered += 1
            waited = int((now - check_ins.awaiting_since).total_seconds())
            check_ins.response_seconds.append(waited)
            del check_ins.response_seconds[:-RESPONSE_TIMES_KEPT]
        check_ins.unanswered_streak = 0
        check_ins.awaiting_since = None
        check_ins.answer_by = None
        check_ins.next_at = check_in_time(
            self.order, now + self.order.tracking_policy.check_in_interval
        )

    def _complete(self, now: datetime) -> list[Effect]:
        order = self.order
        if order.state in (OrderState.PENDING, OrderState.HELD):
            self._transition(OrderState.IN_PROGRESS, now, "the party reported delivery")
        self._transition(OrderState.COMPLETED, now, "delivered")
        order.percent_complete = 100
        order.completion_date = now
        effects = self._set_jeopardy(assess(order, now), now)
        effects.append(
            self._notify_party(
                "completed", f"Order {order.id} completed", now, {"completionDate": iso(now)}
            )
        )
        effects.append(InformCloseProcess())
        return effects

    # request_change / resolve_change --------------------------------------------

    def request_change(self, message: ChangeRequestMessage, now: datetime) -> list[Effect]:
        self._require_open("a change request")
        order = self.order
        self._check_change_targets(message.changes)
        change_id = message.request_id or self._next_change_request_id()
        if order.change_request(change_id) is not None:
            raise MessageRejected(f"requestId: change request {change_id!r} already exists")
        change = ChangeRequest(
            id=change_id,
            origin=message.origin,
            kind=message.kind,
            reason=message.reason,
            changes=message.changes,
            received_at=now,
        )
        order.change_requests.append(change)
        notification = self._notification(
            "originatingProcess",
            order.originating_process.name,
            "changeRequest",
            f"Change request {change_id} on order {order.id} needs a resolution",
            now,
            {
                "changeRequest": change.to_json_dict(),
                "reference": order.originating_process.reference,
            },
        )
        return [ForwardChangeRequest(notification, change_id)]

    def change_forwarded(self, change_request_id: str) -> None:
        """The originating process has the change request (the forwarding activity ended)."""
        change = self.order.change_request(change_request_id)
        if change is not None and change.status == "received":
            change.status = "forwarded"

    def _check_change_targets(self, changes: ChangeSet) -> None:
        for item in changes.milestones or []:
            if self.order.milestone(item.id) is None:
                raise MessageRejected(f"changes.milestones: unknown milestone {item.id!r}")

    def resolve_change(self, resolution: ChangeResolution, now: datetime) -> list[Effect]:
        self._require_open("a change resolution")
        order = self.order
        change = order.change_request(resolution.change_request_id)
        if change is None:
            raise MessageRejected(
                f"changeRequestId: no change request {resolution.change_request_id!r}"
                f" on order {order.id}"
            )
        if not change.open:
            raise MessageRejected(
                f"changeRequestId: change request {change.id} was already {change.status}"
            )
        if resolution.decision == "accepted":
            self._check_change_targets(change.changes)
            self._apply_changes(change.changes, now)
        change.status = resolution.decision
        change.resolved_at = now
        change.resolved_by = resolution.resolved_by
        change.note = resolution.note
        return [
            self._notify_party(
                "changeResolved",
                f"Change request {change.id} on order {order.id} {resolution.decision}",
                now,
                {"changeRequest": change.to_json_dict()},
            )
        ]

    def _apply_changes(self, changes: ChangeSet, now: datetime) -> None:
        order = self.order
        if changes.expected_completion_date is not None:
            order.expected_completion_date = changes.expected_completion_date
        if changes.requested_completion_date is not None:
            order.requested_completion_date = changes.requested_completion_date
        for item in changes.milestones or []:
            milestone = order.milestone(item.id)
            assert milestone is not None
            milestone.milestone_date = item.milestone_date
            # A violated milestone given a new, later date is back on plan.
            if milestone.status == MilestoneStatus.VIOLATED and item.milestone_date > now:
                milestone.status = MilestoneStatus.YET_TO_REACH
        for new_item in changes.order_items or []:
            self._upsert_item(new_item)

    def _upsert_item(self, new_item: OrderItem) -> None:
        items = self.order.order_items
        for index, item in enumerate(items):
            if item.id == new_item.id:
                items[index] = new_item
                return
        items.append(new_item)

    # cancel_order ---------------------------------------------------------------

    def cancel(self, request: CancelRequest, now: datetime) -> list[Effect]:
        order = self.order
        if order.state == OrderState.PENDING_CANCELLATION:
            raise MessageRejected(f"order {order.id} is already being cancelled")
        self._require_open("cancellation")
        self._transition(OrderState.PENDING_CANCELLATION, now, request.reason)
        order.cancellation = Cancellation(reason=request.reason, requested_by=request.requested_by)
        notice = self._notification(
            "party",
            order.party.id,
            "cancelled",
            f"Order {order.id} is cancelled",
            now,
            {"reason": request.reason, "requestedBy": request.requested_by},
        )
        return [CancelAfterNotice(notice)]

    def finish_cancellation(self, now: datetime) -> list[Effect]:
        """The party has been told: the cancellation takes effect."""
        order = self.order
        reason = order.cancellation.reason if order.cancellation else None
        self._transition(OrderState.CANCELLED, now, reason)
        if order.cancellation is not None:
            order.cancellation.cancellation_date = now
        return self._set_jeopardy(assess(order, now), now)

    # check_in_now ---------------------------------------------------------------

    def check_in_now(self, request: CheckInRequest, now: datetime) -> list[Effect]:
        self._require_open("a check-in")
        return [self._send_check_in(now, request.requested_by or "enterprise")]

    def _send_check_in(self, now: datetime, requested_by: str) -> Effect:
        order = self.order
        check_ins = order.check_ins
        # An earlier check-in whose window is still open is superseded by this one, not
        # counted as unanswered: the party gets a full window to answer (windows that
        # already ended were counted by advance()).
        check_ins.sent += 1
        check_ins.awaiting_since = now
        check_ins.answer_by = working_time_after(order, now, order.tracking_policy.response_window)
        check_ins.next_at = check_in_time(order, now + order.tracking_policy.check_in_interval)
        return self._notify_party(
            "checkIn",
            f"Progress check-in on order {order.id}",
            now,
            {
                "requestedBy": requested_by,
                "answerBy": iso(check_ins.answer_by),
                "checkInNumber": check_ins.sent,
            },
        )

    # change_state ---------------------------------------------------------------

    def validate_state_change(self, request: StateChangeRequest) -> None:
        """Raise IllegalTransition (naming both states) if the change is not allowed."""
        check_transition(self.order.state, OrderState(request.state))

    def change_state(self, request: StateChangeRequest, now: datetime) -> list[Effect]:
        self.validate_state_change(request)
        order = self.order
        target = OrderState(request.state)
        self._transition(target, now, request.reason)
        effects = self._set_jeopardy(assess(order, now), now) if order.is_final else []
        effects.append(
            self._notify_party(
                "stateChanged",
                f"Order {order.id} is now {target}",
                now,
                {"state": target.value, "reason": request.reason},
            )
        )
        return effects

    def _transition(self, target: OrderState, now: datetime, reason: str | None) -> None:
        order = self.order
        check_transition(order.state, target)
        order.state_history.append(
            StateChange(at=now, from_state=order.state, to_state=target, reason=reason)
        )
        order.state = target
        order.state_reason = reason

    # ------------------------------------------------------------------ the passing of time

    def advance(self, now: datetime) -> list[Effect]:
        """Do everything due at ``now``: check-ins, response windows, milestones, jeopardy."""
        order = self.order
        if not is_watched(order):
            return []
        effects: list[Effect] = []
        check_ins = order.check_ins
        if check_ins.answer_by is not None and now >= check_ins.answer_by:
            check_ins.unanswered_streak += 1
            check_ins.awaiting_since = None
            check_ins.answer_by = None
        if check_ins.next_at is not None and now >= check_ins.next_at:
            effects.append(self._send_check_in(now, "periodic tracking"))
        effects += self._check_milestones(now)
        effects += self._set_jeopardy(assess(order, now), now)
        effects += self._escalate(now)
        return effects

    def _check_milestones(self, now: datetime) -> list[Effect]:
        order = self.order
        effects: list[Effect] = []
        for milestone in order.milestones:
            when = milestone.milestone_date
            if milestone.status != MilestoneStatus.YET_TO_REACH or when is None or now < when:
                continue
            milestone.status = MilestoneStatus.VIOLATED
            text = (
                f"Milestone {milestone.id} ({milestone.name or milestone.id})"
                f" due {iso(when)} was not completed"
            )
            self._alert(
                "critical", f"Milestone {milestone.id} violated", "milestoneViolated", text, now
            )
            body = {"milestoneId": milestone.id, "milestoneDate": iso(when)}
            effects.append(self._notify_party("milestoneViolated", text, now, body))
            effects.append(
                self._notify_contact(
                    order.tracking_policy.order_manager, "milestoneViolated", text, now, body
                )
            )
        return effects

    def _set_jeopardy(self, assessment: Assessment, now: datetime) -> list[Effect]:
        """Record a change of jeopardy as a JeopardyAlert; end the episode when it clears."""
        jeopardy = self.order.jeopardy
        previous = jeopardy.status
        jeopardy.reasons = list(assessment.reasons)
        if assessment.status == previous:
            return []
        jeopardy.status = assessment.status
        reasons = "; ".join(assessment.reasons)
        if assessment.status == JeopardyStatus.NONE:
            fired = [
                lvl
                for lvl in self.order.tracking_policy.escalation
                if lvl.level <= jeopardy.escalation_level
            ]
            self._alert(
                "cleared",
                "Jeopardy cleared",
                "none",
                f"Order {self.order.id} is no longer in jeopardy",
                now,
            )
            jeopardy.since = None
            jeopardy.escalation_level = 0
            return [
                self._notify_contact(
                    level.notify,
                    "deEscalation",
                    f"Order {self.order.id} is no longer in jeopardy (was {previous})",
                    now,
                    {"level": level.level, "state": self.order.state.value},
                )
                for level in fired
            ]
        if previous == JeopardyStatus.NONE:
            jeopardy.since = now  # a new episode: escalation starts over
            jeopardy.escalation_level = 0
        self._alert(
            "critical" if assessment.status == JeopardyStatus.CRITICAL else "hazard",
            f"Order {assessment.status.value}",
            assessment.reasons[0] if assessment.reasons else "",
            reasons,
            now,
        )
        return []

    def _escalate(self, now: datetime) -> list[Effect]:
        jeopardy = self.order.jeopardy
        if jeopardy.status == JeopardyStatus.NONE or jeopardy.since is None:
            return []
        effects: list[Effect] = []
        for level in self.order.tracking_policy.escalation:
            if level.level <= jeopardy.escalation_level or now < jeopardy.since + level.after:
                continue
            jeopardy.escalation_level = level.level
            effects.append(
                self._notify_contact(
                    level.notify,
                    "escalation",
                    f"Order {self.order.id} in {jeopardy.status.value} jeopardy:"
                    f" escalation level {level.level}",
                    now,
                    {
                        "level": level.level,
                        "reasons": jeopardy.reasons,
                        "since": iso(jeopardy.since),
                    },
                )
            )
        return effects

    def _alert(
        self,
        jeopardy_type: Literal["hazard", "critical", "cleared"],
        name: str,
        exception: str,
        message: str,
        now: datetime,
    ) -> None:
        alerts = self.order.jeopardy_alerts
        alerts.append(
            JeopardyAlert(
                id=f"{self.order.id}-JA-{len(alerts) + 1}",
                name=name,
                alert_date=now,
                jeopardy_type=jeopardy_type,
                exception=exception,
                message=message,
            )
        )

    # ------------------------------------------------------------------ delivery outcomes

    def delivery_failed(self, notification: Notification, error: str, now: datetime) -> None:
        """A notification gave up after its retries: keep a record, the order goes on."""
        self.order.delivery_failures.append(
            DeliveryFailure(
                at=now, recipient=notification.recipient, kind=notification.kind, error=error
            )
        )
        del self.order.delivery_failures[:-REJECTED_MESSAGES_KEPT]

    # ------------------------------------------------------------------ notifications

    def _next_change_request_id(self) -> str:
        """``CR-n`` numbered in arrival order, skipping ids a client already chose."""
        number = len(self.order.change_requests) + 1
        while self.order.change_request(f"CR-{number}") is not None:
            number += 1
        return f"CR-{number}"

    def _new_id(self, prefix: str) -> str:
        number = self.state.next_sequence
        self.state.next_sequence += 1
        return f"{prefix}-{number}"

    def _notification(
        self,
        recipient_kind: RecipientKind,
        recipient: str,
        kind: str,
        subject: str,
        now: datetime,
        body: dict[str, Any],
    ) -> Notification:
        """A notification numbered in this tracking's sequence (its idempotency key)."""
        return notification_about(
            self.order, self._new_id(kind), recipient_kind, recipient, kind, subject, now, body
        )

    def _notify_party(self, kind: str, subject: str, now: datetime, body: dict[str, Any]) -> Notify:
        return Notify(self._notification("party", self.order.party.id, kind, subject, now, body))

    def _notify_contact(
        self, contact: str, kind: str, subject: str, now: datetime, body: dict[str, Any]
    ) -> Notify:
        return Notify(self._notification("contact", contact, kind, subject, now, body))
