"""Event subscriptions (the hub): registering callbacks with the registry workflow, and
the publisher of events to them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from temporalio.client import (
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from activities.hub import HubPublisher
from activities.settings import check_webhook_url
from starter.client import errors
from starter.client.connection import Connection
from starter.errors import InvalidInput, UpdateRejected
from workflows.domain import names
from workflows.domain.hub import (
    RegistryState,
    RemoveSubscription,
    RotateSecret,
    Subscription,
    SubscriptionOwner,
    parse_query,
)


class Subscriptions:
    """``subscribe``, ``unsubscribe``, ``rotate_secret`` and list the registry's
    ``subscriptions``."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._hub: HubPublisher | None = None

    @property
    def hub(self) -> HubPublisher:
        """Publishes events to the subscriptions (here: PartyOrderCreateEvent)."""
        if self._hub is None:
            self._hub = HubPublisher(self.connection.client, self.connection.task_queue)
        return self._hub

    async def subscribe(
        self,
        callback: str,
        query: str | None,
        owner: SubscriptionOwner,
        *,
        owner_quota: int | None = None,
    ) -> Subscription:
        """Register ``callback`` for the events ``query`` takes that ``owner`` may see.

        The registry workflow is started on first use (update-with-start). InvalidInput
        for a callback that is not an http(s) URL or a query that does not parse;
        UpdateRejected when the registry refuses it (full, or the owner at ``owner_quota``
        subscriptions: the registry's own ceiling when None)."""
        connection = self.connection
        query = (query or "").strip()
        try:
            check_webhook_url(callback, "callback")
            parse_query(query)
        except ValueError as error:
            raise InvalidInput(str(error)) from None
        subscription = Subscription(
            id=uuid.uuid4().hex,
            callback=callback,
            query=query,
            owner=owner,
            created_at=datetime.now(UTC),
            owner_quota=owner_quota,
        )
        start: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
            names.SUBSCRIPTION_REGISTRY_WORKFLOW,
            RegistryState(),
            id=names.registry_workflow_id(connection.task_queue),
            task_queue=connection.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary="Party order event subscriptions (the hub)",
        )
        try:
            made: Subscription = await connection.client.execute_update_with_start_workflow(
                names.ADD_SUBSCRIPTION,
                subscription,
                start_workflow_operation=start,
                result_type=Subscription,
                rpc_timeout=connection.answer_timeout,
            )
        except WorkflowUpdateFailedError as error:
            reason = getattr(error.cause, "message", None) or str(error.cause or error)
            raise UpdateRejected(f"the subscription was refused: {reason}") from None
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            raise errors.registry_no_answer(connection) from None
        except RPCError as error:
            raise errors.rpc_error(connection, error, None) from None
        # The quota's check may have read the subscriptions just before: the next event
        # published here reads them again, with this one.
        self.hub.forget()
        return made

    async def unsubscribe(self, subscription_id: str, owner: SubscriptionOwner) -> bool:
        """Remove a subscription; False if ``owner`` sees none by that id."""
        connection = self.connection
        handle = connection.client.get_workflow_handle(
            names.registry_workflow_id(connection.task_queue)
        )
        try:
            removed: bool = await handle.execute_update(
                names.REMOVE_SUBSCRIPTION,
                RemoveSubscription(id=subscription_id, owner=owner),
                result_type=bool,
                rpc_timeout=connection.answer_timeout,
            )
            return removed
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            raise errors.registry_no_answer(connection) from None
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return False  # nobody ever subscribed here
            raise errors.rpc_error(connection, error, None) from None

    async def rotate_secret(
        self, subscription_id: str, owner: SubscriptionOwner
    ) -> Subscription | None:
        """Count up the subscription's secret rotation (its new secret is derived from it);
        None if ``owner`` sees none by that id."""
        connection = self.connection
        handle = connection.client.get_workflow_handle(
            names.registry_workflow_id(connection.task_queue)
        )
        try:
            rotated: Subscription | None = await handle.execute_update(
                names.ROTATE_SUBSCRIPTION_SECRET,
                RotateSecret(id=subscription_id, owner=owner),
                result_type=Subscription | None,  # type: ignore[arg-type]
                rpc_timeout=connection.answer_timeout,
            )
            return rotated
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            raise errors.registry_no_answer(connection) from None
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return None  # nobody ever subscribed here
            raise errors.rpc_error(connection, error, None) from None

    async def subscriptions(self) -> RegistryState:
        """Every subscription, and the deliveries that gave up (the registry's query)."""
        connection = self.connection
        handle = connection.client.get_workflow_handle(
            names.registry_workflow_id(connection.task_queue)
        )
        try:
            return await handle.query(
                names.LIST_SUBSCRIPTIONS,
                result_type=RegistryState,
                rpc_timeout=connection.answer_timeout,
            )
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return RegistryState()
            if errors.is_timeout(error):
                raise errors.registry_no_answer(connection) from None
            raise errors.rpc_error(connection, error, None) from None
