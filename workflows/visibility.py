"""What operators see of an order without querying it: search attributes and current details.

Search attributes feed ``temporal workflow list --query`` and the Web UI's list; the
current details are the short Markdown view on the workflow page ("User Metadata").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    SearchAttributeUpdate,
    TypedSearchAttributes,
)

from workflows.domain import names
from workflows.domain.checkpoints import next_checkpoint
from workflows.domain.deadlines import next_due
from workflows.domain.instants import iso
from workflows.domain.model import MilestoneStatus, PartyOrder
from workflows.domain.notes import latest_notes
from workflows.domain.pause import paused_text
from workflows.domain.rules import Rules

NOTES_SHOWN = 3  # the newest notes in the current details
ITEMS_SHOWN = 10  # items listed one by one; more are counted

STATE = SearchAttributeKey.for_keyword(names.SA_STATE)
JEOPARDY = SearchAttributeKey.for_keyword(names.SA_JEOPARDY)
ESCALATION_LEVEL = SearchAttributeKey.for_int(names.SA_ESCALATION_LEVEL)
PARTY_ID = SearchAttributeKey.for_keyword(names.SA_PARTY_ID)
ORIGINATING_PROCESS = SearchAttributeKey.for_keyword(names.SA_ORIGINATING_PROCESS)
DUE_DATE = SearchAttributeKey.for_datetime(names.SA_DUE_DATE)


def search_attribute_values(order: PartyOrder) -> dict[str, Any]:
    """The contract's search attributes, keyed by name, for the order as it is."""
    return {
        STATE.name: order.state.value,
        JEOPARDY.name: order.jeopardy.status.value,
        ESCALATION_LEVEL.name: order.jeopardy.escalation_level,
        PARTY_ID.name: order.party.id,
        ORIGINATING_PROCESS.name: order.originating_process.name,
        DUE_DATE.name: order.due_date,
    }


# The contract's search attributes, typed (a server must know them before a workflow sets
# them: `party-orders up`, and the test and benchmark servers, register them).
CONTRACT_SEARCH_ATTRIBUTES: list[SearchAttributeKey[Any]] = [
    STATE,
    JEOPARDY,
    ESCALATION_LEVEL,
    PARTY_ID,
    ORIGINATING_PROCESS,
    DUE_DATE,
]
_KEYS: dict[str, SearchAttributeKey[Any]] = {key.name: key for key in CONTRACT_SEARCH_ATTRIBUTES}


def typed_search_attributes(order: PartyOrder) -> TypedSearchAttributes:
    """All of the order's search attributes, typed, as a starter sets them."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(_KEYS[name], value)
            for name, value in search_attribute_values(order).items()
        ]
    )


def contract_values(attributes: TypedSearchAttributes) -> dict[str, Any]:
    """The contract's attributes among ``attributes`` (as a start set them), by name."""
    return {pair.key.name: pair.value for pair in attributes if pair.key.name in _KEYS}


def changed_pairs(
    values: dict[str, Any], published: dict[str, Any]
) -> list[SearchAttributeUpdate[Any]]:
    """Only the attributes whose value differs from what was last upserted."""
    return [
        _KEYS[name].value_set(value)
        for name, value in values.items()
        if published.get(name) != value
    ]


def _when(instant: datetime) -> str:
    """A date-time for people: to the second."""
    return iso(instant, "seconds")


def details_markdown(order: PartyOrder, now: datetime, rules: Rules) -> str:
    """The current details shown in the Web UI: state, progress, jeopardy, what is next
    (by the order's own rules)."""
    jeopardy = order.jeopardy
    lines = [
        f"**{order.id}** with {order.party.name} ({order.party.id})",
        "",
        f"- State: **{order.state.value}**",
        f"- Percent complete: {order.percent_complete}%",
        f"- Due: {_when(order.due_date)}",
        f"- Jeopardy: **{jeopardy.status.value}**"
        + (f", escalation level {jeopardy.escalation_level}" if jeopardy.escalation_level else ""),
    ]
    if jeopardy.reasons:
        # One line: the Web UI's Markdown renderer does not nest sub-bullets.
        lines.append(f"- Why: {'; '.join(jeopardy.reasons)}")
    upcoming = [
        m
        for m in order.milestones
        if m.status == MilestoneStatus.YET_TO_REACH and m.milestone_date is not None
    ]
    if upcoming:
        first = min(upcoming, key=lambda m: m.milestone_date or now)
        lines.append(
            f"- Next milestone: {first.name or first.id} on {_when(first.milestone_date or now)}"
        )
    violated = [m.id for m in order.milestones if m.status == MilestoneStatus.VIOLATED]
    if violated:
        lines.append(f"- Violated milestones: {', '.join(violated)}")
    if order.check_ins.next_at is not None and not order.is_final:
        lines.append(
            f"- Next check-in: {_when(order.check_ins.next_at)}"
            f" ({order.check_ins.sent} sent, {order.check_ins.unanswered_streak} unanswered)"
        )
    pause_line = paused_text(order, now)
    if pause_line:
        lines.append(f"- {pause_line}")
    if not order.is_final:
        checkpoint = next_checkpoint(order)
        if checkpoint is not None:
            lines.append(f"- Next checkpoint: {checkpoint.what} at {_when(checkpoint.at)}")
    open_changes = [c.id for c in order.change_requests if c.open]
    lines.append(f"- Open change requests: {', '.join(open_changes) if open_changes else 'none'}")
    lines += _items_lines(order)
    notes = latest_notes(order, NOTES_SHOWN)
    # Flat bullets: the Web UI's Markdown renderer does not nest sub-bullets.
    lines += [f"- Note {_when(n.date)}, {n.author}: {_one_line(n.text)}" for n in notes]
    if order.note_count > len(notes):
        lines.append(f"- Notes in all: {order.note_count}")
    due = next_due(order, now, rules)
    if due is not None:
        lines.append(f"- Next due: {due.what} at {_when(due.at)}")
    return "\n".join(lines)


def _items_lines(order: PartyOrder) -> list[str]:
    """The order items with their states and forecasts (rules 3; older items have none)."""
    tracked = [item for item in order.order_items if item.state is not None]
    if not tracked:
        return []
    lines = []
    for item in tracked[:ITEMS_SHOWN]:
        text = f"- Item {item.id}"
        if item.description:
            text += f" ({_one_line(item.description, 60)})"
        text += f": **{item.state}**"
        if item.percent_complete is not None:
            text += f", {item.percent_complete}%"
        if item.expected_completion_date is not None:
            text += f", forecast {_when(item.expected_completion_date)}"
        lines.append(text)
    if len(tracked) > ITEMS_SHOWN:
        lines.append(f"- Items not listed: {len(tracked) - ITEMS_SHOWN} more")
    return lines


def _one_line(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
