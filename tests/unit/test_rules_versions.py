"""The table of rules versions: one row per patch of docs/versioning.md, each version
keeping what the one before switched on, and an order's views read by its own rules."""

from __future__ import annotations

import itertools
import re
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from workflows.domain.deadlines import next_due
from workflows.domain.digest import digest_entry
from workflows.domain.model import PartyOrderSpec
from workflows.domain.rules import (
    CURRENT_RULES,
    RULE_VERSIONS,
    RULES_V1,
    Rules,
    rules_of,
)
from workflows.domain.tracker import PartyOrderTracker
from workflows.visibility import details_markdown

DOCS = Path(__file__).resolve().parents[2] / "docs" / "versioning.md"
NOW = datetime(2026, 11, 1, tzinfo=UTC)
DAY = timedelta(days=1)
# Capabilities a later version dropped (the old models' refusals); every other one stays.
DROPPED = {"old_message_models"}


def capabilities(rules: Rules) -> set[str]:
    return {
        f.name
        for f in fields(rules)
        if isinstance(getattr(rules, f.name), bool) and getattr(rules, f.name)
    }


def test_the_table_has_one_version_per_rules_patch_of_the_docs_in_order() -> None:
    documented = re.findall(r"^\| `(tracking-rules-\d+)` \|", DOCS.read_text(), re.M)
    assert [rules.patch for rules in RULE_VERSIONS] == [None, *documented]
    assert [rules.version for rules in RULE_VERSIONS] == list(range(1, len(RULE_VERSIONS) + 1))
    assert RULE_VERSIONS[-1] == rules_of(CURRENT_RULES)


def test_each_version_keeps_what_the_one_before_switched_on_and_adds_something() -> None:
    for before, after in itertools.pairwise(RULE_VERSIONS):
        assert capabilities(before) - DROPPED <= capabilities(after)
        assert capabilities(after) - capabilities(before), f"rules {after.version} adds nothing"


def test_an_unknown_version_is_refused_rather_than_read_as_another() -> None:
    with pytest.raises(ValueError, match="rules version 0 does not exist"):
        rules_of(0)


def late_forecast(rules_version: int) -> PartyOrderTracker:
    """An order whose forecast lies after its agreed date, long before either is due."""
    spec = PartyOrderSpec.model_validate(
        {
            "id": "PO-9",
            "party": {"id": "ACME", "name": "Acme Networks"},
            "requestedCompletionDate": "2026-11-20T00:00:00Z",
            "expectedCompletionDate": "2026-11-30T00:00:00Z",
            "trackingPolicy": {
                "checkInInterval": "P60D",
                "warningLeadTime": "P1D",
                "behindPlanTolerance": 100,
            },
        }
    )
    return PartyOrderTracker.start(spec, NOW, rules_version=rules_version)


def test_the_web_ui_details_show_the_next_deadline_by_the_orders_own_rules() -> None:
    old = late_forecast(RULES_V1)
    own = details_markdown(old.order, NOW, old.tracked_by)
    newest = details_markdown(old.order, NOW, rules_of(CURRENT_RULES))
    # Rules 1 measures against the forecast (a day ahead of it: 29 November); the newest
    # rules against the earlier agreed date (19 November).
    assert old.next_due(NOW) == next_due(old.order, NOW, old.tracked_by)
    assert "- Next due: due date warning lead time at 2026-11-29" in own
    assert "- Next due: due date warning lead time at 2026-11-19" in newest


def test_the_digest_gives_the_next_deadline_by_the_rules_it_is_given() -> None:
    tracker = late_forecast(CURRENT_RULES)
    tracker.advance(NOW)  # the late forecast is critical at once
    for version in (RULES_V1, CURRENT_RULES):
        rules = rules_of(version)
        entry = digest_entry(tracker.order, NOW, rules)
        assert entry is not None
        due = next_due(tracker.order, NOW, rules)
        assert due is not None
        assert (entry.next_due, entry.next_due_what) == (due.at, due.what)


def silent_party(rules_version: int) -> PartyOrderTracker:
    """An order within its warning lead time from the start (a hazard), whose party lets
    one check-in go unanswered (critical) and then reports (a hazard again)."""
    spec = PartyOrderSpec.model_validate(
        {
            "id": "PO-7",
            "party": {"id": "ACME", "name": "Acme Networks"},
            "requestedCompletionDate": "2026-11-11T00:00:00Z",
            "trackingPolicy": {
                "checkInInterval": "P1D",
                "responseWindow": "PT1H",
                "unansweredCheckInLimit": 1,
                "warningLeadTime": "P20D",
                "behindPlanTolerance": 100,
            },
        }
    )
    tracker = PartyOrderTracker.start(spec, NOW, rules_version=rules_version)
    tracker.advance(NOW)
    tracker.advance(NOW + DAY)  # the check-in goes out
    tracker.advance(NOW + DAY + timedelta(hours=1))  # its window ends unanswered
    answered = NOW + DAY + timedelta(hours=2)
    tracker.handle("report_progress", {"source": "party", "percentComplete": 10}, answered)
    tracker.advance(answered)
    return tracker


@pytest.mark.parametrize(
    ("version", "alerts"),
    [
        (RULES_V1, ["hazard", "critical", "hazard"]),
        (4, ["hazard", "critical"]),
        # Rules 5: the alert log follows the status again (alerts_follow_status).
        (CURRENT_RULES, ["hazard", "critical", "hazard"]),
    ],
)
def test_an_improving_jeopardy_is_an_alert_only_before_never_silent_escalation(
    version: int, alerts: list[str]
) -> None:
    tracker = silent_party(version)
    assert tracker.order.jeopardy.status.value == "hazard"
    assert [alert.jeopardy_type for alert in tracker.order.jeopardy_alerts] == alerts
