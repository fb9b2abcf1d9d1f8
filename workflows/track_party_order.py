"""TrackPartyOrder: one party order, tracked for its whole life (eTOM 1.6.8.3).

A thin durable shell around ``PartyOrderTracker``:

* every signal takes the RAW payload and validates it in the handler, so a bad message is
  recorded in ``rejectedMessages`` instead of being dropped by the SDK with a log line;
* one main loop asks the core what is due next and waits for that instant or a message;
* the core's effects run as activities: notifications in the background (a slow or broken
  channel never stops tracking), cancellation and closing in order;
* continue-as-new carries the whole state over when the history grows long.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Sequence
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import Field, ValidationError

    from activities.notify import PartyOrderActivities
    from workflows.domain import names
    from workflows.domain.effects import (
        CancelAfterNotice,
        Effect,
        ForwardChangeRequest,
        InformCloseProcess,
        Notification,
        Notify,
    )
    from workflows.domain.messages import (
        EscalationAcknowledgement,
        StateChangeRequest,
        describe_validation_error,
    )
    from workflows.domain.model import (
        CURRENT_RULES,
        RULES_V1,
        PartyOrder,
        PartyOrderSpec,
        WireModel,
    )
    from workflows.domain.schedule import Deadline
    from workflows.domain.tracker import PartyOrderTracker, TrackerState
    from workflows.visibility import changed_pairs, details_markdown, search_attribute_values

# Notifications retry for up to a day with capped backoff; after that the failure is
# recorded on the order and tracking goes on (a failing channel never fails an order).
NOTIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
    non_retryable_error_types=["NotificationRejected"],
)
# Longer than the webhook timeout (10 s), short enough that a crashed worker's
# notification is retried soon.
NOTIFY_START_TO_CLOSE = timedelta(seconds=15)
NOTIFY_SCHEDULE_TO_CLOSE = timedelta(hours=24)
# Informing the close process only needs the Temporal service itself: retry until it works.
CLOSE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)
)

# The patch that brought the tracking rules 2 (docs/versioning.md): a run that starts with
# it, fresh or continued, tracks by rules 2; one whose history predates it keeps rules 1.
RULES_PATCH = "tracking-rules-2"

# Continue-as-new well before Temporal's hard limits (51,200 events / 50 MB; 10,000 signals
# per run), even if the server never suggests it.
MAX_HISTORY_EVENTS = 8_000


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


_NOTIFY_ACTIVITY = {
    "party": PartyOrderActivities.notify_party,
    "originatingProcess": PartyOrderActivities.notify_originating_process,
    "contact": PartyOrderActivities.notify_contact,
}


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
        self._in_flight: dict[asyncio.Task[object], PendingNotification] = {}
        self._timer: asyncio.Future[None] | None = None
        self._timer_at: datetime | None = None
        self._published: dict[str, Any] = {}
        self._details = ""
        # The order as handed to the next run, once this run has decided to continue.
        self._handed_over: PartyOrder | None = None
        if workflow.info().continued_run_id is not None:
            # A continued run gets the whole state of the previous one, and sends first
            # the notifications that were still on their way. Should that input not
            # validate (say, an older worker during a rolling deploy), this raises and
            # fails only the workflow task, which a newer worker retries: the order lives.
            continued = ContinuedRun.model_validate(_decode(raw))
            self._tracker = PartyOrderTracker(continued.state)
            if workflow.patched(RULES_PATCH):
                self._tracker.use_rules(CURRENT_RULES)  # an older order moves on here
            self._effects = [_resume(pending) for pending in continued.pending]
            return
        try:
            rules = CURRENT_RULES if workflow.patched(RULES_PATCH) else RULES_V1
            spec = PartyOrderSpec.model_validate(_decode(raw))
            self._tracker = PartyOrderTracker.start(
                spec,
                workflow.now(),
                tracking_id=workflow.info().first_execution_run_id,
                rules_version=rules,
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
        while True:
            self._wake = False
            self._effects += tracker.advance(workflow.now())
            if self._ready_to_continue_as_new():
                # Every message is handled: the state, the notifications in flight and
                # those not yet sent go over to the next run, which sends them.
                pending = [*self._in_flight.values(), *map(_pending, self._effects)]
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
            if self._wake or self._effects:
                continue
            self._plan_timer(tracker.next_due(workflow.now()))
            await workflow.wait_condition(
                lambda: (
                    self._wake
                    or bool(self._effects)
                    or self._deadline_reached()
                    or self._ready_to_continue_as_new()
                )
            )
        self._plan_timer(None)
        await self._settle_background()
        self._publish()
        return tracker.order

    def _ready_to_continue_as_new(self) -> bool:
        """The history is long, every message is handled, and what is left to do is only
        notifications (cancellation and closing run to their end in this run)."""
        info = workflow.info()
        long = (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() > MAX_HISTORY_EVENTS
        )
        return (
            long
            and not self._wake
            and workflow.all_handlers_finished()
            and all(isinstance(e, Notify | ForwardChangeRequest) for e in self._effects)
        )

    # ------------------------------------------------------------------ the deadline timer

    def _plan_timer(self, due: Deadline | None) -> None:
        """Keep one durable timer for the next deadline; replace it only when that moves.

        Most messages leave the next deadline where it was: keeping the timer saves a
        TimerCanceled and a TimerStarted event per message.
        """
        if self._timer is not None and due is not None and self._timer_at == due.at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = None, None
        if due is not None:
            delay = due.at - workflow.now()
            self._timer = asyncio.ensure_future(workflow.sleep(delay, summary=due.what))
            self._timer_at = due.at

    def _deadline_reached(self) -> bool:
        if self._timer is None or not self._timer.done():
            return False
        self._timer, self._timer_at = None, None  # fired: the next advance() handles it
        return True

    # ------------------------------------------------------------------ effects

    async def _run_effects(self) -> None:
        tracker = self.tracker
        while self._effects:
            effect = self._effects.pop(0)
            if isinstance(effect, Notify):
                self._in_background(self._deliver(effect.notification), _pending(effect))
            elif isinstance(effect, ForwardChangeRequest):
                self._in_background(self._forward(effect), _pending(effect))
            elif isinstance(effect, CancelAfterNotice):
                # pendingCancellation lasts while the party is told, then it takes effect.
                await self._deliver(effect.notification)
                self._effects += tracker.finish_cancellation(workflow.now())
            elif isinstance(effect, InformCloseProcess):
                await workflow.execute_activity_method(
                    PartyOrderActivities.inform_close_process,
                    tracker.order,
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=CLOSE_RETRY,
                    summary=f"signal-with-start ClosePartyOrder for {tracker.order.id}",
                )

    def _in_background(self, work: Awaitable[object], pending: PendingNotification) -> None:
        task: asyncio.Task[object] = asyncio.ensure_future(work)
        self._in_flight[task] = pending
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task[object]) -> None:
        self._in_flight.pop(task, None)

    async def _settle_background(self) -> None:
        while self._in_flight:
            await asyncio.gather(*self._in_flight)

    async def _deliver(self, notification: Notification) -> bool:
        try:
            await workflow.execute_activity_method(
                _NOTIFY_ACTIVITY[notification.recipient_kind],
                notification,
                start_to_close_timeout=NOTIFY_START_TO_CLOSE,
                schedule_to_close_timeout=NOTIFY_SCHEDULE_TO_CLOSE,
                retry_policy=NOTIFY_RETRY,
                summary=f"{notification.kind} to {notification.recipient}: {notification.subject}",
            )
            return True
        except ActivityError as error:
            cause = error.cause or error
            self.tracker.delivery_failed(notification, str(cause), workflow.now())
            self._wake = True
            return False

    async def _forward(self, effect: ForwardChangeRequest) -> None:
        if await self._deliver(effect.notification):
            self.tracker.change_forwarded(effect.change_request_id)
            self._wake = True

    # ------------------------------------------------------------------ visibility

    def _publish(self) -> None:
        order = self.tracker.order
        pairs = changed_pairs(search_attribute_values(order), self._published)
        if pairs:
            workflow.upsert_search_attributes(pairs)
            self._published = search_attribute_values(order)
        details = details_markdown(order, workflow.now())
        if details != self._details:
            workflow.set_current_details(details)
            self._details = details

    # ------------------------------------------------------------------ messages

    def _receive(self, name: str, raw: RawValue) -> None:
        if self._tracker is None:
            return  # the workflow is failing on its invalid start input
        now = workflow.now()
        if raw is _NO_PAYLOAD:
            self.tracker.reject(name, "", "no payload: send a JSON object ({} for none)", now)
            self._wake = True
            return
        try:
            payload = _decode(raw)
        except ValueError as error:
            self.tracker.reject(name, _raw_text(raw), str(error), now)
            return
        self._effects += self.tracker.handle(name, payload, now)
        self._wake = True

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
        self.tracker.reject(name, text, error, workflow.now())
        self._wake = True

    @workflow.update(name=names.CHANGE_STATE)
    def change_state(self, raw: RawValue) -> PartyOrder:
        request = StateChangeRequest.model_validate(_decode(raw))
        tracker = self.tracker
        if not tracker.already_applied(request.request_id, names.CHANGE_STATE):
            self._effects += tracker.handle(names.CHANGE_STATE, _decode(raw), workflow.now())
            self._wake = True
        return tracker.order

    @change_state.validator
    def validate_change_state(self, raw: RawValue) -> None:
        """Refuse a bad or illegal state change before it enters the history."""
        self._validate_update(names.CHANGE_STATE, raw)

    @workflow.update(name=names.ACKNOWLEDGE_ESCALATION)
    def acknowledge_escalation(self, raw: RawValue) -> PartyOrder:
        request = EscalationAcknowledgement.model_validate(_decode(raw))
        tracker = self.tracker
        if not tracker.already_applied(request.request_id, names.ACKNOWLEDGE_ESCALATION):
            self._effects += tracker.handle(
                names.ACKNOWLEDGE_ESCALATION, _decode(raw), workflow.now()
            )
            self._wake = True
        return tracker.order

    @acknowledge_escalation.validator
    def validate_acknowledge_escalation(self, raw: RawValue) -> None:
        """Refuse an acknowledgement of a level not reached before it enters the history."""
        self._validate_update(names.ACKNOWLEDGE_ESCALATION, raw)

    def _validate_update(self, name: str, raw: RawValue) -> None:
        if self._tracker is None:
            raise ValueError("the order failed validation at start")
        # A repeat of an applied update is accepted, and not applied twice.
        self._tracker.validate_update(name, _decode(raw))

    @workflow.query(name=names.GET_ORDER)
    def get_order(self) -> PartyOrder:
        if self._handed_over is not None:
            return self._handed_over
        return self.tracker.order


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
