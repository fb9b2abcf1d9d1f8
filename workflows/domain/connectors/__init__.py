"""A party's own ordering system, seen from the tracker: what its answer means for us.

A party with a connector (``party.connector``) runs a standard ordering API of its own
(MEF LSO Sonata, TMF622). A check-in asks that system for the party's order, and its
answer is read here into what the tracker already knows how to apply: a progress report
with ``source: party``, a state change, or an outcome of a cancellation. Nothing here does
I/O or reads a clock: the activity that calls the party's system hands the document in,
and the workflow applies what comes out through ``PartyOrderTracker``'s public methods.

Each protocol is one module (``sonata.py``, later ``tmf622.py``) with one function,
``read_answer(document, view, now) -> PartyAnswer``, registered in ``protocols.py``.
Adding a protocol adds a module, its line there, its mapping table in docs/connectors.md
and its tests; nothing in the tracker changes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field

from workflows.domain.messages import ChangeRequestMessage, ProgressReport, StateChangeRequest
from workflows.domain.model import (
    FINAL_ITEM_STATES,
    ChangeSet,
    ItemState,
    OrderItem,
    OrderState,
    PartyConnector,
    PartyOrder,
)
from workflows.domain.wire import WireModel

ProtocolName = Literal["mef-sonata-v10", "tmf622-v5"]


class UnusableAnswer(ValueError):
    """The party's system answered with a document that does not have its standard's
    shape. Nothing of it is applied; ``field`` names where it broke (a dotted path in the
    party's document, ``(document)`` when it is not an object at all), and the message
    starts with it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class OrderView(WireModel):
    """What a mapping needs to know of our order: how the party's ids meet ours, and
    whether the cancellation the party reports is one we asked for. (The input of the
    activity that asks the party's system, with the connector: no secret in it.)"""

    # The party's item id (its ``productOrderItem.id``) -> our item id.
    item_ids: dict[str, str]
    # A milestone as the party names it, folded with ``milestone_key`` -> our id.
    milestone_ids: dict[str, str]
    # Our items that are not final yet (a cancellation by the party concerns these).
    open_item_ids: tuple[str, ...]
    cancellation_requested: bool
    # The party's notes dated up to here were read before (None: none was).
    notes_read_until: AwareDatetime | None = None

    @classmethod
    def of(cls, order: PartyOrder, notes_read_until: datetime | None = None) -> OrderView:
        item_ids: dict[str, str] = {}
        for item in order.order_items:
            # An item the party numbers itself carries its ``externalId``; one it does
            # not is known by the id we gave it (Sonata's item id is the buyer's).
            item_ids[external_item_id(item) or item.id] = item.id
        milestone_ids: dict[str, str] = {}
        for milestone in order.milestones:
            milestone_ids[milestone_key(milestone.id)] = milestone.id
            if milestone.name:
                milestone_ids.setdefault(milestone_key(milestone.name), milestone.id)
        return cls(
            item_ids=item_ids,
            milestone_ids=milestone_ids,
            open_item_ids=tuple(
                i.id for i in order.order_items if i.state not in FINAL_ITEM_STATES
            ),
            cancellation_requested=(
                order.state == OrderState.PENDING_CANCELLATION or order.cancellation is not None
            ),
            notes_read_until=notes_read_until,
        )


def external_item_id(item: OrderItem) -> str | None:
    """The party's id of one of our items, when the order gave one."""
    return item.external_id or None


def milestone_key(name: str) -> str:
    """A milestone name as compared across systems: case and spacing do not matter."""
    return " ".join(name.split()).casefold()


class PartyNote(WireModel):
    """A note the party's system wrote on its order (its own id, author and date)."""

    id: str
    author: str
    date: AwareDatetime
    text: str
    order_item_id: str | None = None  # ours, when the note is on an item


class CancellationUnderWay(WireModel):
    """We asked for the cancellation and the party is working on it: the order stays
    ``pendingCancellation``."""

    kind: Literal["underWay"] = "underWay"
    party_state: str


class CancellationDone(WireModel):
    """We asked for the cancellation and the party has cancelled: the order is
    ``cancelled`` (``PartyOrderTracker.finish_cancellation``)."""

    kind: Literal["done"] = "done"
    reason: str | None = None
    cancellation_date: AwareDatetime | None = None


class PartyCancelling(WireModel):
    """The party is cancelling, or has cancelled, on its own. Never a silent
    cancellation: it becomes a forced change request to the originating process."""

    kind: Literal["partyCancelling"] = "partyCancelling"
    party_state: str
    reason: str | None
    item_ids: tuple[str, ...]  # our open items, which the cancellation takes away

    def change_request(self, request_id: str) -> ChangeRequestMessage | None:
        """The forced change request cancelling our open items; None for an order that
        has none left (nothing of ours is there to cancel by a change)."""
        if not self.item_ids:
            return None
        reason = f"the party is cancelling the order ({self.party_state})"
        if self.reason:
            reason += f": {self.reason}"
        return ChangeRequestMessage(
            request_id=request_id,
            origin="party",
            kind="forced",
            reason=reason,
            changes=ChangeSet(
                order_items=[
                    OrderItem(id=item_id, state=ItemState.CANCELLED) for item_id in self.item_ids
                ]
            ),
        )


CancellationOutcome = Annotated[
    CancellationUnderWay | CancellationDone | PartyCancelling, Field(discriminator="kind")
]


class PartyAnswer(WireModel):
    """What one answer of the party's system says, in the tracker's own messages.

    Every usable answer counts as the party answering a check-in, even one that says
    nothing new (``report`` is None then): the party's system did answer.
    """

    protocol: ProtocolName
    party_order_id: str  # the party's own id of the order
    party_state: str  # the order's state as the party's system wrote it
    report: ProgressReport | None
    state_change: StateChangeRequest | None = None
    cancellation: CancellationOutcome | None = None
    completion_date: AwareDatetime | None = None
    notes: tuple[PartyNote, ...] = ()
    # What could not be placed on our order (an item or a milestone we do not have), in
    # words; the order manager can read it, nothing of it is applied.
    unplaced: tuple[str, ...] = ()

    @property
    def channel(self) -> str:
        """The channel the answer came by, as progress and notes record it."""
        return f"connector:{self.protocol}"


class PartyOrderFetch(WireModel):
    """The input of ``fetch_party_order``: which order to ask the party's system for,
    and what of ours its answer is read against."""

    order_id: str  # ours, for the logs and the error messages
    connector: PartyConnector
    external_id: Annotated[str, Field(min_length=1, max_length=1000)]
    view: OrderView


AnswerReader = Callable[[Any, OrderView, datetime], PartyAnswer]
"""A protocol's reader: the party's document, our order as seen, now -> the answer."""
