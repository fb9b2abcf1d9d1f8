"""The party order as the tracker holds it: plain pydantic data, no Temporal, no clock.

Field names are snake_case in Python and camelCase on the wire (as in the TMF APIs).
Date-times must carry an offset; durations are ISO 8601 (``P7D``, ``PT36H``).
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from workflows.domain.calendar import PartyCalendar
from workflows.domain.wire import WireModel

ORDER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_ORDER_ID_RE = re.compile(ORDER_ID_PATTERN)

TRACK_WORKFLOW_ID_PREFIX = "party-order-"
CLOSE_WORKFLOW_ID_PREFIX = "close-party-order-"


def track_workflow_id(order_id: str) -> str:
    return f"{TRACK_WORKFLOW_ID_PREFIX}{order_id}"


def close_workflow_id(order_id: str) -> str:
    return f"{CLOSE_WORKFLOW_ID_PREFIX}{order_id}"


def check_order_id(order_id: str) -> str:
    """Return the id unchanged, or raise ValueError naming the rule it breaks."""
    if not _ORDER_ID_RE.fullmatch(order_id):  # match() would let a trailing "\n" through
        raise ValueError(
            f"order id {order_id!r} is invalid: use 1 to 64 letters, digits, '.', '_' or '-',"
            " starting with a letter or digit"
        )
    return order_id


class OrderState(StrEnum):
    """TMF622 order states used by the tracker."""

    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "inProgress"
    PENDING = "pending"
    HELD = "held"
    PENDING_CANCELLATION = "pendingCancellation"
    CANCELLED = "cancelled"
    COMPLETED = "completed"
    FAILED = "failed"


FINAL_STATES = frozenset({OrderState.CANCELLED, OrderState.COMPLETED, OrderState.FAILED})


class JeopardyStatus(StrEnum):
    NONE = "none"
    HAZARD = "hazard"
    CRITICAL = "critical"


class MilestoneStatus(StrEnum):
    YET_TO_REACH = "yetToReach"
    COMPLETED = "completed"
    VIOLATED = "violated"


NonEmptyStr = Annotated[str, Field(min_length=1, max_length=1000)]
# Bounds that keep every date computation (a date minus a lead time, now plus an interval)
# inside what datetime can hold (years 1 to 9999): a date-time given from outside lies in
# years 1900 to 8999, a policy duration is at most 100 years. Past them, a single message
# would make the workflow's deadline arithmetic raise OverflowError on every replay.
EARLIEST_INSTANT = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_INSTANT = datetime(9000, 1, 1, tzinfo=UTC)
MAX_DURATION = timedelta(days=36_500)


def _in_range(value: datetime) -> datetime:
    if not EARLIEST_INSTANT <= value < LATEST_INSTANT:
        raise ValueError("date-time must lie in the years 1900 to 8999")
    return value


Instant = Annotated[AwareDatetime, AfterValidator(_in_range)]
NonNegativeDuration = Annotated[timedelta, Field(ge=timedelta(0), le=MAX_DURATION)]
PositiveDuration = Annotated[timedelta, Field(gt=timedelta(0), le=MAX_DURATION)]


# ---------------------------------------------------------------- the order's parts


class Party(WireModel):
    id: NonEmptyStr
    name: NonEmptyStr
    role: Literal["customer", "supplier", "partner"] = "supplier"
    contact_email: str | None = None
    webhook_url: str | None = None
    # When the party works: check-ins go out in its working time, and the response window
    # counts working time only. Without one, every instant counts.
    calendar: PartyCalendar | None = None

    @field_validator("webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("webhookUrl must be an http:// or https:// URL")
        return value


class OriginatingProcess(WireModel):
    """The business process that placed the order and resolves its change requests."""

    name: NonEmptyStr = "party-order-handling"
    reference: str | None = None


class OrderItem(WireModel):
    model_config = ConfigDict(extra="allow")  # TMF order items carry many optional fields

    id: NonEmptyStr
    description: str | None = None
    quantity: Annotated[int, Field(ge=1)] = 1


class Milestone(WireModel):
    id: NonEmptyStr
    name: str | None = None
    description: str | None = None
    milestone_date: Instant | None = None
    status: MilestoneStatus = MilestoneStatus.YET_TO_REACH
    completed_at: Instant | None = None


class EscalationLevel(WireModel):
    level: Annotated[int, Field(ge=1)]
    after: NonNegativeDuration
    notify: NonEmptyStr


def _default_escalation() -> list[EscalationLevel]:
    return [
        EscalationLevel(level=1, after=timedelta(0), notify="order-manager"),
        EscalationLevel(level=2, after=timedelta(days=1), notify="operations-lead"),
        EscalationLevel(level=3, after=timedelta(days=3), notify="executive-sponsor"),
    ]


class TrackingPolicy(WireModel):
    """How an order is watched. Every field has the documented default."""

    check_in_interval: PositiveDuration = timedelta(days=7)
    response_window: PositiveDuration = timedelta(days=2)
    unanswered_check_in_limit: Annotated[int, Field(ge=1)] = 2
    warning_lead_time: NonNegativeDuration = timedelta(days=3)
    change_resolution_window: PositiveDuration = timedelta(days=2)
    # Percentage points by which percentComplete may trail the elapsed share of the
    # schedule before the order counts as behind plan (a "hazard region", as in TIBCO OM).
    behind_plan_tolerance: Annotated[int, Field(ge=0, le=100)] = 25
    # Who hears of violated milestones besides the party.
    order_manager: NonEmptyStr = "order-manager"
    escalation: list[EscalationLevel] = Field(default_factory=_default_escalation)

    @model_validator(mode="after")
    def _window_fits_interval(self) -> TrackingPolicy:
        # A check-in must be answered or counted before the next one goes out.
        if self.response_window > self.check_in_interval:
            raise ValueError("responseWindow must not be longer than checkInInterval")
        return self

    @field_validator("escalation")
    @classmethod
    def _levels_in_turn(cls, levels: list[EscalationLevel]) -> list[EscalationLevel]:
        for earlier, later in itertools.pairwise(levels):
            if later.level <= earlier.level:
                raise ValueError("escalation levels must be listed in increasing level order")
            if later.after < earlier.after:
                raise ValueError(
                    f"escalation level {later.level} fires before level {earlier.level}:"
                    " 'after' must not decrease"
                )
        return levels


class Jeopardy(WireModel):
    status: JeopardyStatus = JeopardyStatus.NONE
    since: AwareDatetime | None = None
    reasons: list[str] = Field(default_factory=list)
    escalation_level: Annotated[int, Field(ge=0)] = 0


class JeopardyAlert(WireModel):
    """A TMF JeopardyAlert record: one per change of jeopardy, or violated milestone."""

    id: str
    name: str
    alert_date: AwareDatetime
    jeopardy_type: Literal["hazard", "critical", "cleared"]
    exception: str
    message: str


class ChangeSet(WireModel):
    expected_completion_date: Instant | None = None
    requested_completion_date: Instant | None = None
    milestones: list[MilestoneDateChange] | None = None
    order_items: list[OrderItem] | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> ChangeSet:
        if (
            self.expected_completion_date is None
            and self.requested_completion_date is None
            and not self.milestones
            and not self.order_items
        ):
            raise ValueError("changes must name at least one field to change")
        return self


class MilestoneDateChange(WireModel):
    id: NonEmptyStr
    milestone_date: Instant


class ChangeRequest(WireModel):
    id: str
    origin: Literal["party", "enterprise", "external"]
    kind: Literal["requested", "forced"]
    reason: str | None = None
    changes: ChangeSet
    status: Literal["received", "forwarded", "accepted", "rejected"] = "received"
    received_at: AwareDatetime
    resolved_at: AwareDatetime | None = None
    resolved_by: str | None = None
    note: str | None = None

    @property
    def open(self) -> bool:
        return self.status in ("received", "forwarded")


RESPONSE_TIMES_KEPT = 100


class CheckIns(WireModel):
    sent: int = 0
    unanswered_streak: int = 0
    next_at: AwareDatetime | None = None
    # The check-in still waiting for the party's answer, if any, and its deadline.
    awaiting_since: AwareDatetime | None = None
    answer_by: AwareDatetime | None = None
    # Check-ins the party answered within their window, and how long the newest answers
    # took in seconds (at most RESPONSE_TIMES_KEPT): what a supplier scorecard reads.
    answered: int = 0
    response_seconds: list[int] = Field(default_factory=list)


class Cancellation(WireModel):
    reason: str | None = None
    requested_by: str | None = None
    cancellation_date: AwareDatetime | None = None


class RejectedMessage(WireModel):
    received_at: AwareDatetime
    message: str  # the message name, e.g. "report_progress"
    request_id: str | None = None
    error: str
    payload: str | None = None  # the payload as received (JSON text, cut at 2,000 characters)


class StateChange(WireModel):
    at: AwareDatetime
    from_state: OrderState | None = Field(default=None, alias="from")
    to_state: OrderState = Field(alias="to")
    reason: str | None = None


class DeliveryFailure(WireModel):
    """A notification that could not be delivered after all retries (the order goes on)."""

    at: AwareDatetime
    recipient: str
    kind: str
    error: str


# ---------------------------------------------------------------- the order


class PartyOrderSpec(WireModel):
    """The start input of TrackPartyOrder: what the enterprise knows when tracking starts."""

    id: Annotated[str, Field(min_length=1, max_length=64)]
    description: str | None = None
    party: Party
    originating_process: OriginatingProcess = Field(default_factory=OriginatingProcess)
    order_items: list[OrderItem] = Field(default_factory=list)
    order_date: Instant | None = None
    requested_completion_date: Instant | None = None
    expected_completion_date: Instant | None = None
    milestones: list[Milestone] = Field(default_factory=list)
    tracking_policy: TrackingPolicy = Field(default_factory=TrackingPolicy)

    @property
    def due_date(self) -> datetime:
        """The date the order is measured against: expected, else requested completion."""
        due = self.expected_completion_date or self.requested_completion_date
        assert due is not None  # guaranteed by the validation below
        return due

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        return check_order_id(value)

    @model_validator(mode="after")
    def _sound(self) -> PartyOrderSpec:
        if self.requested_completion_date is None and self.expected_completion_date is None:
            raise ValueError("one of requestedCompletionDate or expectedCompletionDate is required")
        seen: set[str] = set()
        for milestone in self.milestones:
            if milestone.id in seen:
                raise ValueError(f"milestones: id {milestone.id!r} appears twice")
            seen.add(milestone.id)
        return self


class PartyOrder(PartyOrderSpec):
    """The order as read back with ``get_order``: the start input plus what tracking learned."""

    # Read-back documents may carry more than a start input; keep them tolerant.
    model_config = ConfigDict(extra="ignore")

    # The first run id of this tracking (stable across continue-as-new): it tells apart
    # two trackings of one order id, so their notification keys never collide.
    tracking_id: str | None = None
    state: OrderState = OrderState.ACKNOWLEDGED
    state_reason: str | None = None
    percent_complete: Annotated[int, Field(ge=0, le=100)] = 0
    last_progress_at: AwareDatetime | None = None
    last_note: str | None = None
    completion_date: AwareDatetime | None = None
    jeopardy: Jeopardy = Field(default_factory=Jeopardy)
    jeopardy_alerts: list[JeopardyAlert] = Field(default_factory=list)
    change_requests: list[ChangeRequest] = Field(default_factory=list)
    check_ins: CheckIns = Field(default_factory=CheckIns)
    cancellation: Cancellation | None = None
    rejected_messages: list[RejectedMessage] = Field(default_factory=list)
    rejected_message_count: int = 0
    state_history: list[StateChange] = Field(default_factory=list)
    delivery_failures: list[DeliveryFailure] = Field(default_factory=list)

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES

    def milestone(self, milestone_id: str) -> Milestone | None:
        return next((m for m in self.milestones if m.id == milestone_id), None)

    def change_request(self, change_request_id: str) -> ChangeRequest | None:
        return next((c for c in self.change_requests if c.id == change_request_id), None)


ChangeSet.model_rebuild()
