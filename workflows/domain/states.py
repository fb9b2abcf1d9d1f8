"""The TMF622 order state machine as the tracker applies it.

Transitions follow TMF622/TMF641 v4 (see the README): treatment starts, information is
waited for and supplied, an issue holds the order and is solved, and cancellation goes
through ``pendingCancellation`` while the party is told. ``cancelled``, ``completed`` and
``failed`` are final.
"""

from __future__ import annotations

from workflows.domain.model import OrderState

S = OrderState

TRANSITIONS: dict[OrderState, frozenset[OrderState]] = {
    S.ACKNOWLEDGED: frozenset({S.IN_PROGRESS, S.PENDING, S.PENDING_CANCELLATION}),
    S.IN_PROGRESS: frozenset({S.PENDING, S.HELD, S.COMPLETED, S.FAILED, S.PENDING_CANCELLATION}),
    S.PENDING: frozenset({S.IN_PROGRESS, S.PENDING_CANCELLATION}),
    S.HELD: frozenset({S.IN_PROGRESS, S.PENDING_CANCELLATION}),
    S.PENDING_CANCELLATION: frozenset({S.CANCELLED}),
    S.CANCELLED: frozenset(),
    S.COMPLETED: frozenset(),
    S.FAILED: frozenset(),
}


class IllegalTransition(ValueError):
    """A state change TMF622 does not allow; the message names both states."""

    def __init__(self, current: OrderState, target: OrderState) -> None:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none: the state is final"
        super().__init__(
            f"illegal transition from {current} to {target} (allowed from {current}: {allowed})"
        )
        self.current = current
        self.target = target


def can_transition(current: OrderState, target: OrderState) -> bool:
    return target in TRANSITIONS[current]


def check_transition(current: OrderState, target: OrderState) -> None:
    if not can_transition(current, target):
        raise IllegalTransition(current, target)
