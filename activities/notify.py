"""The tracker's activities: every contact with the outside world.

The workflow decides *what* to tell *whom*; these activities only deliver, through the
channel the settings choose. They are safe to retry: each notification carries an
idempotency key fixed by the workflow, which the outbox and webhook receivers dedupe on.
Logs name the kind, recipient and key, never a body or a secret.

Metrics (``activity.metric_meter()``, served by the worker's Prometheus exporter):
``party_orders_notifications_delivered`` and ``party_orders_notification_failures`` (each
failed attempt, retries included), by ``channel`` (outbox, webhook, email) and
``recipient`` (party, originatingProcess, contact).

A check-in to the party gains its signed ``portalUrl`` here, at delivery (see
activities/portal.py): the secret that signs it never enters workflow history.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.client import WorkflowQueryFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from activities.calendars import resolve_holidays
from activities.channels import ChannelRouter, NotificationChannel
from activities.hub import HubActivities, HubPublisher
from activities.portal import with_portal_link
from activities.settings import NotificationSettings
from workflows.domain import names
from workflows.domain.digest import DigestPage, digest_entry
from workflows.domain.effects import Notification
from workflows.domain.model import PartyOrder, close_workflow_id
from workflows.domain.names import CLOSE_WORKFLOW, ORDER_COMPLETED
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

# Memo key on ClosePartyOrder: the tracking (first TrackPartyOrder run id) it closes.
TRACKING_MEMO = "trackingId"


def channel_label(channel: NotificationChannel) -> str:
    """``outbox``, ``webhook`` or ``email`` (from the channel's class name): a metric label."""
    return type(channel).__name__.removesuffix("Channel").lower()


class PartyOrderActivities:
    """Activities bound to one worker's notification settings and channels.

    Construct once per worker and register ``all()``. Channels (and their HTTP clients)
    live as long as this object; call ``aclose()`` when the worker stops.
    """

    def __init__(
        self,
        settings: NotificationSettings | None = None,
        *,
        outbox: NotificationChannel | None = None,
        process: NotificationChannel | None = None,
        contact: NotificationChannel | None = None,
    ) -> None:
        self.settings = settings if settings is not None else NotificationSettings.from_env()
        self.router = ChannelRouter(self.settings, outbox=outbox, process=process, contact=contact)
        self.hub: HubActivities | None = None

    def use_hub(self, publisher: HubPublisher) -> HubActivities:
        """Publish each notification's event to the hub's subscriptions (the worker does)."""
        self.hub = HubActivities(self.router, publisher)
        return self.hub

    async def _deliver(self, notification: Notification) -> Notification | None:
        """Deliver; return the notification when this runs as a local activity.

        A local activity's input is not written to the workflow history, its result is: so
        what was sent stays on record (``ClosePartyOrder``'s notices). As an ordinary
        activity the scheduled event already holds it, and nothing is returned.
        """
        delivered = notification
        if self.hub is not None:
            # First: the event happened whether or not its recipient can be reached.
            # Publishing again on a retry starts no second delivery.
            await self.hub.publisher.publish_notification(notification)
        # Then the party's signed check-in link: in its own notification, never in an event.
        notification = with_portal_link(notification, self.settings.portal)
        channel = self.router.channel_for(notification)
        labels = {"channel": channel_label(channel), "recipient": notification.recipient_kind}
        activity.logger.info(
            "delivering %s to %s %s (key %s) via %s",
            notification.kind,
            notification.recipient_kind,
            notification.recipient,
            notification.idempotency_key,
            type(channel).__name__,
        )
        meter = activity.metric_meter()
        try:
            await channel.deliver(notification)
        except Exception:
            meter.create_counter(
                "party_orders_notification_failures",
                "Failed notification delivery attempts, by channel and recipient",
            ).add(1, labels)
            raise
        meter.create_counter(
            "party_orders_notifications_delivered",
            "Notifications delivered, by channel and recipient",
        ).add(1, labels)
        return delivered if activity.info().is_local else None

    @activity.defn(name="notify_party")
    async def notify_party(self, notification: Notification) -> Notification | None:
        """Tell the party (supplier, partner or customer) about its order."""
        return await self._deliver(notification)

    @activity.defn(name="notify_originating_process")
    async def notify_originating_process(self, notification: Notification) -> Notification | None:
        """Tell the process that placed the order (e.g. forward a change request)."""
        return await self._deliver(notification)

    @activity.defn(name="notify_contact")
    async def notify_contact(self, notification: Notification) -> Notification | None:
        """Tell an escalation contact or the order manager (jeopardy, violated milestones)."""
        return await self._deliver(notification)

    @activity.defn(name="inform_close_process")
    async def inform_close_process(self, order: PartyOrder) -> None:
        """Hand the completed order to the Close Party Order process (eTOM 1.6.8.4).

        Signal-with-start: if ``ClosePartyOrder`` is running it gets the signal, otherwise it
        is started with it. The close workflow's memo names the tracking it closes, so a
        retry after the close process already ran for this tracking is a no-op, while a
        later tracking of the same order id still gets its own close process.
        """
        client = activity.client()
        workflow_id = close_workflow_id(order.id)
        # Only a retry can find this tracking's close process (an earlier attempt started
        # it and then failed to report back): the first attempt spares the lookup.
        if activity.info().attempt > 1:
            try:
                existing = await client.get_workflow_handle(workflow_id).describe()
                if await existing.memo_value(TRACKING_MEMO, None) == order.tracking_id:
                    activity.logger.info(
                        "close process %s already informed of order %s", workflow_id, order.id
                    )
                    return
            except RPCError as error:
                if error.status != RPCStatusCode.NOT_FOUND:
                    raise
        await client.start_workflow(
            CLOSE_WORKFLOW,
            id=workflow_id,
            task_queue=activity.info().task_queue,
            start_signal=ORDER_COMPLETED,
            start_signal_args=[order],
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            memo={TRACKING_MEMO: order.tracking_id},
            static_summary=f"Close party order {order.id}",
        )
        activity.logger.info("close process %s informed of order %s", workflow_id, order.id)

    @activity.defn(name=names.LIST_ORDERS_IN_JEOPARDY)
    async def list_orders_in_jeopardy(self, page_token: str | None) -> DigestPage:
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

    def all(self) -> list[Callable[..., Any]]:
        """The bound activities, for ``Worker(activities=...)``."""
        return [
            self.notify_party,
            self.notify_originating_process,
            self.notify_contact,
            self.inform_close_process,
            self.list_orders_in_jeopardy,
            resolve_holidays,
        ]

    async def aclose(self) -> None:
        """Close the HTTP clients the channels opened."""
        await self.router.aclose()
