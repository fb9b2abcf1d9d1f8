"""Side effects: every contact with the outside world (party, processes, contacts)."""

from activities.channels import (
    ChannelRouter,
    NotificationChannel,
    OutboxChannel,
    WebhookChannel,
    channel_for,
)
from activities.notify import PartyOrderActivities
from activities.settings import NotificationSettings

__all__ = [
    "ChannelRouter",
    "NotificationChannel",
    "NotificationSettings",
    "OutboxChannel",
    "PartyOrderActivities",
    "WebhookChannel",
    "channel_for",
]
