"""What every job of the client shares: the Temporal client, the task queue, and how long a
person waits for an answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle

from activities.outbound import AllowList
from settings import DEFAULT_ANSWER_TIMEOUT, DEFAULT_MIN_DURATION
from workflows.domain import names

DEFAULT_CONNECT_TIMEOUT = timedelta(seconds=10)


@dataclass(frozen=True)
class Connection:
    """``client`` must use the pydantic data converter (``worker.connect()``);
    ``task_queue`` is where orders started here are run; ``callback_allow`` the internal
    addresses a party's webhookUrl may still be at (``PARTY_ORDERS_CALLBACK_ALLOW``)."""

    client: Client
    task_queue: str = names.DEFAULT_TASK_QUEUE
    answer_timeout: timedelta = DEFAULT_ANSWER_TIMEOUT
    callback_allow: AllowList = field(default_factory=AllowList)
    # The shortest interval or window an order started here may ask for.
    min_duration: timedelta = DEFAULT_MIN_DURATION

    def handle(self, order_id: str) -> WorkflowHandle[Any, Any]:
        """The order's TrackPartyOrder workflow (its newest run)."""
        return self.client.get_workflow_handle(names.track_workflow_id(order_id))
