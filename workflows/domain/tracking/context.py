"""What every room works on: the state of one order's tracking and the rules it follows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pydantic import Field

from workflows.domain.bounds import ORDER_CHARS_LIMIT, Limits
from workflows.domain.jeopardy import is_watched
from workflows.domain.model import OrderState, PartyOrder, StateChange, WireModel
from workflows.domain.pause import follow_state
from workflows.domain.rules import RULES_V1, Rules
from workflows.domain.states import check_transition
from workflows.domain.tracking.window import MessageWindow, WindowField


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
    # Rules 5: the messages applied, compactly (tracking/window.py); applied_messages
    # moves into it and stays empty.
    applied_window: WindowField = Field(default_factory=MessageWindow)
    # Rules 5: the change requests the order opened by itself for a late forecast, so that
    # one still open is withdrawn once the forecast is back within the agreed date.
    automatic_change_requests: list[str] = Field(default_factory=list)


class MessageRejected(ValueError):
    """A message that is well-formed but cannot be applied to the order as it is."""


# The records kept to their newest entries, whatever their size: not part of the order's
# size limit (each is bounded by itself).
TRIMMED_LISTS = frozenset(
    {"jeopardy_alerts", "state_history", "rejected_messages", "delivery_failures", "notes"}
)


def order_chars(order: PartyOrder) -> int:
    """The order's size as ORDER_CHARS_LIMIT bounds it: its JSON without the records."""
    return len(order.model_dump_json(exclude=set(TRIMMED_LISTS)))


@dataclass
class OrderSize:
    """``bounded_work_per_message``: the order's size, measured once in a run and then
    accounted message by message, so that a message costs what it adds, not what the
    order holds.

    What a change request or an accepted change adds is measured on its own (an upper
    bound of the growth); the fields the tracker keeps up to date are bounded by their
    types and not followed, and the next run measures the order afresh.
    """

    chars: int | None = None

    def grow(self, order: PartyOrder, added: int) -> None:
        """Account ``added`` characters more, or refuse them (MessageRejected) past the
        limit; nothing is accounted for a refused message."""
        if self.chars is None:
            self.chars = order_chars(order)
        size = self.chars + added
        if size > ORDER_CHARS_LIMIT:
            raise MessageRejected(
                f"the order would be {size} characters of JSON; at most"
                f" {ORDER_CHARS_LIMIT} are kept (change requests and items are bounded"
                " together)"
            )
        self.chars = size


@dataclass(frozen=True)
class Tracking:
    """One order's tracking as the rooms see it: its state and the rules it follows."""

    state: TrackerState
    rules: Rules
    # The request ids of ``state.applied_request_ids`` as a set, for quick lookups.
    applied: set[str]
    # ``bounded_work_per_message``: the order's size as accounted in this run.
    size: OrderSize = field(default_factory=lambda: OrderSize())

    @property
    def order(self) -> PartyOrder:
        return self.state.order

    @property
    def limits(self) -> Limits:
        return self.rules.limits

    def new_id(self, prefix: str) -> str:
        """The next number of this tracking's sequence (never reused), with a prefix."""
        number = self.state.next_sequence
        self.state.next_sequence += 1
        return f"{prefix}-{number}"


def cut(text: str | None, limit: int | None) -> str | None:
    """``text`` cut to ``limit`` characters (an ellipsis marks the cut)."""
    if text is None or limit is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


def require_open(t: Tracking, what: str) -> None:
    if not is_watched(t.order):
        raise MessageRejected(
            f"order {t.order.id} is {t.order.state}: {what} is no longer accepted"
        )


def transition(t: Tracking, target: OrderState, now: datetime, reason: str | None) -> None:
    """Move the order to ``target`` if its rules' state machine allows it, and record it."""
    order = t.order
    check_transition(order.state, target, t.rules)
    order.state_history.append(
        StateChange(at=now, from_state=order.state, to_state=target, reason=reason)
    )
    order.state = target
    order.state_reason = reason
    follow_state(order, now)  # stop or restart the order's clock (pauseWhile)
    limits = t.limits
    if limits.state_history is not None:
        order.state_history[-1].reason = cut(reason, limits.text_chars)
        del order.state_history[: -limits.state_history]
