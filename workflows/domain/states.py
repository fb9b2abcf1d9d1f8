"""The TMF622 order state machine as the tracker applies it.

Transitions follow TMF622/TMF641 v4 (see docs/rules.md): treatment starts, information is
waited for and supplied, an issue holds the order and is solved, and cancellation goes
through ``pendingCancellation`` while the party is told. ``cancelled``, ``completed``,
``partial`` (rules 3: some items delivered, the rest cancelled or failed) and ``failed``
are final.
"""

from __future__ import annotations

from workflows.domain.model import OrderState
from workflows.domain.rules import Rules

S = OrderState

# Rules 3: an order whose items end some completed, the rest cancelled or failed, is
# ``partial`` (from inProgress, as ``completed``: the roll-up resumes a waiting or held
# order first). Only the roll-up leads there; ``change_state`` cannot.
TRANSITIONS: dict[OrderState, frozenset[OrderState]] = {
    S.ACKNOWLEDGED: frozenset({S.IN_PROGRESS, S.PENDING, S.FAILED, S.PENDING_CANCELLATION}),
    S.IN_PROGRESS: frozenset(
        {S.PENDING, S.HELD, S.COMPLETED, S.PARTIAL, S.FAILED, S.PENDING_CANCELLATION}
    ),
    S.PENDING: frozenset({S.IN_PROGRESS, S.FAILED, S.PENDING_CANCELLATION}),
    S.HELD: frozenset({S.IN_PROGRESS, S.FAILED, S.PENDING_CANCELLATION}),
    S.PENDING_CANCELLATION: frozenset({S.CANCELLED}),
    S.CANCELLED: frozenset(),
    S.COMPLETED: frozenset(),
    S.FAILED: frozenset(),
    S.PARTIAL: frozenset(),
}
# Rules 2: an order can fail from every open state (a party that goes out of business
# fails an order that is waiting, held or just acknowledged just as well); no partial.
TRANSITIONS_V2: dict[OrderState, frozenset[OrderState]] = {
    **TRANSITIONS,
    S.IN_PROGRESS: frozenset({S.PENDING, S.HELD, S.COMPLETED, S.FAILED, S.PENDING_CANCELLATION}),
}
# Rules 1 (orders started before rules 2): only an order in progress could fail.
TRANSITIONS_V1: dict[OrderState, frozenset[OrderState]] = {
    **TRANSITIONS_V2,
    S.ACKNOWLEDGED: frozenset({S.IN_PROGRESS, S.PENDING, S.PENDING_CANCELLATION}),
    S.PENDING: frozenset({S.IN_PROGRESS, S.PENDING_CANCELLATION}),
    S.HELD: frozenset({S.IN_PROGRESS, S.PENDING_CANCELLATION}),
}


def transitions(rules: Rules) -> dict[OrderState, frozenset[OrderState]]:
    if not rules.ties_loose_ends:
        return TRANSITIONS_V1
    return TRANSITIONS if rules.order_items else TRANSITIONS_V2


class IllegalTransition(ValueError):
    """A state change TMF622 does not allow; the message names both states."""

    def __init__(self, current: OrderState, target: OrderState, rules: Rules) -> None:
        order = [state.value for state in OrderState]  # the TMF order, not the alphabet
        allowed_states = sorted(transitions(rules)[current], key=lambda s: order.index(s.value))
        allowed = ", ".join(allowed_states) or "none: the state is final"
        super().__init__(
            f"illegal transition from {current} to {target} (allowed from {current}: {allowed})"
        )
        self.current = current
        self.target = target


def can_transition(current: OrderState, target: OrderState, rules: Rules) -> bool:
    return target in transitions(rules)[current]


def check_transition(current: OrderState, target: OrderState, rules: Rules) -> None:
    if not can_transition(current, target, rules):
        raise IllegalTransition(current, target, rules)
