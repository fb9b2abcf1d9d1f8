"""Inbound messages of TrackPartyOrder: one pydantic model per signal and update.

Workflows receive these as raw payloads and validate them here, so that a bad message is
recorded with the reason instead of being dropped by the SDK (see ``tracker.py``).
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Literal, get_args, get_origin

from pydantic import Field, ValidationError, model_validator

from workflows.domain import names
from workflows.domain.model import ChangeSet, Instant, OrderState, WireModel

RequestId = Annotated[str, Field(min_length=1, max_length=200)]


class MilestoneProgress(WireModel):
    id: Annotated[str, Field(min_length=1)]
    status: Literal["yetToReach", "completed"] = "completed"
    completed_at: Instant | None = None


class ProgressReport(WireModel):
    """``report_progress``: what the party (or the enterprise) says of the work."""

    request_id: RequestId | None = None
    source: Literal["party", "enterprise"] = "party"
    percent_complete: Annotated[int, Field(ge=0, le=100)] | None = None
    milestones: list[MilestoneProgress] | None = None
    expected_completion_date: Instant | None = None
    delivered: bool = False
    note: Annotated[str, Field(max_length=4000)] | None = None

    @model_validator(mode="after")
    def _says_something(self) -> ProgressReport:
        if (
            self.percent_complete is None
            and not self.milestones
            and self.expected_completion_date is None
            and not self.delivered
            and self.note is None
        ):
            raise ValueError(
                "a progress report needs at least one of percentComplete, milestones,"
                " expectedCompletionDate, delivered or note"
            )
        return self


class ChangeRequestMessage(WireModel):
    """``request_change``: a requested or forced change to the order or its schedule."""

    request_id: RequestId | None = None
    origin: Literal["party", "enterprise", "external"] = "party"
    kind: Literal["requested", "forced"] = "requested"
    reason: Annotated[str, Field(max_length=4000)] | None = None
    changes: ChangeSet


class ChangeResolution(WireModel):
    """``resolve_change``: the originating process's decision on a change request."""

    request_id: RequestId | None = None
    change_request_id: Annotated[str, Field(min_length=1)]
    decision: Literal["accepted", "rejected"]
    resolved_by: str | None = None
    note: Annotated[str, Field(max_length=4000)] | None = None


class CancelRequest(WireModel):
    """``cancel_order``: another process says the order is no longer required."""

    request_id: RequestId | None = None
    reason: Annotated[str, Field(max_length=4000)] | None = None
    requested_by: str | None = None


class CheckInRequest(WireModel):
    """``check_in_now``: an enterprise-driven check-in outside the periodic rhythm."""

    request_id: RequestId | None = None
    requested_by: str | None = None


class StateChangeRequest(WireModel):
    """``change_state`` (update): an operator moves the order to another state."""

    request_id: RequestId | None = None
    state: Literal[OrderState.IN_PROGRESS, OrderState.PENDING, OrderState.HELD, OrderState.FAILED]
    reason: Annotated[str, Field(max_length=4000)] | None = None


InboundMessage = (
    ProgressReport
    | ChangeRequestMessage
    | ChangeResolution
    | CancelRequest
    | CheckInRequest
    | StateChangeRequest
)

# Message name (the signal or update name) -> its model.
MESSAGE_MODELS: dict[str, type[InboundMessage]] = {
    names.REPORT_PROGRESS: ProgressReport,
    names.REQUEST_CHANGE: ChangeRequestMessage,
    names.RESOLVE_CHANGE: ChangeResolution,
    names.CANCEL_ORDER: CancelRequest,
    names.CHECK_IN_NOW: CheckInRequest,
    names.CHANGE_STATE: StateChangeRequest,
}


def describe_validation_error(error: ValidationError) -> str:
    """One readable line per problem, each naming the field (camelCase path) and the rule."""
    problems = []
    for item in error.errors():
        path = ".".join(str(part) for part in item["loc"]) or "(message)"
        problems.append(f"{path}: {item['msg']}")
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
