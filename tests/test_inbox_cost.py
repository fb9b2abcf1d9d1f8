"""The work of one workflow task is bounded by what its messages cost (rules 5), not
only by their count: a slice of large change requests is short, a slice of small
reports is as long as before, and a message is never held back on its own."""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio.api.common.v1 import Payload
from temporalio.common import RawValue

from workflows.inbox import COST_PER_TASK, MESSAGES_PER_TASK, Arrival, Inbox, message_base_cost

NOW = datetime(2027, 1, 4, tzinfo=UTC)


def inbox_of(*sizes: int) -> Inbox:
    inbox = Inbox()
    for size in sizes:
        # What a signal handler queues (``Inbox.receive`` reads the workflow clock).
        inbox._queue.append(Arrival("request_change", NOW, RawValue(Payload(data=b"x" * size))))
    return inbox


def test_a_slice_of_large_messages_is_bounded_by_their_cost() -> None:
    inbox = inbox_of(*[100_000] * 300)
    first = inbox.take_slice(lambda: True, by_cost=True)
    # Each costs 101 units: 19 of them fit in 2,000.
    assert len(first) == COST_PER_TASK // 101
    assert sum(len(a.raw.payload.data) for a in first if a.raw) <= 2_000_000


def test_a_slice_of_small_messages_is_as_long_as_the_count_allows() -> None:
    inbox = inbox_of(*[200] * (MESSAGES_PER_TASK + 500))
    assert len(inbox.take_slice(lambda: True, by_cost=True)) == MESSAGES_PER_TASK
    assert len(inbox.take_slice(lambda: True, by_cost=True)) == 500


def test_a_message_costlier_than_a_whole_task_still_goes_alone() -> None:
    inbox = inbox_of(5_000_000, 10)
    assert len(inbox.take_slice(lambda: True, by_cost=True)) == 1
    assert len(inbox.take_slice(lambda: True, by_cost=True)) == 1
    assert not inbox


def test_a_run_without_the_budget_and_older_rules_take_what_they_took() -> None:
    assert len(inbox_of(*[100_000] * 300).take_slice(lambda: False, by_cost=True)) == 300
    assert len(inbox_of(*[100_000] * 300).take_slice(lambda: True)) == 300


def test_messages_to_an_order_with_a_large_plan_cost_more() -> None:
    small, large = message_base_cost(3), message_base_cost(400)
    assert small == 1 and large == 81
    inbox = inbox_of(*[200] * 500)
    assert len(inbox.take_slice(lambda: True, by_cost=True, base_cost=large)) == 2_000 // 81
