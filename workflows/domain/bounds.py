"""How much an order keeps of what grows, so that the state carried by continue-as-new
stays well below Temporal's 2 MB payload limit (``tests/unit/test_bounds.py`` builds the
largest order these bounds allow)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# Rules 1 kept the last 2,000 request ids applied; rules 2 keeps fewer (LIMITS_V2).
APPLIED_REQUEST_IDS_KEPT = 2_000
REJECTED_MESSAGES_KEPT = 200
REJECTED_PAYLOAD_CHARS = 2_000


@dataclass(frozen=True)
class Limits:
    """How much of each growing record an order keeps: its newest entries, cut to size."""

    applied_messages: int = APPLIED_REQUEST_IDS_KEPT
    rejected_messages: int = REJECTED_MESSAGES_KEPT
    rejected_payload_chars: int = REJECTED_PAYLOAD_CHARS
    jeopardy_alerts: int | None = None  # None: all of them (rules 1)
    state_history: int | None = None
    delivery_failures: int = REJECTED_MESSAGES_KEPT
    text_chars: int | None = None  # an error, an alert's message, a reason in a record


LIMITS_V1 = Limits()
# Rules 2 bound everything that grows. The order apart from these records may not pass
# ORDER_CHARS_LIMIT (a message that would make it larger is refused); with every record
# at its bound too, the state carried by continue-as-new stays near 1.45 MB at the very
# most, below Temporal's 2 MB payload limit (tests/unit/test_bounds.py builds it).
LIMITS_V2 = Limits(
    applied_messages=1_000,
    rejected_messages=100,
    rejected_payload_chars=1_000,
    jeopardy_alerts=100,
    state_history=100,
    delivery_failures=100,
    text_chars=500,
)
ORDER_CHARS_LIMIT = 400_000
START_INPUT_CHARS_LIMIT = 200_000

# What an order may hold; a start input or a change past them is refused.
MAX_MILESTONES = 200
MAX_ORDER_ITEMS = 200
MAX_CHANGE_REQUESTS = 200
MAX_ITEMS_PER_CHANGE = 50
MAX_CHECKPOINTS = 200
MAX_ITEM_CHARS = 2_000  # one order item as JSON, extra TMF fields included
MAX_HOLIDAYS = 400  # the holidays one party calendar lists
# Rules 3: the newest notes kept; noteCount counts them all. A note's text as kept in
# notes[] (the history keeps all of it): 200 notes at most 200,000 characters, so the
# carried state stays well under 2 MB (tests/unit/test_bounds.py).
MAX_NOTES_KEPT = 200
NOTE_CHARS = 1_000
# The newest records kept of what grows with time.
RESPONSE_TIMES_KEPT = 100  # check-in response times
PAUSES_KEPT = 100  # pauses (``pausedFor`` keeps the sum of every one)
# Rules 5: the lists inside records are bounded in count and in characters too, so that
# nothing in the carried state grows with the order's size times the records kept
# (tests/unit/test_state_budget.py builds the worst legal order). A JeopardyAlert keeps the
# first item references that fit; the order's current jeopardy keeps the first reasons
# that fit, and a last one saying how many more there are; a critical cause longer than
# CAUSE_CHARS is kept as a digest (it is only compared, never shown).
ALERT_ITEM_REFS_KEPT = 50
ALERT_ITEM_REFS_CHARS = 2_000
JEOPARDY_REASONS_KEPT = 50
JEOPARDY_REASONS_CHARS = 10_000
CAUSE_CHARS = 64
# Rules 5: what the carried state (TrackerState as JSON) stays under at every bound at
# once, leaving room in Temporal's 2 MB payload for the notifications carried with it.
STATE_CHARS_BUDGET = 1_600_000
# Rules 5: the duplicate window. Every message applied in the last 24 h is known, and at
# least the newest 10,000 whatever their age, at most 20,000 (tracking/window.py).
DUPLICATE_WINDOW = timedelta(hours=24)
DUPLICATE_IDS_KEPT = 10_000
DUPLICATE_IDS_AT_MOST = 20_000
# Values are quoted in errors up to this length, so that a huge value cannot make a huge
# rejection record.
VALUE_CHARS = 100

# How far in the future a completedAt may lie: a party writing its local date, or a
# clock that is ahead, is tolerated; a completion next month is not.
COMPLETED_AT_SLACK = timedelta(days=1)
# Bounds that keep every date computation (a date minus a lead time, now plus an interval)
# inside what datetime can hold (years 1 to 9999): a date-time given from outside lies in
# years 1900 to 8999, a policy duration is at most 100 years. Past them, a single message
# would make the workflow's deadline arithmetic raise OverflowError on every replay.
EARLIEST_INSTANT = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_INSTANT = datetime(9000, 1, 1, tzinfo=UTC)
MAX_DURATION = timedelta(days=36_500)

# The event hub's registry, per namespace: its memo holds every subscription (well under
# Temporal's 2 MB blob).
MAX_SUBSCRIPTIONS = 1000
MAX_FAILURES_KEPT = 200
MAX_QUERY_CHARS = 2000
MAX_CALLBACK_CHARS = 2000
# The registry's own ceiling per owner (one party, one process, the managers): the API's
# setting PARTY_ORDERS_HUB_SUBSCRIPTIONS_PER_OWNER (default 20) may lower it, not raise it.
MAX_SUBSCRIPTIONS_PER_OWNER = 100
# Deliveries to one subscription that may run at once. A healthy callback's finish in
# seconds; a dead one's retry for a day each, so past this many its new events are dropped
# (logged by the worker) rather than piled up, until it answers or is suspended.
MAX_DELIVERIES_PER_SUBSCRIPTION = 50
# A callback that gave up deliveries on this many consecutive days (UTC) is suspended: each
# give-up is a day of retries, so it has been dead for days. No new deliveries start for it
# until its owner subscribes it again (remove it, then POST /hub).
SUSPEND_AFTER_FAILED_DAYS = 3
