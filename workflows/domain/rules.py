"""The rules versions an order can be tracked by, each a set of named capabilities.

An order keeps the rules it was started (or last continued) with: its history was made by
them, and replay must take the same path (docs/versioning.md). ``TrackerState`` stores
the version number; everything else reads the capabilities of ``rules_of(version)``, so
code says which rule it follows (``if rules.ties_loose_ends:``), not which version.

The table mirrors the patch table of docs/versioning.md: each version past the first
came with one patch, asked by the workflow shell when a run starts, newest first.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from workflows.domain.bounds import LIMITS_V1, LIMITS_V2, Limits

RULES_V1 = 1  # due date = forecast else agreed; escalation once per level, then silence
RULES_V2 = 2  # agreed date vs forecast, escalation that never goes silent, no loose ends
RULES_V3 = 3  # items tracked one by one (roll-up, partial), notes, plan checkpoints
RULES_V4 = 4  # the originating process hears of every state change no other notice tells
RULES_V5 = 5  # orders that stay valid, bounded and cheap whatever the parties' systems send
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
