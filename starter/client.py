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
never imports workflow code. Temporal and transport errors come out as the exceptions
below, each with a message fit to show a person.
"""

from __future__ import annotations

import asyncio
import builtins
import hashlib
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from pydantic import AwareDatetime, BaseModel, Field, ValidationError
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowExecution,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import (
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

import worker
from activities.hub import HubPublisher
from activities.settings import check_webhook_url
from privacy.keys import EncryptionKeyError
from starter.calendars import resolve_holidays
from starter.query import (
    JEOPARDY_LEVELS,
    NOT_CONTINUED,
    STATES,
    OrderFilters,
    attention_query,
    build_list_query,
    query_instant,
    quote,
)
from starter.scorecard import PartyScore, score
from starter.settings import MIN_DURATION_ENV, min_duration
from workflows import visibility
from workflows.domain import names
from workflows.domain.hub import (
    RegistryState,
    RemoveSubscription,
    Subscription,
    SubscriptionOwner,
    created_source,
    parse_query,
    registry_workflow_id,
)
from workflows.domain.instants import iso_duration
from workflows.domain.messages import (
    CancelRequest,
    ChangeRequestMessage,
    ChangeResolution,
    CheckInRequest,
    EscalationAcknowledgement,
    ProgressReport,
    StateChangeRequest,
    describe_validation_error,
)
from workflows.domain.model import (
    TRACK_WORKFLOW_ID_PREFIX,
    PartyOrder,
    PartyOrderSpec,
    RejectedMessage,
    WireModel,
    check_order_id,
    track_workflow_id,
)

# How long a person waits for a worker to answer a query or an update before being told
# that no worker seems to be running (instead of waiting forever).
DEFAULT_ANSWER_TIMEOUT = timedelta(seconds=20)
DEFAULT_CONNECT_TIMEOUT = timedelta(seconds=10)
# How long a refused signal is retried (the order's run at the 10,000-signal cap hands over
# to its next run within seconds), with backoff from the first to the longest pause.
SIGNAL_RETRY_FOR = timedelta(seconds=60)
SIGNAL_RETRY_FIRST = 0.1
SIGNAL_RETRY_LONGEST = 5.0
# Memo key holding a digest of the start input, so that starting the same order again can
# be told apart from starting a different order under a tracked id (``ensure_tracked``).
START_DIGEST_MEMO = "partyOrderStartDigest"


# ---------------------------------------------------------------- errors


class PartyOrderError(Exception):
    """Base of every error this client raises; ``str()`` is a sentence for a person."""


class InvalidInput(PartyOrderError, ValueError):
    """A message or order that breaks a rule; the text names the field and the rule."""


class OrderNotFound(PartyOrderError):
    """No TrackPartyOrder workflow exists for the order id."""


class OrderAlreadyTracked(PartyOrderError):
    """A TrackPartyOrder workflow for the order id is already running."""


class OrderTrackedBefore(OrderAlreadyTracked):
    """The order's tracking has ended; it is tracked once more only when asked (``again``)."""


class OrderClosed(PartyOrderError):
    """The order's workflow has ended (completed, partial, cancelled, failed): it takes no
    messages."""


class OrderFailed(PartyOrderError):
    """The order's tracking workflow failed (its start input was not a valid order)."""


class ServerUnavailable(PartyOrderError):
    """The Temporal service cannot be reached (connection refused, RPC unavailable)."""


class NoAnswer(PartyOrderError):
    """The order did not answer in time: usually no worker polls its task queue."""


class UpdateQueued(NoAnswer):
    """A ``change_state`` the Temporal service took, that no worker has applied yet.

    It is applied when a worker runs; sending it again with the same ``request_id``
    is safe and answers with the order once it has been applied.
    """

    def __init__(self, message: str, request_id: str) -> None:
        super().__init__(message)
        self.request_id = request_id


class OrderBusy(PartyOrderError):
    """The order takes no more messages for now (a run at Temporal's per-run limits, or a
    rate limit), and kept refusing while the client retried."""


class UpdateRejected(PartyOrderError):
    """The order refused a ``change_state`` update; the message is the order's reason."""


class RejectedByOrder(PartyOrderError):
    """A signal the order received but could not apply (recorded in ``rejectedMessages``)."""

    def __init__(self, rejection: RejectedMessage) -> None:
        super().__init__(f"the order rejected {rejection.message}: {rejection.error}")
        self.rejection = rejection


# ---------------------------------------------------------------- read models


class OrderSummary(WireModel):
    """One order as the visibility store knows it (no query to the worker needed)."""

    order_id: str
    workflow_id: str
    run_id: str | None = None
    status: str  # the workflow run status: running, completed, terminated, ...
    state: str | None = None
    jeopardy: str | None = None
    escalation_level: int | None = None
    party_id: str | None = None
    originating_process: str | None = None
    due_date: AwareDatetime | None = None
    start_time: AwareDatetime | None = None
    close_time: AwareDatetime | None = None


class PortfolioReport(WireModel):
    """Counts of orders by state and by jeopardy, and the open orders that need someone."""

    generated_at: AwareDatetime
    total: int  # every tracked order (open and closed)
    open: int
    by_state: dict[str, int] = Field(default_factory=dict)  # every tracked order
    by_jeopardy: dict[str, int] = Field(default_factory=dict)  # open orders only
    attention: list[OrderSummary] = Field(default_factory=list)  # critical or escalated


# ---------------------------------------------------------------- helpers

M = TypeVar("M", bound=BaseModel)


def validate_message(model: type[M], message: M | Mapping[str, Any], what: str) -> M:
    """``message`` validated by ``model``; InvalidInput naming the field if it is wrong.

    A model instance is validated again from its data: it may have been built with
    ``model_construct`` or changed after construction.
    """
    data = (
        message.model_dump(mode="json", by_alias=True)
        if isinstance(message, BaseModel)
        else message
    )
    if not isinstance(data, Mapping):
        raise InvalidInput(f"invalid {what}: expected a JSON object, got {type(data).__name__}")
    try:
        # Strict wire types at every entry: nothing coerced (CONTRACT.md, "Wire types").
        # Dates and durations given as Python objects are written as ISO 8601 first.
        text = json.dumps(dict(data), default=_iso_8601)
        return model.model_validate_json(text, strict=True)
    except ValidationError as error:
        raise InvalidInput(f"invalid {what}: {describe_validation_error(error)}") from None


def _iso_8601(value: Any) -> str:
    """A Python date, time or duration as the ISO 8601 text the wire carries."""
    if isinstance(value, timedelta):
        return iso_duration(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON: {value!r}")


# The intervals and windows of a tracking policy that must be at least the minimum.
_MINIMUM_DURATIONS = (
    ("checkInInterval", "check_in_interval"),
    ("responseWindow", "response_window"),
    ("escalationRepeatInterval", "escalation_repeat_interval"),
    ("changeResolutionWindow", "change_resolution_window"),
    ("checkInBeforeMilestone", "check_in_before_milestone"),
)


def check_minimum_durations(spec: PartyOrderSpec) -> None:
    """Every interval and window of the order's tracking policy is at least
    ``PARTY_ORDERS_MIN_DURATION``; InvalidInput naming the first that is not."""
    try:
        minimum = min_duration()
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    policy = spec.tracking_policy
    for field, attribute in _MINIMUM_DURATIONS:
        value = getattr(policy, attribute)
        if value is not None and value < minimum:
            raise InvalidInput(
                f"invalid party order: trackingPolicy.{field}: {iso_duration(value)} is"
                f" shorter than the minimum {iso_duration(minimum)} ({MIN_DURATION_ENV})"
            )


def wire(message: BaseModel) -> dict[str, Any]:
    """The camelCase JSON object sent to the workflow."""
    return message.model_dump(mode="json", by_alias=True, exclude_none=True)


def checked_order_id(order_id: str) -> str:
    try:
        return check_order_id(order_id)
    except (ValueError, TypeError) as error:
        raise InvalidInput(str(error)) from None


def start_summary(spec: PartyOrderSpec) -> str:
    """The one-line static summary shown in the Web UI for an order started here.

    A static summary can never change, so it holds only what never changes: the order,
    its party and the process that placed it. Dates and states are in the current details.
    """
    return (
        f"Party order {spec.id} with {spec.party.name} ({spec.party.id}),"
        f" placed by {spec.originating_process.name}"
    )


def initial_search_attributes(spec: PartyOrderSpec) -> TypedSearchAttributes:
    """The contract's attributes as the workflow will publish them, set at start so the
    order can be found before its first workflow task has run."""
    return visibility.typed_search_attributes(PartyOrder.model_validate(spec.model_dump()))


def start_digest(spec: PartyOrderSpec) -> str:
    """A digest of the validated start input: equal for equal orders, whatever the key order,
    spacing or defaults written out in the JSON they came as."""
    canonical = json.dumps(wire(spec), sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def summary_of(execution: WorkflowExecution) -> OrderSummary:
    attributes = execution.typed_search_attributes
    order_id = execution.id.removeprefix(TRACK_WORKFLOW_ID_PREFIX)
    return OrderSummary(
        order_id=order_id,
        workflow_id=execution.id,
        run_id=execution.run_id,
        status=run_status(execution.status),
        state=attributes.get(visibility.STATE),
        jeopardy=attributes.get(visibility.JEOPARDY),
        escalation_level=attributes.get(visibility.ESCALATION_LEVEL),
        party_id=attributes.get(visibility.PARTY_ID),
        originating_process=attributes.get(visibility.ORIGINATING_PROCESS),
        due_date=attributes.get(visibility.DUE_DATE),
        start_time=execution.start_time,
        close_time=execution.close_time,
    )


def run_status(status: WorkflowExecutionStatus | None) -> str:
    return status.name.lower().replace("_", "-") if status is not None else "unknown"


def _is_timeout(error: RPCError) -> bool:
    # A query past its rpc_timeout comes back as CANCELLED "Timeout expired".
    return error.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED)


def server_unavailable(error: BaseException) -> ServerUnavailable:
    return ServerUnavailable(f"the Temporal service is unavailable: {error}")


# ---------------------------------------------------------------- the client


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
    ) -> None:
        self.client = client
        self.task_queue = task_queue
        self.answer_timeout = answer_timeout
        self._hub: HubPublisher | None = None

    @classmethod
    async def connect(
        cls,
        *,
        task_queue: str | None = None,
        connect_timeout: timedelta | None = DEFAULT_CONNECT_TIMEOUT,
        answer_timeout: timedelta = DEFAULT_ANSWER_TIMEOUT,
    ) -> PartyOrderClient:
        """Connect with Temporal's environment configuration and the project's task queue."""
        try:
            target = worker.connect_config().get("target_host", "?")
        except Exception as error:  # a broken temporal.toml or TEMPORAL_* value
            raise PartyOrderError(
                f"the Temporal connection settings are invalid: {error}"
            ) from None
        try:
            client = await worker.connect(connect_timeout=connect_timeout)
        except EncryptionKeyError as error:
            raise PartyOrderError(f"the encryption keys are invalid: {error}") from None
        except RuntimeError as error:
            # The SDK reports refused connections, DNS and TLS failures as RuntimeError.
            raise ServerUnavailable(
                f"cannot reach the Temporal service at {target}: {connect_failure_reason(error)}"
            ) from None
        except RPCError as error:
            raise server_unavailable(error) from None
        return cls(client, task_queue or worker.task_queue(), answer_timeout=answer_timeout)

    # ------------------------------------------------------------------ start

    async def start(self, order: PartyOrderSpec | Mapping[str, Any], *, again: bool = False) -> str:
        """Start tracking ``order``; returns the workflow id (``party-order-{id}``).

        Raises OrderAlreadyTracked if the order is being tracked, and OrderTrackedBefore if
        its tracking has ended (completed, partial, cancelled, failed) unless ``again`` says to
        track it once more: a second tracking of a delivered order would ask its party again.
        """
        return await self._start(_start_input(order), again=again)

    async def ensure_tracked(self, order: PartyOrderSpec | Mapping[str, Any]) -> bool:
        """Start tracking ``order`` unless this same order is tracked already.

        Returns True when this call started it, False when a running tracker was started
        with an equal start input. OrderAlreadyTracked when the running tracker was started
        with a different one. Temporal decides who starts (the id conflict policy refuses a
        second run), and the digest compared afterwards was written with that start, so two
        concurrent callers can never both start, nor both be told "started".
        """
        spec = _start_input(order)
        try:
            await self._start(spec)
            return True
        except OrderTrackedBefore as ended:
            # Its tracking has ended: the same order again is that tracking, answered as
            # it stands; another order under its id is refused, saying how it ended.
            memo = await self._memo(spec.id)
            if memo.get(START_DIGEST_MEMO) == start_digest(spec):
                return False
            raise ended from None
        except OrderAlreadyTracked:
            description = await self._describe(spec.id)
            if (await description.memo()).get(START_DIGEST_MEMO) == start_digest(spec):
                # A retried start publishes its PartyOrderCreateEvent again (once per key),
                # in case the first call ended between the start and the publishing.
                tracking = description.raw_description.workflow_execution_info.first_run_id
                await self._announce(spec, tracking or description.run_id)
                return False
            raise OrderAlreadyTracked(
                f"order {spec.id} is already tracked, started with a different order or"
                f" not through the client API (workflow {track_workflow_id(spec.id)} is running)"
            ) from None

    async def _memo(self, order_id: str) -> Mapping[str, Any]:
        return await (await self._describe(order_id)).memo()

    async def _describe(self, order_id: str) -> WorkflowExecutionDescription:
        try:
            return await self._handle(order_id).describe()
        except RPCError as error:
            raise self._rpc_error(error, order_id) from None

    async def _announce(self, spec: PartyOrderSpec, tracking_id: str) -> None:
        """Publish the order's PartyOrderCreateEvent to the hub's subscriptions.

        Made here, where tracking starts, not in the workflow: no notification stands for
        it, and a new activity at every start would change running orders' histories for
        an event only the hub needs. The event's key is the tracking's, so a retried start
        publishes nothing twice.
        """
        try:
            await self.hub.publish(created_source(spec, tracking_id, datetime.now(UTC)))
        except ApplicationError as error:
            raise ServerUnavailable(
                f"order {spec.id} is tracked, but its PartyOrderCreateEvent could not be"
                f" published: {error.message}; starting the same order again publishes it"
            ) from None

    async def _start(self, spec: PartyOrderSpec, *, again: bool = False) -> str:
        workflow_id = track_workflow_id(spec.id)
        try:
            handle = await self.client.start_workflow(
                names.TRACK_WORKFLOW,
                wire(spec),
                id=workflow_id,
                task_queue=self.task_queue,
                # A second tracker for a running order would double every notification.
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                # The server itself refuses an ended id unless told otherwise: no race
                # between a look and the start.
                id_reuse_policy=(
                    WorkflowIDReusePolicy.ALLOW_DUPLICATE
                    if again
                    else WorkflowIDReusePolicy.REJECT_DUPLICATE
                ),
                static_summary=start_summary(spec),
                search_attributes=initial_search_attributes(spec),
                # Carried over continue-as-new (the memo's default), so it lasts the order.
                memo={START_DIGEST_MEMO: start_digest(spec)},
            )
        except WorkflowAlreadyStartedError:
            raise await self._already_started(spec.id) from None
        except RPCError as error:
            raise self._rpc_error(error, spec.id) from None
        await self._announce(spec, handle.first_execution_run_id or handle.result_run_id or "")
        return workflow_id

    # ------------------------------------------------------------------ signals

    async def report_progress(
        self,
        order_id: str,
        report: ProgressReport | Mapping[str, Any],
        *,
        confirm: bool = False,
    ) -> str:
        """Send a progress report; returns its request id. See ``_signal`` for ``confirm``."""
        message = validate_message(ProgressReport, report, "progress report")
        return await self._signal(order_id, names.REPORT_PROGRESS, message, confirm)

    async def report_items(
        self,
        order_id: str,
        items: builtins.list[Mapping[str, Any]],
        *,
        note: str | None = None,
        source: str = "party",
        confirm: bool = False,
    ) -> str:
        """Report progress item by item: ``items`` are ``report_progress.orderItems``
        entries (``{"id", "state", "percentComplete", "expectedCompletionDate", "note"}``).
        The order's percent complete then follows from its items."""
        report: dict[str, Any] = {"orderItems": items, "source": source}
        if note is not None:
            report["note"] = note
        return await self.report_progress(order_id, report, confirm=confirm)

    async def request_change(
        self,
        order_id: str,
        change: ChangeRequestMessage | Mapping[str, Any],
        *,
        confirm: bool = False,
    ) -> str:
        """Ask for a change; returns the request id, which is also the change request's id."""
        message = validate_message(ChangeRequestMessage, change, "change request")
        return await self._signal(order_id, names.REQUEST_CHANGE, message, confirm)

    async def resolve_change(
        self,
        order_id: str,
        resolution: ChangeResolution | Mapping[str, Any],
        *,
        confirm: bool = False,
    ) -> str:
        message = validate_message(ChangeResolution, resolution, "change resolution")
        return await self._signal(order_id, names.RESOLVE_CHANGE, message, confirm)

    async def cancel(
        self,
        order_id: str,
        request: CancelRequest | Mapping[str, Any] | None = None,
        *,
        confirm: bool = False,
    ) -> str:
        message = validate_message(CancelRequest, request or {}, "cancel request")
        return await self._signal(order_id, names.CANCEL_ORDER, message, confirm)

    async def check_in_now(
        self,
        order_id: str,
        request: CheckInRequest | Mapping[str, Any] | None = None,
        *,
        confirm: bool = False,
    ) -> str:
        message = validate_message(CheckInRequest, request or {}, "check-in request")
        return await self._signal(order_id, names.CHECK_IN_NOW, message, confirm)

    async def _signal(self, order_id: str, name: str, message: BaseModel, confirm: bool) -> str:
        """Send one signal; returns its request id.

        With ``confirm`` the order is queried right after: a query sees every signal sent
        before it, so a rejection recorded for this request id means the order could not
        apply the message (an unknown milestone, a closed order) and RejectedByOrder is
        raised with the order's reason.
        """
        order_id = checked_order_id(order_id)
        request_id = getattr(message, "request_id", None)
        given = request_id is not None
        if request_id is None:
            request_id = str(uuid.uuid4())
            message = message.model_copy(update={"request_id": request_id})
        handle = self._handle(order_id)
        earlier = 0
        if confirm and given:
            # A caller-chosen id may have been rejected before; only a new rejection counts.
            earlier = len(_rejections(await self.get(order_id), request_id))
        await self._send(handle, name, wire(message), order_id)
        if confirm:
            rejections = _rejections(await self.get(order_id), request_id)
            if len(rejections) > earlier:
                raise RejectedByOrder(rejections[-1])
        return request_id

    async def _send(
        self, handle: WorkflowHandle[Any, Any], name: str, payload: Any, order_id: str
    ) -> None:
        """Signal, retrying with backoff while the order is busy (see ``_busy``).

        A refused signal was never recorded, and the order applies a request id once, so
        sending it again is safe.
        """
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + SIGNAL_RETRY_FOR.total_seconds()
        pause = SIGNAL_RETRY_FIRST
        while True:
            try:
                await handle.signal(name, payload)
                return
            except RPCError as error:
                if not _busy(error):
                    raise await self._closed_or(error, order_id) from None
                if loop.time() + pause > give_up_at:
                    raise OrderBusy(
                        f"order {order_id} kept refusing {name} for"
                        f" {int(SIGNAL_RETRY_FOR.total_seconds())}s: {error}"
                    ) from None
            await asyncio.sleep(pause)
            pause = min(pause * 2, SIGNAL_RETRY_LONGEST)

    # ------------------------------------------------------------------ event subscriptions

    @property
    def hub(self) -> HubPublisher:
        """Publishes events to the subscriptions (here: PartyOrderCreateEvent)."""
        if self._hub is None:
            self._hub = HubPublisher(self.client, self.task_queue)
        return self._hub

    async def subscribe(
        self, callback: str, query: str | None, owner: SubscriptionOwner
    ) -> Subscription:
        """Register ``callback`` for the events ``query`` takes that ``owner`` may see.

        The registry workflow is started on first use (update-with-start). InvalidInput
        for a callback that is not an http(s) URL or a query that does not parse;
        UpdateRejected when the registry refuses it (full)."""
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
        )
        start: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
            names.SUBSCRIPTION_REGISTRY_WORKFLOW,
            RegistryState(),
            id=registry_workflow_id(self.task_queue),
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary="Party order event subscriptions (the hub)",
        )
        try:
            return await self.client.execute_update_with_start_workflow(
                names.ADD_SUBSCRIPTION,
                subscription,
                start_workflow_operation=start,
                result_type=Subscription,
                rpc_timeout=self.answer_timeout,
            )
        except WorkflowUpdateFailedError as error:
            reason = getattr(error.cause, "message", None) or str(error.cause or error)
            raise UpdateRejected(f"the subscription was refused: {reason}") from None
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            raise self._registry_no_answer() from None
        except RPCError as error:
            raise self._rpc_error(error, None) from None

    async def unsubscribe(self, subscription_id: str, owner: SubscriptionOwner) -> bool:
        """Remove a subscription; False if ``owner`` sees none by that id."""
        handle = self.client.get_workflow_handle(registry_workflow_id(self.task_queue))
        try:
            removed: bool = await handle.execute_update(
                names.REMOVE_SUBSCRIPTION,
                RemoveSubscription(id=subscription_id, owner=owner),
                result_type=bool,
                rpc_timeout=self.answer_timeout,
            )
            return removed
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            raise self._registry_no_answer() from None
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return False  # nobody ever subscribed here
            raise self._rpc_error(error, None) from None

    async def subscriptions(self) -> RegistryState:
        """Every subscription, and the deliveries that gave up (the registry's query)."""
        handle = self.client.get_workflow_handle(registry_workflow_id(self.task_queue))
        try:
            return await handle.query(
                names.LIST_SUBSCRIPTIONS, result_type=RegistryState, rpc_timeout=self.answer_timeout
            )
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return RegistryState()
            if _is_timeout(error):
                raise self._registry_no_answer() from None
            raise self._rpc_error(error, None) from None

    def _registry_no_answer(self) -> NoAnswer:
        seconds = int(self.answer_timeout.total_seconds())
        return NoAnswer(
            f"the subscription registry did not answer within {seconds}s: is a worker running"
            f" on task queue {self.task_queue!r}?"
        )

    # ------------------------------------------------------------------ update and query

    async def change_state(
        self, order_id: str, request: StateChangeRequest | Mapping[str, Any]
    ) -> PartyOrder:
        """Move the order to another state; returns the order. An illegal transition is
        refused by the order (UpdateRejected, naming both states)."""
        message = validate_message(StateChangeRequest, request, "state change")
        return await self._update(order_id, names.CHANGE_STATE, message, "state change")

    async def acknowledge_escalation(
        self, order_id: str, request: EscalationAcknowledgement | Mapping[str, Any]
    ) -> PartyOrder:
        """Take an escalation in hand: reminders stop until the jeopardy worsens again.
        Returns the order. A level not reached is refused (UpdateRejected)."""
        message = validate_message(EscalationAcknowledgement, request, "acknowledgement")
        return await self._update(
            order_id, names.ACKNOWLEDGE_ESCALATION, message, "acknowledgement"
        )

    async def _update(
        self,
        order_id: str,
        name: str,
        message: StateChangeRequest | EscalationAcknowledgement,
        what: str,
    ) -> PartyOrder:
        """Send an update with a request id (made when none is given) and wait for the
        order; UpdateRejected with the order's reason, UpdateQueued when no worker took it
        in time (it applies when one runs, and sending it again with that id is safe)."""
        order_id = checked_order_id(order_id)
        if message.request_id is None:
            message = message.model_copy(update={"request_id": str(uuid.uuid4())})
        try:
            return await self._handle(order_id).execute_update(
                name, wire(message), result_type=PartyOrder, rpc_timeout=self.answer_timeout
            )
        except WorkflowUpdateFailedError as error:
            cause = error.cause
            reason = getattr(cause, "message", None) or str(cause or error)
            raise UpdateRejected(f"order {order_id} refused the {what}: {reason}") from None
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            request_id = message.request_id
            seconds = int(self.answer_timeout.total_seconds())
            raise UpdateQueued(
                f"order {order_id} has not applied the {what} within {seconds}s: no"
                f" worker seems to run on task queue {self.task_queue!r}. The change waits"
                f" in Temporal and applies when a worker runs (party-orders worker); see"
                f" the state with: party-orders show {order_id}. Sending it again with"
                f" request id {request_id} is safe: it is applied once.",
                request_id or "",
            ) from None
        except RPCError as error:
            raise await self._closed_or(error, order_id) from None

    async def get(self, order_id: str) -> PartyOrder:
        """The order as ``get_order`` returns it.

        A completed workflow's result is the final order too, so a closed order can be read
        even when no worker is running to answer the query.
        """
        order_id = checked_order_id(order_id)
        handle = self._handle(order_id)
        try:
            return await handle.query(
                names.GET_ORDER, result_type=PartyOrder, rpc_timeout=self.answer_timeout
            )
        except WorkflowQueryFailedError as error:
            raise await self._why_no_order(handle, order_id, error) from None
        except RPCError as error:
            if not _is_timeout(error):
                raise self._rpc_error(error, order_id) from None
        # No answer in time: a finished order can still be read from its result.
        try:
            description = await handle.describe()
            if description.status == WorkflowExecutionStatus.COMPLETED:
                typed = self.client.get_workflow_handle(
                    handle.id, run_id=description.run_id, result_type=PartyOrder
                )
                return await typed.result(follow_runs=False)
        except RPCError as error:
            raise self._rpc_error(error, order_id) from None
        raise self._no_answer(order_id)

    # ------------------------------------------------------------------ visibility

    async def list(
        self,
        filters: OrderFilters | None = None,
        *,
        limit: int | None = None,
        history: bool = False,
    ) -> builtins.list[OrderSummary]:
        """Orders matching ``filters``, newest first, from the visibility store.

        An order tracked more than once (``start(..., again=True)``) is listed once, by its
        newest tracking that matches; ``history`` lists every tracking.
        """
        try:
            query = build_list_query(filters, now=datetime.now(UTC))
        except ValueError as error:
            raise InvalidInput(str(error)) from None
        if history:
            return await self._list_query(query, limit)
        return await self._newest_trackings(query, limit)

    async def scorecard(
        self,
        *,
        since: datetime | None = None,
        party: str | None = None,
        concurrency: int = 20,
    ) -> builtins.list[PartyScore]:
        """The supplier scorecard (``starter.scorecard``) of every tracking started since
        ``since`` (all when None), for one party or all, read from Temporal itself: the
        final order of each ended tracking (its workflow result), the current order of
        each open one (``get_order``). A tracking whose start input was invalid has no
        order and is left out."""
        clauses = [f"WorkflowType = {quote(names.TRACK_WORKFLOW)}", NOT_CONTINUED]
        if since is not None:
            clauses.append(f"StartTime >= {query_instant(since)}")
        if party is not None:
            clauses.append(f"{names.SA_PARTY_ID} = {quote(party, what='party')}")
        gate = asyncio.Semaphore(concurrency)

        async def order_of(execution: WorkflowExecution) -> PartyOrder | None:
            async with gate:
                if execution.status == WorkflowExecutionStatus.RUNNING:
                    return await self.get(execution.id.removeprefix(TRACK_WORKFLOW_ID_PREFIX))
                if execution.status != WorkflowExecutionStatus.COMPLETED:
                    return None
                handle = self.client.get_workflow_handle(
                    execution.id, run_id=execution.run_id, result_type=PartyOrder
                )
                return await handle.result(follow_runs=False)

        try:
            executions = [
                execution async for execution in self.client.list_workflows(" AND ".join(clauses))
            ]
            orders = await asyncio.gather(*(order_of(e) for e in executions))
        except RPCError as error:
            raise self._rpc_error(error, None) from None
        return score(order for order in orders if order is not None)

    async def count(self, filters: OrderFilters | None = None) -> int:
        """How many orders match ``filters`` in the visibility store."""
        try:
            query = build_list_query(filters, now=datetime.now(UTC))
        except ValueError as error:
            raise InvalidInput(str(error)) from None
        return await self._count(query)

    async def describe(self, order_id: str) -> OrderSummary:
        """The order's current run as Temporal describes it: no worker needed.

        Its search attributes are those set at start and kept current by the workflow;
        ``party_id`` and ``originating_process`` never change.
        """
        order_id = checked_order_id(order_id)
        try:
            return summary_of(await self._handle(order_id).describe())
        except RPCError as error:
            raise self._rpc_error(error, order_id) from None

    async def report(self, *, history: bool = False, party: str | None = None) -> PortfolioReport:
        """Counts by state (all orders) and by jeopardy (open orders), and the open orders
        that are critical or escalated; for one party when ``party`` is given.

        An order tracked more than once (``start(..., again=True)``) counts once, by its
        newest tracking, as ``list`` shows it: the visibility store cannot count distinct
        workflow ids, so the trackings are listed (ids and search attributes only, in
        pages) and the newest of each id counted. ``history`` counts every tracking
        instead, from the store's counts alone.
        """
        of_party = (
            f" AND {names.SA_PARTY_ID} = {quote(party, what='party')}" if party is not None else ""
        )
        base = f"WorkflowType = {quote(names.TRACK_WORKFLOW)} AND {NOT_CONTINUED}{of_party}"
        open_base = f'{base} AND ExecutionStatus = "Running"'
        attention_clauses = attention_query() + of_party
        if history:
            total, open_count, by_state, by_jeopardy, attention = await asyncio.gather(
                self._count(base),
                self._count(open_base),
                self._count_by(base, names.SA_STATE, STATES),
                self._count_by(open_base, names.SA_JEOPARDY, JEOPARDY_LEVELS),
                self._list_query(attention_clauses, None),
            )
        else:
            newest, attention = await asyncio.gather(
                self._newest_trackings(base), self._list_query(attention_clauses, None)
            )
            running = [s for s in newest if s.status == "running"]
            total, open_count = len(newest), len(running)
            by_state = dict.fromkeys(STATES, 0)
            for summary in newest:
                if summary.state is not None:
                    by_state[summary.state] = by_state.get(summary.state, 0) + 1
            by_jeopardy = dict.fromkeys(JEOPARDY_LEVELS, 0)
            for summary in running:
                if summary.jeopardy is not None:
                    by_jeopardy[summary.jeopardy] = by_jeopardy.get(summary.jeopardy, 0) + 1
        return PortfolioReport(
            generated_at=datetime.now(UTC),
            total=total,
            open=open_count,
            by_state=by_state,
            by_jeopardy=by_jeopardy,
            attention=attention,
        )

    async def _newest_trackings(
        self, query: str, limit: int | None = None
    ) -> builtins.list[OrderSummary]:
        """The newest tracking of each order id that ``query`` matches, at most ``limit``.

        Visibility lists the newest runs first, so the first run of an id is its newest.
        """
        newest: dict[str, OrderSummary] = {}
        try:
            async for execution in self.client.list_workflows(query):
                summary = summary_of(execution)
                newest.setdefault(summary.order_id, summary)
                if limit is not None and len(newest) >= limit:
                    break
        except RPCError as error:
            raise self._rpc_error(error, None) from None
        return builtins.list(newest.values())

    async def _list_query(self, query: str, limit: int | None) -> builtins.list[OrderSummary]:
        try:
            return [
                summary_of(execution)
                async for execution in self.client.list_workflows(query, limit=limit)
            ]
        except RPCError as error:
            raise self._rpc_error(error, None) from None

    async def _count(self, query: str) -> int:
        try:
            return (await self.client.count_workflows(query)).count
        except RPCError as error:
            raise self._rpc_error(error, None) from None

    async def _count_by(
        self, query: str, attribute: str, values: tuple[str, ...]
    ) -> dict[str, int]:
        """Counts per value of a Keyword attribute, zero included.

        ``GROUP BY`` is used where the visibility store supports it; the dev server's SQLite
        store only groups by ExecutionStatus and answers INVALID_ARGUMENT, so then one count
        per value is asked for instead.
        """
        counts = dict.fromkeys(values, 0)
        try:
            grouped = await self.client.count_workflows(f"{query} GROUP BY {attribute}")
        except RPCError as error:
            if error.status not in (
                RPCStatusCode.INVALID_ARGUMENT,
                RPCStatusCode.UNIMPLEMENTED,
            ):
                raise self._rpc_error(error, None) from None
        else:
            for group in grouped.groups:
                key = str(group.group_values[0]) if group.group_values else ""
                counts[key] = counts.get(key, 0) + group.count
            return counts
        results = await asyncio.gather(
            *(self._count(f"{query} AND {attribute} = {quote(value)}") for value in values)
        )
        return dict(zip(values, results, strict=True))

    # ------------------------------------------------------------------ errors

    def _handle(self, order_id: str) -> WorkflowHandle[Any, Any]:
        return self.client.get_workflow_handle(track_workflow_id(order_id))

    def _no_answer(self, order_id: str) -> NoAnswer:
        seconds = int(self.answer_timeout.total_seconds())
        return NoAnswer(
            f"order {order_id} did not answer within {seconds}s: is a worker running on"
            f" task queue {self.task_queue!r}? (start one with: party-orders worker)"
        )

    def _rpc_error(self, error: RPCError, order_id: str | None) -> PartyOrderError:
        if error.status == RPCStatusCode.UNAVAILABLE:
            return server_unavailable(error)
        if error.status == RPCStatusCode.NOT_FOUND and order_id is not None:
            return OrderNotFound(
                f"no order {order_id} is tracked (no workflow {track_workflow_id(order_id)})"
            )
        if error.status == RPCStatusCode.INVALID_ARGUMENT:
            return InvalidInput(f"the Temporal service refused the request: {error}")
        if order_id is not None and _is_timeout(error):
            return self._no_answer(order_id)
        return PartyOrderError(f"the Temporal service answered: {error}")

    async def _why_no_order(
        self, handle: WorkflowHandle[Any, Any], order_id: str, error: Exception
    ) -> PartyOrderError:
        """A query the order could not answer: if its workflow failed (an invalid start
        input), the reason it failed; otherwise the query's own error."""
        try:
            if (await handle.describe()).status == WorkflowExecutionStatus.FAILED:
                await handle.result(follow_runs=False)
        except WorkflowFailureError as failure:
            reason = getattr(failure.cause, "message", None) or str(failure.cause or failure)
            return OrderFailed(f"order {order_id} failed: {reason}")
        except RPCError as rpc_error:
            return self._rpc_error(rpc_error, order_id)
        return PartyOrderError(f"order {order_id} could not answer: {error}")

    async def _already_started(self, order_id: str) -> PartyOrderError:
        """Why a start was refused: the order is tracked now, or its tracking has ended."""
        workflow_id = track_workflow_id(order_id)
        try:
            description = await self._handle(order_id).describe()
        except RPCError as error:
            return self._rpc_error(error, order_id)
        if description.status == WorkflowExecutionStatus.RUNNING:
            return OrderAlreadyTracked(
                f"order {order_id} is already tracked (workflow {workflow_id} is running)"
            )
        state = description.typed_search_attributes.get(visibility.STATE) or run_status(
            description.status
        )
        ended = description.close_time.astimezone(UTC).date() if description.close_time else "?"
        return OrderTrackedBefore(
            f"order {order_id} was tracked before: it ended {state} on {ended}. To track it"
            " once more, start it again deliberately (CLI: --again)"
        )

    async def _closed_or(self, error: RPCError, order_id: str) -> PartyOrderError:
        """A NOT_FOUND from a signal or update: the order ended, or never existed."""
        if error.status == RPCStatusCode.NOT_FOUND and "completed" in str(error).lower():
            try:
                description = await self._handle(order_id).describe()
                status = run_status(description.status)
            except RPCError:
                status = "closed"
            return OrderClosed(
                f"order {order_id} is closed (its workflow is {status}): it takes no more messages"
            )
        return self._rpc_error(error, order_id)


def _busy(error: RPCError) -> bool:
    """A refusal that passes: the run is at Temporal's signal cap (the next run takes
    signals again), or a rate limit."""
    if error.status == RPCStatusCode.RESOURCE_EXHAUSTED:
        return True
    return error.status == RPCStatusCode.INVALID_ARGUMENT and "limit for signal" in str(error)


def _start_input(order: PartyOrderSpec | Mapping[str, Any]) -> PartyOrderSpec:
    """The start input validated, its party's country holidays resolved into dates."""
    if not isinstance(order, PartyOrderSpec):
        try:
            order = resolve_holidays(dict(order))
        except ValueError as error:
            raise InvalidInput(f"party order: {error}") from None
    spec = validate_message(PartyOrderSpec, order, "party order")
    check_minimum_durations(spec)
    return spec


def _rejections(order: PartyOrder, request_id: str) -> builtins.list[RejectedMessage]:
    return [r for r in order.rejected_messages if r.request_id == request_id]


def connect_failure_reason(error: BaseException) -> str:
    """A short reason from the SDK's long transport error text."""
    text = str(error)
    lowered = text.lower()
    if "connection refused" in lowered:
        return "connection refused"
    if "dns error" in lowered or "failed to lookup address" in lowered:
        return "the host name does not resolve"
    if "timed out" in lowered or "deadline" in lowered:
        return "the connection timed out"
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return first[:300]
