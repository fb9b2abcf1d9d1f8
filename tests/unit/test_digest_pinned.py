"""The daily digest's rules, pinned (pure, no server): who hears of which order, and what
each digest notice says, field by field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.common import SearchAttributePair, TypedSearchAttributes

from activities.digest import CHANGE_VERSION, page_entries, rules_listed
from workflows.domain.deadlines import next_due
from workflows.domain.digest import DigestEntry, contacts_of, digest_entry, digest_notices
from workflows.domain.model import JeopardyStatus, OrderState, PartyOrder, PartyOrderSpec
from workflows.domain.rules import CURRENT_RULES, RULES_4, RULES_5, RULES_V4, rules_of
from workflows.domain.tracker import PartyOrderTracker

NOW = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)
STARTED = NOW - timedelta(days=7)


RULES = rules_of(CURRENT_RULES)


def late_order(
    levels: list[dict[str, Any]], manager: str = "mgr", rules_version: int = CURRENT_RULES
) -> PartyOrder:
    """An order due yesterday, checked now: critical, its escalation under way."""
    spec = PartyOrderSpec.model_validate(
        {
            "id": "PO-D1",
            "party": {"id": "ACME", "name": "Acme Networks"},
            "orderItems": [{"id": "1"}],
            "requestedCompletionDate": "2027-01-03T08:00:00Z",
            "trackingPolicy": {"orderManager": manager, "escalation": levels},
        }
    )
    tracker = PartyOrderTracker.start(spec, STARTED, rules_version=rules_version)
    tracker.advance(NOW)
    return tracker.order


def entry(order_id: str, status: JeopardyStatus, *contacts: str, **more: Any) -> DigestEntry:
    return DigestEntry(
        order_id=order_id,
        party_id="ACME",
        party_name="Acme Networks",
        status=status,
        escalation_level=more.pop("escalation_level", 1),
        reasons=more.pop("reasons", ["late"]),
        contacts=list(contacts),
        **more,
    )


# ---------------------------------------------------------------- who hears of an order


def test_the_manager_and_every_level_reached_hear_in_order_each_once() -> None:
    levels = [
        {"level": 1, "after": "PT0S", "notify": "lead"},
        {"level": 2, "after": "PT0S", "notify": "mgr"},  # the manager again: named once
        {"level": 3, "after": "PT0S", "notify": "sponsor"},
        {"level": 4, "after": "P30D", "notify": "board"},  # not reached yet
    ]
    order = late_order(levels)
    assert order.jeopardy.escalation_level == 3
    assert contacts_of(order) == ["mgr", "lead", "sponsor"]


def test_the_level_just_reached_is_a_contact() -> None:
    order = late_order(
        [
            {"level": 1, "after": "PT0S", "notify": "lead"},
            {"level": 2, "after": "P30D", "notify": "sponsor"},
        ]
    )
    assert order.jeopardy.escalation_level == 1
    assert contacts_of(order) == ["mgr", "lead"]


# ---------------------------------------------------------------- an order's line


def test_an_orders_line_says_what_is_due_next_and_who_hears() -> None:
    order = late_order([{"level": 1, "after": "PT0S", "notify": "lead"}])
    due = next_due(order, NOW, RULES)
    assert due is not None
    line = digest_entry(order, NOW, RULES)
    assert line == DigestEntry(
        order_id="PO-D1",
        party_id="ACME",
        party_name="Acme Networks",
        status=JeopardyStatus.CRITICAL,
        escalation_level=1,
        reasons=order.jeopardy.reasons,
        next_due=due.at,
        next_due_what=due.what,
        contacts=["mgr", "lead"],
    )
    assert order.jeopardy.reasons


def test_a_closed_order_is_never_listed_even_in_jeopardy() -> None:
    order = late_order([{"level": 1, "after": "PT0S", "notify": "lead"}])
    closed = order.model_copy(update={"state": OrderState.CANCELLED})
    assert closed.jeopardy.status == JeopardyStatus.CRITICAL
    assert digest_entry(closed, NOW, RULES) is None


def test_an_order_with_nothing_due_is_listed_without_a_next_due() -> None:
    # An order waiting on its cancellation notice is still open, and nothing is due on it.
    order = late_order([{"level": 1, "after": "PT0S", "notify": "lead"}])
    waiting = order.model_copy(update={"state": OrderState.PENDING_CANCELLATION})
    assert next_due(waiting, NOW, RULES) is None
    line = digest_entry(waiting, NOW, RULES)
    assert line is not None
    assert (line.order_id, line.next_due, line.next_due_what) == ("PO-D1", None, None)


def listed_with(*patch_ids: str) -> TypedSearchAttributes:
    """The search attributes a listing shows of a run that recorded ``patch_ids``."""
    return TypedSearchAttributes([SearchAttributePair(CHANGE_VERSION, list(patch_ids))])


def test_an_order_on_older_rules_is_listed_by_its_own_rules() -> None:
    # A rules-4 order without escalation levels still reminds its order manager (rules 5
    # stopped that: nothing could acknowledge the reminders). Its line says so.
    order = late_order([], rules_version=RULES_V4)
    escalated = order.jeopardy.last_escalated_at
    assert escalated is not None
    (line,) = page_entries([(listed_with("tracking-rules-4"), order)], NOW)
    assert (line.next_due, line.next_due_what) == (
        escalated + order.tracking_policy.escalation_repeat_interval,
        "remind the top escalation contact",
    )
    # By the newest rules the same order would be shown another deadline.
    (newest,) = page_entries([(listed_with("tracking-rules-5"), order)], NOW)
    assert newest.next_due_what != line.next_due_what


def test_an_order_that_did_not_answer_is_left_out_of_its_page() -> None:
    order = late_order([{"level": 1, "after": "PT0S", "notify": "lead"}])
    lines = page_entries([(listed_with("tracking-rules-5"), None), (listed_with(), order)], NOW)
    assert [line.order_id for line in lines] == ["PO-D1"]


def test_a_run_is_listed_on_the_newest_rules_it_recorded_else_on_rules_1() -> None:
    assert rules_listed(listed_with("holidays-re-resolved", "tracking-rules-5")) == RULES_5
    assert rules_listed(listed_with("tracking-rules-2", "tracking-rules-4")) == RULES_4
    assert rules_listed(listed_with("tracking-rules-3")).version == 3
    assert rules_listed(listed_with("holidays-re-resolved")).version == 1
    assert rules_listed(TypedSearchAttributes.empty).version == 1


# ---------------------------------------------------------------- the notices


def test_each_contact_gets_one_notice_in_name_order_with_critical_orders_first() -> None:
    entries = [
        entry("PO-2", JeopardyStatus.HAZARD, "zoe", "adam"),
        entry("PO-3", JeopardyStatus.CRITICAL, "zoe"),
        entry("PO-1", JeopardyStatus.HAZARD, "zoe"),
        entry("PO-9", JeopardyStatus.CRITICAL, "zoe"),
    ]
    notices = digest_notices(entries, NOW, "run-7")
    assert [n.recipient for n in notices] == ["adam", "zoe"]
    adam, zoe = notices
    assert [o["orderId"] for o in zoe.body["orders"]] == ["PO-3", "PO-9", "PO-1", "PO-2"]
    assert zoe.subject == "4 party orders in jeopardy (2 critical)"
    assert adam.subject == "1 party orders in jeopardy (0 critical)"
    assert [o["orderId"] for o in adam.body["orders"]] == ["PO-2"]


def test_a_digest_notice_field_by_field() -> None:
    due = NOW + timedelta(hours=5)
    entries = [
        entry(
            "PO-1",
            JeopardyStatus.CRITICAL,
            "lead",
            escalation_level=2,
            reasons=["agreed date passed", "no answer"],
            next_due=due,
            next_due_what="escalation level 3",
        ),
        entry("PO-2", JeopardyStatus.HAZARD, "lead", escalation_level=0, reasons=[]),
    ]
    (notice,) = digest_notices(entries, NOW, "run-7")
    assert notice.model_dump(by_alias=False) == {
        "idempotency_key": "digest/run-7/lead",
        "sequence": None,  # closure and digest notices are not numbered by a tracking
        "order_id": "*",
        "recipient_kind": "contact",
        "recipient": "lead",
        "kind": "digest",
        "subject": "2 party orders in jeopardy (1 critical)",
        "occurred_at": NOW,
        "webhook_url": None,
        "contact_email": None,
        "body": {
            "generatedAt": "2027-01-04T08:00:00Z",
            "orders": [
                {
                    "orderId": "PO-1",
                    "party": {"id": "ACME", "name": "Acme Networks"},
                    "status": "critical",
                    "escalationLevel": 2,
                    "reasons": ["agreed date passed", "no answer"],
                    "nextDue": "2027-01-04T13:00:00Z",
                    "nextDueWhat": "escalation level 3",
                },
                {
                    "orderId": "PO-2",
                    "party": {"id": "ACME", "name": "Acme Networks"},
                    "status": "hazard",
                    "escalationLevel": 0,
                    "reasons": [],
                    "nextDue": None,
                    "nextDueWhat": None,
                },
            ],
        },
    }


def test_no_entries_no_notices() -> None:
    assert digest_notices([], NOW, "run-7") == []
