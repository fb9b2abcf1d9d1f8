"""The three notification activities: ``notify_party``, ``notify_originating_process`` and
``notify_contact``, one for each kind of recipient, all delivered the same way.

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

from temporalio import activity

from activities.channels import ChannelRouter, NotificationChannel
from activities.hub import HubActivities, HubPublisher
from activities.portal import with_portal_link
from activities.settings import NotificationSettings
from workflows.domain import names
from workflows.domain.effects import Notification


def channel_label(channel: NotificationChannel) -> str:
    """``outbox``, ``webhook`` or ``email`` (from the channel's class name): a metric label."""
    return type(channel).__name__.removesuffix("Channel").lower()


class Notifications:
    """The notification activities, bound to one worker's settings and channels."""

    def __init__(self, settings: NotificationSettings, router: ChannelRouter) -> None:
        self.settings = settings
        self.router = router
        self.hub: HubActivities | None = None

    def use_hub(self, publisher: HubPublisher) -> HubActivities:
        """Publish each notification's event to the hub's subscriptions (the worker does)."""
        self.hub = HubActivities(self.router, publisher)
        return self.hub

    @activity.defn(name=names.NOTIFY_PARTY)
    async def notify_party(self, notification: Notification) -> Notification | None:
        """Tell the party (supplier, partner or customer) about its order."""
        return await self.deliver(notification)

    @activity.defn(name=names.NOTIFY_ORIGINATING_PROCESS)
    async def notify_originating_process(self, notification: Notification) -> Notification | None:
        """Tell the process that placed the order (e.g. forward a change request)."""
        return await self.deliver(notification)

    @activity.defn(name=names.NOTIFY_CONTACT)
    async def notify_contact(self, notification: Notification) -> Notification | None:
        """Tell an escalation contact or the order manager (jeopardy, violated milestones)."""
        return await self.deliver(notification)

    async def deliver(self, notification: Notification) -> Notification | None:
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
