"""The domain core of Track & Manage Party Orders (eTOM 1.6.8.3).

``PartyOrderTracker`` owns one order's whole state and changes it in answer to a message
or to the passing of time. It never reads a clock, never talks to anyone, never imports
Temporal: every method takes ``now`` and returns the effects (notifications, the close
process) that the workflow shell then runs as activities. That keeps all rules testable
directly, and the workflow deterministic by construction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
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
    ResolveHolidays,
    notification_about,
)
from workflows.domain.holiday_span import HolidayRequest, add_resolved_holidays, holidays_to_resolve
from workflows.domain.instants import iso
from workflows.domain.items import (
    complete_open_items,
    delivered_items,
    is_final,
    roll_up,
    weighted_percent,
)
from workflows.domain.jeopardy import Assessment, assess, is_watched
from workflows.domain.messages import (
    MESSAGE_MODELS,
    CancelRequest,
    ChangeRequestMessage,
    ChangeResolution,
    CheckInRequest,
    EscalationAcknowledgement,
    InboundMessage,
    ItemProgress,
    ProgressReport,
    StateChangeRequest,
    describe_validation_error,
    describe_value,
)
from workflows.domain.model import (
    COMPLETED_AT_SLACK,
    CURRENT_RULES,
    MAX_CHANGE_REQUESTS,
    MAX_ORDER_ITEMS,
    RESPONSE_TIMES_KEPT,
    RULES_V1,
    RULES_V3,
    RULES_V4,
    Cancellation,
    ChangeRequest,
    ChangeSet,
    ClearedEpisode,
    DeliveryFailure,
    EscalationLevel,
    ItemState,
    JeopardyAlert,
    JeopardyStatus,
    Milestone,
    MilestoneStatus,
    NoteVisibility,
    OrderItem,
    OrderItemRef,
    OrderState,
    PartyOrder,
    PartyOrderSpec,
    RejectedMessage,
    StateChange,
    WireModel,
)
from workflows.domain.notes import add_note
from workflows.domain.pause import active_time, follow_state, is_paused
from workflows.domain.plan import (
    apply_plan_changes,
    check_plan_changes,
    pre_rules_3_fields,
    take_due,
)
from workflows.domain.schedule import Deadline, episode_over_at, next_due, reminder_due
from workflows.domain.states import check_transition

# Bounds that keep a months-long order's state small (it is carried by continue-as-new).
APPLIED_REQUEST_IDS_KEPT = 2_000
REJECTED_MESSAGES_KEPT = 200
REJECTED_PAYLOAD_CHARS = 2_000


@dataclass(frozen=True)
class Limits:
    """How much of each growing record an order keeps: its newest entries, cut to size."""

    applied_messages: int = APPLIED_REQUEST_IDS_KEPT
    rejected_messages: int = REJECTED_MESSAGES_KEPT
    rejected_payload_chars: int = REJECTED_PAYLOAD_CHARS
    jeopardy_alerts: int | None = None  # None: all of them (rules 1)
    state_history: int | None = None
    delivery_failures: int = REJECTED_MESSAGES_KEPT
    text_chars: int | None = None  # an error, an alert's message, a reason in a record


LIMITS_V1 = Limits()
# Rules 2 bound everything that grows. The order apart from these records may not pass
# ORDER_CHARS_LIMIT (a message that would make it larger is refused); with every record
# at its bound too, the state carried by continue-as-new stays near 1.45 MB at the very
# most, below Temporal's 2 MB payload limit (tests/test_bounds.py builds it).
LIMITS_V2 = Limits(
    applied_messages=1_000,
    rejected_messages=100,
    rejected_payload_chars=1_000,
    jeopardy_alerts=100,
    state_history=100,
    delivery_failures=100,
    text_chars=500,
)
ORDER_CHARS_LIMIT = 400_000
START_INPUT_CHARS_LIMIT = 200_000
_TRIMMED_LISTS = frozenset(
    {"jeopardy_alerts", "state_history", "rejected_messages", "delivery_failures", "notes"}
)


def _cut(text: str | None, limit: int | None) -> str | None:
    if text is None or limit is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


RANK = {JeopardyStatus.NONE: 0, JeopardyStatus.HAZARD: 1, JeopardyStatus.CRITICAL: 2}


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


def rejected_message(
    name: str, payload: Any, error: str, now: datetime, limits: Limits = LIMITS_V1
) -> RejectedMessage:
    """The record of a message that could not be applied, every part cut to its bound."""
    request_id = payload.get("requestId") if isinstance(payload, dict) else None
    text = payload if isinstance(payload, str) else json.dumps(payload, default=str)
    return RejectedMessage(
        received_at=now,
        message=name[:200],
        request_id=request_id[:200] if isinstance(request_id, str) else None,
        error=_cut(error, limits.text_chars) or "",
        payload=text[: limits.rejected_payload_chars],
    )


class MessageRejected(ValueError):
    """A message that is well-formed but cannot be applied to the order as it is."""


class TrackerState(WireModel):
    """Everything a TrackPartyOrder run holds; continue-as-new carries it over as is."""

    order: PartyOrder
    # Rules 1: request ids applied, whatever the message. Rules 2 uses applied_messages.
    applied_request_ids: list[str] = Field(default_factory=list)
    next_sequence: int = 1  # numbers notifications and generated ids, never reused
    # The rules this order is tracked by. The default is what a state carried over from
    # before rules versions existed was tracked by: rules 1.
    rules_version: int = RULES_V1
    # Rules 2: "message name/requestId" -> a digest of the payload, oldest first.
    applied_messages: dict[str, str] = Field(default_factory=dict)
    # Rules 2: the forecast for which the agreed-date change request was last considered,
    # so that a rejected request is not opened again for the same forecast.
    forecast_reviewed: datetime | None = None


class PartyOrderTracker:
    def __init__(self, state: TrackerState) -> None:
        self.state = state
        self._applied = set(state.applied_request_ids)
        self._worsened = False  # set by the assessment of the current advance()

    # ------------------------------------------------------------------ start

    @classmethod
    def start(
        cls,
        spec: PartyOrderSpec,
        now: datetime,
        tracking_id: str | None = None,
        rules_version: int = CURRENT_RULES,
    ) -> PartyOrderTracker:
        """Begin tracking: the order is ``acknowledged`` and its first check-in planned.

        Raises ValueError (naming the field) for a start input that breaks a rule across
        fields (rules 2): dates out of order, a completion in the future, an id twice.
        """
        order = PartyOrder.model_validate(spec.model_dump())
        if rules_version < RULES_V3:
            _refuse_rules_3_start_fields(spec)
        else:
            _check_start_v3(spec)
            for item in order.order_items:
                item.state = item.state or ItemState.ACKNOWLEDGED
        if rules_version != RULES_V1:
            _check_start(spec, now)
            # The agreed date is the requested one; given only a forecast, that is it.
            if order.requested_completion_date is None:
                order.requested_completion_date = order.expected_completion_date
        order.tracking_id = tracking_id
        if order.order_date is None:
            order.order_date = now
        order.check_ins.next_at = check_in_time(
            order, now + order.tracking_policy.check_in_interval
        )
        order.state_history.append(
            StateChange(at=now, to_state=OrderState.ACKNOWLEDGED, reason="tracking started")
        )
        return cls(TrackerState(order=order, rules_version=rules_version))

    @property
    def order(self) -> PartyOrder:
        return self.state.order

    @property
    def rules(self) -> int:
        return self.state.rules_version

    @property
    def v2(self) -> bool:
        return self.state.rules_version != RULES_V1

    @property
    def v3(self) -> bool:
        return self.state.rules_version >= RULES_V3

    @property
    def v4(self) -> bool:
        return self.state.rules_version >= RULES_V4

    @property
    def limits(self) -> Limits:
        return LIMITS_V1 if self.state.rules_version == RULES_V1 else LIMITS_V2

    def use_rules(self, rules_version: int) -> None:
        """Move a running order onto other rules (the shell decides, at a run's start)."""
        self.state.rules_version = rules_version

    def next_due(self, now: datetime) -> Deadline | None:
        """The next instant anything is due, by this order's rules."""
        return next_due(self.order, now, self.rules)

    def assess(self, now: datetime) -> Assessment:
        return assess(self.order, now, self.rules)

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
        """Apply one validated message, once per request id (rules 2: per message name);
        ``payload`` is what arrived, kept with the reason if it cannot be applied."""
        refused = self.refused_by_rules(message)
        if refused is not None:
            self.reject(name, payload, refused, now)
            return []
        if self.v2:
            return self._handle_v2(name, payload, message, now)
        if self.already_applied(message.request_id):
            return []
        try:
            effects = self._apply(message, now)
        except (MessageRejected, ValueError) as error:
            self.reject(name, payload, str(error), now)
            return []
        self._remember(message.request_id)
        return effects

    def _handle_v2(
        self, name: str, payload: Any, message: InboundMessage, now: datetime
    ) -> list[Effect]:
        """Rules 2: exactly once per message name, and an order that stays bounded."""
        try:
            if self._check_request_id(name, message.request_id, payload):
                return []  # the same message again: applied once already
        except MessageRejected as error:
            self.reject(name, payload, str(error), now)
            return []
        # Only change requests and their resolutions can make the order grow beyond the
        # bounds of its fields (more requests, more items); one that fails half-way, or
        # would make the order too large, leaves the order exactly as it was. Every other
        # message is checked in full before it changes anything.
        grows = isinstance(message, ChangeRequestMessage | ChangeResolution)
        before = self.state.model_dump_json() if grows else None
        try:
            effects = self._apply(message, now)
            if grows:
                self._check_size()
        except (MessageRejected, ValueError) as error:
            if before is not None:
                self._restore(TrackerState.model_validate_json(before))
            self.reject(name, payload, str(error), now)
            return []
        self._remember_v2(name, message.request_id, payload)
        return effects

    def refused_by_rules(self, message: InboundMessage) -> str | None:
        """Why this order's rules refuse a message the models accept, if they do.

        The models of rules 1 and 2 refused the fields rules 3 brought (unknown fields):
        such a message was rejected then, and is rejected on replay and on an order still
        tracked by those rules."""
        return None if self.v3 else _unknown_before_rules_3(message)

    def already_applied(self, request_id: str | None, name: str | None = None) -> bool:
        """Whether this message was applied (rules 2: per message name)."""
        if request_id is None:
            return False
        if self.v2 and name is not None:
            key = _message_key(name, request_id)
            return key in self.state.applied_messages or request_id in self._applied
        return request_id in self._applied

    def validate_update(self, name: str, payload: Any) -> None:
        """Raise ValueError, with a readable reason, for an update that must be refused.

        Run by the workflow's update validators, so that a refused update never enters
        the history. A repeat of an applied update is accepted (and not applied twice).
        """
        model = MESSAGE_MODELS[name]
        try:
            message = model.model_validate(payload)
        except ValidationError as error:
            raise ValueError(describe_validation_error(error)) from None
        refused = self.refused_by_rules(message)
        if refused is not None:
            raise ValueError(refused)
        if self.v2:
            if self._check_request_id(name, message.request_id, payload):
                return
        elif self.already_applied(message.request_id):
            return
        if isinstance(message, StateChangeRequest):
            self.validate_state_change(message)
        elif isinstance(message, EscalationAcknowledgement):
            self.validate_acknowledgement(message)

    def _check_request_id(self, name: str, request_id: str | None, payload: Any) -> bool:
        """True for a repeat of an applied message; MessageRejected for a reused id."""
        if request_id is None:
            return False
        seen = self.state.applied_messages.get(_message_key(name, request_id))
        if seen is None:
            # Applied under rules 1, before this order moved on to rules 2: its content
            # was not kept, so any message with that id counts as the repeat.
            return request_id in self._applied
        if seen != _digest(payload):
            raise MessageRejected(
                f"requestId {describe_value(request_id)} already used for a different"
                f" {name} message"
            )
        return True

    def _remember_v2(self, name: str, request_id: str | None, payload: Any) -> None:
        if request_id is None:
            return
        applied = self.state.applied_messages
        applied[_message_key(name, request_id)] = _digest(payload)
        while len(applied) > self.limits.applied_messages:
            del applied[next(iter(applied))]  # the oldest

    def _restore(self, saved: TrackerState) -> None:
        """Put the saved state back into the same objects (callers may hold the order)."""
        for field in PartyOrder.model_fields:
            setattr(self.state.order, field, getattr(saved.order, field))
        for field in TrackerState.model_fields:
            if field != "order":
                setattr(self.state, field, getattr(saved, field))

    def _check_size(self) -> None:
        size = len(self.order.model_dump_json(exclude=set(_TRIMMED_LISTS)))
        if size > ORDER_CHARS_LIMIT:
            raise MessageRejected(
                f"the order would be {size} characters of JSON; at most"
                f" {ORDER_CHARS_LIMIT} are kept (change requests and items are bounded"
                " together)"
            )

    def _apply(self, message: InboundMessage, now: datetime) -> list[Effect]:
        handlers: dict[type, Callable[[Any, datetime], list[Effect]]] = {
            ProgressReport: self.report_progress,
            ChangeRequestMessage: self.request_change,
            ChangeResolution: self.resolve_change,
            CancelRequest: self.cancel,
            CheckInRequest: self.check_in_now,
            StateChangeRequest: self.change_state,
            EscalationAcknowledgement: self.acknowledge_escalation,
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
        limits = self.limits
        order.rejected_message_count += 1
        order.rejected_messages.append(rejected_message(name, payload, error, now, limits))
        # The newest records are kept; the count and the workflow history keep the rest.
        del order.rejected_messages[: -limits.rejected_messages]

    def _require_open(self, what: str) -> None:
        if not is_watched(self.order):
            raise MessageRejected(
                f"order {self.order.id} is {self.order.state}: {what} is no longer accepted"
            )

    # report_progress ------------------------------------------------------------

    def report_progress(self, report: ProgressReport, now: datetime) -> list[Effect]:
        self._require_open("a progress report")
        started = self.order.state == OrderState.ACKNOWLEDGED
        effects = self._report_progress(report, now)
        if self.v4 and started and not self.order.is_final:
            # The party's first report started the work: nobody else would hear of it
            # (a delivery in the same report is told as the completion alone).
            effects.insert(0, self._state_told_to_process(now))
        return effects

    def _report_progress(self, report: ProgressReport, now: datetime) -> list[Effect]:
        order = self.order
        for item in report.milestones or []:
            if order.milestone(item.id) is None:
                raise MessageRejected(f"milestones: unknown milestone {item.id!r}")
            if self.v2 and item.completed_at and item.completed_at > now + COMPLETED_AT_SLACK:
                raise MessageRejected(
                    f"milestones.completedAt: {iso(item.completed_at)} is in the future;"
                    f" a completion must lie before {iso(now + COMPLETED_AT_SLACK)}"
                )
        self._check_item_progress(report.order_items or [])

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
            elif self.v2 and milestone.status == MilestoneStatus.VIOLATED:
                pass  # still not reached: it stays violated (and is not violated again)
            else:
                milestone.status = MilestoneStatus.YET_TO_REACH
                milestone.completed_at = None
        if report.expected_completion_date is not None:
            order.expected_completion_date = report.expected_completion_date
        if report.note is not None:
            order.last_note = report.note
        author = order.party.name if report.source == "party" else "enterprise"
        # A party's own words are its to read again; the enterprise's stay internal.
        visibility: NoteVisibility = "party" if report.source == "party" else "internal"
        if self.v3:
            add_note(order, author, report.note, now, visibility)
            self._apply_item_progress(report.order_items or [], author, now, visibility)
        order.last_progress_at = now
        if report.source == "party":
            self._party_answered(now)
        if report.delivered:
            if self.v3 and order.order_items:
                complete_open_items(order)
                return self._roll_up(now)
            return self._complete(now)
        return self._roll_up(now) if self.v3 else []

    # order items (rules 3) --------------------------------------------------------

    def _check_item_progress(self, reports: list[ItemProgress]) -> None:
        """Refuse, before anything changes, an item report that cannot be applied."""
        seen: set[str] = set()
        for report in reports:
            item = self.order.order_item(report.id)
            if item is None:
                raise MessageRejected(f"orderItems: unknown order item {describe_value(report.id)}")
            if report.id in seen:
                raise MessageRejected(
                    f"orderItems: order item {describe_value(report.id)} is reported twice"
                )
            seen.add(report.id)
            if is_final(item) and report.state is not None and report.state != item.state:
                raise MessageRejected(
                    f"orderItems: order item {describe_value(report.id)} is {item.state}, a final"
                    f" state; it cannot become {report.state}"
                )

    def _apply_item_progress(
        self,
        reports: list[ItemProgress],
        author: str,
        now: datetime,
        visibility: NoteVisibility = "internal",
    ) -> None:
        order = self.order
        for report in reports:
            item = order.order_item(report.id)
            assert item is not None  # checked above
            if report.state is not None:
                item.state = ItemState(report.state)
            if report.percent_complete is not None:
                item.percent_complete = report.percent_complete
            if item.state == ItemState.COMPLETED:
                item.percent_complete = 100
            if report.expected_completion_date is not None:
                item.expected_completion_date = report.expected_completion_date
            if report.note is not None:
                add_note(order, author, f"Order item {item.id}: {report.note}", now, visibility)
        if reports:
            self._derive_percent()

    def _derive_percent(self) -> None:
        """The order's percent complete, from its items (the mean weighted by quantity)."""
        percent = weighted_percent(self.order.order_items)
        if percent is not None:
            self.order.percent_complete = percent

    def _roll_up(self, now: datetime) -> list[Effect]:
        """Rules 3: once every item is final, the order ends as its items say."""
        outcome = roll_up(self.order.order_items)
        if outcome is None or not is_watched(self.order):
            return []
        if outcome in (OrderState.COMPLETED, OrderState.PARTIAL):
            return self._complete(now, outcome)
        if outcome == OrderState.FAILED:
            return self.change_state(
                StateChangeRequest(state="failed", reason="every order item ended, none completed"),
                now,
            )
        return self.cancel(
            CancelRequest(reason="every order item is cancelled", requested_by="order items"),
            now,
        )

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

    def _complete(self, now: datetime, outcome: OrderState = OrderState.COMPLETED) -> list[Effect]:
        """The order is delivered: ``completed``, or (rules 3) ``partial`` when some items
        were cancelled or failed. Either way the close process is informed."""
        order = self.order
        if order.state in (OrderState.PENDING, OrderState.HELD, OrderState.ACKNOWLEDGED):
            self._transition(OrderState.IN_PROGRESS, now, "the party reported delivery")
        partial = outcome == OrderState.PARTIAL
        self._transition(outcome, now, "partly delivered" if partial else "delivered")
        order.percent_complete = 100
        order.completion_date = now
        effects = self._set_jeopardy(self.assess(now), now)
        effects += self._tie_loose_ends(now)
        body: dict[str, Any] = {"completionDate": iso(now)}
        if self.v3 and order.order_items:
            body["state"] = outcome.value
            body["deliveredItems"] = [{"id": item.id} for item in delivered_items(order)]
        subject = f"Order {order.id} " + ("partly completed" if partial else "completed")
        effects.append(self._notify_party("completed", subject, now, body))
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
        return [self._open_change(change_id, message, now)]

    def _open_change(
        self, change_id: str, message: ChangeRequestMessage, now: datetime
    ) -> ForwardChangeRequest:
        """Record a change request and forward it to the originating process."""
        order = self.order
        if self.v2 and len(order.change_requests) >= MAX_CHANGE_REQUESTS:
            raise MessageRejected(
                f"changeRequests: order {order.id} has {len(order.change_requests)} change"
                f" requests; at most {MAX_CHANGE_REQUESTS} are allowed"
            )
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
        return ForwardChangeRequest(notification, change_id)

    def change_forwarded(self, change_request_id: str) -> None:
        """The originating process has the change request (the forwarding activity ended)."""
        change = self.order.change_request(change_request_id)
        if change is not None and change.status == "received":
            change.status = "forwarded"

    def _check_change_targets(self, changes: ChangeSet) -> None:
        if self.v3:
            try:
                check_plan_changes(self.order, changes)
            except ValueError as error:
                raise MessageRejected(str(error)) from None
            self._check_item_changes(changes.order_items or [])
            return
        for item in changes.milestones or []:
            if self.order.milestone(item.id) is None:
                raise MessageRejected(f"changes.milestones: unknown milestone {item.id!r}")

    def _check_item_changes(self, changes: list[OrderItem]) -> None:
        """Rules 3: a change may cancel an open item; an item's progress is reported."""
        for change in changes:
            item = self.order.order_item(change.id)
            if change.state is None:
                continue
            if change.state != ItemState.CANCELLED:
                raise MessageRejected(
                    f"changes.orderItems.state: {describe_value(change.state.value)} cannot be"
                    " agreed by a change; only cancelled can (progress is reported with"
                    " report_progress)"
                )
            if item is None:
                raise MessageRejected(
                    f"changes.orderItems: unknown order item {describe_value(change.id)};"
                    " a new item cannot be added cancelled"
                )
            if is_final(item) and item.state != ItemState.CANCELLED:
                raise MessageRejected(
                    f"changes.orderItems: order item {describe_value(change.id)} is"
                    f" {item.state}, a final state; it cannot be cancelled"
                )

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
        effects: list[Effect] = [
            self._notify_party(
                "changeResolved",
                f"Change request {change.id} on order {order.id} {resolution.decision}",
                now,
                {"changeRequest": change.to_json_dict()},
            )
        ]
        if self.v3:
            author = resolution.resolved_by or order.originating_process.name
            add_note(order, author, resolution.note, now)
            if resolution.decision == "accepted" and change.changes.order_items:
                self._derive_percent()
                effects += self._roll_up(now)  # the last open item may have been cancelled
        accepted = resolution.decision == "accepted" and not order.is_final
        missing = holidays_to_resolve(order) if accepted else None
        if missing is not None:
            effects.append(ResolveHolidays(missing))  # the dates moved past the known holidays
        return effects

    def holidays_resolved(self, request: HolidayRequest, dates: list[date], now: datetime) -> None:
        """The party's country holidays for more years (the answer to ResolveHolidays):
        stored on the calendar, and the next check-in kept off any of them."""
        order = self.order
        add_resolved_holidays(order, request, dates, now)
        calendar = order.party.calendar
        if calendar is not None and order.check_ins.next_at is not None:
            order.check_ins.next_at = next_working_instant(calendar, order.check_ins.next_at)

    def _apply_changes(self, changes: ChangeSet, now: datetime) -> None:
        order = self.order
        if changes.expected_completion_date is not None:
            order.expected_completion_date = changes.expected_completion_date
        if changes.requested_completion_date is not None:
            order.requested_completion_date = changes.requested_completion_date
        if self.v3:
            try:
                apply_plan_changes(order, changes, now)
            except ValueError as error:
                raise MessageRejected(str(error)) from None
        for item in [] if self.v3 else changes.milestones or []:
            milestone = order.milestone(item.id)
            assert milestone is not None and item.milestone_date is not None
            milestone.milestone_date = item.milestone_date
            # A violated milestone given a new, later date is back on plan.
            if milestone.status == MilestoneStatus.VIOLATED and item.milestone_date > now:
                milestone.status = MilestoneStatus.YET_TO_REACH
        for new_item in changes.order_items or []:
            self._upsert_item(new_item)
        if self.v2 and len(order.order_items) > MAX_ORDER_ITEMS:
            raise MessageRejected(
                f"changes.orderItems: the order would have {len(order.order_items)} items;"
                f" at most {MAX_ORDER_ITEMS} are allowed"
            )

    def _upsert_item(self, new_item: OrderItem) -> None:
        items = self.order.order_items
        for index, item in enumerate(items):
            if item.id == new_item.id:
                if self.v2:
                    # Field by field: a change names only what changes. (Rules 1
                    # replaced the whole item, dropping every field not sent again.)
                    merged = {**item.model_dump(), **new_item.model_dump(exclude_unset=True)}
                    items[index] = OrderItem.model_validate(merged)
                else:
                    items[index] = new_item
                return
        if self.v3 and new_item.state is None:
            new_item = new_item.model_copy(update={"state": ItemState.ACKNOWLEDGED})
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
        effects = self._set_jeopardy(self.assess(now), now) + self._tie_loose_ends(now)
        if self.v4:
            # The party was told of the cancellation while it was pending; the process
            # that asked for it hears that it took effect.
            effects.append(self._state_told_to_process(now))
        return effects

    # check_in_now ---------------------------------------------------------------

    def check_in_now(self, request: CheckInRequest, now: datetime) -> list[Effect]:
        self._require_open("a check-in")
        return [self._send_check_in(now, request.requested_by or "enterprise")]

    def _send_check_in(self, now: datetime, requested_by: str) -> Effect:
        order = self.order
        check_ins = order.check_ins
        # An earlier check-in whose window is still open is superseded by this one, not
        # counted as unanswered: the party gets a full window to answer (windows that
        # already ended were counted by advance()). Rules 2 counts it: otherwise daily
        # manual check-ins would keep a silent party from ever being flagged.
        if self.v2 and check_ins.answer_by is not None:
            check_ins.unanswered_streak += 1
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
        check_transition(self.order.state, OrderState(request.state), self.rules)

    def change_state(self, request: StateChangeRequest, now: datetime) -> list[Effect]:
        self.validate_state_change(request)
        order = self.order
        target = OrderState(request.state)
        self._transition(target, now, request.reason)
        if self.v3:
            add_note(order, "enterprise", request.note, now)
        effects: list[Effect] = []
        if target == OrderState.FAILED and self.v2:
            effects += self._fail(request.reason, now)
        elif order.is_final:
            effects += self._set_jeopardy(self.assess(now), now)
        effects.append(
            self._notify_party(
                "stateChanged",
                f"Order {order.id} is now {target}",
                now,
                {"state": target.value, "reason": request.reason},
            )
        )
        return effects

    def _fail(self, reason: str | None, now: datetime) -> list[Effect]:
        """Rules 2: the originating process must re-source; the jeopardy is closed.

        Failing does not get the order out of jeopardy, so nobody is told it is "no
        longer in jeopardy": the episode ends with a ``closed`` alert.
        """
        order = self.order
        jeopardy = order.jeopardy
        if jeopardy.status != JeopardyStatus.NONE:
            self._alert(
                "closed",
                "Jeopardy closed",
                "orderFailed",
                f"Order {order.id} failed while in {jeopardy.status.value} jeopardy",
                now,
            )
        self._end_episode()
        effects: list[Effect] = [
            Notify(
                self._notification(
                    "originatingProcess",
                    order.originating_process.name,
                    "failed",
                    f"Order {order.id} failed",
                    now,
                    {"reason": reason, "reference": order.originating_process.reference},
                )
            )
        ]
        return effects + self._tie_loose_ends(now)

    def _end_episode(self) -> None:
        jeopardy = self.order.jeopardy
        jeopardy.status = JeopardyStatus.NONE
        jeopardy.reasons = []
        jeopardy.critical_causes = []
        jeopardy.since = None
        jeopardy.escalation_level = 0
        jeopardy.cleared_episode = None

    def _tie_loose_ends(self, now: datetime) -> list[Effect]:
        """Rules 2, when an order ends: open change requests are withdrawn (and the
        originating process told), a cleared episode's contacts hear it is over."""
        if not self.v2:
            return []
        order = self.order
        effects: list[Effect] = self._close_cleared_episode(now)
        for change in order.change_requests:
            if not change.open:
                continue
            change.status = "withdrawn"
            change.resolved_at = now
            change.note = f"withdrawn: the order is {order.state}"
            effects.append(
                Notify(
                    self._notification(
                        "originatingProcess",
                        order.originating_process.name,
                        "changeWithdrawn",
                        f"Change request {change.id} on order {order.id} is withdrawn:"
                        f" the order is {order.state}",
                        now,
                        {
                            "changeRequest": change.to_json_dict(),
                            "reference": order.originating_process.reference,
                        },
                    )
                )
            )
        return effects

    def _transition(self, target: OrderState, now: datetime, reason: str | None) -> None:
        order = self.order
        check_transition(order.state, target, self.rules)
        order.state_history.append(
            StateChange(at=now, from_state=order.state, to_state=target, reason=reason)
        )
        order.state = target
        order.state_reason = reason
        follow_state(order, now)  # stop or restart the order's clock (pauseWhile)
        if self.limits.state_history is not None:
            order.state_history[-1].reason = _cut(reason, self.limits.text_chars)
            del order.state_history[: -self.limits.state_history]

    # acknowledge_escalation ------------------------------------------------------

    def validate_acknowledgement(self, message: EscalationAcknowledgement) -> None:
        """Raise MessageRejected unless the level named has been reached."""
        self._require_open("an acknowledgement")
        jeopardy = self.order.jeopardy
        if jeopardy.status == JeopardyStatus.NONE:
            raise MessageRejected(
                f"order {self.order.id} is not in jeopardy: there is no escalation to acknowledge"
            )
        if message.level > jeopardy.escalation_level:
            raise MessageRejected(
                f"level: {message.level} has not been reached; the escalation is at level"
                f" {jeopardy.escalation_level}"
            )

    def acknowledge_escalation(
        self, message: EscalationAcknowledgement, now: datetime
    ) -> list[Effect]:
        """A contact has the escalation in hand: reminders stop until the next worsening."""
        self.validate_acknowledgement(message)
        jeopardy = self.order.jeopardy
        jeopardy.acknowledged_by = message.by
        jeopardy.acknowledged_at = now
        jeopardy.acknowledged_level = message.level
        jeopardy.acknowledged_note = message.note
        if self.v3:
            add_note(self.order, message.by or "escalation contact", message.note, now)
        return []

    # ------------------------------------------------------------------ the passing of time

    def advance(self, now: datetime) -> list[Effect]:
        """Do everything due at ``now``: check-ins, response windows, milestones, jeopardy."""
        order = self.order
        if not is_watched(order):
            return []
        effects: list[Effect] = []
        check_ins = order.check_ins
        # Stop-the-clock: while paused no window runs out and no check-in is due
        # (resuming re-plans both, see pause.follow_state).
        running = not is_paused(order)
        if running and check_ins.answer_by is not None and now >= check_ins.answer_by:
            check_ins.unanswered_streak += 1
            check_ins.awaiting_since = None
            check_ins.answer_by = None
        # Rules 3: the plan's check-ins (checkpoints, and ahead of milestones) come on top
        # of the periodic ones; one check-in asks for all that are due at this instant.
        planned = take_due(order, now) if self.v3 and running else []
        if running and check_ins.next_at is not None and now >= check_ins.next_at:
            effects.append(self._send_check_in(now, "periodic tracking"))
        elif planned:
            effects.append(self._send_check_in(now, "; ".join(p.what for p in planned)))
        if self.v2:
            effects += self._review_forecast(now)
        effects += self._check_milestones(now)
        if not self.v2:
            effects += self._set_jeopardy(self.assess(now), now)  # by rules 1, as it began
            effects += self._escalate(now)
            return effects
        self._worsened = False
        effects += self._set_jeopardy(self.assess(now), now)
        escalated = self._escalate(now)
        effects += escalated
        jeopardy = order.jeopardy
        if self._worsened and not escalated:
            # Every worsening is heard at once, by the contact of the highest level
            # reached in the episode (a new episode: level 1, which _escalate tells
            # when its "after" is zero, as in the default policy).
            effects.append(self._tell_contact("jeopardyWorsened", now))
        elif not escalated:
            reminder = reminder_due(order)
            if reminder is not None and now >= reminder:
                effects.append(self._tell_contact("escalationReminder", now))
        if jeopardy.status == JeopardyStatus.NONE:
            effects += self._close_cleared_episode(now)
        return effects

    def _tell_contact(self, kind: str, now: datetime) -> Effect:
        """Tell the contact of the highest level reached (or level 1) how things stand."""
        order = self.order
        jeopardy = order.jeopardy
        level = self._level_reached()
        jeopardy.last_escalated_at = now
        subject = f"Order {order.id} in {jeopardy.status.value} jeopardy" + (
            ": it got worse" if kind == "jeopardyWorsened" else ": still unresolved"
        )
        return self._notify_contact(
            level.notify if level else order.tracking_policy.order_manager,
            kind,
            subject,
            now,
            {
                "level": level.level if level else 0,
                "reasons": jeopardy.reasons,
                "since": iso(jeopardy.since) if jeopardy.since else None,
            },
        )

    def _level_reached(self) -> EscalationLevel | None:
        levels = self.order.tracking_policy.escalation
        reached = [lvl for lvl in levels if lvl.level <= self.order.jeopardy.escalation_level]
        if reached:
            return reached[-1]
        return levels[0] if levels else None

    def _review_forecast(self, now: datetime) -> list[Effect]:
        """Rules 2: a forecast past the agreed date asks the originating process to agree.

        Opened once per forecast: a rejected request is not asked again until the party
        forecasts another date. Skipped while a change to the agreed date is open.
        """
        order = self.order
        agreed = order.requested_completion_date
        forecast = order.expected_completion_date
        if agreed is None or forecast is None or forecast <= agreed:
            self.state.forecast_reviewed = None
            return []
        if self.state.forecast_reviewed == forecast:
            return []
        self.state.forecast_reviewed = forecast
        if any(c.open and c.changes.requested_completion_date for c in order.change_requests):
            return []
        if len(order.change_requests) >= MAX_CHANGE_REQUESTS:
            return []  # the order stays critical; nothing more can be asked
        message = ChangeRequestMessage(
            origin="party",
            kind="requested",
            reason=f"the party forecasts {iso(forecast)}, later than the agreed date {iso(agreed)}",
            changes=ChangeSet(requested_completion_date=forecast),
        )
        return [self._open_change(self._next_change_request_id(), message, now)]

    def _check_milestones(self, now: datetime) -> list[Effect]:
        """Mark the milestones whose date has come as violated: a JeopardyAlert each, and
        notices to the party and the order manager (rules 2: one notice to each listing
        every milestone violated at this instant, however many)."""
        order = self.order
        violated: list[tuple[Milestone, datetime, str]] = []
        for milestone in order.milestones:
            when = milestone.milestone_date
            if milestone.status != MilestoneStatus.YET_TO_REACH or when is None or now < when:
                continue
            milestone.status = MilestoneStatus.VIOLATED
            if self.v2:
                if milestone.violated_date == when:
                    continue  # this date's violation was announced already
                milestone.violated_date = when
            text = (
                f"Milestone {milestone.id} ({milestone.name or milestone.id})"
                f" due {iso(when)} was not completed"
            )
            self._alert(
                "critical", f"Milestone {milestone.id} violated", "milestoneViolated", text, now
            )
            violated.append((milestone, when, text))
        if not self.v2:
            return [
                effect
                for milestone, when, text in violated
                for effect in self._milestone_notices(
                    text, now, {"milestoneId": milestone.id, "milestoneDate": iso(when)}
                )
            ]
        if not violated:
            return []
        first, first_date, text = violated[0]
        if len(violated) > 1:
            ids = ", ".join(milestone.id for milestone, _, _ in violated)
            text = f"{len(violated)} milestones were not completed by their dates: {ids}"
        body = {
            "milestoneId": first.id,
            "milestoneDate": iso(first_date),
            "milestones": [
                {"milestoneId": milestone.id, "milestoneDate": iso(when)}
                for milestone, when, _ in violated
            ],
        }
        return self._milestone_notices(text, now, body)

    def _milestone_notices(self, text: str, now: datetime, body: dict[str, Any]) -> list[Effect]:
        manager = self.order.tracking_policy.order_manager
        return [
            self._notify_party("milestoneViolated", text, now, body),
            self._notify_contact(manager, "milestoneViolated", text, now, body),
        ]

    def _set_jeopardy(self, assessment: Assessment, now: datetime) -> list[Effect]:
        """Record a change of jeopardy as a JeopardyAlert; end the episode when it clears."""
        if self.v2:
            return self._set_jeopardy_v2(assessment, now)
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

    def _set_jeopardy_v2(self, assessment: Assessment, now: datetime) -> list[Effect]:
        """Rules 2: every worsening is an alert (advance() tells a contact at once).

        A worsening is ``none`` to ``hazard``, ``hazard`` to ``critical``, or a critical
        reason that was not there before. A jeopardy that clears is remembered for
        ``reopenWithin``: if it returns by then, its episode goes on at the level reached,
        so a flapping order still climbs; the contacts hear that it is over only once it
        can no longer return (or the order ends).
        """
        order = self.order
        jeopardy = order.jeopardy
        previous = jeopardy.status
        new_causes = [c for c in assessment.critical_causes if c not in jeopardy.critical_causes]
        jeopardy.reasons = list(assessment.reasons)
        jeopardy.critical_causes = list(assessment.critical_causes)
        jeopardy.status = assessment.status
        if assessment.status == JeopardyStatus.NONE:
            if previous != JeopardyStatus.NONE:
                self._alert(
                    "cleared",
                    "Jeopardy cleared",
                    "none",
                    f"Order {order.id} is no longer in jeopardy",
                    now,
                )
                assert jeopardy.since is not None
                jeopardy.cleared_episode = ClearedEpisode(
                    since=jeopardy.since,
                    escalation_level=jeopardy.escalation_level,
                    cleared_at=now,
                    acknowledged_by=jeopardy.acknowledged_by,
                    acknowledged_at=jeopardy.acknowledged_at,
                    acknowledged_level=jeopardy.acknowledged_level,
                )
                jeopardy.since = None
                jeopardy.escalation_level = 0
                if not is_watched(order):
                    return self._close_cleared_episode(now)
            return []
        worse = RANK[assessment.status] > RANK[previous] or bool(new_causes)
        if not worse:
            return []
        if previous == JeopardyStatus.NONE:
            self._begin_episode(now)
        jeopardy.worsened_at = now
        self._worsened = True
        self._alert(
            "critical" if assessment.status == JeopardyStatus.CRITICAL else "hazard",
            f"Order {assessment.status.value}",
            assessment.reasons[0] if assessment.reasons else "",
            "; ".join(assessment.reasons),
            now,
            assessment.order_items,
        )
        return []

    def _begin_episode(self, now: datetime) -> None:
        """A new episode, or the last one again if it cleared within ``reopenWithin``."""
        jeopardy = self.order.jeopardy
        cleared = jeopardy.cleared_episode
        over_at = episode_over_at(self.order)
        jeopardy.cleared_episode = None
        if cleared is not None and over_at is not None and now < over_at:
            jeopardy.since = cleared.since
            jeopardy.escalation_level = cleared.escalation_level
            jeopardy.acknowledged_by = cleared.acknowledged_by
            jeopardy.acknowledged_at = cleared.acknowledged_at
            jeopardy.acknowledged_level = cleared.acknowledged_level
            return
        jeopardy.since = now  # a new episode: escalation starts over
        jeopardy.escalation_level = 0
        jeopardy.last_escalated_at = None
        jeopardy.acknowledged_by = None
        jeopardy.acknowledged_at = None
        jeopardy.acknowledged_level = None
        jeopardy.acknowledged_note = None

    def _close_cleared_episode(self, now: datetime) -> list[Effect]:
        """The cleared episode is over: each contact escalated to hears it."""
        order = self.order
        cleared = order.jeopardy.cleared_episode
        over_at = episode_over_at(order)
        if cleared is None or over_at is None or (is_watched(order) and now < over_at):
            return []
        order.jeopardy.cleared_episode = None
        return [
            self._notify_contact(
                level.notify,
                "deEscalation",
                f"Order {order.id} is no longer in jeopardy",
                now,
                {"level": level.level, "state": order.state.value},
            )
            for level in order.tracking_policy.escalation
            if level.level <= cleared.escalation_level
        ]

    def _escalate(self, now: datetime) -> list[Effect]:
        jeopardy = self.order.jeopardy
        if jeopardy.status == JeopardyStatus.NONE or jeopardy.since is None:
            return []
        effects: list[Effect] = []
        for level in self.order.tracking_policy.escalation:
            if level.level <= jeopardy.escalation_level:
                continue
            if active_time(self.order, jeopardy.since, now) < level.after:
                continue  # "after" counts the order's clock (paused time excluded)
            jeopardy.escalation_level = level.level
            if self.v2:
                jeopardy.last_escalated_at = now
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
        jeopardy_type: Literal["hazard", "critical", "cleared", "closed"],
        name: str,
        exception: str,
        message: str,
        now: datetime,
        order_items: tuple[str, ...] = (),
    ) -> None:
        order = self.order
        alerts = order.jeopardy_alerts
        if self.v2:
            # Numbered by the count of all alerts, so ids stay unique once old ones go.
            order.jeopardy_alert_count = max(order.jeopardy_alert_count, len(alerts)) + 1
            number = order.jeopardy_alert_count
            message = _cut(message, 2 * (self.limits.text_chars or 0)) or ""
            exception = _cut(exception, self.limits.text_chars) or ""
        else:
            number = len(alerts) + 1
        alerts.append(
            JeopardyAlert(
                id=f"{order.id}-JA-{number}",
                name=name,
                alert_date=now,
                jeopardy_type=jeopardy_type,
                exception=exception,
                message=message,
                order_item=[OrderItemRef(id=i) for i in order_items] if order_items else None,
            )
        )
        if self.limits.jeopardy_alerts is not None:
            del alerts[: -self.limits.jeopardy_alerts]

    # ------------------------------------------------------------------ delivery outcomes

    def delivery_failed(self, notification: Notification, error: str, now: datetime) -> None:
        """A notification gave up after its retries: keep a record, the order goes on."""
        limits = self.limits
        self.order.delivery_failures.append(
            DeliveryFailure(
                at=now,
                recipient=_cut(notification.recipient, limits.text_chars) or "",
                kind=notification.kind,
                error=_cut(error, limits.text_chars) or "",
            )
        )
        del self.order.delivery_failures[: -limits.delivery_failures]

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
        """A notification numbered in this tracking's sequence (its idempotency key).

        Its order summary says the jeopardy as it stands at ``now``: a notice made on a
        wake-up before the jeopardy is re-assessed (a milestone just violated) must not
        report the status of the previous one.
        """
        jeopardy = self.assess(now).status if is_watched(self.order) else None
        return notification_about(
            self.order,
            self._new_id(kind),
            recipient_kind,
            recipient,
            kind,
            subject,
            now,
            body,
            jeopardy,
        )

    def _state_told_to_process(self, now: datetime) -> Notify:
        """Rules 4: a ``stateChanged`` notice to the originating process, for a state change
        that no other notice carries (the hub's PartyOrderStateChangeEvent comes from it)."""
        order = self.order
        return Notify(
            self._notification(
                "originatingProcess",
                order.originating_process.name,
                "stateChanged",
                f"Order {order.id} is now {order.state}",
                now,
                {
                    "state": order.state.value,
                    "reason": order.state_reason,
                    "reference": order.originating_process.reference,
                },
            )
        )

    def _notify_party(self, kind: str, subject: str, now: datetime, body: dict[str, Any]) -> Notify:
        return Notify(self._notification("party", self.order.party.id, kind, subject, now, body))

    def _notify_contact(
        self, contact: str, kind: str, subject: str, now: datetime, body: dict[str, Any]
    ) -> Notify:
        return Notify(self._notification("contact", contact, kind, subject, now, body))


def _message_key(name: str, request_id: str) -> str:
    return f"{name}/{request_id}"


def _digest(payload: Any) -> str:
    """A short fingerprint of a payload: the same JSON, in any key order, gives the same."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _check_start(spec: PartyOrderSpec, now: datetime) -> None:
    """Rules 2: what a start input must satisfy across its fields."""
    dates = [
        (name, date)
        for name, date in (
            ("requestedCompletionDate", spec.requested_completion_date),
            ("expectedCompletionDate", spec.expected_completion_date),
        )
        if date is not None
    ]
    if spec.order_date is not None:
        for name, date in dates:
            if spec.order_date > date:
                raise ValueError(
                    f"orderDate: {iso(spec.order_date)} is after {name} {iso(date)};"
                    " an order is placed before it is due"
                )
    _unique("orderItems", [item.id for item in spec.order_items])
    for milestone in spec.milestones:
        if milestone.completed_at and milestone.completed_at > now + COMPLETED_AT_SLACK:
            raise ValueError(
                f"milestones.completedAt: {iso(milestone.completed_at)} (milestone"
                f" {milestone.id}) is in the future; a completion must lie before"
                f" {iso(now + COMPLETED_AT_SLACK)}"
            )
    size = len(spec.model_dump_json())
    if size > START_INPUT_CHARS_LIMIT:
        raise ValueError(
            f"the order is {size} characters of JSON; at most {START_INPUT_CHARS_LIMIT}"
            " are accepted"
        )


def _refuse_rules_3_start_fields(spec: PartyOrderSpec) -> None:
    """Rules 1 and 2: a start input with fields their models did not know is invalid (as
    it was then: such an order failed at start, and must on replay)."""
    if spec.checkpoints:
        raise ValueError("checkpoints: Extra inputs are not permitted")
    if spec.tracking_policy.check_in_before_milestone is not None:
        raise ValueError("trackingPolicy.checkInBeforeMilestone: Extra inputs are not permitted")
    for milestone in spec.milestones:
        if milestone.order_item_ids is not None or milestone.check_in_asked_for is not None:
            raise ValueError(
                f"milestones: milestone {milestone.id}: Extra inputs are not permitted"
            )


def _check_start_v3(spec: PartyOrderSpec) -> None:
    """Rules 3: items, milestones and checkpoints that fit together."""
    _unique("checkpoints", [checkpoint.id for checkpoint in spec.checkpoints])
    item_ids = {item.id for item in spec.order_items}
    for milestone in spec.milestones:
        for item_id in milestone.order_item_ids or []:
            if item_id not in item_ids:
                raise ValueError(
                    f"milestones.orderItemIds: milestone {milestone.id} names unknown order"
                    f" item {describe_value(item_id)}"
                )
    if spec.order_items and all(is_final(item) for item in spec.order_items):
        raise ValueError("orderItems: every item is already final; there is nothing to track")


def _unknown_before_rules_3(message: InboundMessage) -> str | None:
    """What a message carries that the models of rules 1 and 2 refused, if anything."""
    if isinstance(message, ProgressReport) and message.order_items is not None:
        return "orderItems: Extra inputs are not permitted"
    if isinstance(message, StateChangeRequest) and message.note is not None:
        return "note: Extra inputs are not permitted"
    if isinstance(message, ChangeRequestMessage):
        return pre_rules_3_fields(message.changes)
    return None


def _unique(field: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for item_id in ids:
        if item_id in seen:
            raise ValueError(f"{field}: id {describe_value(item_id)} appears twice")
        seen.add(item_id)
