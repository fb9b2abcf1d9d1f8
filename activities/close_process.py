"""The ``inform_close_process`` activity: a completed order handed to the Close Party Order
process (eTOM 1.6.8.4)."""

from __future__ import annotations

from temporalio import activity
from temporalio.common import WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from workflows.domain import names
from workflows.domain.model import PartyOrder


@activity.defn(name=names.INFORM_CLOSE_PROCESS)
async def inform_close_process(order: PartyOrder) -> None:
    """Hand the completed order to the Close Party Order process (eTOM 1.6.8.4).

    Signal-with-start: if ``ClosePartyOrder`` is running it gets the signal, otherwise it
    is started with it. The close workflow's memo names the tracking it closes, so a
    retry after the close process already ran for this tracking is a no-op, while a
    later tracking of the same order id still gets its own close process.
    """
    client = activity.client()
    workflow_id = names.close_workflow_id(order.id)
    # Only a retry can find this tracking's close process (an earlier attempt started
    # it and then failed to report back): the first attempt spares the lookup.
    if activity.info().attempt > 1:
        try:
            existing = await client.get_workflow_handle(workflow_id).describe()
            if await existing.memo_value(names.TRACKING_MEMO, None) == order.tracking_id:
                activity.logger.info(
                    "close process %s already informed of order %s", workflow_id, order.id
                )
                return
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
    await client.start_workflow(
        names.CLOSE_WORKFLOW,
        id=workflow_id,
        task_queue=activity.info().task_queue,
        start_signal=names.ORDER_COMPLETED,
        start_signal_args=[order],
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        memo={names.TRACKING_MEMO: order.tracking_id},
        static_summary=f"Close party order {order.id}",
    )
    activity.logger.info("close process %s informed of order %s", workflow_id, order.id)
