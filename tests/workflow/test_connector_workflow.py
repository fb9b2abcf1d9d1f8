"""An order naming its party's own ordering system, started in TrackPartyOrder: the
workflow keeps the connector and the party's ids, and refuses a connector without the
order's ``externalId``. (Check-ins through the connector come with a later change.)"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from starter.samples import example_order
from tests.conftest import get_order, running_worker, start_tracking, unique

CONNECTOR = {
    "protocol": "mef-sonata-v10",
    "baseUrl": "https://seller.example/mefApi/sonata/productOrderingManagement/v10",
    "credentials": "ACME_SONATA",
}


async def test_an_order_with_a_connector_is_tracked_with_it(
    time_env: WorkflowEnvironment, outbox: Path
) -> None:
    async with running_worker(time_env.client, outbox) as (_, task_queue):
        order = example_order(unique(), await time_env.get_current_time())
        order["party"]["connector"] = CONNECTOR
        order["externalId"] = "00000000-1111-2222-3333-000000000123"
        order["orderItems"][0]["externalId"] = "item-001"
        handle = await start_tracking(time_env, task_queue, order)
        tracked = await get_order(handle)
        assert tracked.state == "acknowledged"
        assert tracked.external_id == order["externalId"]
        assert tracked.party.connector is not None
        assert tracked.party.connector.credentials == "ACME_SONATA"
        assert tracked.order_items[0].external_id == "item-001"
        await handle.signal("cancel_order", {"reason": "cleanup"})
        await handle.result()


async def test_a_connector_without_the_orders_external_id_is_refused_at_start(
    time_env: WorkflowEnvironment, outbox: Path
) -> None:
    async with running_worker(time_env.client, outbox) as (_, task_queue):
        order = example_order(unique(), await time_env.get_current_time())
        order["party"]["connector"] = CONNECTOR
        handle = await start_tracking(time_env, task_queue, order)
        with pytest.raises(WorkflowFailureError) as failure:
            # Refused in its first task; a workflow that took the order instead would run
            # for months of skipped time, so the wait is bounded.
            await asyncio.wait_for(handle.result(), timeout=60)
        cause = failure.value.cause
        assert isinstance(cause, ApplicationError) and cause.non_retryable
        assert "externalId" in str(cause)
