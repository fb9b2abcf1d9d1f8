"""TrackPartyOrder: the durable shell of one party order's tracking (eTOM 1.6.8.3).

A thin shell around the domain core's ``PartyOrderTracker``:

* every signal handler queues the RAW payload in the inbox (``workflows.inbox``), and the
  main loop applies it, so a bad message is recorded in ``rejectedMessages`` instead of
  being dropped by the SDK with a log line;
* one main loop asks the core what is due next (``next_due``) and keeps one
  ``DeadlineTimer`` for that instant, waking for it or for a message;
* the core's effects run as activities: notifications in the background
  (``workflows.notification_pool``; a slow or broken channel never stops tracking),
  cancellation and closing in order;
* continue-as-new carries the whole state over when the run is long
  (``workflows.run_budget``); the patches a run decides by are in ``workflows.patches``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

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
    from workflows.domain.holidays import (
        HolidayRequest,
        ResolvedHolidays,
        add_holidays_at_start,
        holidays_at_start,
        start_input_awaiting_holidays,
    )
    from workflows.domain.messages import describe_validation_error
    from workflows.domain.model import PartyOrder, PartyOrderSpec
    from workflows.domain.rules import Rules
    from workflows.domain.tracker import PartyOrderTracker
    from workflows.domain.wire import from_wire
    from workflows.inbox import (
        BETWEEN_SLICES,
        NO_PAYLOAD,
        Arrival,
        Inbox,
        Unreadable,
        content,
        decode,
        message_base_cost,
        raw_text,
    )
    from workflows.metrics import OrderMetrics
    from workflows.notification_pool import NotificationPool
    from workflows.patches import (
        HOLIDAYS_AT_START_PATCH,
        HOLIDAYS_PATCH,
        TEMPORAL_CANCEL_BY,
        TEMPORAL_CANCEL_PATCH,
        TEMPORAL_CANCEL_REASON,
        rules_of_this_run,
    )
    from workflows.run_budget import ContinuedRun, RunBudget, pending, resume
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
# Looking holidays up needs nothing outside the worker: a few quick tries.
HOLIDAYS_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3)


@dataclass(frozen=True)
class AwaitingHolidays:
    """A start input valid but for its country's holidays, which ``run`` resolves before
    tracking starts (``holidays-resolved-at-start``).

    Resolving before the tracker exists, rather than tracking with a calendar marked
    pending, keeps the core free of a half-known calendar: every rule that reads it, and
    every reader of ``get_order``, sees the order as the client API would have started
    it. The shell's part is one activity ahead of the main loop; meanwhile signals queue
    in the inbox and updates wait (``_tracking_started``).
    """

    spec: PartyOrderSpec
    request: HolidayRequest
    rules: Rules
    started_at: datetime


@workflow.defn(name=names.TRACK_WORKFLOW)
class TrackPartyOrder:
    @workflow.init
    def __init__(self, raw: RawValue) -> None:
        self._tracker: PartyOrderTracker | None = None
        self._start_error: str | None = None
        self._awaiting_holidays: AwaitingHolidays | None = None
        self._effects: list[Effect] = []
        self._wake = False
        self._inbox = Inbox()
        self._budget = RunBudget()
        self._pool = NotificationPool(on_free_slot=lambda effect: self._effects.append(effect))
        self._timer = DeadlineTimer()
        self._published: dict[str, Any] = {}
        self._details = ""
        self._metrics = OrderMetrics()
        # The order as handed to the next run, once this run has decided to continue.
        self._handed_over: PartyOrder | None = None
        # The effect whose activity is being awaited, if any (see _take_temporal_cancel).
        self._running: Effect | None = None
        if workflow.info().continued_run_id is not None:
            # A continued run gets the whole state of the previous one, and sends first
            # the notifications that were still on their way. Should that input not
            # validate (say, an older worker during a rolling deploy), this raises and
            # fails only the workflow task, which a newer worker retries: the order lives.
            continued = ContinuedRun.model_validate(decode(raw))
            self._tracker = PartyOrderTracker(continued.state)
            rules = rules_of_this_run()
            if rules.patch is not None:
                self._tracker.use_rules(rules.version)  # an older order moves on here
            self._effects = [resume(carried) for carried in continued.pending]
            return
        try:
            rules = rules_of_this_run()
            spec, request = _read_start_input(decode(raw), rules)
            if request is None:
                self._tracker = _begin(spec, rules, workflow.now())
            else:
                # Everything but the holidays is judged now, so an input wrong anyway fails
                # at once, with no activity; what the holidays change (the working time a
                # response window needs) is judged when tracking starts in run().
                trial = spec.model_copy(deep=True)
                add_holidays_at_start(trial, request, [])
                _begin(trial, rules, workflow.now())
                self._awaiting_holidays = AwaitingHolidays(spec, request, rules, workflow.now())
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
        if self._awaiting_holidays is not None:
            await self._start_with_holidays(self._awaiting_holidays)
        if self._start_error is not None:
            # Fail the workflow at once: retrying a workflow task cannot fix the input.
            raise ApplicationError(self._start_error, type="InvalidPartyOrder", non_retryable=True)
        tracker = self.tracker
        self._metrics.begin(tracker.order, continued=workflow.info().continued_run_id is not None)
        if tracker.tracked_by.publishes_only_changes:
            # Rules 4: what the start (or the run before) already set is not upserted again.
            self._published = contract_values(workflow.info().typed_search_attributes)
        while True:
            try:
                if await self._step():
                    break
            except asyncio.CancelledError:
                if not self._take_temporal_cancel():
                    raise
        while True:
            try:
                await self._finish()
                break
            except asyncio.CancelledError:
                if not self._take_temporal_cancel():
                    raise
        return tracker.order

    async def _step(self) -> bool:
        """One turn of the main loop: apply what arrived, run what is due, and wait for
        the next message or instant. True once the order has reached a final state."""
        tracker = self.tracker
        self._wake = False
        await self._take_messages()
        self._effects += tracker.advance(workflow.now())
        if self._quiet() and self._budget.long_enough():
            self._continue_as_new()
        await self._run_effects()
        self._publish()
        if tracker.order.is_final:
            return True
        if self._wake or self._effects or self._inbox:
            return False
        due = tracker.next_due(workflow.now())
        self._timer.plan(due.at if due else None, due.what if due else "")
        await workflow.wait_condition(
            lambda: (
                self._wake
                or bool(self._effects)
                or bool(self._inbox)
                or self._timer.reached()
                or (self._quiet() and self._budget.may_be_long_enough())
            )
        )
        return False

    async def _finish(self) -> None:
        """The order is final: record what arrived meanwhile, and let the notifications
        on their way arrive."""
        self._timer.cancel()
        await self._take_messages()  # what arrived while the order ended is recorded too
        await self._settle_background()
        if self.tracker.tracked_by.records_messages_to_the_end:
            await self._record_to_the_end()
        self._publish()

    def _take_temporal_cancel(self) -> bool:
        """A cancellation request from Temporal itself (the Web UI's button, ``temporal
        workflow cancel``) is the order's cancellation by an operator: the party is told,
        the order ends ``cancelled`` and the originating process hears it, as for
        ``cancel_order``. Ending the workflow CANCELED instead would end tracking with
        nobody told and the order's last state still saying it is open.

        False on a run whose history predates this (no marker): it ends CANCELED, as it did.
        """
        if not workflow.patched(TEMPORAL_CANCEL_PATCH):
            return False
        if self._running is not None:
            # The effect the request interrupted (its activity was cancelled) runs again.
            self._effects.insert(0, self._running)
            self._running = None
        if not self.tracker.order.is_final:
            request = {"reason": TEMPORAL_CANCEL_REASON, "requestedBy": TEMPORAL_CANCEL_BY}
            self._effects += self.tracker.handle(names.CANCEL_ORDER, request, workflow.now())
        self._wake = True
        return True

    async def _record_to_the_end(self) -> None:
        """Rules 5: what arrived while the last notifications were on their way (up to
        a day of retries) is recorded too, and so is what comes with the handlers still
        running: every message is applied or recorded, to the very end."""
        while True:
            await workflow.wait_condition(workflow.all_handlers_finished)
            if not self._inbox and not self._effects and not self._pool:
                return
            await self._take_messages()
            await self._settle_background()

    def _quiet(self) -> bool:
        """Every message that arrived is applied, and what is left to do is only
        notifications (cancellation and closing run to their end in this run)."""
        return (
            not self._wake
            and not self._inbox
            and workflow.all_handlers_finished()
            and all(isinstance(e, Notify | ForwardChangeRequest) for e in self._effects)
        )

    def _continue_as_new(self) -> None:
        """The state, the notifications in flight and those not yet sent go over to the
        next run, which sends them."""
        carried = ContinuedRun(
            state=self.tracker.state.model_copy(deep=True),
            pending=[*self._pool.carried(), *map(pending, self._effects)],
        )
        # Until the server closes this run, queries still reach it, and work it already
        # started may finish here (a notification delivered in the same workflow task).
        # Answer them with what the next run starts from, so a reader never sees the
        # order step back when the next run takes over.
        self._handed_over = carried.state.order
        workflow.continue_as_new(carried)

    # ------------------------------------------------------------------ effects

    async def _run_effects(self) -> None:
        while self._effects:
            effect = self._effects.pop(0)
            if isinstance(effect, Notify | ForwardChangeRequest) and self._pool.full(
                self._budget.applies
            ):
                self._pool.wait(effect)
            elif isinstance(effect, Notify):
                self._pool.start(self._deliver(effect.notification), effect)
            elif isinstance(effect, ForwardChangeRequest):
                self._pool.start(self._forward(effect), effect)
            else:
                self._running = effect
                await self._run_in_order(effect)
                self._running = None

    async def _run_in_order(self, effect: Effect) -> None:
        """The effects the order waits for: cancelling, holidays, closing."""
        tracker = self.tracker
        if isinstance(effect, CancelAfterNotice):
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
            resolved = await _holidays_of(request)
        except ActivityError as error:
            # The order goes on with the holidays it knows; the next accepted change of
            # its dates asks again.
            workflow.logger.warning("holidays not resolved: %s", error.cause or error)
            return
        self.tracker.holidays_resolved(request, resolved.dates, workflow.now())

    async def _start_with_holidays(self, awaiting: AwaitingHolidays) -> None:
        """Resolve the country holidays the start input lacks, then start tracking as the
        client API would have: at the instant the workflow started, the dates on the
        calendar (and so in the history, never the library's data).

        A country the activity cannot resolve fails the order, naming the field, as the
        client API refuses such a start: an order tracked without the holidays its party
        named would ask the party for progress on them.
        """
        request = awaiting.request
        try:
            resolved = await _holidays_of(request, " before tracking starts")
        except ActivityError as error:
            cause = error.cause
            reason = cause.message if isinstance(cause, ApplicationError) else str(cause or error)
            self._start_error = f"invalid party order: party.calendar.holidayCountry: {reason}"
        else:
            try:
                add_holidays_at_start(awaiting.spec, request, resolved.dates)
                self._tracker = _begin(awaiting.spec, awaiting.rules, awaiting.started_at)
            except ValidationError as error:
                self._start_error = f"invalid party order: {describe_validation_error(error)}"
            except ValueError as error:
                self._start_error = f"invalid party order: {error}"
        self._awaiting_holidays = None
        if self._start_error is not None:
            # Updates waiting for tracking to start are answered before the order fails.
            await workflow.wait_condition(workflow.all_handlers_finished)

    async def _settle_background(self) -> None:
        while self._pool or self._effects:
            await self._run_effects()
            if self._pool:
                await self._pool.all_delivered()

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
        """A signal handler's whole work: queue the raw message for the main loop (which,
        for a start awaiting its holidays, first starts tracking)."""
        if self._start_error is not None:
            return  # the workflow is failing on its invalid start input
        self._inbox.receive(name, raw)
        self._budget.count_message()

    async def _take_messages(self) -> None:
        """Apply the queued messages in arrival order, each at its arrival time, in
        slices under the run budget (``workflows.inbox``)."""
        while self._inbox:
            order = self.tracker.order
            by_cost = self.tracker.tracked_by.bounded_work_per_message
            base = message_base_cost(
                len(order.order_items) + len(order.milestones) + len(order.checkpoints)
            )
            for arrival in self._inbox.take_slice(self._budget.applies, by_cost, base):
                self._apply(arrival)
            if self._inbox:
                await self._run_effects()
                await workflow.sleep(BETWEEN_SLICES, summary="take the next slice of messages")

    def _apply(self, arrival: Arrival) -> None:
        tracker = self.tracker
        message = content(arrival)
        if isinstance(message, Unreadable):
            tracker.reject(arrival.name, message.text, message.error, arrival.at)
        else:
            self._effects += tracker.handle(arrival.name, message, arrival.at)
        self._metrics.observe(tracker.order)  # each rejection counted with its name
        self._metrics.applied(arrival.name, workflow.now() - arrival.at)

    @workflow.signal(name=names.REPORT_PROGRESS)
    def report_progress(self, raw: RawValue = NO_PAYLOAD) -> None:
        self._receive(names.REPORT_PROGRESS, raw)

    @workflow.signal(name=names.REQUEST_CHANGE)
    def request_change(self, raw: RawValue = NO_PAYLOAD) -> None:
        self._receive(names.REQUEST_CHANGE, raw)

    @workflow.signal(name=names.RESOLVE_CHANGE)
    def resolve_change(self, raw: RawValue = NO_PAYLOAD) -> None:
        self._receive(names.RESOLVE_CHANGE, raw)

    @workflow.signal(name=names.CANCEL_ORDER)
    def cancel_order(self, raw: RawValue = NO_PAYLOAD) -> None:
        self._receive(names.CANCEL_ORDER, raw)

    @workflow.signal(name=names.CHECK_IN_NOW)
    def check_in_now(self, raw: RawValue = NO_PAYLOAD) -> None:
        self._receive(names.CHECK_IN_NOW, raw)

    @workflow.signal(dynamic=True)
    def unknown_signal(self, name: str, args: Sequence[RawValue]) -> None:
        """A signal with a name the contract does not know is recorded, not dropped."""
        self.reject_signal(name, [raw_text(arg) for arg in args], f"unknown message {name!r}")

    def reject_signal(self, name: str, args: Sequence[Any], error: str) -> None:
        """Record a signal that no handler can take (see workflows/interceptors.py)."""
        if self._start_error is not None:
            return
        self._inbox.refuse(name, args, error)
        self._budget.count_message()

    @workflow.update(name=names.CHANGE_STATE)
    async def change_state(self, raw: RawValue) -> PartyOrder:
        await self._tracking_started()
        return self._take_update(names.CHANGE_STATE, raw)

    @change_state.validator
    def validate_change_state(self, raw: RawValue) -> None:
        """Refuse a bad or illegal state change before it enters the history."""
        self._validate_update(names.CHANGE_STATE, raw)

    @workflow.update(name=names.ACKNOWLEDGE_ESCALATION)
    async def acknowledge_escalation(self, raw: RawValue) -> PartyOrder:
        await self._tracking_started()
        return self._take_update(names.ACKNOWLEDGE_ESCALATION, raw)

    @acknowledge_escalation.validator
    def validate_acknowledge_escalation(self, raw: RawValue) -> None:
        """Refuse an acknowledgement of a level not reached before it enters the history."""
        self._validate_update(names.ACKNOWLEDGE_ESCALATION, raw)

    async def _tracking_started(self) -> None:
        """An update accepted while the start's holidays were being resolved waits for
        tracking to start. Otherwise nothing is awaited, and the handler runs in the same
        step as a plain handler would (the histories of synchronous handlers replay)."""
        if self._tracker is None:
            await workflow.wait_condition(
                lambda: self._tracker is not None or self._start_error is not None
            )
        if self._tracker is None:
            raise ApplicationError(
                self._start_error or "the order failed validation at start",
                type="InvalidPartyOrder",
                non_retryable=True,
            )

    def _take_update(self, name: str, raw: RawValue) -> PartyOrder:
        """Apply an accepted update, once per request id, and answer with the order.

        The validator does not run on replay, so the update is judged here once more (and
        only once). Signals that came before the update are applied before it, in order;
        they may have moved the order on since the validator looked, so the update is
        judged on the order as it is now.
        """
        payload = decode(raw)
        for arrival in self._inbox.take_all():
            self._apply(arrival)
        tracker = self.tracker
        try:
            # A repeat passes, and is not applied twice.
            message = tracker.validate_update(name, payload)
        except ValueError as error:
            raise ApplicationError(
                str(error), type=type(error).__name__, non_retryable=True
            ) from None
        self._budget.count_message()
        self._effects += tracker.apply(name, message, payload, workflow.now())
        self._wake = True
        return tracker.order

    def _validate_update(self, name: str, raw: RawValue) -> None:
        if self._tracker is None:
            if self._awaiting_holidays is not None:
                return  # judged by the handler, once tracking has started
            raise ValueError("the order failed validation at start")
        # Messages still queued may yet move the order: then only the payload and the
        # rules are judged here, the rest in the handler once they are applied.
        self._tracker.validate_update(name, decode(raw), messages_pending=bool(self._inbox))

    @workflow.query(name=names.GET_ORDER)
    def get_order(self) -> PartyOrder:
        if self._handed_over is not None:
            return self._handed_over
        if self._tracker is None and self._awaiting_holidays is not None:
            # No order to show yet: one without its holidays would not be the order tracked.
            country = self._awaiting_holidays.request.country
            raise ApplicationError(
                f"tracking starts once the holidays of {country!r} are resolved;"
                " ask again in a moment",
                type="TrackingNotStarted",
            )
        return self.tracker.order


def _read_start_input(payload: Any, rules: Rules) -> tuple[PartyOrderSpec, HolidayRequest | None]:
    """The start input, and the country holidays it still lacks, if any.

    Read as always first. Only an input that fails, and fails for nothing but a country's
    unresolved holidays, asks the patch: an order started before it failed at once, and
    replays so (its own error raised again); no other start records the marker.
    """
    try:
        return from_wire(PartyOrderSpec, payload, strict=rules.strict_wire), None
    except ValidationError as error:
        try:
            spec = start_input_awaiting_holidays(payload, strict=rules.strict_wire)
        except ValidationError:
            raise error from None
        request = holidays_at_start(spec, workflow.now())
        if request is None or not workflow.patched(HOLIDAYS_AT_START_PATCH):
            raise error from None
        return spec, request


async def _holidays_of(request: HolidayRequest, why: str = "") -> ResolvedHolidays:
    """The ``resolve_holidays`` activity: the country's holidays for the years asked."""
    return await workflow.execute_activity(
        names.RESOLVE_HOLIDAYS,
        request,
        result_type=ResolvedHolidays,
        start_to_close_timeout=timedelta(seconds=30),
        retry_policy=HOLIDAYS_RETRY,
        summary=f"resolve {request.country} holidays for"
        f" {request.first_year}-{request.last_year}{why}",
    )


def _begin(spec: PartyOrderSpec, rules: Rules, now: datetime) -> PartyOrderTracker:
    return PartyOrderTracker.start(
        spec,
        now,
        tracking_id=workflow.info().first_execution_run_id,
        rules_version=rules.version,
    )
