"""Inbound messages: validated, applied once per request id, or recorded as rejected.

Nothing raises out of ``handle``: a message that cannot be applied is recorded in
``rejectedMessages`` with the reason, and the order is left as it was. Under
``bounded`` a message that would make the order too large is refused (the size guard).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from workflows.domain.bounds import APPLIED_REQUEST_IDS_KEPT, LIMITS_V1, ORDER_CHARS_LIMIT, Limits
from workflows.domain.checkpoints import pre_rules_3_fields
from workflows.domain.effects import Effect
from workflows.domain.messages import (
    MESSAGE_MODELS,
    CancelRequest,
    ChangeRequestMessage,
    ChangeResolution,
    CheckInRequest,
    EscalationAcknowledgement,
    InboundMessage,
    ProgressReport,
    StateChangeRequest,
    describe_validation_error,
    describe_value,
)
from workflows.domain.model import PartyOrder, RejectedMessage, check_item_chars
from workflows.domain.tracking.changes import request_change, resolve_change
from workflows.domain.tracking.check_ins import check_in_now
from workflows.domain.tracking.context import (
    MessageRejected,
    TrackerState,
    Tracking,
    cut,
    order_chars,
)
from workflows.domain.tracking.ending import cancel, change_state, validate_state_change
from workflows.domain.tracking.escalation import acknowledge_escalation, validate_acknowledgement
from workflows.domain.tracking.progress import report_progress
from workflows.domain.tracking.window import message_key, payload_digest
from workflows.domain.wire import from_wire

_HANDLERS: dict[type, Callable[[Tracking, Any, datetime], list[Effect]]] = {
    ProgressReport: report_progress,
    ChangeRequestMessage: request_change,
    ChangeResolution: resolve_change,
    CancelRequest: cancel,
    CheckInRequest: check_in_now,
    StateChangeRequest: change_state,
    EscalationAcknowledgement: acknowledge_escalation,
}


def handle(t: Tracking, name: str, payload: Any, now: datetime) -> list[Effect]:
    """Validate and apply one inbound signal payload (already decoded from JSON)."""
    model = MESSAGE_MODELS.get(name)
    if model is None:
        reject(t, name, payload, f"unknown message {name!r}", now)
        return []
    try:
        message = from_wire(model, payload, strict=t.rules.strict_wire)
    except ValidationError as error:
        reject(t, name, payload, describe_validation_error(error), now)
        return []
    return apply(t, name, message, payload, now)


def apply(
    t: Tracking, name: str, message: InboundMessage, payload: Any, now: datetime
) -> list[Effect]:
    """Apply one validated message, once per request id (``once_per_message_name``: per
    message name); ``payload`` is what arrived, kept with the reason if it is refused."""
    refused = refused_by_rules(t, message)
    if refused is not None:
        reject(t, name, payload, refused, now)
        return []
    if t.rules.once_per_message_name:
        return _apply_once_per_name(t, name, payload, message, now)
    if already_applied(t, message.request_id):
        return []
    try:
        effects = _HANDLERS[type(message)](t, message, now)
    except (MessageRejected, ValueError) as error:
        reject(t, name, payload, str(error), now)
        return []
    _remember(t, message.request_id)
    return effects


def _apply_once_per_name(
    t: Tracking, name: str, payload: Any, message: InboundMessage, now: datetime
) -> list[Effect]:
    """Exactly once per message name, and an order that stays bounded."""
    try:
        if _check_request_id(t, name, message.request_id, payload):
            return []  # the same message again: applied once already
    except MessageRejected as error:
        reject(t, name, payload, str(error), now)
        return []
    # Only change requests and their resolutions can make the order grow beyond the
    # bounds of its fields (more requests, more items); one that fails half-way, or
    # would make the order too large, leaves the order exactly as it was. Every other
    # message is checked in full before it changes anything.
    grows = isinstance(message, ChangeRequestMessage | ChangeResolution)
    # ``bounded_work_per_message``: the handlers check everything before they change
    # the order, the size included (accounted, not measured), so nothing is to undo and
    # the work stays that of the message. Before it, the whole state was serialised to
    # undo a refusal, and the order serialised to measure it: work that grew with it.
    grows = grows and not t.rules.bounded_work_per_message
    before = t.state.model_dump_json() if grows else None
    try:
        effects = _HANDLERS[type(message)](t, message, now)
        if grows and t.rules.bounded:
            _check_size(t)
    except (MessageRejected, ValueError) as error:
        if before is not None:
            _restore(t, TrackerState.model_validate_json(before))
        reject(t, name, payload, str(error), now)
        return []
    _remember_per_name(t, name, message.request_id, payload, now)
    return effects


def refused_by_rules(t: Tracking, message: InboundMessage) -> str | None:
    """Why the order's rules refuse a message the models accept, if they do.

    ``old_message_models``: the models of rules 1 and 2 refused the fields rules 3
    brought (unknown fields); such a message was rejected then, and is rejected on
    replay and on an order still tracked by those rules."""
    if t.rules.old_message_models and (unknown := _unknown_before_rules_3(message)):
        return unknown
    if not t.rules.bounds_what_senders_give and isinstance(message, ChangeRequestMessage):
        # The models of rules 1 to 4 measured a changed item with any state given in it.
        for item in message.changes.order_items or []:
            try:
                check_item_chars(item, tracked=True)
            except ValueError as error:
                return f"changes.orderItems: {error}"
    return None


def already_applied(t: Tracking, request_id: str | None, name: str | None = None) -> bool:
    """Whether this message was applied (``once_per_message_name``: per message name)."""
    if request_id is None:
        return False
    if t.rules.once_per_message_name and name is not None:
        key = _message_key(name, request_id)
        if t.rules.long_duplicate_window:
            window = t.state.applied_window
            if window.payload_of(message_key(name, request_id)) is not None:
                return True
        return key in t.state.applied_messages or request_id in t.applied
    return request_id in t.applied


def validate_update(
    t: Tracking, name: str, payload: Any, messages_pending: bool = False
) -> InboundMessage:
    """The update's message; ValueError, with a readable reason, for one to refuse.

    Run by the workflow's update validators, so that a refused update never enters the
    history, and by the update handler on the order as it is once the messages before it
    are applied. A repeat of an applied update is accepted (and not applied twice). With
    ``messages_pending`` (messages queued before it may yet move the order) only the
    payload and the rules are judged.
    """
    model = MESSAGE_MODELS[name]
    try:
        message = from_wire(model, payload, strict=t.rules.strict_wire)
    except ValidationError as error:
        raise ValueError(describe_validation_error(error)) from None
    refused = refused_by_rules(t, message)
    if refused is not None:
        raise ValueError(refused)
    if messages_pending:
        return message
    if t.rules.once_per_message_name:
        if _check_request_id(t, name, message.request_id, payload):
            return message
    elif already_applied(t, message.request_id):
        return message
    if isinstance(message, StateChangeRequest):
        validate_state_change(t, message)
    elif isinstance(message, EscalationAcknowledgement):
        validate_acknowledgement(t, message)
    return message


def reject(t: Tracking, name: str, payload: Any, error: str, now: datetime) -> None:
    """Record a message that could not be applied, so that nothing is silently lost."""
    order = t.order
    limits = t.limits
    order.rejected_message_count += 1
    order.rejected_messages.append(rejected_message(name, payload, error, now, limits))
    # The newest records are kept; the count and the workflow history keep the rest.
    del order.rejected_messages[: -limits.rejected_messages]


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
        error=cut(error, limits.text_chars) or "",
        payload=text[: limits.rejected_payload_chars],
    )


def _check_request_id(t: Tracking, name: str, request_id: str | None, payload: Any) -> bool:
    """True for a repeat of an applied message; MessageRejected for a reused id."""
    if request_id is None:
        return False
    seen = t.state.applied_messages.get(_message_key(name, request_id))
    if t.rules.long_duplicate_window:
        kept = t.state.applied_window.payload_of(message_key(name, request_id))
        if kept is not None:
            if kept != payload_digest(_digest(payload)):
                raise MessageRejected(
                    f"requestId {describe_value(request_id)} already used for a different"
                    f" {name} message"
                )
            return True
    if seen is None:
        # Applied under rules 1, before this order moved on to rules 2: its content
        # was not kept, so any message with that id counts as the repeat.
        return request_id in t.applied
    if seen != _digest(payload):
        raise MessageRejected(
            f"requestId {describe_value(request_id)} already used for a different {name} message"
        )
    return True


def _remember_per_name(
    t: Tracking, name: str, request_id: str | None, payload: Any, now: datetime
) -> None:
    if request_id is None:
        return
    applied = t.state.applied_messages
    if t.rules.long_duplicate_window:
        window = t.state.applied_window
        if applied:
            # An order continued onto rules 5: the ids its older rules kept move over.
            for key, digest in applied.items():
                window.remember(message_key(*key.split("/", 1)), payload_digest(digest), now)
            applied.clear()
        window.remember(message_key(name, request_id), payload_digest(_digest(payload)), now)
        return
    applied[_message_key(name, request_id)] = _digest(payload)
    while len(applied) > t.limits.applied_messages:
        del applied[next(iter(applied))]  # the oldest


def _remember(t: Tracking, request_id: str | None) -> None:
    if request_id is None:
        return
    ids = t.state.applied_request_ids
    ids.append(request_id)
    t.applied.add(request_id)
    if len(ids) > APPLIED_REQUEST_IDS_KEPT:
        for old in ids[: len(ids) - APPLIED_REQUEST_IDS_KEPT]:
            t.applied.discard(old)
        del ids[: len(ids) - APPLIED_REQUEST_IDS_KEPT]


def _restore(t: Tracking, saved: TrackerState) -> None:
    """Put the saved state back into the same objects (callers may hold the order)."""
    for field in PartyOrder.model_fields:
        setattr(t.state.order, field, getattr(saved.order, field))
    for field in TrackerState.model_fields:
        if field != "order":
            setattr(t.state, field, getattr(saved, field))


def _check_size(t: Tracking) -> None:
    size = order_chars(t.order)
    if size > ORDER_CHARS_LIMIT:
        raise MessageRejected(
            f"the order would be {size} characters of JSON; at most"
            f" {ORDER_CHARS_LIMIT} are kept (change requests and items are bounded"
            " together)"
        )


def _message_key(name: str, request_id: str) -> str:
    return f"{name}/{request_id}"


def _digest(payload: Any) -> str:
    """A short fingerprint of a payload: the same JSON, in any key order, gives the same."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _unknown_before_rules_3(message: InboundMessage) -> str | None:
    """What a message carries that the models of rules 1 and 2 refused, if anything."""
    if isinstance(message, ProgressReport) and message.order_items is not None:
        return "orderItems: Extra inputs are not permitted"
    if isinstance(message, StateChangeRequest) and message.note is not None:
        return "note: Extra inputs are not permitted"
    if isinstance(message, ChangeRequestMessage):
        return pre_rules_3_fields(message.changes)
    return None
