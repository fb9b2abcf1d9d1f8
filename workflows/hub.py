"""The hub's two workflows: the subscription registry, and one event's delivery.

``PartyOrderSubscriptions`` (workflow id ``party-orders-subscriptions``: one per namespace
and task queue)
holds every subscription, so they last as long as Temporal's own state: restarts of the
API, the worker or the server lose none. Updates add and remove subscriptions; the list is
also written to the workflow's memo, which the delivering activities read through
``describe`` (no worker needed to answer it) with a short cache. It continues as new when
its history grows, carrying the subscriptions and the recorded failures.

``DeliverHubEvent`` delivers one event to one subscription, with the notifications' retry
policy (``workflows.delivery``). Its workflow id is the event's idempotency key, so one
event reaches one subscription through one delivery however often it is published (an
activity retried, a worker killed). A delivery that gives up is recorded in the registry.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workflows.delivery import NOTIFY_RETRY, NOTIFY_SCHEDULE_TO_CLOSE, NOTIFY_START_TO_CLOSE
    from workflows.domain import names
    from workflows.domain.hub import (
        SUBSCRIPTIONS_MEMO,
        HubDelivery,
        HubDeliveryFailure,
        RegistryState,
        RemoveSubscription,
        RotateSecret,
        Subscription,
        SubscriptionOwner,
        registry_workflow_id,
    )
    from workflows.patches import CARRY_MEMO_PATCH, SUSPEND_DEAD_CALLBACKS_PATCH

SUSPENDED_METRIC = "party_orders_hub_subscriptions_suspended"

# Continue as new well before Temporal's own limits: each change is a few events.
REGISTRY_HISTORY_LIMIT = 2_000


@workflow.defn(name=names.SUBSCRIPTION_REGISTRY_WORKFLOW)
class PartyOrderSubscriptions:
    @workflow.init
    def __init__(self, state: RegistryState | None = None) -> None:
        self.state = state if state is not None else RegistryState()

    @workflow.run
    async def run(self, state: RegistryState | None = None) -> None:
        self._publish()  # a continued run's memo says what it holds from its first event
        await workflow.wait_condition(self._should_continue)
        await workflow.wait_condition(workflow.all_handlers_finished)
        if workflow.patched(CARRY_MEMO_PATCH):
            # The next run starts with the memo: between its start and its first task,
            # the API's quota check and the publishers read every subscription, not none.
            workflow.continue_as_new(self.state, memo=self._memo())
        workflow.continue_as_new(self.state)

    def _should_continue(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() > REGISTRY_HISTORY_LIMIT
        )

    def _memo(self) -> dict[str, Any]:
        return {SUBSCRIPTIONS_MEMO: [s.to_json_dict() for s in self.state.subscriptions]}

    def _publish(self) -> None:
        workflow.upsert_memo(self._memo())

    @workflow.update(name=names.ADD_SUBSCRIPTION)
    def add_subscription(self, subscription: Subscription) -> Subscription:
        added = self.state.add(subscription)
        self._publish()
        return added

    @add_subscription.validator
    def _check_add(self, subscription: Subscription) -> None:
        self.state.check_add(subscription)  # refused before anything is recorded

    @workflow.update(name=names.REMOVE_SUBSCRIPTION)
    def remove_subscription(self, request: RemoveSubscription) -> bool:
        removed = self.state.remove(request)
        if removed:
            self._publish()
        return removed

    @workflow.update(name=names.ROTATE_SUBSCRIPTION_SECRET)
    def rotate_subscription_secret(self, request: RotateSecret) -> Subscription | None:
        rotated = self.state.rotate_secret(request)
        if rotated is not None:
            self._publish()
        return rotated

    @workflow.signal(name=names.HUB_DELIVERY_FAILED)
    def delivery_failed(self, failure: HubDeliveryFailure) -> None:
        suspended = self.state.record_failure(failure)
        # The memo is what deliveries read: a suspended callback gets no more of them.
        if suspended is not None and workflow.patched(SUSPEND_DEAD_CALLBACKS_PATCH):
            # Its owner reads the suspension on GET /hub/{id} and in GET /hub (from the
            # memo); the operator hears of it by this line and the metric (neither of
            # which is a command: histories made before them replay unchanged).
            workflow.logger.warning(
                "hub subscription %s of %s suspended: %s",
                suspended.id,
                _owner_name(suspended.owner),
                suspended.suspended_reason,
            )
            workflow.metric_meter().create_counter(
                SUSPENDED_METRIC, "Hub subscriptions suspended because their callback was dead"
            ).add(1, {"ownerRole": suspended.owner.role})
            self._publish()

    @workflow.query(name=names.LIST_SUBSCRIPTIONS)
    def list_subscriptions(self) -> RegistryState:
        return self.state


def _owner_name(owner: SubscriptionOwner) -> str:
    return f"{owner.role}:{owner.party_id or owner.process or 'managers'}"


@workflow.defn(name=names.DELIVER_HUB_EVENT_WORKFLOW)
class DeliverHubEvent:
    @workflow.run
    async def run(self, delivery: HubDelivery) -> bool:
        """True once delivered; False when it gave up (recorded in the registry)."""
        try:
            await workflow.execute_activity(
                names.DELIVER_HUB_EVENT,
                delivery,
                start_to_close_timeout=NOTIFY_START_TO_CLOSE,
                schedule_to_close_timeout=NOTIFY_SCHEDULE_TO_CLOSE,
                retry_policy=NOTIFY_RETRY,
                summary=f"{delivery.event_type} to subscription {delivery.subscription_id}",
            )
            return True
        except ActivityError as error:
            failure = HubDeliveryFailure(
                at=workflow.now(),
                subscription_id=delivery.subscription_id,
                event_id=delivery.envelope.get("eventId", ""),
                event_type=delivery.event_type,
                error=str(error.cause or error)[:1000],
            )
            workflow.logger.warning(
                "hub event %s to subscription %s gave up: %s",
                failure.event_id,
                failure.subscription_id,
                failure.error,
            )
            registry = workflow.get_external_workflow_handle(
                registry_workflow_id(workflow.info().task_queue)
            )
            try:
                await registry.signal(names.HUB_DELIVERY_FAILED, failure)
            except Exception:  # the registry is gone: the warning above stays
                workflow.logger.warning("hub registry not reachable to record the failure")
            return False
