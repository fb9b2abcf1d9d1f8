"""The rules versions an order can be tracked by, each a set of named capabilities.

An order keeps the rules it was started (or last continued) with: its history was made by
them, and replay must take the same path (docs/versioning.md). ``TrackerState`` stores
the version number; everything else reads the capabilities of ``rules_of(version)``, so
code says which rule it follows (``if rules.ties_loose_ends:``), not which version.

The table mirrors the patch table of docs/versioning.md: each version past the first
came with one patch, asked by the workflow shell when a run starts, newest first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from workflows.domain.bounds import LIMITS_V1, LIMITS_V2, Limits

RULES_V1 = 1  # due date = forecast else agreed; escalation once per level, then silence
RULES_V2 = 2  # agreed date vs forecast, escalation that never goes silent, no loose ends
RULES_V3 = 3  # items tracked one by one (roll-up, partial), notes, plan checkpoints
RULES_V4 = 4  # the originating process hears of every state change no other notice tells
RULES_V5 = 5  # bounded whatever parties send; no false critical, no slip unasked
CURRENT_RULES = RULES_V5


@dataclass(frozen=True)
class Rules:
    """What one rules version does; every field is a rule some version switched on."""

    version: int
    # The patch whose marker puts a run on these rules (None: the rules before patches).
    patch: str | None
    # How much of each growing record the order keeps.
    limits: Limits

    # Rules 2 (issue 10).
    # The agreed date (requestedCompletionDate) and the party's forecast are separate:
    # either passing is critical, a forecast past the agreed date is critical and asks the
    # originating process to agree it; hazards are measured against the earlier date.
    # Without it the due date is the forecast, else the agreed date.
    agreed_vs_forecast: bool
    # Every worsening is told at once, the top contact is reminded until someone
    # acknowledges, and a jeopardy that clears and returns within reopenWithin goes on
    # at the level reached. Without it each level is told once, then silence.
    never_silent_escalation: bool
    # An order can fail from every open state; failing tells the originating process and
    # closes the jeopardy; an order that ends withdraws its open change requests and
    # tells the contacts of a cleared episode that it is over.
    ties_loose_ends: bool
    # Everything that grows is bounded: change requests, items, the order's size; the
    # records keep their newest entries (``limits``), jeopardy alerts numbered by count.
    bounded: bool
    # A message is applied once per message name and requestId; the same requestId with
    # other content is refused. Without it any message with an applied requestId is a
    # repeat, whatever its name.
    once_per_message_name: bool
    # A start input's fields fit together (dates in order, ids once, no completion in the
    # future) and a progress report's completion does not lie in the future.
    checks_consistency: bool
    # A violated milestone stays violated until it is completed or given a new date, each
    # date's violation is announced once, and one notice lists all violated at an instant.
    milestone_violated_once: bool
    # An accepted change to an order item names only what changes (merged field by field);
    # without it the item is replaced whole.
    merges_item_changes: bool
    # A check-in sent while the last one's window is open counts that one as unanswered.
    counts_superseded_check_ins: bool

    # Rules 3 (issue 11).
    # The message models of rules 1 and 2 refused the fields rules 3 brought (items in a
    # report, notes, checkpoints): such a message is refused, as it was then.
    old_message_models: bool
    # Order items tracked one by one: progress per item, the roll-up (partial delivery),
    # late items and the items of violated milestones in the jeopardy.
    order_items: bool
    # Notes kept on the order from reports, resolutions, state changes, acknowledgements.
    notes: bool
    # Plan checkpoints and check-ins ahead of milestones; plan changes by change request.
    plan_checkpoints: bool

    # Rules 4.
    # The originating process is told (``stateChanged``) of the state changes no other
    # notice carries: the first report's inProgress and a cancellation taking effect.
    tells_process_of_states: bool
    # A run starts from the search attributes it was started or continued with and
    # upserts only what differs.
    publishes_only_changes: bool

    # Rules 5 (issue 28).
    # An order item's bound measures what its sender gave, not the state, progress and
    # forecast the tracker writes into it: an item valid at start stays valid, reads back
    # and continues as new. Without it an item near its bound was refused (or broke the
    # order) once the tracker added its state.
    bounds_what_senders_give: bool
    # Every list in the state is bounded in count and in characters, the lists inside
    # records too: an alert's item references, the jeopardy's reasons and causes, an
    # alert's name. Without it a 200-item order slipping item by item carried 100
    # alerts of 200 references each, past Temporal's 2 MB payload limit.
    bounds_every_record: bool
    # A change request or resolution costs what it adds, not what the order holds: the
    # order's size is accounted message by message and every check is made before the
    # order changes. Without it each one serialised the whole state (to undo a refusal)
    # and the order (to measure it): a burst to a large order tripped the SDK's 2 s
    # deadlock detector on every retry.
    bounded_work_per_message: bool
    # A retry is recognised for at least 24 h, or among the newest 10,000 messages
    # applied, whichever is more (at most 20,000), kept compactly and carried across
    # continue-as-new. Without it the newest 1,000 ids: a retry after 1,000 other
    # messages was applied twice.
    long_duplicate_window: bool
    # Rules 5 (issue 22).
    # Messages that arrive while the order ends, or while its last notifications are on
    # their way, are applied or recorded to the very end (the shell reads the inbox
    # again after the last notification): before, one arriving then was never recorded.
    records_messages_to_the_end: bool
    # Every slip past the agreed date is put to the originating process: a forecast that
    # slipped while a request for the agreed date was open is asked about once that
    # request is closed. Before, it was marked reviewed and never asked.
    asks_every_slip: bool
    # A check-in never counts an open one as unanswered before its window ends (the open
    # window stands, and is counted when it ends), so close plan check-ins, a window
    # longer than the interval, or a check-in_now while paused give no false critical.
    waits_for_open_windows: bool
    # A party cannot cancel by itself: an item reported ``cancelled`` by the party is
    # refused (a cancellation is agreed, by a change request). Before, a party could
    # cancel the whole order by reporting every item cancelled.
    party_cannot_cancel_items: bool
    # A milestone whose order items were all cancelled has no deadline: it is not
    # violated and puts the order in no jeopardy.
    cancelled_work_has_no_deadline: bool
    # The items' forecasts roll up into the order's forecast (the latest open item's),
    # so an item forecast past the agreed date asks for agreement as the order's does;
    # an open item whose own forecast has passed is in jeopardy.
    rolls_up_item_forecasts: bool
    # With a party calendar a response window's days are the party's working days (P2D:
    # two working days, 16 working hours from 09:00 to 17:00), and the window must fit in
    # the working time of one check-in interval. Before, P2D was 48 working hours, about
    # 8 calendar days, longer than the default 7-day interval it was compared with.
    window_in_working_time: bool
    # Strict wire types (issue 23): messages and the start input are validated in
    # pydantic's strict mode on the JSON as sent (a boolean is a JSON boolean, a number a
    # JSON number, dates and durations ISO 8601 strings), and a forecast in the past is
    # refused, naming the field. Before, "yes" was taken as true and 7 as seven seconds.
    strict_wire: bool
    # A report giving both the order's percentComplete and its items' progress: the items'
    # roll-up wins and the order's percent is kept as a note. Before, it was silently
    # overwritten by the roll-up.
    notes_mixed_percent: bool
    # A worsening at the very instant of an acknowledgement (the same workflow task) was
    # not seen, so reminders resume; and an acknowledgement of a level below the current
    # one, which would stop nothing, is refused naming the current level.
    acknowledges_only_what_was_seen: bool
    # A date the originating process rejected is not asked again when the forecast comes
    # back to it (before, it was asked once more after every flap).
    asks_a_rejected_date_once: bool
    # The alert log follows the status: critical to hazard is a ``hazard`` JeopardyAlert
    # (no one is paged for an improvement). Before, the newest alert still said critical.
    alerts_follow_status: bool
    # A change request the order opened by itself for a late forecast is withdrawn, with
    # the reason, once the forecast is back within the agreed date. Before, it lived on,
    # turned the order to hazard and escalated; accepted, it moved the date for nothing.
    withdraws_stale_requests: bool
    # An order that ends cancelled or partial while in jeopardy closes it (a ``closed``
    # alert, contacts told it is closed), as a failed one does. Before: ``cleared`` and
    # "no longer in jeopardy", which it never was.
    closes_undelivered_jeopardy: bool
    # Plan check-ins come on top of the periodic ones, as the contract says: they leave
    # the periodic rhythm where it was. Before, each restarted it.
    plan_check_ins_on_top: bool
    # The order wakes when every response window ends, so the window is counted then
    # and an answer after it is not scored as on time (``answered``, response times).
    # Before, it woke only for the window that reached the limit.
    wakes_when_windows_end: bool
    # An order with ``escalation: []`` is not escalated: the order manager hears each
    # worsening, and there are no reminders (nothing could acknowledge them). Before,
    # reminders went out daily for ever and acknowledgement was refused.
    no_levels_no_reminders: bool
    # A check_in_now outside the party's working time goes out as asked, and says so
    # (``requestedBy`` names when the party's working time resumes). Before, nothing
    # told the party why it was asked on a Saturday night.
    says_why_now: bool


RULES_1 = Rules(
    version=RULES_V1,
    patch=None,
    limits=LIMITS_V1,
    agreed_vs_forecast=False,
    never_silent_escalation=False,
    ties_loose_ends=False,
    bounded=False,
    once_per_message_name=False,
    checks_consistency=False,
    milestone_violated_once=False,
    merges_item_changes=False,
    counts_superseded_check_ins=False,
    old_message_models=True,
    order_items=False,
    notes=False,
    plan_checkpoints=False,
    tells_process_of_states=False,
    publishes_only_changes=False,
    bounds_what_senders_give=False,
    bounds_every_record=False,
    bounded_work_per_message=False,
    long_duplicate_window=False,
    records_messages_to_the_end=False,
    asks_every_slip=False,
    waits_for_open_windows=False,
    party_cannot_cancel_items=False,
    cancelled_work_has_no_deadline=False,
    rolls_up_item_forecasts=False,
    window_in_working_time=False,
    strict_wire=False,
    notes_mixed_percent=False,
    acknowledges_only_what_was_seen=False,
    asks_a_rejected_date_once=False,
    alerts_follow_status=False,
    withdraws_stale_requests=False,
    closes_undelivered_jeopardy=False,
    plan_check_ins_on_top=False,
    wakes_when_windows_end=False,
    no_levels_no_reminders=False,
    says_why_now=False,
)
RULES_2 = replace(
    RULES_1,
    version=RULES_V2,
    patch="tracking-rules-2",
    limits=LIMITS_V2,
    agreed_vs_forecast=True,
    never_silent_escalation=True,
    ties_loose_ends=True,
    bounded=True,
    once_per_message_name=True,
    checks_consistency=True,
    milestone_violated_once=True,
    merges_item_changes=True,
    counts_superseded_check_ins=True,
)
RULES_3 = replace(
    RULES_2,
    version=RULES_V3,
    patch="tracking-rules-3",
    old_message_models=False,
    order_items=True,
    notes=True,
    plan_checkpoints=True,
)
RULES_4 = replace(
    RULES_3,
    version=RULES_V4,
    patch="tracking-rules-4",
    tells_process_of_states=True,
    publishes_only_changes=True,
)
RULES_5 = replace(
    RULES_4,
    version=RULES_V5,
    patch="tracking-rules-5",
    bounds_what_senders_give=True,
    bounds_every_record=True,
    bounded_work_per_message=True,
    long_duplicate_window=True,
    records_messages_to_the_end=True,
    asks_every_slip=True,
    waits_for_open_windows=True,
    party_cannot_cancel_items=True,
    cancelled_work_has_no_deadline=True,
    rolls_up_item_forecasts=True,
    window_in_working_time=True,
    strict_wire=True,
    notes_mixed_percent=True,
    acknowledges_only_what_was_seen=True,
    asks_a_rejected_date_once=True,
    alerts_follow_status=True,
    withdraws_stale_requests=True,
    closes_undelivered_jeopardy=True,
    plan_check_ins_on_top=True,
    wakes_when_windows_end=True,
    no_levels_no_reminders=True,
    says_why_now=True,
)

# Every rules version, oldest first.
RULE_VERSIONS: tuple[Rules, ...] = (RULES_1, RULES_2, RULES_3, RULES_4, RULES_5)
_BY_VERSION = {rules.version: rules for rules in RULE_VERSIONS}


def rules_of(version: int) -> Rules:
    """The rules of a version number as ``TrackerState.rules_version`` stores it."""
    try:
        return _BY_VERSION[version]
    except KeyError:
        raise ValueError(f"rules version {version} does not exist") from None


def rules_of_patches(patch_ids: Iterable[str]) -> Rules:
    """The rules a run tracks by, read off the patch ids it recorded: the newest version
    whose patch is among them, rules 1 when none is (a run from before the patches).

    Outside the workflow the ids are visible as Temporal's ``TemporalChangeVersion``
    search attribute, which the SDK upserts beside each patch marker a run records; a run
    records the marker of its rules only (``workflows.patches.rules_of_this_run``).
    """
    recorded = set(patch_ids)
    for rules in reversed(RULE_VERSIONS):
        if rules.patch is not None and rules.patch in recorded:
            return rules
    return RULES_1
