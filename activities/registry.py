"""Every activity a worker registers, bound to its notification settings and channels:

notify_party, notify_originating_process, notify_contact   activities/notifications.py
inform_close_process                                        activities/close_process.py
list_orders_in_jeopardy                                     activities/digest.py
resolve_holidays                                            activities/calendars.py
deliver_hub_event (once the hub is used)                    activities/hub.py
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from activities.calendars import resolve_holidays
from activities.channels import ChannelRouter, NotificationChannel
from activities.close_process import inform_close_process
from activities.digest import list_orders_in_jeopardy
from activities.hub import HubActivities, HubPublisher
from activities.notifications import Notifications
from activities.settings import NotificationSettings


class PartyOrderActivities:
    """The activities of one worker.

    Construct once per worker and register ``all()``. Channels (and their HTTP clients)
    live as long as this object; call ``aclose()`` when the worker stops. ``outbox``,
    ``process`` and ``contact`` replace the channel the settings would choose.
    """

    def __init__(
        self,
        settings: NotificationSettings,
        *,
        outbox: NotificationChannel | None = None,
        process: NotificationChannel | None = None,
        contact: NotificationChannel | None = None,
    ) -> None:
        self.settings = settings
        self.router = ChannelRouter(settings, outbox=outbox, process=process, contact=contact)
        self.notifications = Notifications(settings, self.router)

    @property
    def hub(self) -> HubActivities | None:
        return self.notifications.hub

    def use_hub(self, publisher: HubPublisher) -> HubActivities:
        """Publish each notification's event to the hub's subscriptions (the worker does)."""
        return self.notifications.use_hub(publisher)

    def all(self) -> list[Callable[..., Any]]:
        """The activities, for ``Worker(activities=...)`` (the hub's come with ``hub.all()``)."""
        return [
            self.notifications.notify_party,
            self.notifications.notify_originating_process,
            self.notifications.notify_contact,
            inform_close_process,
            list_orders_in_jeopardy,
            resolve_holidays,
        ]

    async def aclose(self) -> None:
        """Close the HTTP clients the channels opened."""
        await self.router.aclose()
