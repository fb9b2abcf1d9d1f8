"""Every patch id of the workflows, and the rules each run of an order tracks by.

A patch keeps an old path for the runs whose history was made by it (docs/versioning.md
lists them). The rules versions carry their own patch ids (``workflows.domain.rules``);
the others are here, beside the one decision each run takes from them at its start.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.domain.rules import RULE_VERSIONS, RULES_1, Rules

# TrackPartyOrder keeps the run budget: continue-as-new by messages and events, the
# inbox taken in slices, a bounded pool of notifications in flight (workflows/run_budget.py).
BOUNDED_RUNS_PATCH = "bounded-runs"
# TrackPartyOrder resolves a country calendar's holidays for more years when an accepted
# change moves the order's dates past them.
HOLIDAYS_PATCH = "holidays-re-resolved"
# TrackPartyOrder takes a start input whose calendar names a country without its holidays
# (a raw `temporal workflow start`) and resolves them before tracking begins. Such a start
# failed at once before; asked only for such a start, so no other order has the marker.
HOLIDAYS_AT_START_PATCH = "holidays-resolved-at-start"
# ClosePartyOrder's first patch (0.4.0): the closure notices go out as local activities,
# so a close process is one workflow task and no activity task. A close process that began
# before it has no marker and sends them as ordinary activities, as it did.
LOCAL_NOTICES_PATCH = "closure-notices-local"
# PartyOrderSubscriptions writes its memo again when a failed delivery suspends a dead
# callback's subscription, so deliveries stop reaching it. A registry whose history has no
# marker keeps the memo it wrote.
SUSPEND_DEAD_CALLBACKS_PATCH = "hub-suspend-dead-callbacks"
# PartyOrderSubscriptions continues as new with its memo, so the next run holds the
# subscriptions from its start (before, its memo was empty until its first task: an owner
# at its quota could subscribe past it, and an event could miss every subscription). A
# registry whose history has no marker continues as new without it.
CARRY_MEMO_PATCH = "hub-memo-carried"
# TrackPartyOrder takes a cancellation request from Temporal itself (the Web UI's button,
# `temporal workflow cancel`) as the order's cancellation by an operator, instead of ending
# CANCELED with nobody told. A run that was cancelled before it has no marker and ends
# CANCELED, as it did.
TEMPORAL_CANCEL_PATCH = "temporal-cancel-is-cancellation"
TEMPORAL_CANCEL_BY = "Temporal's cancel (the Web UI or temporal workflow cancel)"
TEMPORAL_CANCEL_REASON = "tracking was cancelled through Temporal"


def rules_of_this_run() -> Rules:
    """The rules a run tracks by, decided once when it starts.

    A new run records the newest patch marker and takes the newest rules; on replay each
    ``patched`` answers what the history holds, so a run keeps the rules it began with.
    Only the first patch that answers True records a marker: a rules-4 run has only the
    ``tracking-rules-4`` marker, a rules-3 history only ``tracking-rules-3``.
    """
    for rules in reversed(RULE_VERSIONS):
        if rules.patch is not None and workflow.patched(rules.patch):
            return rules
    return RULES_1
