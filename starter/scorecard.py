"""A supplier scorecard: how each party has done on its orders, from the orders themselves.

Pure: it reads ``PartyOrder`` values (the final order of an ended tracking, the current
one of an open tracking) and computes, per party:

* orders tracked, open, and ended by outcome;
* the on-time rate: delivered orders (``completed``, or ``partial``: some items delivered)
  delivered by the agreed date (the contract's ``requestedCompletionDate`` as it stood at
  the end, else the only date given);
* the mean and worst slip in days past the agreed date, over delivered orders;
* the check-in response rate (check-ins answered within their window, of those sent)
  and the median time to answer;
* change requests and jeopardy episodes per order.

No second database: the client API reads the orders from Temporal (``starter.client``).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Collection, Iterable

from pydantic import Field

from workflows.domain.model import OrderState, PartyOrder, WireModel

DAY_SECONDS = 86_400.0


class PartyScore(WireModel):
    party_id: str
    party_name: str
    orders: int
    open: int
    ended: dict[str, int] = Field(default_factory=dict)  # final state -> orders
    on_time_rate: float | None = None  # of delivered orders; None when none was delivered
    mean_slip_days: float | None = None  # late delivered orders count their days late
    worst_slip_days: float | None = None
    check_ins_sent: int = 0
    check_in_response_rate: float | None = None
    median_response_hours: float | None = None
    change_requests_per_order: float = 0.0
    jeopardy_episodes_per_order: float = 0.0


DELIVERED = (OrderState.COMPLETED, OrderState.PARTIAL)


def slip_days(order: PartyOrder) -> float | None:
    """Days a delivered order (completed or partial) was delivered past its agreed date
    (0 when on time); None for an order not delivered."""
    if order.state not in DELIVERED or order.completion_date is None:
        return None
    agreed = order.requested_completion_date or order.expected_completion_date
    assert agreed is not None  # every order has one of the two
    late = (order.completion_date - agreed).total_seconds() / DAY_SECONDS
    return max(0.0, late)


def jeopardy_episodes(order: PartyOrder) -> int:
    """Episodes of jeopardy: each ends with a ``cleared`` (or ``closed``) alert, and one
    still standing counts too."""
    ended = sum(alert.jeopardy_type in ("cleared", "closed") for alert in order.jeopardy_alerts)
    return ended + (order.jeopardy.status != "none")


# What the scorecard counts an order as whose tracking Temporal's Terminate ended: not its
# last state (say, acknowledged), which it never left in the tracker's eyes.
TERMINATED = "tracking terminated"


def score(
    orders: Iterable[PartyOrder], terminated: Collection[str] = frozenset()
) -> list[PartyScore]:
    """One row per party, the parties in order of their id; the orders whose ids are in
    ``terminated`` (their tracking terminated, as last known) count as ended so."""
    by_party: dict[str, list[PartyOrder]] = defaultdict(list)
    for order in orders:
        by_party[order.party.id].append(order)
    return [_score_one(party_orders, terminated) for _, party_orders in sorted(by_party.items())]


def _score_one(orders: list[PartyOrder], terminated: Collection[str]) -> PartyScore:
    ended: dict[str, int] = defaultdict(int)
    for order in orders:
        if order.id in terminated:
            ended[TERMINATED] += 1
        elif order.is_final:
            ended[order.state.value] += 1
    slips = [slip for order in orders if (slip := slip_days(order)) is not None]
    sent = sum(order.check_ins.sent for order in orders)
    answered = sum(order.check_ins.answered for order in orders)
    waits = [seconds for order in orders for seconds in order.check_ins.response_seconds]
    count = len(orders)
    return PartyScore(
        party_id=orders[0].party.id,
        party_name=orders[0].party.name,
        orders=count,
        open=sum(not order.is_final and order.id not in terminated for order in orders),
        ended=dict(sorted(ended.items())),
        on_time_rate=(sum(slip == 0 for slip in slips) / len(slips)) if slips else None,
        mean_slip_days=round(statistics.fmean(slips), 2) if slips else None,
        worst_slip_days=round(max(slips), 2) if slips else None,
        check_ins_sent=sent,
        check_in_response_rate=(answered / sent) if sent else None,
        median_response_hours=round(statistics.median(waits) / 3600, 2) if waits else None,
        change_requests_per_order=round(
            sum(len(order.change_requests) for order in orders) / count, 2
        ),
        jeopardy_episodes_per_order=round(sum(map(jeopardy_episodes, orders)) / count, 2),
    )
