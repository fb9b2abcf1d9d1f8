"""The party order as the tracker holds it: plain pydantic data, no Temporal, no clock.

Field names are snake_case in Python and camelCase on the wire (as in the TMF APIs).
Date-times must carry an offset; durations are ISO 8601 (``P7D``, ``PT36H``).
"""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic.alias_generators import to_camel

from workflows.domain.bounds import (
    EARLIEST_INSTANT,
    LATEST_INSTANT,
    MAX_CHECKPOINTS,
    MAX_DURATION,
    MAX_ITEM_CHARS,
    MAX_ITEMS_PER_CHANGE,
    MAX_MILESTONES,
    MAX_ORDER_ITEMS,
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
    # Rules 3: some items completed, the rest cancelled or failed (a final TMF622 state).
    PARTIAL = "partial"


FINAL_STATES = frozenset(
    {OrderState.CANCELLED, OrderState.COMPLETED, OrderState.FAILED, OrderState.PARTIAL}
)


class ItemState(StrEnum):
    """TMF622 order item states (rules 3: items are tracked one by one)."""

    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "inProgress"
    PENDING = "pending"
    HELD = "held"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"


FINAL_ITEM_STATES = frozenset({ItemState.COMPLETED, ItemState.CANCELLED, ItemState.FAILED})


class JeopardyStatus(StrEnum):
    NONE = "none"
    HAZARD = "hazard"
    CRITICAL = "critical"


class MilestoneStatus(StrEnum):
    YET_TO_REACH = "yetToReach"
    COMPLETED = "completed"
    VIOLATED = "violated"


NonEmptyStr = Annotated[str, Field(min_length=1, max_length=1000)]
# Every string a message can put into the order is bounded, so that the state carried by
# continue-as-new stays well under Temporal's 2 MB payload limit (workflows/domain/bounds.py;
# docs/contract.md, "Bounds").
ShortText = Annotated[str, Field(max_length=1000)]
LongText = Annotated[str, Field(max_length=4000)]


def _in_range(value: datetime) -> datetime:
    if not EARLIEST_INSTANT <= value < LATEST_INSTANT:
        raise ValueError("date-time must lie in the years 1900 to 8999")
    return value


Instant = Annotated[AwareDatetime, AfterValidator(_in_range)]
NonNegativeDuration = Annotated[timedelta, Field(ge=timedelta(0), le=MAX_DURATION)]
PositiveDuration = Annotated[timedelta, Field(gt=timedelta(0), le=MAX_DURATION)]


# ---------------------------------------------------------------- the order's parts


class QuietWhenUnset(WireModel):
    """A model whose rules-3 fields are left out of its JSON while they are unset, so an
    order that started before rules 3 reads back exactly as it did."""

    _quiet_fields: ClassVar[tuple[str, ...]] = ()

    @model_serializer(mode="wrap")
    def _drop_unset_new_fields(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for field in self._quiet_fields:
            for key in (field, to_camel(field)):
                if key in data and data[key] is None:
                    del data[key]
        return data


def _unset(value: object) -> bool:
    """A field added after orders were tracked is left out of the JSON while unset
    (``exclude_if``), so that an order without it reads back exactly as it did. Unlike
    ``QuietWhenUnset`` it keeps the model's JSON schema (the party view's, the API's)."""
    return value is None


# The states an order may be paused in: those in which it waits on purpose (pause.py).
PausableState = Literal["pending", "held"]


class Pause(WireModel):
    """One stretch of time the order's clock stood still (a TMF TimePeriod, with why)."""

    state: PausableState
    start_date_time: AwareDatetime
    end_date_time: AwareDatetime | None = None  # None while the pause runs


# A credentials name: the suffix of the variables that hold the secret
# (``PARTY_ORDERS_SECRET_<NAME>``), so letters, digits and underscores only.
CREDENTIALS_NAME_PATTERN = r"^[A-Za-z0-9_]{1,64}$"


class PartyConnector(WireModel):
    """``party.connector``: the party's own ordering system, which a check-in asks
    (docs/connectors.md). It names its secret; the secret itself is read by the worker
    and the API, and never enters the order or its history."""

    protocol: Literal["mef-sonata-v10", "tmf622-v5"]
    base_url: Annotated[str, Field(min_length=1, max_length=1000)]
    credentials: Annotated[str, Field(pattern=CREDENTIALS_NAME_PATTERN)] | None = None
    subscribe: bool = False

    @field_validator("base_url")
    @classmethod
    def _http_base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("baseUrl must be an http:// or https:// URL")
        return value.rstrip("/")


class Party(WireModel):
    id: NonEmptyStr
    name: NonEmptyStr
    role: Literal["customer", "supplier", "partner"] = "supplier"
    contact_email: ShortText | None = None
    webhook_url: ShortText | None = None
    # When the party works: check-ins go out in its working time, and the response window
    # counts working time only. Without one, every instant counts.
    calendar: PartyCalendar | None = None
    # The party's own ordering system, which check-ins ask (docs/connectors.md). Left out
    # of the JSON while unset, so that an order without one reads back as it always did.
    connector: PartyConnector | None = Field(default=None, exclude_if=_unset)

    @field_validator("webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("webhookUrl must be an http:// or https:// URL")
        return value


class OriginatingProcess(WireModel):
    """The business process that placed the order and resolves its change requests."""

    name: NonEmptyStr = "party-order-handling"
    reference: ShortText | None = None


class OrderItem(QuietWhenUnset):
    model_config = ConfigDict(extra="allow")  # TMF order items carry many optional fields
    _quiet_fields = ("state", "percent_complete", "expected_completion_date", "external_id")

    id: NonEmptyStr
    # The party's own id of the item, where its ordering system numbers items itself
    # (a connector's answer names items by it; docs/connectors.md).
    external_id: ShortText | None = None
    description: LongText | None = None
    quantity: Annotated[int, Field(ge=1)] = 1
    # Rules 3: each item is tracked (see workflows/domain/items.py). ``None`` on the
    # items of an order that started before: they read as before.
    state: ItemState | None = None
    percent_complete: Annotated[int, Field(ge=0, le=100)] | None = None
    expected_completion_date: Instant | None = None

    @model_validator(mode="after")
    def _bounded(self) -> OrderItem:
        # Extra TMF fields are free-form JSON: bound the item as a whole, as its sender
        # gave it. The fields the tracker keeps up to date (its state, progress and
        # forecast) are bounded by their types and left out: an item valid at start must
        # stay valid once tracked, read back and carried over continue-as-new.
        check_item_chars(self, tracked=False)
        return self


# What the tracker writes into an order item; each is bounded by its type.
TRACKED_ITEM_FIELDS = frozenset({"state", "percent_complete", "expected_completion_date"})


def check_item_chars(item: OrderItem, tracked: bool) -> None:
    """Raise ValueError for an item past MAX_ITEM_CHARS of JSON, measured with the
    tracked fields (``tracked``: as rules 1 to 4 measured it) or without them."""
    size = len(item.model_dump_json(exclude=None if tracked else set(TRACKED_ITEM_FIELDS)))
    if size > MAX_ITEM_CHARS:
        raise ValueError(
            f"order item {item.id} is {size} characters of JSON;"
            f" at most {MAX_ITEM_CHARS} are allowed"
        )


class Milestone(QuietWhenUnset):
    _quiet_fields = ("order_item_ids", "check_in_asked_for")

    id: NonEmptyStr
    name: ShortText | None = None
    description: LongText | None = None
    milestone_date: Instant | None = None
    status: MilestoneStatus = MilestoneStatus.YET_TO_REACH
    completed_at: Instant | None = None
    # The milestoneDate whose violation was announced (rules 2): a milestone is violated
    # once per date, however often its status is re-sent.
    violated_date: AwareDatetime | None = None
    # Rules 3: the items this milestone is about (they must be items of the order).
    order_item_ids: Annotated[list[NonEmptyStr], Field(max_length=MAX_ORDER_ITEMS)] | None = None
    # Rules 3: the milestoneDate for which the party was asked for progress
    # ``checkInBeforeMilestone`` ahead; a moved date is asked for again.
    check_in_asked_for: AwareDatetime | None = None


class Checkpoint(WireModel):
    """Rules 3: a point of the project plan at which the party is asked for progress."""

    id: NonEmptyStr
    name: ShortText | None = None
    date: Instant
    # The date the check-in went out for, and when: a moved date is asked for again.
    asked_for: AwareDatetime | None = None
    asked_at: AwareDatetime | None = None


NoteVisibility = Literal["internal", "party"]
"""Who may read a note: ``internal`` (the enterprise only: processes and managers), or
``party`` (the party too). A note without one, as every note before it existed, is
internal: a party never sees what it was not meant to."""


class Note(WireModel):
    """A TMF Note: a text sent with a message, kept with who wrote it and when."""

    id: str
    author: str
    date: AwareDatetime
    text: str
    visibility: NoteVisibility = "internal"


class OrderItemRef(WireModel):
    """A reference to an order item, as TMF JeopardyAlerts carry them."""

    id: str


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
    escalation: Annotated[list[EscalationLevel], Field(max_length=20)] = Field(
        default_factory=_default_escalation
    )
    # Rules 2: with every level fired, the top contact is reminded this often until the
    # jeopardy clears or is acknowledged.
    escalation_repeat_interval: PositiveDuration = timedelta(days=1)
    # Rules 2: a jeopardy that returns within this long after clearing continues its
    # episode at the level it had reached.
    reopen_within: NonNegativeDuration = timedelta(days=1)
    # Stop-the-clock (workflows/domain/pause.py): the states in which check-ins, the
    # unanswered count, behind-plan and escalation stand still. None by default.
    pause_while: Annotated[list[PausableState], Field(max_length=2)] = Field(default_factory=list)
    # Rules 3: ask the party for progress this long before each open milestone (on top
    # of the periodic check-ins). None: no such check-ins.
    check_in_before_milestone: PositiveDuration | None = None

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


class ClearedEpisode(WireModel):
    """A jeopardy episode that cleared, kept for ``reopenWithin`` in case it returns."""

    since: AwareDatetime
    escalation_level: int
    cleared_at: AwareDatetime
    acknowledged_by: str | None = None
    acknowledged_at: AwareDatetime | None = None
    acknowledged_level: int | None = None


class Jeopardy(WireModel):
    status: JeopardyStatus = JeopardyStatus.NONE
    since: AwareDatetime | None = None
    reasons: list[str] = Field(default_factory=list)
    escalation_level: Annotated[int, Field(ge=0)] = 0
    # Rules 2 (escalation never goes silent):
    # stable names of the critical reasons, so that a new one is told apart from a
    # reason whose wording changed (say, a longer unanswered streak);
    critical_causes: list[str] = Field(default_factory=list)
    worsened_at: AwareDatetime | None = None  # the last worsening of this episode
    last_escalated_at: AwareDatetime | None = None  # the last word to a contact
    acknowledged_by: str | None = None
    acknowledged_at: AwareDatetime | None = None
    acknowledged_level: int | None = None
    acknowledged_note: str | None = None
    # The episode that cleared last, while it may still come back (``reopenWithin``).
    cleared_episode: ClearedEpisode | None = None


class JeopardyAlert(QuietWhenUnset):
    """A TMF JeopardyAlert record: one per change of jeopardy, or violated milestone."""

    _quiet_fields = ("order_item",)

    id: str
    name: str
    alert_date: AwareDatetime
    # ``closed``: the jeopardy ended because the order failed (it did not clear).
    jeopardy_type: Literal["hazard", "critical", "cleared", "closed"]
    exception: str
    message: str
    # Rules 3: the items the jeopardy is about, when its reasons name any.
    order_item: list[OrderItemRef] | None = None


class ChangeSet(QuietWhenUnset):
    _quiet_fields = ("checkpoints",)

    expected_completion_date: Instant | None = None
    requested_completion_date: Instant | None = None
    milestones: Annotated[list[MilestoneDateChange], Field(max_length=MAX_MILESTONES)] | None = None
    # A change touches a few items; the order's own bound applies after the change.
    order_items: Annotated[list[OrderItem], Field(max_length=MAX_ITEMS_PER_CHANGE)] | None = None
    # Rules 3: plan checkpoints added, moved or removed (see CheckpointChange).
    checkpoints: Annotated[list[CheckpointChange], Field(max_length=MAX_CHECKPOINTS)] | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> ChangeSet:
        if (
            self.expected_completion_date is None
            and self.requested_completion_date is None
            and not self.milestones
            and not self.order_items
            and not self.checkpoints
        ):
            raise ValueError("changes must name at least one field to change")
        return self


# How a change treats a milestone or a checkpoint, as TMF order items name it: ``modify``
# (the default, and all rules 1 and 2 knew) moves its date, ``add`` plans a new one,
# ``delete`` takes it out of the plan.
PlanAction = Literal["add", "modify", "delete"]


class MilestoneDateChange(QuietWhenUnset):
    _quiet_fields = ("action", "name", "order_item_ids")

    id: NonEmptyStr
    # Required for ``add`` and ``modify``.
    milestone_date: Instant | None = None
    # Rules 3: the rest of a milestone that is added or changed.
    action: PlanAction | None = None
    name: ShortText | None = None
    order_item_ids: Annotated[list[NonEmptyStr], Field(max_length=MAX_ORDER_ITEMS)] | None = None

    @model_validator(mode="after")
    def _dated(self) -> MilestoneDateChange:
        if self.milestone_date is None and self.action != "delete":
            raise ValueError("milestoneDate is required (except with action delete)")
        return self


class CheckpointChange(WireModel):
    """Rules 3: ``changes.checkpoints[]``: ``{"id", "name", "date", "action"}``."""

    id: NonEmptyStr
    date: Instant | None = None  # required for ``add`` and ``modify``
    name: ShortText | None = None
    action: PlanAction = "modify"

    @model_validator(mode="after")
    def _dated(self) -> CheckpointChange:
        if self.date is None and self.action != "delete":
            raise ValueError("date is required (except with action delete)")
        return self


class ChangeRequest(WireModel):
    id: str
    origin: Literal["party", "enterprise", "external"]
    kind: Literal["requested", "forced"]
    reason: str | None = None
    changes: ChangeSet
    # ``withdrawn``: the order ended while the request was still open (rules 2).
    status: Literal["received", "forwarded", "accepted", "rejected", "withdrawn"] = "received"
    received_at: AwareDatetime
    resolved_at: AwareDatetime | None = None
    resolved_by: str | None = None
    note: str | None = None

    @property
    def open(self) -> bool:
        return self.status in ("received", "forwarded")


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


# Checked once every field is valid (a rule across fields); the client names it beside
# the fields' own problems, so that a sender hears of everything missing at once.
NO_COMPLETION_DATE = "one of requestedCompletionDate or expectedCompletionDate is required"


class PartyOrderSpec(WireModel):
    """The start input of TrackPartyOrder: what the enterprise knows when tracking starts."""

    id: Annotated[str, Field(min_length=1, max_length=64)]
    # The party's own id of the order (for a connector: the id its system knows it by).
    external_id: Annotated[str, Field(min_length=1, max_length=1000)] | None = Field(
        default=None, exclude_if=_unset
    )
    description: LongText | None = None
    party: Party
    originating_process: OriginatingProcess = Field(default_factory=OriginatingProcess)
    order_items: Annotated[list[OrderItem], Field(max_length=MAX_ORDER_ITEMS)] = Field(
        default_factory=list
    )
    order_date: Instant | None = None
    requested_completion_date: Instant | None = None
    expected_completion_date: Instant | None = None
    milestones: Annotated[list[Milestone], Field(max_length=MAX_MILESTONES)] = Field(
        default_factory=list
    )
    # Rules 3: the plan's checkpoints, at each of which the party is asked for progress.
    checkpoints: Annotated[list[Checkpoint], Field(max_length=MAX_CHECKPOINTS)] = Field(
        default_factory=list
    )
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
            raise ValueError(NO_COMPLETION_DATE)
        if self.party.connector is not None and self.external_id is None:
            # A check-in asks the party's system for the order by this id: without it
            # there is nothing to ask for.
            raise ValueError(
                "externalId: the party's own order id is required with party.connector"
            )
        seen: set[str] = set()
        for milestone in self.milestones:
            if milestone.id in seen:
                raise ValueError(f"milestones: id {milestone.id!r} appears twice")
            seen.add(milestone.id)
        return self

    def order_item(self, item_id: str) -> OrderItem | None:
        return next((i for i in self.order_items if i.id == item_id), None)

    def checkpoint(self, checkpoint_id: str) -> Checkpoint | None:
        return next((c for c in self.checkpoints if c.id == checkpoint_id), None)


class PartyOrder(PartyOrderSpec):
    """The order as read back with ``get_order``: the start input plus what tracking learned."""

    # Read-back documents may carry more than a start input; keep them tolerant.
    model_config = ConfigDict(extra="ignore")
    # The bounds on a start input are checked there (and on change requests); an order
    # read back, or carried over continue-as-new, from before they existed still loads.
    order_items: list[OrderItem] = Field(default_factory=list)
    milestones: list[Milestone] = Field(default_factory=list)
    checkpoints: list[Checkpoint] = Field(default_factory=list)

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
    jeopardy_alert_count: int = 0  # rules 2: all alerts ever; the newest are kept
    change_requests: list[ChangeRequest] = Field(default_factory=list)
    check_ins: CheckIns = Field(default_factory=CheckIns)
    cancellation: Cancellation | None = None
    rejected_messages: list[RejectedMessage] = Field(default_factory=list)
    rejected_message_count: int = 0
    state_history: list[StateChange] = Field(default_factory=list)
    delivery_failures: list[DeliveryFailure] = Field(default_factory=list)
    # Stop-the-clock: the time spent in ended pauses, and the newest pauses (the last one
    # has no endDateTime while it runs). See workflows/domain/pause.py.
    paused_for: timedelta = timedelta(0)
    pauses: list[Pause] = Field(default_factory=list)
    # Rules 3: the newest notes sent with messages, and how many there were in all.
    notes: list[Note] = Field(default_factory=list)
    note_count: int = 0

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES

    def milestone(self, milestone_id: str) -> Milestone | None:
        return next((m for m in self.milestones if m.id == milestone_id), None)

    def change_request(self, change_request_id: str) -> ChangeRequest | None:
        return next((c for c in self.change_requests if c.id == change_request_id), None)


ChangeSet.model_rebuild()
