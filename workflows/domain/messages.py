"""Inbound messages of TrackPartyOrder: one pydantic model per signal and update.

Workflows receive these as raw payloads and validate them here, so that a bad message is
recorded with the reason instead of being dropped by the SDK (see ``tracker.py``).
"""

from __future__ import annotations

import json
import re
from enum import Enum
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import Field, ValidationError, model_validator

from workflows.domain import names
from workflows.domain.bounds import MAX_MILESTONES, MAX_ORDER_ITEMS, VALUE_CHARS
from workflows.domain.model import ChangeSet, Instant, LongText, NonEmptyStr, ShortText, WireModel

RequestId = Annotated[str, Field(min_length=1, max_length=200)]


class MilestoneProgress(WireModel):
    id: NonEmptyStr
    status: Literal["yetToReach", "completed"] = "completed"
    completed_at: Instant | None = None


class ItemProgress(WireModel):
    """Rules 3: ``report_progress.orderItems[]``, what the party says of one item."""

    id: NonEmptyStr
    # Plain strings, so that an error lists them as they are written on the wire.
    state: (
        Literal["acknowledged", "inProgress", "pending", "held", "completed", "cancelled", "failed"]
        | None
    ) = None
    percent_complete: Annotated[int, Field(ge=0, le=100)] | None = None
    expected_completion_date: Instant | None = None
    note: LongText | None = None


class ProgressReport(WireModel):
    """``report_progress``: what the party (or the enterprise) says of the work."""

    request_id: RequestId | None = None
    source: Literal["party", "enterprise"] = "party"
    percent_complete: Annotated[int, Field(ge=0, le=100)] | None = None
    milestones: Annotated[list[MilestoneProgress], Field(max_length=MAX_MILESTONES)] | None = None
    expected_completion_date: Instant | None = None
    delivered: bool = False
    note: LongText | None = None
    # Rules 3 (an order tracked by older rules refuses the field, as its model did).
    order_items: Annotated[list[ItemProgress], Field(max_length=MAX_ORDER_ITEMS)] | None = None

    @model_validator(mode="after")
    def _says_something(self) -> ProgressReport:
        if (
            self.percent_complete is None
            and not self.milestones
            and self.expected_completion_date is None
            and not self.delivered
            and self.note is None
            and not self.order_items
        ):
            raise ValueError(
                "a progress report needs at least one of percentComplete, milestones,"
                " expectedCompletionDate, delivered, note or orderItems"
            )
        return self


class ChangeRequestMessage(WireModel):
    """``request_change``: a requested or forced change to the order or its schedule."""

    request_id: RequestId | None = None
    origin: Literal["party", "enterprise", "external"] = "party"
    kind: Literal["requested", "forced"] = "requested"
    reason: LongText | None = None
    changes: ChangeSet


class ChangeResolution(WireModel):
    """``resolve_change``: the originating process's decision on a change request."""

    request_id: RequestId | None = None
    change_request_id: NonEmptyStr
    decision: Literal["accepted", "rejected"]
    resolved_by: ShortText | None = None
    note: LongText | None = None


class CancelRequest(WireModel):
    """``cancel_order``: another process says the order is no longer required."""

    request_id: RequestId | None = None
    reason: LongText | None = None
    requested_by: ShortText | None = None


class CheckInRequest(WireModel):
    """``check_in_now``: an enterprise-driven check-in outside the periodic rhythm."""

    request_id: RequestId | None = None
    requested_by: ShortText | None = None


class StateChangeRequest(WireModel):
    """``change_state`` (update): an operator moves the order to another state."""

    request_id: RequestId | None = None
    # Plain strings, so that an error lists them as they are written on the wire.
    state: Literal["inProgress", "pending", "held", "failed"]
    reason: LongText | None = None
    # Rules 3: kept in the order's notes (an older order's validator refuses it).
    note: LongText | None = None


class EscalationAcknowledgement(WireModel):
    """``acknowledge_escalation`` (update): a contact takes the escalation in hand."""

    request_id: RequestId | None = None
    level: Annotated[int, Field(ge=1)]
    by: ShortText | None = None
    note: LongText | None = None


InboundMessage = (
    ProgressReport
    | ChangeRequestMessage
    | ChangeResolution
    | CancelRequest
    | CheckInRequest
    | StateChangeRequest
    | EscalationAcknowledgement
)

# Message name (the signal or update name) -> its model.
MESSAGE_MODELS: dict[str, type[InboundMessage]] = {
    names.REPORT_PROGRESS: ProgressReport,
    names.REQUEST_CHANGE: ChangeRequestMessage,
    names.RESOLVE_CHANGE: ChangeResolution,
    names.CANCEL_ORDER: CancelRequest,
    names.CHECK_IN_NOW: CheckInRequest,
    names.CHANGE_STATE: StateChangeRequest,
    names.ACKNOWLEDGE_ESCALATION: EscalationAcknowledgement,
}


def describe_value(value: Any) -> str:
    """A value as the sender wrote it: JSON, strings in single quotes, cut when long."""
    if isinstance(value, str):
        text = f"'{value}'"
    else:
        try:
            text = json.dumps(value, default=str)
        except ValueError:
            text = str(value)
    return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 1] + "…"


def describe_validation_error(error: ValidationError) -> str:
    """One readable line per problem: the field (camelCase path), the value, what is allowed.

    Pydantic's own wording names Python types and reprs ("Input should be
    <OrderState.HELD: 'held'>"); this names the JSON a sender wrote.
    """
    problems = []
    for item in error.errors():
        path = ".".join(str(part) for part in item["loc"]) or "(message)"
        problems.append(f"{path}: {_problem(item)}")
    return "; ".join(problems)


def allowed_values(model: type[WireModel], field: str) -> tuple[str, ...]:
    """The values an enumerated field of a message accepts, as written on the wire.

    The models are the one home of these sets: the CLI's choices come from here.
    """
    annotation = model.model_fields[field].annotation
    while get_origin(annotation) is not Literal:
        # Unwrap ``X | None`` and ``Annotated[X, ...]`` down to the Literal.
        inner = [arg for arg in get_args(annotation) if arg is not type(None)]
        if not inner:
            raise TypeError(f"{model.__name__}.{field} is not an enumerated field")
        annotation = inner[0]
    return tuple(v.value if isinstance(v, Enum) else str(v) for v in get_args(annotation))


def _problem(item: Any) -> str:
    kind = item["type"]
    value = item.get("input")
    context = item.get("ctx") or {}
    if kind in ("literal_error", "enum"):
        allowed = re.findall(r"'([^']*)'", str(context.get("expected", "")))
        return f"{describe_value(value)} is not one of {', '.join(allowed)}"
    if kind == "missing":
        return "is required"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"should be a JSON object (received {describe_value(value)})"
    if kind == "value_error":
        return str(context.get("error", item["msg"]))
    if kind.endswith(("too_long", "too_short")) and isinstance(value, list | dict | str):
        what = "characters" if isinstance(value, str) else "entries"
        return f"{len(value)} {what} received, {_bound_text(kind, context)} allowed"
    message = str(item["msg"]).replace("Input should", "should")
    return f"{message} (received {describe_value(value)})"


def _bound_text(kind: str, context: dict[str, Any]) -> str:
    if kind.endswith("too_long"):
        return f"at most {context.get('max_length')}"
    return f"at least {context.get('min_length')}"
