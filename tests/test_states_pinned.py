"""A refused state change names what is allowed, pinned (pure): in TMF622's order of
states, by the order's own rules, and for a final state."""

from __future__ import annotations

import pytest

from workflows.domain.model import OrderState
from workflows.domain.rules import CURRENT_RULES, RULES_V1, RULES_V2, rules_of
from workflows.domain.states import IllegalTransition, check_transition

S = OrderState


def refusal(current: OrderState, target: OrderState, rules: int | None = None) -> str:
    with pytest.raises(IllegalTransition) as refused:
        check_transition(current, target, rules_of(CURRENT_RULES if rules is None else rules))
    assert (refused.value.current, refused.value.target) == (current, target)
    return str(refused.value)


def test_the_allowed_states_are_listed_in_tmf622_order() -> None:
    assert refusal(S.IN_PROGRESS, S.ACKNOWLEDGED) == (
        "illegal transition from inProgress to acknowledged (allowed from inProgress:"
        " pending, held, pendingCancellation, completed, failed, partial)"
    )


def test_the_allowed_states_are_those_of_the_orders_rules() -> None:
    assert refusal(S.IN_PROGRESS, S.PARTIAL, RULES_V2) == (
        "illegal transition from inProgress to partial (allowed from inProgress:"
        " pending, held, pendingCancellation, completed, failed)"
    )
    assert refusal(S.HELD, S.FAILED, RULES_V1) == (
        "illegal transition from held to failed (allowed from held:"
        " inProgress, pendingCancellation)"
    )


def test_a_final_state_allows_nothing() -> None:
    assert refusal(S.COMPLETED, S.IN_PROGRESS) == (
        "illegal transition from completed to inProgress (allowed from completed:"
        " none: the state is final)"
    )
