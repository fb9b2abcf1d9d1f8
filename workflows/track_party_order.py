"""TrackPartyOrder: the durable shell of one party order's tracking (eTOM 1.6.8.3).

A thin shell around the domain core's ``PartyOrderTracker``:

* every signal takes the RAW payload and validates it in the handler, so a bad message is
  recorded in ``rejectedMessages`` instead of being dropped by the SDK with a log line;
* one main loop asks the core what is due next (``next_due``) and keeps one
  ``DeadlineTimer`` for that instant, waking for it or for a message;
* the core's effects run as activities: notifications in the background through
  ``workflows.delivery`` (a slow or broken channel never stops tracking), cancellation and
  closing in order;
* continue-as-new carries the whole state over when the history grows long.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import Field, ValidationError

    from workflows.deadline_timer import DeadlineTimer
    from workflows.delivery import deliver
    from workflows.domain import names
    from workflows.domain.effects import (
        CancelAfterNotice,
        Effect,
        ForwardChangeRequest,
        InformCloseProcess,
        Notification,
        Notify,
        ResolveHolidays,
    )
    from workflows.domain.holiday_span import ResolvedHolidays
    from workflows.domain.messages import (
        MESSAGE_MODELS,
        describe_validation_error,
    )
    from workflows.domain.model import PartyOrder, PartyOrderSpec, WireModel
    from workflows.domain.rules import RULE_VERSIONS, RULES_1, Rules
    from workflows.domain.tracker import PartyOrderTracker, TrackerState
    from workflows.metrics import OrderMetrics
    from workflows.visibility import (
        changed_pairs,
        contract_values,
        details_markdown,
        search_attribute_values,
    )

# Informing the close process only needs the Temporal service itself: retry until it works.
CLOSE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)
)

# Continue-as-new well before Temporal's hard limits (51,200 events / 50 MB; 10,000 signals
# per run), even if the server never suggests it. Runs that began before the run budget
# below (no "bounded-runs" marker in their history) keep this old limit.
MAX_HISTORY_EVENTS = 8_000

# The run budget ("bounded-runs"): a run continues as new after this many messages or
# events, whichever comes first, even while messages keep arriving, so that no run nears
# the 10,000-signal cap and replaying the longest run after a crash stays short.
MESSAGES_PER_RUN = 2_000
EVENTS_PER_RUN = 4_000
# Messages applied per workflow task: a flood of buffered signals is taken in slices, with
# a workflow task between them, so no activation nears the SDK's 2 s deadlock detector.
MESSAGES_PER_TASK = 2_000
# Notification activities in flight per order; the rest wait their turn (and are carried
# over by continue-as-new like the others), far below the server's 2,000 per workflow.
NOTIFICATIONS_IN_FLIGHT = 100
# The pause between two slices of messages: a timer, so the workflow task ends there.
BETWEEN_SLICES = timedelta(milliseconds=1)
BOUNDED_RUNS_PATCH = "bounded-runs"

# The patch that resolves a country calendar's holidays for more years when an accepted
# change moves the order's dates past them (docs/versioning.md).
HOLIDAYS_PATCH = "holidays-re-resolved"
# Looking holidays up needs nothing outside the worker: a few quick tries.
HOLIDAYS_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3)


class PendingNotification(WireModel):
    """A notification still on its way when a run continued-as-new."""

    notification: Notification
    change_request_id: str | None = None  # set when it forwards this change request


class ContinuedRun(WireModel):
    """The input of a continued run: the whole state, and the notifications in flight.

    Continue-as-new does not wait for a moment with no notification in flight (a steady
    stream of messages would postpone it forever): those still on their way go over to
    the next run, which sends them again first thing. Each keeps its idempotency key, so
    the outbox and webhook receivers drop a repeat.
    """

    state: TrackerState
    pending: list[PendingNotification] = Field(default_factory=list)


# What a signal handler gets when the signal came with no payload at all (for instance
# `temporal workflow signal` without --input): recorded as rejected, where a missing
# argument would otherwise fail the workflow task on every retry.
_NO_PAYLOAD = RawValue(Payload())


def _decode(raw: RawValue) -> Any:
    """The JSON value of a raw payload; ValueError if it is not JSON at all."""
    try:
        return workflow.payload_converter().from_payload(raw.payload)
    except Exception as error:  # any decoding failure becomes a recorded rejection
        raise ValueError(f"payload is not valid JSON: {error}") from error


@workflow.defn(name=names.TRACK_WORKFLOW)
class TrackPartyOrder:
    @workflow.init
    def __init__(self, raw: RawValue) -> None:
        self._tracker: PartyOrderTracker | None = None
        self._start_error: str | None = None
        self._effects: list[Effect] = []
        self._wake = False
        # Messages as they arrived (name, raw payload, arrival time), applied by the main
        # loop in order: the handlers stay cheap however many signals one task brings.
        self._inbox: deque[_Arrival] = deque()
        self._received = 0  # messages received in this run
        # Whether this run keeps the run budget: decided (workflow.patched) the first time
        # the budget would change what the run does, so runs that never reach it record
        # no patch marker at all.
        self._bounded: bool | None = None
        self._in_flight: dict[asyncio.Task[object], PendingNotification] = {}
        self._waiting: deque[Effect] = deque()  # notifications waiting for a free slot
        self._timer = DeadlineTimer()
        self._published: dict[str, Any] = {}
        self._details = ""
        self._metrics = OrderMetrics()
        # The order as handed to the next run, once this run has decided to continue.
        self._handed_over: PartyOrder | None = None
        if workflow.info().continued_run_id is not None:
            # A continued run gets the whole state of the previous one, and sends first
            # the notifications that were still on their way. Should that input not
            # validate (say, an older worker during a rolling deploy), this raises and
            # fails only the workflow task, which a newer worker retries: the order lives.
            continued = ContinuedRun.model_validate(_decode(raw))
            self._tracker = PartyOrderTracker(continued.state)
            rules = _rules_of_this_run()
            if rules.patch is not None:
                self._tracker.use_rules(rules.version)  # an older order moves on here
            self._effects = [_resume(pending) for pending in continued.pending]
            return
        try:
            rules = _rules_of_this_run()
            spec = PartyOrderSpec.model_validate(_decode(raw))
            self._tracker = PartyOrderTracker.start(
                spec,
                workflow.now(),
                tracking_id=workflow.info().first_execution_run_id,
                rules_version=rules.version,
            )
        except ValidationError as error:
            self._start_error = f"invalid party order: {describe_validation_error(error)}"
        except ValueError as error:
            self._start_error = f"invalid party order: {error}"

    @property
    def tracker(self) -> PartyOrderTracker:
        assert self._tracker is not None, "the order failed validation at start"
        return self._tracker

    # ------------------------------------------------------------------ main loop

    @workflow.run
    async def run(self, raw: RawValue) -> PartyOrder:
        if self._start_error is not None:
            # Fail the workflow at once: retrying a workflow task cannot fix the input.
            raise ApplicationError(self._start_error, type="InvalidPartyOrder", non_retryable=True)
        tracker = self.tracker
        self._metrics.begin(tracker.order, continued=workflow.info().continued_run_id is not None)
        if tracker.tracked_by.publishes_only_changes:
            # Rules 4: what the start (or the run before) already set is not upserted again.
            self._published = contract_values(workflow.info().typed_search_attributes)
        while True:
            self._wake = False
            await self._take_messages()
            self._effects += tracker.advance(workflow.now())
            if self._ready_to_continue_as_new():
                # Every message is handled: the state, the notifications in flight and
                # those not yet sent go over to the next run, which sends them.
                pending = [
                    *self._in_flight.values(),
                    *map(_pending, self._waiting),
                    *map(_pending, self._effects),
                ]
                carried = ContinuedRun(state=tracker.state.model_copy(deep=True), pending=pending)
                # Until the server closes this run, queries still reach it, and work it
                # already started may finish here (a notification delivered in the same
                # workflow task). Answer them with what the next run starts from, so a
                # reader never sees the order step back when the next run takes over.
                self._handed_over = carried.state.order
                workflow.continue_as_new(carried)
            await self._run_effects()
            self._publish()
            if tracker.order.is_final:
                break
            if self._wake or self._effects or self._inbox:
                continue
            due = tracker.next_due(workflow.now())
            self._timer.plan(due.at if due else None, due.what if due else "")
            await workflow.wait_condition(
                lambda: (
                    self._wake
                    or bool(self._effects)
                    or bool(self._inbox)
                    or self._timer.reached()
                    or self._may_continue_as_new()
                )
            )
        self._timer.cancel()
        await self._take_messages()  # what arrived while the order ended is recorded too
        await self._settle_background()
        self._publish()
        return tracker.order

    def _ready_to_continue_as_new(self) -> bool:
        """The run is long, every message that arrived is applied, and what is left to do
        is only notifications (cancellation and closing run to their end in this run)."""
        if not self._quiet():
            return False
        if self._long_by_old_rule():
            return True
        return self._over_budget() and self._budgeted()

    def _may_continue_as_new(self) -> bool:
        """``_ready_to_continue_as_new`` without deciding the patch (a wait condition)."""
        if not self._quiet():
            return False
        return self._long_by_old_rule() or (self._over_budget() and self._bounded is not False)

    def _quiet(self) -> bool:
        return (
            not self._wake
            and not self._inbox
            and workflow.all_handlers_finished()
            and all(isinstance(e, Notify | ForwardChangeRequest) for e in self._effects)
        )

    def _long_by_old_rule(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() > MAX_HISTORY_EVENTS
        )

    def _over_budget(self) -> bool:
        events = workflow.info().get_current_history_length()
        return events > EVENTS_PER_RUN or self._received >= MESSAGES_PER_RUN

    def _budgeted(self) -> bool:
        """Whether the run budget applies: ``False`` only on replay of a run that began
        before it (its history has no ``bounded-runs`` marker where this is first asked)."""
        if self._bounded is None:
            self._bounded = workflow.patched(BOUNDED_RUNS_PATCH)
        return self._bounded

    # ------------------------------------------------------------------ effects

    async def _run_effects(self) -> None:
        tracker = self.tracker
        while self._effects:
            effect = self._effects.pop(0)
            if isinstance(effect, Notify | ForwardChangeRequest) and self._no_free_slot():
                self._waiting.append(effect)
            elif isinstance(effect, Notify):
                self._in_background(self._deliver(effect.notification), _pending(effect))
            elif isinstance(effect, ForwardChangeRequest):
                self._in_background(self._forward(effect), _pending(effect))
            elif isinstance(effect, CancelAfterNotice):
                # pendingCancellation lasts while the party is told, then it takes effect.
                await self._deliver(effect.notification)
                self._effects += tracker.finish_cancellation(workflow.now())
            elif isinstance(effect, ResolveHolidays):
                await self._resolve_holidays(effect)
            elif isinstance(effect, InformCloseProcess):
                await workflow.execute_activity(
                    names.INFORM_CLOSE_PROCESS,
                    tracker.order,
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=CLOSE_RETRY,
                    summary=f"signal-with-start ClosePartyOrder for {tracker.order.id}",
                )

    async def _resolve_holidays(self, effect: ResolveHolidays) -> None:
        """The party's country holidays for the years the order's dates now reach, through
        an activity: the dates land in the history, never the library's data.

        Behind a patch: an order with a country calendar that accepted such a change before
        this code issued no activity here, and must replay as it ran.
        """
        if not workflow.patched(HOLIDAYS_PATCH):
            return
        request = effect.request
        try:
            resolved = await workflow.execute_activity(
                names.RESOLVE_HOLIDAYS,
                request,
                result_type=ResolvedHolidays,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=HOLIDAYS_RETRY,
                summary=f"resolve {request.country} holidays for"
                f" {request.first_year}-{request.last_year}",
            )
        except ActivityError as error:
            # The order goes on with the holidays it knows; the next accepted change of
            # its dates asks again.
            workflow.logger.warning("holidays not resolved: %s", error.cause or error)
            return
        self.tracker.holidays_resolved(request, resolved.dates, workflow.now())

    def _in_background(self, work: Awaitable[object], pending: PendingNotification) -> None:
        task: asyncio.Task[object] = asyncio.ensure_future(work)
        self._in_flight[task] = pending
        task.add_done_callback(self._background_done)

    def _no_free_slot(self) -> bool:
        return len(self._in_flight) >= NOTIFICATIONS_IN_FLIGHT and self._budgeted()

    def _background_done(self, task: asyncio.Task[object]) -> None:
        self._in_flight.pop(task, None)
        if self._waiting:
            # A slot is free: the main loop (or the settling below) starts the next one.
            self._effects.append(self._waiting.popleft())

    async def _settle_background(self) -> None:
        while self._in_flight or self._effects:
            await self._run_effects()
            if self._in_flight:
                await asyncio.gather(*self._in_flight)

    async def _deliver(self, notification: Notification) -> bool:
        return await deliver(notification, self._delivery_failed)

    def _delivery_failed(self, notification: Notification, error: str) -> None:
        self.tracker.delivery_failed(notification, error, workflow.now())
        self._wake = True

    async def _forward(self, effect: ForwardChangeRequest) -> None:
        if await self._deliver(effect.notification):
            self.tracker.change_forwarded(effect.change_request_id)
            self._wake = True

    # ------------------------------------------------------------------ visibility

    def _publish(self) -> None:
        order = self.tracker.order
        self._metrics.observe(order)
        pairs = changed_pairs(search_attribute_values(order), self._published)
        if pairs:
            workflow.upsert_search_attributes(pairs)
            self._published = search_attribute_values(order)
        details = details_markdown(order, workflow.now(), self.tracker.tracked_by)
        if details != self._details:
            workflow.set_current_details(details)
            self._details = details

    # ------------------------------------------------------------------ messages

    def _receive(self, name: str, raw: RawValue) -> None:
        """A signal handler's whole work: queue the raw message for the main loop."""
        if self._tracker is None:
            return  # the workflow is failing on its invalid start input
        self._inbox.append(_Arrival(name, workflow.now(), raw))
        self._received += 1

    async def _take_messages(self) -> None:
        """Apply the queued messages in arrival order, each at its arrival time.

        Under the run budget at most ``MESSAGES_PER_TASK`` are applied per workflow task:
        between two slices the notifications so far are started and a 1 ms timer ends
        the task, so the next slice runs in a fresh activation.
        """
        while self._inbox:
            slice_size = len(self._inbox)
            if slice_size > MESSAGES_PER_TASK and self._budgeted():
                slice_size = MESSAGES_PER_TASK
            for _ in range(slice_size):
                if not self._inbox:
                    break
                self._apply(self._inbox.popleft())
            if self._inbox:
                await self._run_effects()
                await workflow.sleep(BETWEEN_SLICES, summary="take the next slice of messages")

    def _apply(self, arrival: _Arrival) -> None:
        self._apply_one(arrival)
        self._metrics.observe(self.tracker.order)  # each rejection counted with its name
        self._metrics.applied(arrival.name, workflow.now() - arrival.at)

    def _apply_one(self, arrival: _Arrival) -> None:
        tracker = self.tracker
        name, at, raw = arrival.name, arrival.at, arrival.raw
        if raw is None:
            tracker.reject(name, arrival.text, arrival.error, at)
            return
        if raw is _NO_PAYLOAD:
            tracker.reject(name, "", "no payload: send a JSON object ({} for none)", at)
            return
        try:
            payload = _decode(raw)
        except ValueError as error:
            tracker.reject(name, _raw_text(raw), str(error), at)
            return
        self._effects += tracker.handle(name, payload, at)

    @workflow.signal(name=names.REPORT_PROGRESS)
    def report_progress(self, raw: RawValue = _NO_PAYLOAD) -> None:
        self._receive(names.REPORT_PROGRESS, raw)

    @workflow.signal(name=names.REQUEST_CHANGE)
    def request_change(self, raw: RawValue = _NO_PAYLOAD) -> None:
        self._receive(names.REQUEST_CHANGE, raw)

    @workflow.signal(name=names.RESOLVE_CHANGE)
    def resolve_change(self, raw: RawValue = _NO_PAYLOAD) -> None:
        self._receive(names.RESOLVE_CHANGE, raw)

    @workflow.signal(name=names.CANCEL_ORDER)
    def cancel_order(self, raw: RawValue = _NO_PAYLOAD) -> None:
        self._receive(names.CANCEL_ORDER, raw)

    @workflow.signal(name=names.CHECK_IN_NOW)
    def check_in_now(self, raw: RawValue = _NO_PAYLOAD) -> None:
        self._receive(names.CHECK_IN_NOW, raw)

    @workflow.signal(dynamic=True)
    def unknown_signal(self, name: str, args: Sequence[RawValue]) -> None:
        """A signal with a name the contract does not know is recorded, not dropped."""
        self.reject_signal(name, [_raw_text(arg) for arg in args], f"unknown message {name!r}")

    def reject_signal(self, name: str, args: Sequence[Any], error: str) -> None:
        """Record a signal that no handler can take (see workflows/interceptors.py)."""
        if self._tracker is None:
            return
        text = json.dumps(list(args), default=str)
        # Queued like any message, so the rejections keep the order of arrival.
        self._inbox.append(_Arrival(name, workflow.now(), None, text, error))
        self._received += 1

    @workflow.update(name=names.CHANGE_STATE)
    def change_state(self, raw: RawValue) -> PartyOrder:
        return self._take_update(names.CHANGE_STATE, raw)

    @change_state.validator
    def validate_change_state(self, raw: RawValue) -> None:
        """Refuse a bad or illegal state change before it enters the history."""
        self._validate_update(names.CHANGE_STATE, raw)

    @workflow.update(name=names.ACKNOWLEDGE_ESCALATION)
    def acknowledge_escalation(self, raw: RawValue) -> PartyOrder:
        return self._take_update(names.ACKNOWLEDGE_ESCALATION, raw)

    @acknowledge_escalation.validator
    def validate_acknowledge_escalation(self, raw: RawValue) -> None:
        """Refuse an acknowledgement of a level not reached before it enters the history."""
        self._validate_update(names.ACKNOWLEDGE_ESCALATION, raw)

    def _take_update(self, name: str, raw: RawValue) -> PartyOrder:
        """Apply an accepted update, once per request id, and answer with the order.

        The validator does not run on replay, so the payload is decoded and validated here
        once more (and only once). Signals that came before the update are applied before
        it, in order; they may have moved the order on since the validator looked, so the
        update is judged again on the order as it is now.
        """
        payload = _decode(raw)
        message = MESSAGE_MODELS[name].model_validate(payload)
        while self._inbox:
            self._apply(self._inbox.popleft())
        tracker = self.tracker
        try:
            tracker.validate_update(name, payload)  # a repeat passes, and is not applied twice
        except ValueError as error:
            raise ApplicationError(
                str(error), type=type(error).__name__, non_retryable=True
            ) from None
        self._received += 1
        self._effects += tracker.apply(name, message, payload, workflow.now())
        self._wake = True
        return tracker.order

    def _validate_update(self, name: str, raw: RawValue) -> None:
        if self._tracker is None:
            raise ValueError("the order failed validation at start")
        payload = _decode(raw)
        if self._inbox:
            # Messages still queued may yet move the order: only the payload is judged
            # here, the rest in the handler once they are applied.
            try:
                message = MESSAGE_MODELS[name].model_validate(payload)
            except ValidationError as error:
                raise ValueError(describe_validation_error(error)) from None
            refused = self._tracker.refused_by_rules(message)
            if refused is not None:
                raise ValueError(refused)
            return
        self._tracker.validate_update(name, payload)

    @workflow.query(name=names.GET_ORDER)
    def get_order(self) -> PartyOrder:
        if self._handed_over is not None:
            return self._handed_over
        return self.tracker.order


@dataclass(frozen=True)
class _Arrival:
    """A message as it arrived: its raw payload, or (``raw`` None) why no handler took it."""

    name: str
    at: datetime
    raw: RawValue | None
    text: str = ""
    error: str = ""


def _rules_of_this_run() -> Rules:
    """The rules a run tracks by, decided once when it starts (docs/versioning.md).

    A new run records the newest patch marker and takes the newest rules; on replay each
    ``patched`` answers what the history holds, so a run keeps the rules it began with.
    Only the first patch that answers True records a marker: a rules-4 run has only the
    ``tracking-rules-4`` marker, a rules-3 history only ``tracking-rules-3``.
    """
    for rules in reversed(RULE_VERSIONS):
        if rules.patch is not None and workflow.patched(rules.patch):
            return rules
    return RULES_1


def _pending(effect: Effect) -> PendingNotification:
    """A notification effect not yet started, as carried over continue-as-new."""
    assert isinstance(effect, Notify | ForwardChangeRequest)
    change_request_id = (
        effect.change_request_id if isinstance(effect, ForwardChangeRequest) else None
    )
    return PendingNotification(
        notification=effect.notification, change_request_id=change_request_id
    )


def _resume(pending: PendingNotification) -> Effect:
    """The effect that sends a carried notification again."""
    if pending.change_request_id is not None:
        return ForwardChangeRequest(pending.notification, pending.change_request_id)
    return Notify(pending.notification)


def _raw_text(raw: RawValue) -> str:
    data = raw.payload.data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.hex()
