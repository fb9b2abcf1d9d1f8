"""PartyOrderDigest: the morning digest of orders in jeopardy, run by a Temporal Schedule.

Each run lists the open orders in jeopardy through visibility, a page per activity (so no
payload grows with the number of orders), and sends one ``digest`` notice per escalation
contact and order manager (``workflows.domain.digest``). A notice that cannot be delivered
is recorded in the result; the next morning's run is a new run.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from pydantic import Field
from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.delivery import deliver
    from workflows.domain import names
    from workflows.domain.digest import DigestEntry, DigestPage, digest_notices
    from workflows.domain.effects import Notification
    from workflows.domain.model import DeliveryFailure, WireModel

LIST_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)
)


class DigestResult(WireModel):
    """The result of one PartyOrderDigest run."""

    orders: int
    notices: int
    delivery_failures: list[DeliveryFailure] = Field(default_factory=list)


@workflow.defn(name=names.DIGEST_WORKFLOW)
class PartyOrderDigest:
    def __init__(self) -> None:
        self._failures: list[DeliveryFailure] = []

    @workflow.run
    async def run(self) -> DigestResult:
        entries: list[DigestEntry] = []
        token: str | None = None
        while True:
            page = await workflow.execute_activity(
                names.LIST_ORDERS_IN_JEOPARDY,
                token,
                result_type=DigestPage,
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=LIST_RETRY,
                summary="list a page of the open orders in jeopardy",
            )
            entries += page.entries
            token = page.next_page_token
            if token is None:
                break
        notices = digest_notices(entries, workflow.now(), workflow.info().workflow_id)
        await asyncio.gather(*(deliver(notice, self._failed) for notice in notices))
        return DigestResult(
            orders=len(entries), notices=len(notices), delivery_failures=self._failures
        )

    def _failed(self, notice: Notification, error: str) -> None:
        self._failures.append(
            DeliveryFailure(
                at=workflow.now(), recipient=notice.recipient, kind=notice.kind, error=error
            )
        )
