"""How much an order keeps of what grows, so that the state carried by continue-as-new
stays well below Temporal's 2 MB payload limit (``tests/test_bounds.py`` builds the
largest order these bounds allow)."""

from __future__ import annotations

from dataclasses import dataclass

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
# most, below Temporal's 2 MB payload limit (tests/test_bounds.py builds it).
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
