"""An order's life in TrackPartyOrder, start to close, on the time-skipping test server:
months in seconds; also its ends (cancelled, refused at start) and its ids tracked again."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from starter.samples import example_order
from tests.conftest import get_order, read_outbox, running_worker, start_tracking, unique
from tests.support.clock import skip
from workflows.close_party_order import ClosureRecord
from workflows.domain.instants import iso
from workflows.domain.model import PartyOrder, close_workflow_id, track_workflow_id


async def test_months_long_order_from_start_to_close(
    time_env: WorkflowEnvironment, outbox: Path
) -> None:
    async with running_worker(time_env.client, outbox) as (_, task_queue):
        began = await time_env.get_current_time()
        order_id = unique()
        handle = await start_tracking(time_env, task_queue, example_order(order_id, began))
        order = await get_order(handle)
        assert order.state == "acknowledged"
        assert order.order_date is not None
        assert order.check_ins.next_at == order.order_date + timedelta(days=7)

        # Two weeks pass with the party silent: periodic check-ins go out.
        await skip(time_env, timedelta(days=6, hours=12))
        await handle.signal(
            "report_progress", {"requestId": "p1", "percentComplete": 15, "note": "survey booked"}
        )
        order = await get_order(handle)
        assert order.state == "inProgress"
        assert order.percent_complete == 15
        assert order.check_ins.unanswered_streak == 0

        # The party asks to move the survey and the completion date; the originating
        # process accepts. A second request is rejected.
        new_survey = began + timedelta(days=30)
        new_expected = began + timedelta(days=125)
        await handle.signal(
            "request_change",
            {
                "requestId": "CR-A",
                "origin": "party",
                "kind": "requested",
                "reason": "permit delayed",
                "changes": {
                    "expectedCompletionDate": iso(new_expected),
                    "milestones": [{"id": "survey", "milestoneDate": iso(new_survey)}],
                },
            },
        )
        await handle.signal(
            "request_change",
            {
                "requestId": "CR-B",
                "kind": "forced",
                "origin": "external",
                "reason": "storm",
                "changes": {"requestedCompletionDate": iso(began + timedelta(days=200))},
            },
        )
        await skip(time_env, timedelta(hours=1))
        order = await get_order(handle)
        assert [c.status for c in order.change_requests] == ["forwarded", "forwarded"]
        await handle.signal(
            "resolve_change",
            {"changeRequestId": "CR-A", "decision": "accepted", "resolvedBy": "SO-77 owner"},
        )
        await handle.signal(
            "resolve_change",
            {"changeRequestId": "CR-B", "decision": "rejected", "note": "date is contractual"},
        )
        order = await get_order(handle)
        accepted, rejected, asked = order.change_requests
        # Rules 5: the forecast accepted with CR-A lies past the agreed date, and once CR-B
        # (for the agreed date) is closed the process is asked about it.
        assert asked.changes.requested_completion_date == new_expected
        assert asked.origin == "party" and asked.status in ("received", "forwarded")
        assert accepted.status == "accepted" and accepted.resolved_by == "SO-77 owner"
        assert rejected.status == "rejected"
        assert order.expected_completion_date == new_expected
        assert order.milestone("survey").milestone_date == new_survey  # type: ignore[union-attr]
        assert order.requested_completion_date == began + timedelta(days=120)

        # Hold and resume through the change_state update.
        held = await handle.execute_update(
            "change_state",
            {"state": "held", "reason": "site access blocked"},
            result_type=PartyOrder,
        )
        assert held.state == "held"
        resumed = await handle.execute_update(
            "change_state",
            {"state": "inProgress", "reason": "access granted"},
            result_type=PartyOrder,
        )
        assert resumed.state == "inProgress"

        await handle.signal(
            "report_progress",
            {"percentComplete": 60, "milestones": [{"id": "survey", "status": "completed"}]},
        )
        await skip(time_env, timedelta(days=40))
        await handle.signal("report_progress", {"delivered": True, "note": "circuit live"})
        final = await handle.result()
        assert final.state == "completed"
        assert final.percent_complete == 100
        assert final.completion_date is not None
        assert final.milestone("survey").status == "completed"  # type: ignore[union-attr]
        assert [(s.from_state, s.to_state) for s in final.state_history] == [
            (None, "acknowledged"),
            ("acknowledged", "inProgress"),
            ("inProgress", "held"),
            ("held", "inProgress"),
            ("inProgress", "completed"),
        ]

        close = time_env.client.get_workflow_handle(
            close_workflow_id(order_id), result_type=ClosureRecord
        )
        closure = await close.result()
        assert closure.order_id == order_id
        assert closure.party_notified and closure.originating_process_notified
        assert closure.completion_date == final.completion_date

        sent = read_outbox(outbox)
        kinds = [(n["recipientKind"], n["kind"]) for n in sent if n["orderId"] == order_id]
        assert ("party", "checkIn") in kinds
        assert ("originatingProcess", "changeRequest") in kinds
        assert kinds.count(("party", "changeResolved")) == 2
        assert ("party", "completed") in kinds
        assert ("party", "orderClosed") in kinds and ("originatingProcess", "orderClosed") in kinds
        keys = [n["idempotencyKey"] for n in sent]
        assert len(keys) == len(set(keys))


async def test_cancelled_order_ends_cancelled_with_reason_and_date(
    time_env: WorkflowEnvironment, outbox: Path
) -> None:
    async with running_worker(time_env.client, outbox) as (_, task_queue):
        now = await time_env.get_current_time()
        handle = await start_tracking(time_env, task_queue, example_order(unique(), now))
        await handle.signal("report_progress", {"percentComplete": 5})
        await skip(time_env, timedelta(days=3))
        await handle.signal(
            "cancel_order",
            {"reason": "site decommissioned", "requestedBy": "service-order-handling"},
        )
        final = await handle.result()
        assert final.state == "cancelled"
        assert final.cancellation is not None
        assert final.cancellation.reason == "site decommissioned"
        assert final.cancellation.requested_by == "service-order-handling"
        assert final.cancellation.cancellation_date is not None
        assert [s.to_state for s in final.state_history][-2:] == [
            "pendingCancellation",
            "cancelled",
        ]
        notices = [n for n in read_outbox(outbox) if n["kind"] == "cancelled"]
        assert len(notices) == 1 and notices[0]["recipient"] == "ACME"


async def test_invalid_start_input_fails_at_once_naming_the_field(
    time_env: WorkflowEnvironment, outbox: Path
) -> None:
    async with running_worker(time_env.client, outbox) as (_, task_queue):
        now = await time_env.get_current_time()
        bad = example_order(unique(), now)
        bad["trackingPolicy"]["checkInInterval"] = "weekly"
        handle = await start_tracking(time_env, task_queue, bad)
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
        cause = failure.value.cause
        assert isinstance(cause, ApplicationError)
        assert cause.non_retryable
        assert "trackingPolicy.checkInInterval" in str(cause)


async def test_bad_messages_are_recorded_and_the_order_goes_on(
    time_env: WorkflowEnvironment, outbox: Path
) -> None:
    async with running_worker(time_env.client, outbox) as (_, task_queue):
        now = await time_env.get_current_time()
        handle = await start_tracking(time_env, task_queue, example_order(unique(), now))
        await handle.signal("report_progress", {"percentComplete": 250, "requestId": "bad-1"})
        await handle.signal("report_progress", {"milestones": [{"id": "nope"}]})
        await handle.signal("report_progress", ["not", "an", "object"])
        await handle.signal("resolve_change", {"changeRequestId": "CR-404", "decision": "accepted"})
        await handle.signal("no_such_signal", {"x": 1})
        await handle.signal("report_progress", {"percentComplete": 10, "requestId": "ok-1"})
        await handle.signal("report_progress", {"percentComplete": 99, "requestId": "ok-1"})
        order = await get_order(handle)
        errors = [(r.message, r.error) for r in order.rejected_messages]
        assert len(errors) == 6
        assert (
            "percentComplete" in errors[0][1] and order.rejected_messages[0].request_id == "bad-1"
        )
        assert "unknown milestone 'nope'" in errors[1][1]
        assert errors[3][0] == "resolve_change" and "CR-404" in errors[3][1]
        assert errors[4] == ("no_such_signal", "unknown message 'no_such_signal'")
        assert errors[5] == (
            "report_progress",
            "requestId 'ok-1' already used for a different report_progress message",
        )
        assert order.percent_complete == 10  # the reused requestId was not applied
        assert order.state == "inProgress"

        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update("change_state", {"state": "inProgress", "reason": "x"})
        assert "inProgress" in str(refused.value.cause)
        await handle.execute_update("change_state", {"state": "held", "reason": "blocked"})
        with pytest.raises(WorkflowUpdateFailedError) as illegal:
            await handle.execute_update("change_state", {"state": "pending", "reason": "x"})
        message = str(illegal.value.cause)
        assert "from held to pending" in message

        await handle.signal("cancel_order", {"reason": "done testing"})
        final = await handle.result()
        assert final.state == "cancelled"
        # After the end, the workflow takes no messages; the order was returned whole.
        assert len(final.rejected_messages) == 6


async def test_second_order_with_a_running_id_is_refused(
    time_env: WorkflowEnvironment, outbox: Path
) -> None:
    from temporalio.exceptions import WorkflowAlreadyStartedError

    async with running_worker(time_env.client, outbox) as (_, task_queue):
        now = await time_env.get_current_time()
        order = example_order(unique(), now)
        handle = await start_tracking(time_env, task_queue, order)
        with pytest.raises(WorkflowAlreadyStartedError):
            await time_env.client.start_workflow(
                "TrackPartyOrder",
                order,
                id=track_workflow_id(order["id"]),
                task_queue=task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            )
        await handle.signal("cancel_order", {"reason": "cleanup"})
        await handle.result()


async def test_an_order_id_tracked_again_gets_its_own_notifications_and_closure(
    time_env: WorkflowEnvironment, outbox: Path
) -> None:
    async with running_worker(time_env.client, outbox) as (_, task_queue):
        now = await time_env.get_current_time()
        order = example_order(unique(), now)
        closures = []
        for _ in range(2):
            handle = await start_tracking(time_env, task_queue, order)
            await handle.signal("report_progress", {"delivered": True})
            final = await handle.result()
            assert final.tracking_id == handle.result_run_id
            close = time_env.client.get_workflow_handle(
                close_workflow_id(order["id"]), result_type=ClosureRecord
            )
            closures.append(await close.result())
        assert all(c.party_notified for c in closures)
        sent = [n for n in read_outbox(outbox) if n["orderId"] == order["id"]]
        # Two trackings: each one's completion and closure notices arrive, none deduplicated.
        assert [n["kind"] for n in sent].count("completed") == 2
        assert [n["kind"] for n in sent].count("orderClosed") == 4
