"""The ``list_orders_in_jeopardy`` activity: one page of the morning digest's orders."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError

from workflows.domain import names
from workflows.domain.digest import DigestPage, digest_entry
from workflows.domain.model import PartyOrder
from workflows.domain.rules import CURRENT_RULES, rules_of

# The open orders in jeopardy, as the digest lists them (values are the contract's).
IN_JEOPARDY_QUERY = (
    f'WorkflowType = "{names.TRACK_WORKFLOW}" AND ExecutionStatus = "Running"'
    f' AND {names.SA_JEOPARDY} IN ("hazard", "critical")'
)
DIGEST_PAGE_SIZE = 100
DIGEST_QUERIES_AT_ONCE = 20
# The rules an order's next deadline is shown by in the digest. ``get_order`` does not say
# which rules an order is tracked by, so the digest reads every order by the current ones
# (an order on older rules meets them at its next continue-as-new).
DIGEST_RULES = rules_of(CURRENT_RULES)


@activity.defn(name=names.LIST_ORDERS_IN_JEOPARDY)
async def list_orders_in_jeopardy(page_token: str | None) -> DigestPage:
    """One page of the open orders in jeopardy, each read with ``get_order`` (the
    reasons and the contacts are in the order, not in visibility).

    An order that does not answer is left out of this digest, with a warning: one stuck
    order must not hold back every contact's morning digest.
    """
    client = activity.client()
    pages = client.list_workflows(
        IN_JEOPARDY_QUERY,
        page_size=DIGEST_PAGE_SIZE,
        next_page_token=base64.b64decode(page_token) if page_token else None,
    )
    await pages.fetch_next_page()
    now = datetime.now(UTC)
    gate = asyncio.Semaphore(DIGEST_QUERIES_AT_ONCE)

    async def read(workflow_id: str) -> PartyOrder | None:
        async with gate:
            try:
                return await client.get_workflow_handle(workflow_id).query(
                    names.GET_ORDER, result_type=PartyOrder, rpc_timeout=timedelta(seconds=10)
                )
            except (RPCError, WorkflowQueryFailedError) as error:
                activity.logger.warning("digest: %s did not answer: %s", workflow_id, error)
                return None

    orders = await asyncio.gather(*(read(e.id) for e in pages.current_page or []))
    entries = [
        entry
        for order in orders
        if order is not None and (entry := digest_entry(order, now, DIGEST_RULES)) is not None
    ]
    token = pages.next_page_token
    return DigestPage(
        entries=entries, next_page_token=base64.b64encode(token).decode() if token else None
    )
