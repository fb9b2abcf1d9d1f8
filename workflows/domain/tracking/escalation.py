"""Jeopardy and escalation: episodes, levels, reminders, acknowledgement, milestone alerts.

An episode begins when the order falls into jeopardy and ends when it is out of it. Its
levels are told in turn as the order's clock passes each level's ``after``. Under
``never_silent_escalation`` every worsening is told at once, the top contact is reminded
until someone acknowledges, and an episode that clears and returns within
``reopenWithin`` goes on at the level it reached.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from workflows.domain.bounds import (
    ALERT_ITEM_REFS_CHARS,
    ALERT_ITEM_REFS_KEPT,
    CAUSE_CHARS,
    JEOPARDY_REASONS_CHARS,
    JEOPARDY_REASONS_KEPT,
)
from workflows.domain.deadlines import episode_over_at, reminder_due
from workflows.domain.effects import Effect
from workflows.domain.instants import iso
from workflows.domain.items import has_no_deadline
from workflows.domain.jeopardy import Assessment, is_watched
from workflows.domain.messages import EscalationAcknowledgement
from workflows.domain.model import (
    ClearedEpisode,
    EscalationLevel,
    JeopardyAlert,
    JeopardyStatus,
    Milestone,
    MilestoneStatus,
    OrderItemRef,
)
from workflows.domain.notes import add_note
from workflows.domain.pause import active_time
from workflows.domain.tracking.context import MessageRejected, Tracking, cut, require_open
from workflows.domain.tracking.notices import notify_contact, notify_party, one_event

RANK = {JeopardyStatus.NONE: 0, JeopardyStatus.HAZARD: 1, JeopardyStatus.CRITICAL: 2}


@dataclass(frozen=True)
class JeopardyUpdate:
    """What recording an assessment did: the notices it sends, and whether it worsened."""

    effects: list[Effect] = field(default_factory=list)
    worsened: bool = False


def set_jeopardy(t: Tracking, assessment: Assessment, now: datetime) -> JeopardyUpdate:
    """Record the assessment: a change of jeopardy is a JeopardyAlert, clearing ends (or,
    under ``never_silent_escalation``, suspends) the episode.

    Under ``never_silent_escalation`` only a worsening is an alert: ``none`` to
    ``hazard``, ``hazard`` to ``critical``, or a critical reason not there before. The
    rules before it raise an alert for every change of status.
    """
    jeopardy = t.order.jeopardy
    never_silent = t.rules.never_silent_escalation
    previous = jeopardy.status
    causes = assessment.critical_causes
    known: set[str] | list[str] = jeopardy.critical_causes
    if t.rules.bounds_every_record:
        # Causes kept by older rules (an order continued onto rules 5) compare as keys.
        causes = tuple(cause_key(c) for c in causes)
        known = {cause_key(c) for c in jeopardy.critical_causes}
    new_causes = [c for c in causes if c not in known]
    jeopardy.reasons = (
        kept_reasons(assessment.reasons)
        if t.rules.bounds_every_record
        else list(assessment.reasons)
    )
    if never_silent:
        jeopardy.critical_causes = list(causes)
    jeopardy.status = assessment.status
    if assessment.status == JeopardyStatus.NONE:
        return JeopardyUpdate(_clear(t, previous, now))
    worse = RANK[assessment.status] > RANK[previous] or bool(new_causes)
    if (
        never_silent
        and not worse
        and t.rules.alerts_follow_status
        and assessment.status != previous
    ):
        # Better, not cleared (critical to hazard): the alert log follows the status,
        # with nobody paged for an improvement.
        raise_alert(
            t,
            "hazard",
            "Order hazard",
            assessment.reasons[0] if assessment.reasons else "",
            "; ".join(assessment.reasons),
            now,
        )
        return JeopardyUpdate()
    if not (worse if never_silent else assessment.status != previous):
        return JeopardyUpdate()
    if previous == JeopardyStatus.NONE:
        _begin_episode(t, now)
    if never_silent:
        jeopardy.worsened_at = now
    raise_alert(
        t,
        "critical" if assessment.status == JeopardyStatus.CRITICAL else "hazard",
        f"Order {assessment.status.value}",
        assessment.reasons[0] if assessment.reasons else "",
        "; ".join(assessment.reasons),
        now,
        assessment.order_items,
    )
    return JeopardyUpdate(worsened=worse)


def _clear(t: Tracking, previous: JeopardyStatus, now: datetime) -> list[Effect]:
    """The order is out of jeopardy. Under ``never_silent_escalation`` the episode is
    remembered for ``reopenWithin``: should it return by then it goes on at the level
    reached, so a flapping order still climbs; its contacts hear that it is over once it
    can no longer return (or the order ends). Before, they hear it at once."""
    order = t.order
    jeopardy = order.jeopardy
    if previous == JeopardyStatus.NONE:
        return []
    fired = [
        lvl for lvl in order.tracking_policy.escalation if lvl.level <= jeopardy.escalation_level
    ]
    raise_alert(
        t, "cleared", "Jeopardy cleared", "none", f"Order {order.id} is no longer in jeopardy", now
    )
    if not t.rules.never_silent_escalation:
        jeopardy.since = None
        jeopardy.escalation_level = 0
        return one_event(
            [
                notify_contact(
                    t,
                    level.notify,
                    "deEscalation",
                    f"Order {order.id} is no longer in jeopardy (was {previous})",
                    now,
                    {"level": level.level, "state": order.state.value},
                )
                for level in fired
            ]
        )
    assert jeopardy.since is not None
    jeopardy.cleared_episode = ClearedEpisode(
        since=jeopardy.since,
        escalation_level=jeopardy.escalation_level,
        cleared_at=now,
        acknowledged_by=jeopardy.acknowledged_by,
        acknowledged_at=jeopardy.acknowledged_at,
        acknowledged_level=jeopardy.acknowledged_level,
    )
    jeopardy.since = None
    jeopardy.escalation_level = 0
    return [] if is_watched(order) else close_cleared_episode(t, now)


def _begin_episode(t: Tracking, now: datetime) -> None:
    """A new episode: escalation starts over. Under ``never_silent_escalation``, the last
    one again if it cleared within ``reopenWithin``."""
    jeopardy = t.order.jeopardy
    if t.rules.never_silent_escalation:
        cleared = jeopardy.cleared_episode
        over_at = episode_over_at(t.order)
        jeopardy.cleared_episode = None
        if cleared is not None and over_at is not None and now < over_at:
            jeopardy.since = cleared.since
            jeopardy.escalation_level = cleared.escalation_level
            jeopardy.acknowledged_by = cleared.acknowledged_by
            jeopardy.acknowledged_at = cleared.acknowledged_at
            jeopardy.acknowledged_level = cleared.acknowledged_level
            return
    jeopardy.since = now
    jeopardy.escalation_level = 0
    if t.rules.never_silent_escalation:
        jeopardy.last_escalated_at = None
        jeopardy.acknowledged_by = None
        jeopardy.acknowledged_at = None
        jeopardy.acknowledged_level = None
        jeopardy.acknowledged_note = None


def end_episode(t: Tracking) -> None:
    """The episode ends without clearing (the order failed): nothing is left of it."""
    jeopardy = t.order.jeopardy
    jeopardy.status = JeopardyStatus.NONE
    jeopardy.reasons = []
    jeopardy.critical_causes = []
    jeopardy.since = None
    jeopardy.escalation_level = 0
    jeopardy.cleared_episode = None


def close_cleared_episode(t: Tracking, now: datetime) -> list[Effect]:
    """The cleared episode is over: each contact escalated to hears it."""
    order = t.order
    cleared = order.jeopardy.cleared_episode
    over_at = episode_over_at(order)
    if cleared is None or over_at is None or (is_watched(order) and now < over_at):
        return []
    order.jeopardy.cleared_episode = None
    return one_event(
        [
            notify_contact(
                t,
                level.notify,
                "deEscalation",
                f"Order {order.id} is no longer in jeopardy",
                now,
                {"level": level.level, "state": order.state.value},
            )
            for level in order.tracking_policy.escalation
            if level.level <= cleared.escalation_level
        ]
    )


def escalate(t: Tracking, now: datetime) -> list[Effect]:
    """Tell each level whose ``after`` has passed on the order's clock, in turn."""
    order = t.order
    jeopardy = order.jeopardy
    if jeopardy.status == JeopardyStatus.NONE or jeopardy.since is None:
        return []
    effects: list[Effect] = []
    for level in order.tracking_policy.escalation:
        if level.level <= jeopardy.escalation_level:
            continue
        if active_time(order, jeopardy.since, now) < level.after:
            continue  # "after" counts the order's clock (paused time excluded)
        jeopardy.escalation_level = level.level
        if t.rules.never_silent_escalation:
            jeopardy.last_escalated_at = now
        effects.append(
            notify_contact(
                t,
                level.notify,
                "escalation",
                f"Order {order.id} in {jeopardy.status.value} jeopardy:"
                f" escalation level {level.level}",
                now,
                {"level": level.level, "reasons": jeopardy.reasons, "since": iso(jeopardy.since)},
            )
        )
    return effects


def keep_contacts_told(
    t: Tracking, update: JeopardyUpdate, escalated: list[Effect], now: datetime
) -> list[Effect]:
    """``never_silent_escalation`` after a wake-up's escalation: a worsening no level
    told is heard at once, a standing jeopardy is reminded of, a cleared episode that
    can no longer return is over."""
    order = t.order
    effects: list[Effect] = []
    if update.worsened and not escalated:
        # Heard by the contact of the highest level reached in the episode (a new
        # episode: level 1, which escalate() tells when its "after" is zero).
        effects.append(_tell_contact(t, "jeopardyWorsened", now))
    elif not escalated:
        reminder = reminder_due(order, t.rules)
        if reminder is not None and now >= reminder:
            effects.append(_tell_contact(t, "escalationReminder", now))
    if order.jeopardy.status == JeopardyStatus.NONE:
        effects += close_cleared_episode(t, now)
    return effects


def _tell_contact(t: Tracking, kind: str, now: datetime) -> Effect:
    """Tell the contact of the highest level reached (or level 1) how things stand."""
    order = t.order
    jeopardy = order.jeopardy
    level = _level_reached(t)
    jeopardy.last_escalated_at = now
    subject = f"Order {order.id} in {jeopardy.status.value} jeopardy" + (
        ": it got worse" if kind == "jeopardyWorsened" else ": still unresolved"
    )
    return notify_contact(
        t,
        level.notify if level else order.tracking_policy.order_manager,
        kind,
        subject,
        now,
        {
            "level": level.level if level else 0,
            "reasons": jeopardy.reasons,
            "since": iso(jeopardy.since) if jeopardy.since else None,
        },
    )


def _level_reached(t: Tracking) -> EscalationLevel | None:
    levels = t.order.tracking_policy.escalation
    reached = [lvl for lvl in levels if lvl.level <= t.order.jeopardy.escalation_level]
    if reached:
        return reached[-1]
    return levels[0] if levels else None


def check_milestones(t: Tracking, now: datetime) -> list[Effect]:
    """Mark the milestones whose date has come as violated: a JeopardyAlert each, and
    notices to the party and the order manager (``milestone_violated_once``: one notice
    to each listing every milestone violated at this instant, however many)."""
    once = t.rules.milestone_violated_once
    violated: list[tuple[Milestone, datetime, str]] = []
    for milestone in t.order.milestones:
        when = milestone.milestone_date
        if milestone.status != MilestoneStatus.YET_TO_REACH or when is None or now < when:
            continue
        if t.rules.cancelled_work_has_no_deadline and has_no_deadline(
            t.order, milestone.order_item_ids or []
        ):
            continue  # work cancelled by agreement has no deadline
        milestone.status = MilestoneStatus.VIOLATED
        if once:
            if milestone.violated_date == when:
                continue  # this date's violation was announced already
            milestone.violated_date = when
        text = (
            f"Milestone {milestone.id} ({milestone.name or milestone.id})"
            f" due {iso(when)} was not completed"
        )
        raise_alert(
            t, "critical", f"Milestone {milestone.id} violated", "milestoneViolated", text, now
        )
        violated.append((milestone, when, text))
    if not once:
        return [
            effect
            for milestone, when, text in violated
            for effect in _milestone_notices(
                t, text, now, {"milestoneId": milestone.id, "milestoneDate": iso(when)}
            )
        ]
    if not violated:
        return []
    first, first_date, text = violated[0]
    if len(violated) > 1:
        ids = ", ".join(milestone.id for milestone, _, _ in violated)
        text = f"{len(violated)} milestones were not completed by their dates: {ids}"
    body = {
        "milestoneId": first.id,
        "milestoneDate": iso(first_date),
        "milestones": [
            {"milestoneId": milestone.id, "milestoneDate": iso(when)}
            for milestone, when, _ in violated
        ],
    }
    return _milestone_notices(t, text, now, body)


def _milestone_notices(t: Tracking, text: str, now: datetime, body: dict[str, Any]) -> list[Effect]:
    manager = t.order.tracking_policy.order_manager
    return [
        notify_party(t, "milestoneViolated", text, now, body),
        notify_contact(t, manager, "milestoneViolated", text, now, body),
    ]


def raise_alert(
    t: Tracking,
    jeopardy_type: Literal["hazard", "critical", "cleared", "closed"],
    name: str,
    exception: str,
    message: str,
    now: datetime,
    order_items: tuple[str, ...] = (),
) -> None:
    """Record a TMF JeopardyAlert on the order (``bounded``: the newest, cut to size)."""
    order = t.order
    alerts = order.jeopardy_alerts
    limits = t.limits
    if t.rules.bounded:
        # Numbered by the count of all alerts, so ids stay unique once old ones go.
        order.jeopardy_alert_count = max(order.jeopardy_alert_count, len(alerts)) + 1
        number = order.jeopardy_alert_count
        message = cut(message, 2 * (limits.text_chars or 0)) or ""
        exception = cut(exception, limits.text_chars) or ""
    else:
        number = len(alerts) + 1
    if t.rules.bounds_every_record:
        name = cut(name, limits.text_chars) or ""
        order_items = kept_item_refs(order_items)
    alerts.append(
        JeopardyAlert(
            id=f"{order.id}-JA-{number}",
            name=name,
            alert_date=now,
            jeopardy_type=jeopardy_type,
            exception=exception,
            message=message,
            order_item=[OrderItemRef(id=i) for i in order_items] if order_items else None,
        )
    )
    if limits.jeopardy_alerts is not None:
        del alerts[: -limits.jeopardy_alerts]


def validate_acknowledgement(t: Tracking, message: EscalationAcknowledgement) -> None:
    """Raise MessageRejected unless the level named has been reached."""
    require_open(t, "an acknowledgement")
    jeopardy = t.order.jeopardy
    if jeopardy.status == JeopardyStatus.NONE:
        raise MessageRejected(
            f"order {t.order.id} is not in jeopardy: there is no escalation to acknowledge"
        )
    if message.level > jeopardy.escalation_level:
        raise MessageRejected(
            f"level: {message.level} has not been reached; the escalation is at level"
            f" {jeopardy.escalation_level}"
        )
    if t.rules.acknowledges_only_what_was_seen and message.level < jeopardy.escalation_level:
        # It would stop nothing: reminders go on until the current level is acknowledged.
        raise MessageRejected(
            f"level: {message.level} is below the current level; the escalation is at level"
            f" {jeopardy.escalation_level}, acknowledge that"
        )


def acknowledge_escalation(
    t: Tracking, message: EscalationAcknowledgement, now: datetime
) -> list[Effect]:
    """A contact has the escalation in hand: reminders stop until the next worsening."""
    validate_acknowledgement(t, message)
    jeopardy = t.order.jeopardy
    jeopardy.acknowledged_by = message.by
    jeopardy.acknowledged_at = now
    jeopardy.acknowledged_level = message.level
    jeopardy.acknowledged_note = message.note
    if t.rules.notes:
        add_note(t.order, message.by or "escalation contact", message.note, now)
    return []


def kept_item_refs(item_ids: tuple[str, ...]) -> tuple[str, ...]:
    """``bounds_every_record``: the first item ids that fit an alert's bound (count and
    characters); the order's items and the alert's message tell the rest."""
    kept: list[str] = []
    chars = 0
    for item_id in item_ids[:ALERT_ITEM_REFS_KEPT]:
        chars += len(item_id)
        if chars > ALERT_ITEM_REFS_CHARS:
            break
        kept.append(item_id)
    return tuple(kept)


def kept_reasons(reasons: tuple[str, ...]) -> list[str]:
    """``bounds_every_record``: the first reasons that fit the jeopardy's bound, and a
    last one saying how many more there are."""
    kept: list[str] = []
    chars = 0
    for reason in reasons[:JEOPARDY_REASONS_KEPT]:
        chars += len(reason)
        if chars > JEOPARDY_REASONS_CHARS:
            break
        kept.append(reason)
    if len(kept) < len(reasons):
        kept.append(f"and {len(reasons) - len(kept)} more reasons")
    return kept


def cause_key(cause: str) -> str:
    """``bounds_every_record``: a critical cause as kept, to tell new causes from known
    ones; a long one (a cause naming a long item id) as a digest of a bounded length."""
    if len(cause) <= CAUSE_CHARS:
        return cause
    return "#" + hashlib.sha256(cause.encode()).hexdigest()[:32]
