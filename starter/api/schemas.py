"""The few bodies that exist only on the HTTP API; orders and messages are the domain
core's own models (``workflows.domain.model``, ``workflows.domain.messages``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from workflows.domain.messages import ChangeResolution, RequestId
from workflows.domain.model import ORDER_ID_PATTERN, WireModel

OrderId = Annotated[str, Field(pattern=ORDER_ID_PATTERN, examples=["PO-1001"])]


class RequestAccepted(WireModel):
    """A message taken by Temporal for the order: applied once, in order, by the workflow.
    One the order cannot apply shows in its ``rejectedMessages`` with this request id."""

    request_id: str


class Resolution(ChangeResolution):
    """``resolve_change`` with the change request named by the path."""

    change_request_id: Annotated[str, Field(min_length=1)] | None = None  # type: ignore[assignment]


class PartyOrderRef(WireModel):
    id: OrderId
    href: str | None = None


class CancelPartyOrder(WireModel):
    """TMF622-style request to cancel an order (``cancel_order``)."""

    party_order: PartyOrderRef
    cancellation_reason: Annotated[str, Field(max_length=4000)] | None = None
    requested_by: Annotated[str, Field(max_length=1000)] | None = None
    request_id: RequestId | None = None


class CancelPartyOrderTask(WireModel):
    """The task resource for a cancellation: ``acknowledged`` once Temporal has the message;
    ``inProgress`` while the order is ``pendingCancellation``, ``done`` once ``cancelled``.
    Its id is the order's (an order is cancelled once), so its ``href`` always answers."""

    id: str
    href: str
    state: Literal["acknowledged", "inProgress", "done"] = "acknowledged"
    request_id: str | None = None  # the cancel_order message's, when this answer sent it
    creation_date: AwareDatetime
    party_order: PartyOrderRef
    cancellation_reason: str | None = None
    requested_by: str | None = None
