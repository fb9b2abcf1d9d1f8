"""The ``list_orders_in_jeopardy`` activity: one page of the morning digest's orders."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.client import WorkflowQueryFailedError
from temporalio.common import SearchAttributeKey, TypedSearchAttributes
from temporalio.service import RPCError

from workflows.domain import names
from workflows.domain.digest import DigestEntry, DigestPage, digest_entry
from workflows.domain.model import PartyOrder
from workflows.domain.rules import Rules, rules_of_patches

# The open orders in jeopardy, as the digest lists them (values are the contract's).
IN_JEOPARDY_QUERY = (
    f'WorkflowType = "{names.TRACK_WORKFLOW}" AND ExecutionStatus = "Running"'
    f' AND {names.SA_JEOPARDY} IN ("hazard", "critical")'
)
DIGEST_PAGE_SIZE = 100
DIGEST_QUERIES_AT_ONCE = 20
CHANGE_VERSION = SearchAttributeKey.for_keyword_list(names.SA_CHANGE_VERSION)


def rules_listed(attributes: TypedSearchAttributes) -> Rules:
    """The rules an order's running run tracks by, as the listing shows them: the patch
    ids the run recorded. The order itself (``get_order``, the contract) does not say."""
    return rules_of_patches(attributes.get(CHANGE_VERSION, []))


def page_entries(
    read: Iterable[tuple[TypedSearchAttributes, PartyOrder | None]], now: datetime
) -> list[DigestEntry]:
    """The digest's lines for the orders of one page, each listed with its search
    attributes and read (None: it did not answer, and is left out).

    Each order's next deadline is told by its own rules: one on older rules keeps them
    until its next continue-as-new, and its timers follow them meanwhile.
    """
    return [
        entry
        for attributes, order in read
        if order is not None
        and (entry := digest_entry(order, now, rules_listed(attributes))) is not None
    ]


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

    listed = pages.current_page or []
    orders = await asyncio.gather(*(read(e.id) for e in listed))
    entries = page_entries(
        zip([e.typed_search_attributes for e in listed], orders, strict=True), now
    )
    token = pages.next_page_token
    return DigestPage(
        entries=entries, next_page_token=base64.b64encode(token).decode() if token else None
    )
