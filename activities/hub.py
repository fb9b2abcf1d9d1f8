"""The hub's side effects: publishing an event to its subscriptions, and delivering it.

Publishing happens inside the activity that already delivers the notification the event
stands for (``Notifications.deliver``, activities/notifications.py), so the order's
workflow records nothing more for it: the quiet periodic check-in keeps its history events.
For each subscription that wants the event, publishing starts one ``DeliverHubEvent``
workflow whose id is the event's idempotency key (``delivery_key``) and which Temporal
refuses to start twice; a retried activity or a killed worker publishes again and starts
nothing new.

The subscriptions are read from the registry workflow's memo (``describe``, answered by the
server without a worker), kept for ``CACHE_SECONDS``: a subscription made a moment ago may
miss an event published in that moment, never one published later.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.common import SearchAttributeKey, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.channels import ChannelRouter
from activities.failures import DELIVERY_FAILED, REJECTED
from activities.signing import MASTER_SECRET_ENV, subscription_secret
from workflows.domain import names
from workflows.domain.bounds import MAX_DELIVERIES_PER_SUBSCRIPTION
from workflows.domain.effects import Notification
from workflows.domain.hub import (
    HubDelivery,
    HubEventSource,
    Subscription,
    delivery_key,
    event_type_of,
    source_of,
    wants,
)
from workflows.domain.party_view import party_event

logger = logging.getLogger(__name__)

CACHE_SECONDS = 2.0
# Who an order is for and from never changes within a tracking: cached longer.
SCOPE_CACHE_SECONDS = 300.0
SCOPE_CACHE_SIZE = 10_000
STARTS_AT_ONCE = 20

_PARTY_ID = SearchAttributeKey.for_keyword(names.SA_PARTY_ID)
_ORIGINATING_PROCESS = SearchAttributeKey.for_keyword(names.SA_ORIGINATING_PROCESS)


def _unavailable(what: str, error: RPCError) -> ApplicationError:
    # Temporal briefly away: the activity that publishes is retried, and publishing again
    # starts nothing twice.
    return ApplicationError(f"hub: could not {what}: {error.message}", type=DELIVERY_FAILED)


class HubPublisher:
    """Publishes events to the subscriptions in the registry, on ``task_queue``'s workers."""

    def __init__(
        self,
        client: Client,
        task_queue: str,
        *,
        cache_seconds: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.task_queue = task_queue
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._cached: tuple[float, list[Subscription]] | None = None
        self._scopes: dict[str, tuple[float, str | None, str | None]] = {}
        self._lock = asyncio.Lock()
        # A dead callback's deliveries retry for a day each: past this many running for one
        # subscription, its new events are dropped (and logged) rather than piled up.
        self.deliveries_per_subscription = MAX_DELIVERIES_PER_SUBSCRIPTION

    async def subscriptions(self, *, fresh: bool = False) -> list[Subscription]:
        """Every subscription, as the registry's memo says (cached unless ``fresh``)."""
        async with self._lock:
            now = self._clock()
            if not fresh and self._cached and now - self._cached[0] < self._cache_seconds:
                return self._cached[1]
            handle = self.client.get_workflow_handle(names.registry_workflow_id(self.task_queue))
            try:
                listed: list[Any] = await (await handle.describe()).memo_value(
                    names.SUBSCRIPTIONS_MEMO, []
                )
            except RPCError as error:
                if error.status != RPCStatusCode.NOT_FOUND:
                    raise _unavailable("read the subscriptions", error) from None
                listed = []  # nobody ever subscribed in this namespace
            subscriptions = [Subscription.model_validate(item) for item in listed]
            self._cached = (now, subscriptions)
            return subscriptions

    def forget(self) -> None:
        """Drop the cached subscriptions: the next event reads them afresh (one was just
        added here, and a read made before it must not hide it from the next event)."""
        self._cached = None

    async def subscription(self, subscription_id: str) -> Subscription | None:
        """The subscription, read afresh before it is called absent (a cache may be older
        than the subscription)."""
        for fresh in (False, True):
            for subscription in await self.subscriptions(fresh=fresh):
                if subscription.id == subscription_id:
                    return subscription
        return None

    async def order_scope(self, order_id: str) -> tuple[str | None, str | None]:
        """The order's party id and originating process, from its search attributes."""
        now = self._clock()
        cached = self._scopes.get(order_id)
        if cached is not None and now - cached[0] < SCOPE_CACHE_SECONDS:
            return cached[1], cached[2]
        try:
            description = await self.client.get_workflow_handle(
                names.track_workflow_id(order_id)
            ).describe()
        except RPCError as error:
            raise _unavailable(f"describe order {order_id}", error) from None
        attributes = description.typed_search_attributes
        party, process = attributes.get(_PARTY_ID), attributes.get(_ORIGINATING_PROCESS)
        if len(self._scopes) >= SCOPE_CACHE_SIZE:
            self._scopes.clear()
        self._scopes[order_id] = (now, party, process)
        return party, process

    async def publish_notification(self, notification: Notification) -> int:
        """Publish the event ``notification`` stands for, if any; the deliveries started."""
        if event_type_of(notification) is None:
            return 0
        if not await self.subscriptions():
            return 0  # the common case: nobody to tell, nothing more to ask
        party, process = await self.order_scope(notification.order_id)
        source = source_of(notification, party, process)
        return 0 if source is None else await self.publish(source)

    async def publish(self, source: HubEventSource) -> int:
        """Start a delivery to every subscription that wants ``source`` and has room for
        one more (``deliveries_per_subscription`` running at most); how many."""
        wanted = [s for s in await self.subscriptions() if wants(s, source)]
        gate = asyncio.Semaphore(STARTS_AT_ONCE)
        started = await asyncio.gather(*(self._start_in_bounds(s, source, gate) for s in wanted))
        return sum(started)

    async def running_deliveries(self, subscription_id: str) -> int:
        """How many deliveries to ``subscription_id`` are running (the visibility store's
        count: it may lag a moment behind the starts)."""
        prefix = (
            names.delivery_workflow_id(f"{subscription_id}/").replace("\\", "").replace("'", "")
        )
        query = (
            f"WorkflowType = '{names.DELIVER_HUB_EVENT_WORKFLOW}'"
            f" AND ExecutionStatus = 'Running' AND WorkflowId STARTS_WITH '{prefix}'"
        )
        try:
            return (await self.client.count_workflows(query)).count
        except RPCError as error:
            raise _unavailable(f"count the deliveries to {subscription_id}", error) from None

    async def _start_in_bounds(
        self, subscription: Subscription, source: HubEventSource, gate: asyncio.Semaphore
    ) -> bool:
        async with gate:
            running = await self.running_deliveries(subscription.id)
        if running >= self.deliveries_per_subscription:
            logger.warning(
                "hub event %s not delivered to subscription %s: %d deliveries to it are"
                " still retrying",
                source.event_id,
                subscription.id,
                running,
            )
            return False
        return await self._start(subscription, source, gate)

    async def _start(
        self, subscription: Subscription, source: HubEventSource, gate: asyncio.Semaphore
    ) -> bool:
        key = delivery_key(subscription.id, source.event_id)
        delivery = HubDelivery(
            subscription_id=subscription.id,
            callback=subscription.callback,
            idempotency_key=key,
            event_type=source.event_type,
            # A party's subscription gets the party view of the event.
            envelope=(
                party_event(source.envelope())
                if subscription.owner.role == "party"
                else source.envelope()
            ),
            secret_rotation=subscription.secret_rotation,
        )
        async with gate:
            try:
                await self.client.start_workflow(
                    names.DELIVER_HUB_EVENT_WORKFLOW,
                    delivery,
                    id=names.delivery_workflow_id(key),
                    task_queue=self.task_queue,
                    # Once per key, ever (within the namespace's retention): a publish
                    # repeated after the delivery finished must not deliver again.
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    static_summary=f"{source.event_type} about order {source.order_id}",
                )
            except WorkflowAlreadyStartedError:
                return False
            except RPCError as error:
                raise _unavailable(f"start the delivery {key}", error) from None
        return True


def hub_secret(master: str | None, delivery: HubDelivery, current: Subscription | None) -> str:
    """The subscription's own signing secret: of its latest rotation the worker knows of
    (read from the registry), else of the rotation the event was published at."""
    if master is None:
        raise ApplicationError(
            f"hub event {delivery.idempotency_key} not sent: nothing is sent unsigned, and"
            f" {MASTER_SECRET_ENV} is not set",
            type=REJECTED,
            non_retryable=True,
        )
    rotation = delivery.secret_rotation if current is None else current.secret_rotation
    return subscription_secret(master, delivery.subscription_id, rotation)


class HubActivities:
    """The activity that POSTs one event to one subscription's callback."""

    def __init__(self, router: ChannelRouter, publisher: HubPublisher) -> None:
        self.router = router
        self.publisher = publisher
        self.master_secret = router.settings.master_secret

    @activity.defn(name=names.DELIVER_HUB_EVENT)
    async def deliver_hub_event(self, delivery: HubDelivery) -> bool:
        """POST the event, signed like every webhook; False when the subscription is gone.

        An event goes to the subscriptions there were when it happened: the first attempt
        is always made. Retries stop once the subscription is removed, so removing it is how
        a subscriber stops a day of retries to a callback that is gone."""
        retry = activity.info().attempt > 1
        # Read on every attempt (cached): a secret rotated since the event was published is
        # the one its subscriber now verifies with.
        current = await self.publisher.subscription(delivery.subscription_id)
        if retry and current is None:
            activity.logger.info(
                "hub event %s not delivered: subscription %s was removed",
                delivery.idempotency_key,
                delivery.subscription_id,
            )
            return False
        body = json.dumps(delivery.envelope, ensure_ascii=False, separators=(",", ":"))
        channel = self.router.webhook(delivery.callback)
        activity.logger.info(
            "delivering %s (key %s) via %r",
            delivery.event_type,
            delivery.idempotency_key,
            channel,
        )
        labels = {"eventType": delivery.event_type}
        meter = activity.metric_meter()
        secret = hub_secret(self.master_secret, delivery, current)
        try:
            await channel.post(
                body.encode("utf-8"), delivery.idempotency_key, delivery.event_type, secret=secret
            )
        except Exception:
            meter.create_counter(
                "party_orders_hub_event_failures", "Failed hub event delivery attempts"
            ).add(1, labels)
            raise
        meter.create_counter("party_orders_hub_events_delivered", "Hub events delivered").add(
            1, labels
        )
        return True

    def all(self) -> list[Callable[..., Any]]:
        return [self.deliver_hub_event]
