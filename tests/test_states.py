"""The TMF622 order state machine: every one of the 81 (from, to) pairs, legal or not."""

from __future__ import annotations

import itertools

import pytest

from workflows.domain.model import FINAL_STATES, OrderState
from workflows.domain.rules import RULES_1, RULES_2, RULES_3, RULES_4
from workflows.domain.states import (
    TRANSITIONS,
    TRANSITIONS_V1,
    TRANSITIONS_V2,
    IllegalTransition,
    can_transition,
    check_transition,
)

S = OrderState

# Written out independently of ``states.TRANSITIONS`` (TMF622/TMF641 v4, see TMF.md):
# treatment starts, information is waited for and supplied, an issue holds the order and is
# solved, and cancellation goes through pendingCancellation. Final states have no way out.
LEGAL_V1: set[tuple[OrderState, OrderState]] = {
    (S.ACKNOWLEDGED, S.IN_PROGRESS),
    (S.ACKNOWLEDGED, S.PENDING),
    (S.ACKNOWLEDGED, S.PENDING_CANCELLATION),
    (S.IN_PROGRESS, S.PENDING),
    (S.IN_PROGRESS, S.HELD),
    (S.IN_PROGRESS, S.COMPLETED),
    (S.IN_PROGRESS, S.FAILED),
    (S.IN_PROGRESS, S.PENDING_CANCELLATION),
    (S.PENDING, S.IN_PROGRESS),
    (S.PENDING, S.PENDING_CANCELLATION),
    (S.HELD, S.IN_PROGRESS),
    (S.HELD, S.PENDING_CANCELLATION),
    (S.PENDING_CANCELLATION, S.CANCELLED),
}
# Rules 2 (the contract's second part): failed from every open state.
LEGAL_V2 = LEGAL_V1 | {(S.ACKNOWLEDGED, S.FAILED), (S.PENDING, S.FAILED), (S.HELD, S.FAILED)}
# Rules 3: the items' roll-up ends an order in progress as partial.
LEGAL = LEGAL_V2 | {(S.IN_PROGRESS, S.PARTIAL)}

ALL_PAIRS = list(itertools.product(OrderState, OrderState))
ILLEGAL = [pair for pair in ALL_PAIRS if pair not in LEGAL]


def test_there_are_nine_states_and_four_final_ones() -> None:
    assert {s.value for s in OrderState} == {
        "acknowledged",
        "inProgress",
        "pending",
        "held",
        "pendingCancellation",
        "cancelled",
        "completed",
        "failed",
        "partial",
    }
    assert {s.value for s in FINAL_STATES} == {"cancelled", "completed", "failed", "partial"}
    assert set(TRANSITIONS) == set(OrderState)
    assert len(ALL_PAIRS) == 81
    assert len(ILLEGAL) == 81 - len(LEGAL)


def test_rules_1_transitions_are_kept_for_older_orders() -> None:
    assert {(a, b) for a, targets in TRANSITIONS_V1.items() for b in targets} == LEGAL_V1
    assert not can_transition(S.HELD, S.FAILED, rules=RULES_1)
    assert can_transition(S.HELD, S.FAILED, rules=RULES_2)


def test_rules_2_transitions_are_kept_and_know_no_partial() -> None:
    assert {(a, b) for a, targets in TRANSITIONS_V2.items() for b in targets} == LEGAL_V2
    assert not can_transition(S.IN_PROGRESS, S.PARTIAL, rules=RULES_2)
    assert can_transition(S.IN_PROGRESS, S.PARTIAL, rules=RULES_3)


@pytest.mark.parametrize(("current", "target"), sorted(LEGAL), ids=lambda s: str(s))
def test_legal_transition(current: OrderState, target: OrderState) -> None:
    assert can_transition(current, target, RULES_4)
    check_transition(current, target, RULES_4)  # does not raise


@pytest.mark.parametrize(("current", "target"), ILLEGAL, ids=lambda s: str(s))
def test_illegal_transition_names_both_states(current: OrderState, target: OrderState) -> None:
    assert not can_transition(current, target, RULES_4)
    with pytest.raises(IllegalTransition) as raised:
        check_transition(current, target, RULES_4)
    error = raised.value
    assert error.current == current
    assert error.target == target
    text = str(error)
    assert f"from {current.value} to {target.value}" in text
    # An IllegalTransition is a ValueError, so the tracker records it as a rejected message.
    assert isinstance(error, ValueError)


@pytest.mark.parametrize("state", sorted(FINAL_STATES))
def test_final_states_have_no_way_out(state: OrderState) -> None:
    assert TRANSITIONS[state] == frozenset()
    for target in OrderState:
        assert not can_transition(state, target, RULES_4)
        # fullmatch: the whole message, so text added around "none" would fail the test
        with pytest.raises(IllegalTransition) as raised:
            check_transition(state, target, RULES_4)
        assert str(raised.value) == (
            f"illegal transition from {state} to {target}"
            f" (allowed from {state}: none: the state is final)"
        )


@pytest.mark.parametrize("state", list(OrderState))
def test_no_state_transitions_to_itself(state: OrderState) -> None:
    assert not can_transition(state, state, RULES_4)


@pytest.mark.parametrize(
    ("state", "allowed"),
    [
        (OrderState.ACKNOWLEDGED, "inProgress, pending, pendingCancellation, failed"),
        (
            OrderState.IN_PROGRESS,
            "pending, held, pendingCancellation, completed, failed, partial",
        ),
        (OrderState.PENDING, "inProgress, pendingCancellation, failed"),
        (OrderState.HELD, "inProgress, pendingCancellation, failed"),
        (OrderState.PENDING_CANCELLATION, "cancelled"),
    ],
)
def test_illegal_message_lists_what_is_allowed(state: OrderState, allowed: str) -> None:
    """Every state allowed from here, in TMF622's order of states."""
    with pytest.raises(IllegalTransition) as raised:
        check_transition(state, state, RULES_4)
    assert str(raised.value) == (
        f"illegal transition from {state} to {state} (allowed from {state}: {allowed})"
    )


def _reachable(start: OrderState) -> set[OrderState]:
    seen = {start}
    todo = [start]
    while todo:
        for target in TRANSITIONS[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_every_state_is_reachable_from_acknowledged() -> None:
    assert _reachable(S.ACKNOWLEDGED) == set(OrderState)


@pytest.mark.parametrize("state", sorted(set(OrderState) - FINAL_STATES))
def test_every_open_state_can_still_end(state: OrderState) -> None:
    assert _reachable(state) & FINAL_STATES
    # and cancellation is always possible from an open state, through pendingCancellation
    assert S.CANCELLED in _reachable(state)


def test_nothing_leads_back_to_acknowledged() -> None:
    assert all(S.ACKNOWLEDGED not in targets for targets in TRANSITIONS.values())
