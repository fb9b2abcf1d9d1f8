"""Side effects: every contact with the outside world (party, processes, contacts)."""

from activities.channels import (
    ChannelRouter,
    NotificationChannel,
    OutboxChannel,
    WebhookChannel,
)
from activities.registry import PartyOrderActivities
from activities.settings import NotificationSettings

__all__ = [
    "ChannelRouter",
    "NotificationChannel",
    "NotificationSettings",
    "OutboxChannel",
    "PartyOrderActivities",
    "WebhookChannel",
]
