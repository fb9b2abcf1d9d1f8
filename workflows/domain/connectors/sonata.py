"""MEF LSO Sonata Product Ordering (MEF 123, API v10): a seller's ProductOrder, read.

The tracker is the Sonata *buyer*: a check-in is ``GET {baseUrl}/productOrder/{id}`` on
the seller's management API, and the answer (a ``ProductOrder``) comes here. The mapping
is the table in docs/connectors.md; in short:

* the order's ``state`` to ours: ``completed`` delivers; ``failed`` and ``rejected`` fail
  the order (``rejected`` with the seller's reason); ``partial`` comes from the items'
  roll-up; ``held.assessingCharge`` is ``held``, ``pending.assessingModification`` is
  ``pending``; ``assessingCancellation``, ``pendingCancellation`` and ``cancelled`` are a
  cancellation under way or done when we asked for it, and otherwise the seller cancelling
  on its own (a forced change request, never a silent cancellation);
* each item's ``state`` and ``expectedCompletionDate`` onto our item; the order's
  forecast is the latest forecast of an open item;
* each item's ``milestone[]`` (a milestone reached, with its date) onto our milestone of
  that id or name;
* the seller's notes (``source: seller``) as the report's note; ``completionDate``.

A document that is not a ``ProductOrder`` as the official schema has it (a required field
missing, a state not in the spec's enumeration, a date that is no date) raises
``UnusableAnswer`` naming the field. The models below check what the schema requires of
the fields the mapping reads, and tests hold them to the official YAML.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from workflows.domain.connectors import (
    CancellationDone,
    CancellationOutcome,
    CancellationUnderWay,
    OrderView,
    PartyAnswer,
    PartyCancelling,
    PartyNote,
    UnusableAnswer,
    milestone_key,
)
from workflows.domain.instants import iso
from workflows.domain.messages import (
    ItemProgress,
    MilestoneProgress,
    ProgressReport,
    StateChangeRequest,
    describe_validation_error,
)
from workflows.domain.model import ItemState
from workflows.domain.wire import from_wire

PROTOCOL: Literal["mef-sonata-v10"] = "mef-sonata-v10"

# MEFProductOrderStateType and MEFProductOrderItemStateType, as the spec enumerates them.
SonataOrderState = Literal[
    "acknowledged",
    "assessingCancellation",
    "cancelled",
    "completed",
    "failed",
    "held.assessingCharge",
    "inProgress",
    "partial",
    "pending.assessingModification",
    "pendingCancellation",
    "rejected",
]
SonataItemState = Literal[
    "acknowledged",
    "cancelled",
    "completed",
    "failed",
    "held",
    "inProgress",
    "pending",
    "rejected",
    "rejected.validated",
    "rejected.unassessed",
]

# The seller's item state -> ours. ``cancelled`` is left out on purpose: a party cannot
# cancel an item by a progress report (the contract); a cancellation is read from the
# order's state instead.
ITEM_STATES: dict[str, ItemState] = {
    "acknowledged": ItemState.ACKNOWLEDGED,
    "inProgress": ItemState.IN_PROGRESS,
    "held": ItemState.HELD,
    "pending": ItemState.PENDING,
    "completed": ItemState.COMPLETED,
    "failed": ItemState.FAILED,
    # An item the seller would not take on will not be delivered: failed, for a reason.
    "rejected": ItemState.FAILED,
    "rejected.validated": ItemState.FAILED,
    "rejected.unassessed": ItemState.FAILED,
}
FINAL_SONATA_ITEM_STATES = frozenset(
    {"cancelled", "completed", "failed", "rejected", "rejected.validated", "rejected.unassessed"}
)

# The seller's order state -> the state our order is put in (``change_state``), where
# the state says more than the items do.
ORDER_STATES: dict[str, Literal["inProgress", "pending", "held", "failed"]] = {
    "inProgress": "inProgress",
    "held.assessingCharge": "held",
    "pending.assessingModification": "pending",
    "failed": "failed",
    "rejected": "failed",
}
STATE_REASONS: dict[str, str] = {
    "held.assessingCharge": "the seller awaits our answer to a charge",
    "pending.assessingModification": "the seller is assessing a change of the delivery date",
    "failed": "the seller could not fulfil the order",
    "rejected": "the seller rejected the order",
}
CANCELLING_STATES = frozenset({"assessingCancellation", "pendingCancellation"})

NOTES_CHARS = 4000  # a progress report's note (LongText)


class _Sonata(BaseModel):
    """A part of a Sonata document: camelCase, and anything the mapping does not read
    is let through (the schema allows far more than the tracker needs)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=False, extra="allow")


class SonataNote(_Sonata):
    id: str
    author: str
    date: AwareDatetime
    source: Literal["buyer", "seller"]
    text: str


class SonataMilestone(_Sonata):
    date: AwareDatetime
    name: str
    note: str | None = None


class SonataStateChange(_Sonata):
    change_date: AwareDatetime | None = None
    change_reason: str | None = None
    state: str | None = None  # order or item state: each list says which


class SonataTerminationError(_Sonata):
    code: str | None = None
    property_path: str | None = None
    value: str | None = None


class SonataContact(_Sonata):
    email_address: str
    name: str
    number: str
    role: str


class SonataOrderItem(_Sonata):
    id: str
    action: Literal["add", "modify", "delete"]
    state: SonataItemState | None = None
    expected_completion_date: AwareDatetime | None = None
    completion_date: AwareDatetime | None = None
    milestone: list[SonataMilestone] = Field(default_factory=list)
    note: list[SonataNote] = Field(default_factory=list)
    state_change: list[SonataStateChange] = Field(default_factory=list)
    termination_error: list[SonataTerminationError] = Field(default_factory=list)


class SonataProductOrder(_Sonata):
    """The seller's ``ProductOrder`` (the 200 answer of ``retrieveProductOrder``)."""

    id: str
    order_date: AwareDatetime
    state: SonataOrderState
    product_order_item: Annotated[list[SonataOrderItem], Field(min_length=1)]
    related_contact_information: Annotated[list[SonataContact], Field(min_length=1)]
    external_id: str | None = None
    completion_date: AwareDatetime | None = None
    cancellation_date: AwareDatetime | None = None
    cancellation_reason: str | None = None
    note: list[SonataNote] = Field(default_factory=list)
    state_change: list[SonataStateChange] = Field(default_factory=list)


def parse(document: object) -> SonataProductOrder:
    """The document as a ProductOrder, or UnusableAnswer naming the first field wrong."""
    if not isinstance(document, dict):
        raise UnusableAnswer("(document)", "(document): a ProductOrder is a JSON object")
    try:
        # Strict: JSON as the schema types it (a date is a string, not a number of seconds).
        return from_wire(SonataProductOrder, document, strict=True)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "(document)"
        raise UnusableAnswer(field, describe_validation_error(error)) from None


def read_answer(document: object, view: OrderView, now: datetime) -> PartyAnswer:
    """What the seller's ProductOrder says, as the tracker's messages (see the module)."""
    order = parse(document)
    unplaced: list[str] = []
    items = _items(order, view, now, unplaced)
    milestones = _milestones(order, view, now, unplaced)
    notes = _notes(order, view)
    fresh = [n for n in notes if view.notes_read_until is None or n.date > view.notes_read_until]
    forecasts = [
        item.expected_completion_date
        for item in order.product_order_item
        if item.state not in FINAL_SONATA_ITEM_STATES
        and item.expected_completion_date is not None
        and item.expected_completion_date > now
    ]
    delivered = order.state == "completed"
    report_fields = {
        "order_items": items or None,
        "milestones": milestones or None,
        "expected_completion_date": max(forecasts) if forecasts and not delivered else None,
        "delivered": delivered,
        "note": _note_text(fresh),
    }
    says_something = any(value for value in report_fields.values())
    report = ProgressReport(source="party", **report_fields) if says_something else None
    return PartyAnswer(
        protocol=PROTOCOL,
        party_order_id=order.id,
        party_state=order.state,
        report=report,
        state_change=_state_change(order),
        cancellation=_cancellation(order, view),
        completion_date=order.completion_date,
        notes=tuple(notes),
        unplaced=tuple(unplaced),
    )


def _items(
    order: SonataProductOrder, view: OrderView, now: datetime, unplaced: list[str]
) -> list[ItemProgress]:
    progress: list[ItemProgress] = []
    seen: set[str] = set()
    for item in order.product_order_item:
        ours = view.item_ids.get(item.id)
        if ours is None or ours in seen:
            unplaced.append(f"productOrderItem {item.id!r} is not an item of this order")
            continue
        seen.add(ours)
        state = ITEM_STATES.get(item.state) if item.state else None
        forecast = item.expected_completion_date
        if item.state in FINAL_SONATA_ITEM_STATES:
            forecast = None  # a forecast of work that is over says nothing
        elif forecast is not None and forecast <= now:
            # A forecast already past would refuse the whole report: the seller is late
            # and has not said so; the jeopardy rules see to the lateness.
            unplaced.append(
                f"productOrderItem {item.id!r}: expectedCompletionDate {iso(forecast)} has passed"
            )
            forecast = None
        if state is None and forecast is None:
            continue
        progress.append(ItemProgress(id=ours, state=state, expected_completion_date=forecast))
    return progress


def _milestones(
    order: SonataProductOrder, view: OrderView, now: datetime, unplaced: list[str]
) -> list[MilestoneProgress]:
    reached: dict[str, datetime] = {}
    for item in order.product_order_item:
        for milestone in item.milestone:
            ours = view.milestone_ids.get(milestone_key(milestone.name))
            if ours is None:
                unplaced.append(f"milestone {milestone.name!r} is not a milestone of this order")
                continue
            # A milestone on several items is reached when the first one reaches it; a
            # date ahead of our clock is taken as now (a skew, not a plan).
            when = min(milestone.date, now)
            reached[ours] = min(reached.get(ours, when), when)
    return [MilestoneProgress(id=i, status="completed", completed_at=d) for i, d in reached.items()]


def _notes(order: SonataProductOrder, view: OrderView) -> list[PartyNote]:
    notes = [
        PartyNote(id=n.id, author=n.author, date=n.date, text=n.text)
        for n in order.note
        if n.source == "seller"
    ]
    for item in order.product_order_item:
        ours = view.item_ids.get(item.id)
        notes += [
            PartyNote(id=n.id, author=n.author, date=n.date, text=n.text, order_item_id=ours)
            for n in item.note
            if n.source == "seller"
        ]
    return sorted(notes, key=lambda n: n.date)


def _note_text(notes: list[PartyNote]) -> str | None:
    if not notes:
        return None
    lines = []
    for note in notes:
        where = f" on item {note.order_item_id}" if note.order_item_id else ""
        lines.append(f"{note.author}, {iso(note.date)}{where}: {note.text}")
    text = "\n".join(lines)
    return text if len(text) <= NOTES_CHARS else text[: NOTES_CHARS - 1] + "…"


def _state_change(order: SonataProductOrder) -> StateChangeRequest | None:
    target = ORDER_STATES.get(order.state)
    if target is None:
        return None
    reason = _party_reason(order)
    default = STATE_REASONS.get(order.state)
    text = f"{default}: {reason}" if default and reason else (reason or default)
    return StateChangeRequest(state=target, reason=f"{text} ({order.state})" if text else None)


def _party_reason(order: SonataProductOrder) -> str | None:
    """The seller's own words for the order's state: its newest state change into that
    state, else the reasons it gave for terminating items."""
    for change in reversed(order.state_change):
        if change.state == order.state and change.change_reason:
            return change.change_reason
    errors = [
        error.value
        for item in order.product_order_item
        for error in item.termination_error
        if error.value
    ]
    return "; ".join(errors) or None


def _cancellation(order: SonataProductOrder, view: OrderView) -> CancellationOutcome | None:
    if order.state not in CANCELLING_STATES and order.state != "cancelled":
        return None
    if view.cancellation_requested:
        if order.state == "cancelled":
            return CancellationDone(
                reason=order.cancellation_reason, cancellation_date=order.cancellation_date
            )
        return CancellationUnderWay(party_state=order.state)
    return PartyCancelling(
        party_state=order.state,
        reason=order.cancellation_reason or _party_reason(order),
        item_ids=view.open_item_ids,
    )


__all__ = ["PROTOCOL", "SonataProductOrder", "parse", "read_answer"]
