"""Starting to track an order: the start input validated, the workflow started once, and
its PartyOrderCreateEvent published to the hub's subscriptions."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import WorkflowExecutionDescription
from temporalio.common import (
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError

from activities.outbound import AllowList, OutboundRefused, check_url
from settings import DEFAULT_MIN_DURATION, MIN_DURATION_ENV
from starter.calendars import resolve_holidays
from starter.client import errors
from starter.client.connection import Connection
from starter.client.subscriptions import Subscriptions
from starter.client.validation import validate_message, wire
from starter.errors import InvalidInput, OrderAlreadyTracked, OrderTrackedBefore, ServerUnavailable
from workflows import visibility
from workflows.domain import names
from workflows.domain.hub import created_source
from workflows.domain.instants import iso_duration
from workflows.domain.model import NO_COMPLETION_DATE, PartyOrder, PartyOrderSpec
from workflows.domain.tracking.start import check_start_input_size


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


# The intervals and windows of a tracking policy that must be at least the minimum.
_MINIMUM_DURATIONS = (
    ("checkInInterval", "check_in_interval"),
    ("responseWindow", "response_window"),
    ("escalationRepeatInterval", "escalation_repeat_interval"),
    ("changeResolutionWindow", "change_resolution_window"),
    ("checkInBeforeMilestone", "check_in_before_milestone"),
)


def check_minimum_durations(spec: PartyOrderSpec, minimum: timedelta) -> None:
    """Every interval and window of the order's tracking policy is at least ``minimum``
    (``PARTY_ORDERS_MIN_DURATION``); InvalidInput naming the first that is not."""
    policy = spec.tracking_policy
    for field, attribute in _MINIMUM_DURATIONS:
        value = getattr(policy, attribute)
        if value is not None and value < minimum:
            raise InvalidInput(
                f"invalid party order: trackingPolicy.{field}: {iso_duration(value)} is"
                f" shorter than the minimum {iso_duration(minimum)} ({MIN_DURATION_ENV})"
            )


def start_input(
    order: PartyOrderSpec | Mapping[str, Any],
    allow: AllowList | None = None,
    minimum: timedelta = DEFAULT_MIN_DURATION,
) -> PartyOrderSpec:
    """The start input validated, its party's country holidays resolved into dates, every
    interval and window at least ``minimum``, and its party's webhookUrl and connector
    refused at an internal address that ``allow`` does not list."""
    if not isinstance(order, PartyOrderSpec):
        try:
            order = resolve_holidays(dict(order))
        except ValueError as error:
            raise InvalidInput(f"party order: {error}") from None
    try:
        spec = validate_message(PartyOrderSpec, order, "party order")
    except InvalidInput as invalid:
        # The fields' problems and the rule across fields, all at once.
        dated = isinstance(order, PartyOrderSpec) or any(
            order.get(key) for key in ("requestedCompletionDate", "expectedCompletionDate")
        )
        if dated or NO_COMPLETION_DATE in str(invalid):
            raise
        raise InvalidInput(f"{invalid}; {NO_COMPLETION_DATE}") from None
    check_minimum_durations(spec, minimum)
    try:
        # The workflow refuses a start input past its size, but only once it has started
        # (a failed workflow left under the order's id): refuse it here, before anything.
        check_start_input_size(spec)
    except ValueError as error:
        raise InvalidInput(f"party order: {error}") from None
    outbound = [("party.webhookUrl", spec.party.webhook_url)]
    if spec.party.connector is not None:
        outbound.append(("party.connector.baseUrl", spec.party.connector.base_url))
    for field, url in outbound:
        if url is None:
            continue
        try:  # checked when given, and again by the worker when called
            check_url(url, field, allow)
        except OutboundRefused as refused:
            raise InvalidInput(str(refused)) from None
    return spec


class Starting:
    """``start`` an order's tracking, or ``ensure_tracked`` it."""

    def __init__(self, connection: Connection, subscriptions: Subscriptions) -> None:
        self.connection = connection
        self.subscriptions = subscriptions

    async def start(self, order: PartyOrderSpec | Mapping[str, Any], *, again: bool = False) -> str:
        """Start tracking ``order``; returns the workflow id (``party-order-{id}``).

        Raises OrderAlreadyTracked if the order is being tracked, and OrderTrackedBefore if
        its tracking has ended (completed, partial, cancelled, failed) unless ``again`` says to
        track it once more: a second tracking of a delivered order would ask its party again.
        """
        spec = start_input(order, self.connection.callback_allow, self.connection.min_duration)
        return await self._start(spec, again=again)

    async def ensure_tracked(self, order: PartyOrderSpec | Mapping[str, Any]) -> bool:
        """Start tracking ``order`` unless this same order is tracked already.

        Returns True when this call started it, False when a running tracker was started
        with an equal start input. OrderAlreadyTracked when the running tracker was started
        with a different one. Temporal decides who starts (the id conflict policy refuses a
        second run), and the digest compared afterwards was written with that start, so two
        concurrent callers can never both start, nor both be told "started".
        """
        spec = start_input(order, self.connection.callback_allow, self.connection.min_duration)
        try:
            await self._start(spec)
            return True
        except OrderTrackedBefore as ended:
            # Its tracking has ended: the same order again is that tracking, answered as
            # it stands; another order under its id is refused, saying how it ended.
            memo = await (await self._describe(spec.id)).memo()
            if memo.get(names.START_DIGEST_MEMO) == start_digest(spec):
                return False
            raise ended from None
        except OrderAlreadyTracked:
            description = await self._describe(spec.id)
            if (await description.memo()).get(names.START_DIGEST_MEMO) == start_digest(spec):
                # A retried start publishes its PartyOrderCreateEvent again (once per key),
                # in case the first call ended between the start and the publishing.
                tracking = description.raw_description.workflow_execution_info.first_run_id
                await self._announce(spec, tracking or description.run_id)
                return False
            raise OrderAlreadyTracked(
                f"order {spec.id} is already tracked, started with a different order or"
                " not through the client API"
                f" (workflow {names.track_workflow_id(spec.id)} is running)"
            ) from None

    async def _describe(self, order_id: str) -> WorkflowExecutionDescription:
        try:
            return await self.connection.handle(order_id).describe()
        except RPCError as error:
            raise errors.rpc_error(self.connection, error, order_id) from None

    async def _announce(self, spec: PartyOrderSpec, tracking_id: str) -> None:
        """Publish the order's PartyOrderCreateEvent to the hub's subscriptions.

        Made here, where tracking starts, not in the workflow: no notification stands for
        it, and a new activity at every start would change running orders' histories for
        an event only the hub needs. The event's key is the tracking's, so a retried start
        publishes nothing twice.
        """
        try:
            await self.subscriptions.hub.publish(
                created_source(spec, tracking_id, datetime.now(UTC))
            )
        except ApplicationError as error:
            raise ServerUnavailable(
                f"order {spec.id} is tracked, but its PartyOrderCreateEvent could not be"
                f" published: {error.message}; starting the same order again publishes it"
            ) from None

    async def _start(self, spec: PartyOrderSpec, *, again: bool = False) -> str:
        connection = self.connection
        workflow_id = names.track_workflow_id(spec.id)
        try:
            handle = await connection.client.start_workflow(
                names.TRACK_WORKFLOW,
                wire(spec),
                id=workflow_id,
                task_queue=connection.task_queue,
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
                memo={names.START_DIGEST_MEMO: start_digest(spec)},
            )
        except WorkflowAlreadyStartedError:
            raise await errors.already_started(connection, spec.id) from None
        except RPCError as error:
            raise errors.rpc_error(connection, error, spec.id) from None
        await self._announce(spec, handle.first_execution_run_id or handle.result_run_id or "")
        return workflow_id
