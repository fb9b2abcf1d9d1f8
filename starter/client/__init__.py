"""A typed async client for the party-order tracker.

    client = await PartyOrderClient.connect()
    await client.start({"id": "PO-1001", "party": {...}, "expectedCompletionDate": ...})
    await client.report_progress("PO-1001", {"percentComplete": 40})
    order = await client.get("PO-1001")

Every message is validated with its model (``workflows.domain.messages``) before it is sent, so a
mistake is reported here, naming the field, instead of landing in the order's
``rejectedMessages``. Messages without a ``requestId`` get one (a UUID), which makes a
retried call safe: the workflow applies a request id once.

The client talks to the workflows by their contract names only (``workflows.domain.names``); it
never imports workflow code. Temporal and transport errors come out as the exceptions of
``starter.errors``, each with a message fit to show a person.

``PartyOrderClient`` is a façade over one module per job:

    starting       start, ensure_tracked (and the PartyOrderCreateEvent of a start)
    messages       the signals (retried while the order is busy) and the updates
    subscriptions  the hub's event subscriptions
    reads          get and describe one order, list and count many
    reports        the portfolio report and the supplier scorecard
    errors         Temporal's errors mapped to ``starter.errors``
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from temporalio.client import Client
from temporalio.service import RPCError

import worker
from activities.outbound import AllowList
from privacy.keys import EncryptionKeyError
from settings import Settings
from starter.client.connection import DEFAULT_ANSWER_TIMEOUT, DEFAULT_CONNECT_TIMEOUT, Connection
from starter.client.errors import connect_failure_reason, server_unavailable
from starter.client.messages import Messages
from starter.client.models import (
    OrderSummary,
    PortfolioReport,
    TrackingRun,
    run_status,
    summary_of,
)
from starter.client.reads import Reads
from starter.client.reports import Reports
from starter.client.starting import (
    Starting,
    check_minimum_durations,
    initial_search_attributes,
    start_digest,
    start_summary,
)
from starter.client.subscriptions import Subscriptions
from starter.client.validation import checked_order_id, validate_message, wire
from starter.errors import (
    InvalidInput,
    NoAnswer,
    OrderAlreadyTracked,
    OrderBusy,
    OrderClosed,
    OrderFailed,
    OrderNotFound,
    OrderTrackedBefore,
    PartyOrderError,
    RejectedByOrder,
    ServerUnavailable,
    UpdateQueued,
    UpdateRejected,
)
from starter.query import OrderFilters
from starter.scorecard import PartyScore
from workflows.domain import names
from workflows.domain.hub import RegistryState, Subscription, SubscriptionOwner
from workflows.domain.messages import (
    CancelRequest,
    ChangeRequestMessage,
    ChangeResolution,
    CheckInRequest,
    EscalationAcknowledgement,
    ProgressReport,
    StateChangeRequest,
)
from workflows.domain.model import PartyOrder, PartyOrderSpec

__all__ = [
    "DEFAULT_ANSWER_TIMEOUT",
    "DEFAULT_CONNECT_TIMEOUT",
    "InvalidInput",
    "NoAnswer",
    "OrderAlreadyTracked",
    "OrderBusy",
    "OrderClosed",
    "OrderFailed",
    "OrderNotFound",
    "OrderSummary",
    "OrderTrackedBefore",
    "PartyOrderClient",
    "PartyOrderError",
    "PortfolioReport",
    "RejectedByOrder",
    "ServerUnavailable",
    "TrackingRun",
    "UpdateQueued",
    "UpdateRejected",
    "check_minimum_durations",
    "checked_order_id",
    "connect_failure_reason",
    "initial_search_attributes",
    "run_status",
    "start_digest",
    "start_summary",
    "summary_of",
    "validate_message",
    "wire",
]


class PartyOrderClient:
    """Start, message, read and list party orders.

    ``client`` must use the pydantic data converter (``worker.connect()``);
    ``task_queue`` is where orders started here are run.
    """

    def __init__(
        self,
        client: Client,
        task_queue: str = names.DEFAULT_TASK_QUEUE,
        *,
        answer_timeout: timedelta = DEFAULT_ANSWER_TIMEOUT,
        callback_allow: AllowList | None = None,
        min_duration: timedelta | None = None,
    ) -> None:
        if min_duration is None:
            # As configured (PARTY_ORDERS_MIN_DURATION), like connect()'s other settings.
            try:
                min_duration = Settings.from_env().min_duration()
            except ValueError as error:
                raise PartyOrderError(str(error)) from None
        self.connection = Connection(
            client, task_queue, answer_timeout, callback_allow or AllowList(), min_duration
        )
        self.reads = Reads(self.connection)
        self.reports = Reports(self.reads)
        self.messages = Messages(self.reads)
        self.hub_subscriptions = Subscriptions(self.connection)
        self.starting = Starting(self.connection, self.hub_subscriptions)

    @property
    def client(self) -> Client:
        return self.connection.client

    @property
    def task_queue(self) -> str:
        return self.connection.task_queue

    @property
    def answer_timeout(self) -> timedelta:
        return self.connection.answer_timeout

    @classmethod
    async def connect(
        cls,
        *,
        task_queue: str | None = None,
        connect_timeout: timedelta | None = DEFAULT_CONNECT_TIMEOUT,
        answer_timeout: timedelta = DEFAULT_ANSWER_TIMEOUT,
        settings: Settings | None = None,
    ) -> PartyOrderClient:
        """Connect with Temporal's environment configuration and the project's settings
        (the task queue, the encryption keys; default: the environment's)."""
        settings = settings or Settings.from_env()
        try:
            target = worker.connect_config().get("target_host", "?")
        except Exception as error:  # a broken temporal.toml or TEMPORAL_* value
            raise PartyOrderError(
                f"the Temporal connection settings are invalid: {error}"
            ) from None
        try:
            client = await worker.connect(settings, connect_timeout=connect_timeout)
        except EncryptionKeyError as error:
            raise PartyOrderError(f"the encryption keys are invalid: {error}") from None
        except RuntimeError as error:
            # The SDK reports refused connections, DNS and TLS failures as RuntimeError.
            raise ServerUnavailable(
                f"cannot reach the Temporal service at {target}: {connect_failure_reason(error)}"
            ) from None
        except RPCError as error:
            raise server_unavailable(error) from None
        try:
            allow = settings.callback_allow()
            minimum = settings.min_duration()
        except ValueError as error:
            raise PartyOrderError(str(error)) from None
        return cls(
            client,
            task_queue or settings.task_queue,
            answer_timeout=answer_timeout,
            callback_allow=allow,
            min_duration=minimum,
        )

    # Each method below is its job's (see the module's docstring), documented there.

    async def start(self, order: PartyOrderSpec | Mapping[str, Any], *, again: bool = False) -> str:
        return await self.starting.start(order, again=again)

    async def ensure_tracked(self, order: PartyOrderSpec | Mapping[str, Any]) -> bool:
        return await self.starting.ensure_tracked(order)

    async def report_progress(
        self, order_id: str, report: ProgressReport | Mapping[str, Any], *, confirm: bool = False
    ) -> str:
        return await self.messages.report_progress(order_id, report, confirm=confirm)

    async def report_items(
        self,
        order_id: str,
        items: builtins.list[Mapping[str, Any]],
        *,
        note: str | None = None,
        source: str = "party",
        confirm: bool = False,
    ) -> str:
        return await self.messages.report_items(
            order_id, items, note=note, source=source, confirm=confirm
        )

    async def request_change(
        self,
        order_id: str,
        change: ChangeRequestMessage | Mapping[str, Any],
        *,
        confirm: bool = False,
    ) -> str:
        return await self.messages.request_change(order_id, change, confirm=confirm)

    async def resolve_change(
        self,
        order_id: str,
        resolution: ChangeResolution | Mapping[str, Any],
        *,
        confirm: bool = False,
    ) -> str:
        return await self.messages.resolve_change(order_id, resolution, confirm=confirm)

    async def cancel(
        self,
        order_id: str,
        request: CancelRequest | Mapping[str, Any] | None = None,
        *,
        confirm: bool = False,
    ) -> str:
        return await self.messages.cancel(order_id, request, confirm=confirm)

    async def check_in_now(
        self,
        order_id: str,
        request: CheckInRequest | Mapping[str, Any] | None = None,
        *,
        confirm: bool = False,
    ) -> str:
        return await self.messages.check_in_now(order_id, request, confirm=confirm)

    async def change_state(
        self, order_id: str, request: StateChangeRequest | Mapping[str, Any]
    ) -> PartyOrder:
        return await self.messages.change_state(order_id, request)

    async def acknowledge_escalation(
        self, order_id: str, request: EscalationAcknowledgement | Mapping[str, Any]
    ) -> PartyOrder:
        return await self.messages.acknowledge_escalation(order_id, request)

    async def subscribe(
        self,
        callback: str,
        query: str | None,
        owner: SubscriptionOwner,
        *,
        owner_quota: int | None = None,
    ) -> Subscription:
        return await self.hub_subscriptions.subscribe(
            callback, query, owner, owner_quota=owner_quota
        )

    async def unsubscribe(self, subscription_id: str, owner: SubscriptionOwner) -> bool:
        return await self.hub_subscriptions.unsubscribe(subscription_id, owner)

    async def rotate_subscription_secret(
        self, subscription_id: str, owner: SubscriptionOwner
    ) -> Subscription | None:
        return await self.hub_subscriptions.rotate_secret(subscription_id, owner)

    async def subscriptions(self) -> RegistryState:
        return await self.hub_subscriptions.subscriptions()

    async def get(self, order_id: str) -> PartyOrder:
        return await self.reads.get(order_id)

    async def describe(self, order_id: str) -> OrderSummary:
        return await self.reads.describe(order_id)

    async def tracking(self, order_id: str) -> TrackingRun:
        return await self.reads.tracking(order_id)

    async def list(
        self,
        filters: OrderFilters | None = None,
        *,
        limit: int | None = None,
        history: bool = False,
    ) -> builtins.list[OrderSummary]:
        return await self.reads.list(filters, limit=limit, history=history)

    async def count(self, filters: OrderFilters | None = None) -> int:
        return await self.reads.count(filters)

    async def report(self, *, history: bool = False, party: str | None = None) -> PortfolioReport:
        return await self.reports.report(history=history, party=party)

    async def scorecard(
        self,
        *,
        since: datetime | None = None,
        party: str | None = None,
        concurrency: int = 20,
    ) -> builtins.list[PartyScore]:
        return await self.reports.scorecard(since=since, party=party, concurrency=concurrency)
