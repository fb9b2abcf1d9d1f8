"""Delivering notifications from a workflow: one way for the tracker, the close process
and the digest.

A notification is delivered by the activity for its recipient kind, with retries for up
to a day. A delivery that still fails is not an error of the order: ``deliver`` returns
``False`` and hands the failure to the caller, which records it on what it tracks.
Activities are referred to by their contract names (``workflows.domain.names``), so the
workflows need nothing from ``activities/``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as TemporalTimeoutError

with workflow.unsafe.imports_passed_through():
    from workflows.domain import names
    from workflows.domain.effects import Notification, RecipientKind

# Notifications retry for up to a day with capped backoff; after that the failure is
# recorded and tracking goes on (a failing channel never fails an order).
NOTIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
    non_retryable_error_types=["NotificationRejected"],
)
# Longer than the webhook timeout (10 s), short enough that a crashed worker's
# notification is retried soon.
NOTIFY_START_TO_CLOSE = timedelta(seconds=15)
NOTIFY_SCHEDULE_TO_CLOSE = timedelta(hours=24)

ACTIVITY_FOR: dict[RecipientKind, str] = {
    "party": names.NOTIFY_PARTY,
    "originatingProcess": names.NOTIFY_ORIGINATING_PROCESS,
    "contact": names.NOTIFY_CONTACT,
}

# Called with the notification and the final error when a delivery gives up.
OnFailure = Callable[[Notification, str], None]


async def deliver(
    notification: Notification, on_failure: OnFailure, *, local: bool = False
) -> bool:
    """Deliver one notification; ``True`` once delivered, ``False`` after ``on_failure``.

    ``local``: as a local activity, run by the worker inside the caller's own workflow
    task, with the same timeouts and retries (waits longer than a minute between attempts
    become durable timers). It needs no activity task from the server, which suits a
    workflow with nothing else to do meanwhile (``ClosePartyOrder``); the tracker, which
    must keep taking messages while a slow endpoint is retried, delivers as ordinary
    activities. A local activity's input is not in the history, so the activity returns the
    notification it delivered, and the history keeps that.

    The activity's summary in the Web UI says what goes to whom.
    """
    execute = workflow.execute_local_activity if local else workflow.execute_activity
    try:
        await execute(
            ACTIVITY_FOR[notification.recipient_kind],
            notification,
            start_to_close_timeout=NOTIFY_START_TO_CLOSE,
            schedule_to_close_timeout=NOTIFY_SCHEDULE_TO_CLOSE,
            retry_policy=NOTIFY_RETRY,
            summary=f"{notification.kind} to {notification.recipient}: {notification.subject}",
        )
        return True
    except ActivityError as error:
        on_failure(notification, str(error.cause or error))
        return False
    except (ApplicationError, TemporalTimeoutError) as error:
        # A local activity's last failure reaches the workflow as the activity's own error
        # (or its timeout), not wrapped in an ActivityError.
        if not local:
            raise
        on_failure(notification, str(error))
        return False
