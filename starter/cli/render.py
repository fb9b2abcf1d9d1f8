"""Orders, lists and reports as a person reads them in a terminal."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starter.client import (
    OrderSummary,
    PortfolioReport,
    TrackingRun,
)
from starter.scorecard import PartyScore
from workflows.domain.checkpoints import next_checkpoint
from workflows.domain.instants import in_words, iso
from workflows.domain.model import PartyOrder
from workflows.domain.notes import latest_notes
from workflows.domain.pause import paused_text

NOTES_SHOWN = 5
ALERTS_SHOWN = 5


def when(instant: datetime | None) -> str:
    if instant is None:
        return "-"
    return iso(instant.astimezone(UTC), "seconds")


def relative(instant: datetime | None, now: datetime) -> str:
    """``in 3m`` / ``5h ago``: how far ``instant`` is from ``now``, roughly."""
    if instant is None:
        return ""
    seconds = (instant - now).total_seconds()
    size = abs(seconds)
    for unit, length in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if size >= length:
            amount = f"{int(size // length)}{unit}"
            break
    else:
        amount = f"{int(size)}s"
    return f"in {amount}" if seconds >= 0 else f"{amount} ago"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = []
    for row in (headers, *rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return lines


def to_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def tracking_text(run: TrackingRun) -> list[str]:
    """What a person must know before the order itself: tracking that was terminated, or
    a workflow task failing over and over (nothing arriving is applied meanwhile)."""
    if run.terminated:
        reason = f" ({run.terminated_reason})" if run.terminated_reason else ""
        return [
            f"Tracking terminated{reason}: the workflow was ended by Temporal's Terminate, so"
            " nothing more is applied and nobody was told. Below is the order as last known."
        ]
    if run.failing_attempts:
        return [
            f"Tracking is stuck: its workflow task has failed {run.failing_attempts} time(s)"
            " in a row (see the worker's log). Messages wait, unapplied, and are applied"
            " once a retry succeeds."
        ]
    return []


def order_text(order: PartyOrder, now: datetime) -> list[str]:
    """The order for a person: the facts first, then items, milestones, checkpoints,
    changes, alerts and notes, each section left out when it has nothing to show."""
    lines = [f"Order {order.id}" + (f": {order.description}" if order.description else "")]
    lines += [f"  {label:<12} {text}" for label, text in _facts(order, now)]
    for section in (
        _items,
        _milestones,
        _checkpoints,
        _change_requests,
        _recent_alerts,
        _latest_notes,
    ):
        if body := section(order):
            lines += ["", *body]
    return lines + _trouble(order)


def _facts(order: PartyOrder, now: datetime) -> list[tuple[str, str]]:
    """The labelled rows at the top; a jeopardy's reasons follow as rows without a label."""
    party = order.party
    contact = f" <{party.contact_email}>" if party.contact_email else ""
    process = order.originating_process
    rows = [
        ("Party", f"{party.name} ({party.id}, {party.role}){contact}"),
        ("Originating", process.name + (f" ({process.reference})" if process.reference else "")),
        ("State", order.state.value + (f": {order.state_reason}" if order.state_reason else "")),
        ("Progress", _progress(order)),
        ("Due", _due(order, now)),
        ("Jeopardy", _jeopardy(order)),
        *(("", f"- {reason}") for reason in order.jeopardy.reasons),
        ("Check-ins", _check_ins(order, now)),
    ]
    if paused := paused_text(order, now):
        rows.append(("Paused", paused))
    if order.completion_date:
        rows.append(("Completed", when(order.completion_date)))
    if order.cancellation:
        rows.append(("Cancellation", _cancellation(order)))
    if not order.is_final and (upcoming := next_checkpoint(order)) is not None:
        rows.append(("Checkpoint", f"next: {upcoming.what} at {when(upcoming.at)}"))
    return rows


def _progress(order: PartyOrder) -> str:
    text = f"{order.percent_complete}% complete"
    if order.last_progress_at:
        text += f", last report {when(order.last_progress_at)}"
    if order.last_note:
        text += f" ({order.last_note})"
    return text


def _due(order: PartyOrder, now: datetime) -> str:
    dates = []
    if order.expected_completion_date:
        dates.append(f"expected {when(order.expected_completion_date)}")
    if order.requested_completion_date:
        dates.append(f"requested {when(order.requested_completion_date)}")
    return f"{when(order.due_date)} ({relative(order.due_date, now)}); " + ", ".join(dates)


def _jeopardy(order: PartyOrder) -> str:
    jeopardy = order.jeopardy
    text = jeopardy.status.value
    if jeopardy.since:
        text += f" since {when(jeopardy.since)}"
    return text + f", escalation level {jeopardy.escalation_level}"


def party_time(order: PartyOrder, instant: datetime) -> str:
    """``instant`` in UTC, and in the party's own time zone when it has a calendar (its
    check-ins fall in its working hours, and that is how its people read them)."""
    calendar = order.party.calendar
    if calendar is None:
        return when(instant)
    local = instant.astimezone(ZoneInfo(calendar.time_zone))
    return f"{when(instant)} ({local:%Y-%m-%d %H:%M} {calendar.time_zone})"


def _check_ins(order: PartyOrder, now: datetime) -> str:
    check_ins = order.check_ins
    text = f"{check_ins.sent} sent, {check_ins.unanswered_streak} unanswered in a row"
    if check_ins.answer_by and not order.is_final:
        text += f"; answer due by {party_time(order, check_ins.answer_by)}"
    if check_ins.next_at and not order.is_final:
        text += f"; next {party_time(order, check_ins.next_at)}, {relative(check_ins.next_at, now)}"
    return text


def _cancellation(order: PartyOrder) -> str:
    cancel = order.cancellation
    assert cancel is not None
    text = cancel.reason or "no reason given"
    if cancel.requested_by:
        text += f" (by {cancel.requested_by})"
    if cancel.cancellation_date:
        text += f", cancelled {when(cancel.cancellation_date)}"
    return text


def _titled_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return [title, *("  " + line for line in table(headers, rows))]


def _items(order: PartyOrder) -> list[str]:
    # Items are shown once they are tracked one by one (an item with a state).
    if not any(item.state is not None for item in order.order_items):
        return []
    return _titled_table(
        "Items",
        ["ID", "DESCRIPTION", "QTY", "STATE", "PERCENT", "FORECAST"],
        [
            [
                item.id,
                item.description or "",
                str(item.quantity),
                item.state.value if item.state else "-",
                "-" if item.percent_complete is None else f"{item.percent_complete}%",
                when(item.expected_completion_date),
            ]
            for item in order.order_items
        ],
    )


def _milestones(order: PartyOrder) -> list[str]:
    if not order.milestones:
        return []
    return _titled_table(
        "Milestones",
        ["ID", "NAME", "DUE", "STATUS", "COMPLETED", "ITEMS"],
        [
            [
                m.id,
                m.name or "",
                when(m.milestone_date),
                m.status.value,
                when(m.completed_at),
                ", ".join(m.order_item_ids or []),
            ]
            for m in order.milestones
        ],
    )


def _checkpoints(order: PartyOrder) -> list[str]:
    if not order.checkpoints:
        return []
    return _titled_table(
        "Checkpoints",
        ["ID", "NAME", "DATE", "ASKED"],
        [[c.id, c.name or "", when(c.date), when(c.asked_at)] for c in order.checkpoints],
    )


def _change_requests(order: PartyOrder) -> list[str]:
    if not order.change_requests:
        return []
    open_count = sum(1 for c in order.change_requests if c.open)
    return _titled_table(
        f"Change requests ({open_count} open)",
        ["ID", "ORIGIN", "KIND", "STATUS", "RECEIVED", "REASON"],
        [
            [c.id, c.origin, c.kind, c.status, when(c.received_at), c.reason or ""]
            for c in sorted(order.change_requests, key=lambda c: not c.open)
        ],
    )


def _recent_alerts(order: PartyOrder) -> list[str]:
    if not order.jeopardy_alerts:
        return []
    lines = ["Recent alerts"]
    for alert in order.jeopardy_alerts[-ALERTS_SHOWN:]:
        items = f" [items {', '.join(i.id for i in alert.order_item)}]" if alert.order_item else ""
        lines.append(
            f"  {when(alert.alert_date)}  {alert.jeopardy_type:<8}"
            f" {alert.name}: {alert.message}{items}"
        )
    return lines


def _latest_notes(order: PartyOrder) -> list[str]:
    if not order.notes:
        return []
    return [
        f"Latest notes ({order.note_count} in all)",
        *(
            f"  {when(note.date)}  {note.author}: {note.text}"
            for note in latest_notes(order, NOTES_SHOWN)
        ),
    ]


def _trouble(order: PartyOrder) -> list[str]:
    """The messages the order rejected, and the notifications it could not deliver."""
    rejected = f"Rejected messages: {order.rejected_message_count}"
    if order.rejected_messages:
        last = order.rejected_messages[-1]
        rejected += f" (latest {when(last.received_at)}, {last.message}: {last.error})"
    lines = ["", rejected]
    if order.delivery_failures:
        lines.append(f"Undelivered notifications: {len(order.delivery_failures)}")
    return lines


def list_text(orders: Sequence[OrderSummary], now: datetime) -> list[str]:
    if not orders:
        return ["No orders match."]
    return table(
        ["ORDER", "PARTY", "STATE", "JEOPARDY", "LEVEL", "DUE", "PROCESS", "RUN"],
        [
            [
                o.order_id,
                o.party_id or "-",
                o.state or "-",
                o.jeopardy or "-",
                "-" if o.escalation_level is None else str(o.escalation_level),
                f"{when(o.due_date)} ({relative(o.due_date, now)})" if o.due_date else "-",
                o.originating_process or "-",
                o.status,
            ]
            for o in orders
        ],
    )


def report_text(report: PortfolioReport, now: datetime) -> list[str]:
    lines = [
        f"Party orders at {when(report.generated_at)}: {report.total} tracked, {report.open} open",
        "",
        "By state (all orders)",
    ]
    lines += [f"  {state:<20} {count:>6}" for state, count in report.by_state.items()]
    lines += ["", "By jeopardy (open orders)"]
    lines += [f"  {status:<20} {count:>6}" for status, count in report.by_jeopardy.items()]
    lines += ["", f"Needing attention: {len(report.attention)} (critical or escalated)"]
    if report.attention:
        lines += ["  " + line for line in list_text(report.attention, now)]
    return lines


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _number(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:g}{unit}"


def scorecard_text(scores: Sequence[PartyScore]) -> list[str]:
    """The supplier scorecard as a table, one party a row."""
    if not scores:
        return ["No orders."]
    rows = [
        [
            f"{s.party_name} ({s.party_id})",
            str(s.orders),
            str(s.open),
            ", ".join(f"{count} {state}" for state, count in s.ended.items()) or "-",
            _rate(s.on_time_rate),
            _number(s.mean_slip_days, "d"),
            _number(s.worst_slip_days, "d"),
            _rate(s.check_in_response_rate),
            "-"
            if s.median_response_hours is None
            else in_words(timedelta(hours=s.median_response_hours)),
            f"{s.change_requests_per_order:g}",
            f"{s.jeopardy_episodes_per_order:g}",
        ]
        for s in scores
    ]
    headers = [
        "PARTY",
        "ORDERS",
        "OPEN",
        "ENDED",
        "ON TIME",
        "MEAN SLIP",
        "WORST SLIP",
        "CHECK-INS ANSWERED",
        "MEDIAN ANSWER",
        "CHANGES/ORDER",
        "JEOPARDY/ORDER",
    ]
    return table(headers, rows)
