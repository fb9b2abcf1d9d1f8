"""Fuzz every message handler of a running TrackPartyOrder (time-skipping server).

Hypothesis generates messages for ``report_progress``, ``request_change``,
``resolve_change``, ``cancel_order``, ``check_in_now`` and the ``change_state`` update:
arbitrary JSON, objects with the contract's field names and random or plausible values,
payloads that are not JSON at all (``binary/plain`` bytes, broken ``json/plain``, an
unknown encoding) and signals with no payload. Now and then the clock jumps hours ahead
so check-ins, response windows, milestones and escalations fire between messages.

Each message is sent to the running order, which is read back before and after. The test
asserts that every message is accounted for, one way only:

* applied: what it says is now true of the order (and its ``requestId`` is remembered);
* recorded: ``rejectedMessageCount`` went up by one, the newest record names the message,
  and nothing else about the order changed;
* a repeat of an applied message (the same name, ``requestId`` and content): ignored,
  nothing changed, nothing recorded; the same name and ``requestId`` with other content is
  recorded (``requestId`` is unique per message name, so other names may reuse it);
* ``change_state``: applied and returned, or refused with an error (an illegal or bad
  update never enters the history), as the state machine says;

that the workflow keeps running (an order that a valid ``cancel_order``, ``delivered`` or
``failed`` ends returns its final order, and a new one is started), and that no history
holds a failed workflow task.

    python -m pytest tests/workflow/test_fuzz.py -q                        # 150 messages, CI
    FUZZ_MESSAGES=3000 python -m pytest tests/workflow/test_fuzz.py -q -s  # a few thousand
    FUZZ_SEED=1234 ...                                            # replay one sequence
    FUZZ_SEED=random ...                                          # a new random sequence

The seed is printed with the figures (``-s``) and named in every failure.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, find, given, seed, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import RawValue
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from tests.conftest import running_worker, unique
from tests.support.clock import skip, start_time_skipping
from tests.support.recorder import failed_workflow_tasks, iso, run_chain
from workflows.close_party_order import ClosureRecord
from workflows.domain import names
from workflows.domain.messages import (
    MESSAGE_MODELS,
    CancelRequest,
    ChangeRequestMessage,
    ChangeResolution,
    CheckInRequest,
    InboundMessage,
    ProgressReport,
    StateChangeRequest,
)
from workflows.domain.model import (
    MilestoneStatus,
    OrderState,
    PartyOrder,
    close_workflow_id,
    track_workflow_id,
)
from workflows.domain.rules import RULES_4
from workflows.domain.states import can_transition

MESSAGES = int(os.environ.get("FUZZ_MESSAGES", "150"))
# CI replays one fixed sequence, so a run is reproducible and never fails by the luck of
# the draw; FUZZ_SEED=random explores a new sequence (its seed is printed).
_SEED_SETTING = os.environ.get("FUZZ_SEED", "2640367198")
SEED = random.randrange(2**32) if _SEED_SETTING == "random" else int(_SEED_SETTING)
SIGNALS = [
    names.REPORT_PROGRESS,
    names.REQUEST_CHANGE,
    names.RESOLVE_CHANGE,
    names.CANCEL_ORDER,
    names.CHECK_IN_NOW,
]
HANDLERS = [*SIGNALS, names.CHANGE_STATE]
MILESTONES = ["survey", "install"]
VERDICTS = ("applied", "recorded", "refused", "repeat ignored")
CONVERTER = pydantic_data_converter.payload_converter


# ---------------------------------------------------------------------- what is sent


@dataclass(frozen=True)
class Message:
    handler: str
    kind: str  # "valid", "fields", "json", "raw" or "none"; "sleep" moves the clock instead
    payload: Any = None  # a JSON value, a RawValue, or the hours to sleep

    def args(self) -> list[Any]:
        return [] if self.kind == "none" else [self.payload]

    def __str__(self) -> str:
        shown = self.payload.payload if isinstance(self.payload, RawValue) else self.payload
        return f"{self.handler}[{self.kind}] {shown!r}"[:600]


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=10,
)
request_ids = st.sampled_from([f"r-{n}" for n in range(8)]) | st.text(min_size=0, max_size=6)
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(iso)
dates = instants | st.sampled_from(["2030-01-01T00:00:00", "tomorrow", "", "2030-02-30T00:00:00Z"])
milestone_ids = st.sampled_from([*MILESTONES, "nope", ""])


def either(plausible: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a plausible value, sometimes any JSON at all."""
    return st.one_of(plausible, plausible, plausible, json_values)


PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    "requestId": request_ids,
    "source": st.sampled_from(["party", "enterprise", "robot"]),
    "percentComplete": st.integers(-5, 105),
    "milestones": st.lists(
        st.fixed_dictionaries(
            {"id": milestone_ids},
            optional={
                "status": st.sampled_from(["completed", "yetToReach", "late"]),
                "completedAt": dates,
                "milestoneDate": dates,
            },
        ),
        max_size=2,
    ),
    "expectedCompletionDate": dates,
    "requestedCompletionDate": dates,
    "delivered": st.sampled_from([False, False, False, False, True]),
    "note": st.text(max_size=20),
    "origin": st.sampled_from(["party", "enterprise", "external", "alien"]),
    "kind": st.sampled_from(["requested", "forced", "whimsical"]),
    "reason": st.text(max_size=20),
    "changes": st.fixed_dictionaries(
        {},
        optional={
            "expectedCompletionDate": dates,
            "requestedCompletionDate": dates,
            "milestones": st.lists(
                st.fixed_dictionaries({"id": milestone_ids, "milestoneDate": dates}), max_size=2
            ),
            "orderItems": st.lists(
                st.fixed_dictionaries(
                    {"id": st.sampled_from(["1", "2", ""])},
                    optional={
                        "quantity": st.integers(-1, 3),
                        "extra": json_values,
                        "state": st.sampled_from(["cancelled", "completed"]),
                    },
                ),
                max_size=2,
            ),
            # Rules 3: plan changes.
            "checkpoints": st.lists(
                st.fixed_dictionaries(
                    {"id": st.sampled_from(["cp", "nope"])},
                    optional={
                        "date": dates,
                        "action": st.sampled_from(["add", "modify", "delete", "move"]),
                    },
                ),
                max_size=2,
            ),
        },
    ),
    # Rules 3: per-item progress (report_progress.orderItems).
    "orderItems": st.lists(
        st.fixed_dictionaries(
            {"id": st.sampled_from(["1", "2", "9", ""])},
            optional={
                "state": st.sampled_from(
                    ["inProgress", "held", "completed", "cancelled", "failed", "done"]
                ),
                "percentComplete": st.integers(-5, 105),
                "expectedCompletionDate": dates,
                "note": st.text(max_size=20),
            },
        ),
        max_size=2,
    ),
    "changeRequestId": st.sampled_from([f"r-{n}" for n in range(8)] + ["CR-1", "CR-404"]),
    "decision": st.sampled_from(["accepted", "rejected", "maybe"]),
    "resolvedBy": st.text(max_size=10),
    "requestedBy": st.text(max_size=10),
    "state": st.sampled_from(
        [
            "inProgress",
            "pending",
            "held",
            "inProgress",
            "pending",
            "held",
            "failed",
            "completed",
            "?",
        ]
    ),
}
FIELDS = {
    name: [model.model_fields[f].alias or f for f in model.model_fields]
    for name, model in MESSAGE_MODELS.items()
}


def field_messages(handler: str) -> st.SearchStrategy[Message]:
    optional = {name: either(PLAUSIBLE[name]) for name in FIELDS[handler]}
    extra = st.dictionaries(st.sampled_from(sorted(PLAUSIBLE)), json_values, max_size=1)
    payload = st.tuples(st.fixed_dictionaries({}, optional=optional), extra).map(
        lambda both: {**both[0], **both[1]}
    )
    return payload.map(lambda p: Message(handler, "fields", p))


raw_payloads = st.one_of(
    st.binary(max_size=40).map(lambda b: Payload(metadata={"encoding": b"binary/plain"}, data=b)),
    st.sampled_from([b"{", b"", b"\xff\xfe", b"{'a': 1}", b"NaN", b"[1,]"]).map(
        lambda b: Payload(metadata={"encoding": b"json/plain"}, data=b)
    ),
    st.binary(max_size=10).map(
        lambda b: Payload(metadata={"encoding": b"text/x-nonsense"}, data=b)
    ),
    st.just(Payload()),
).map(RawValue)


OPEN_CHANGE = "<open change request>"
valid_ids = st.sampled_from([f"r-{n}" for n in range(8)])
# Far enough ahead that the session's clock (other tests skip months) has not reached it.
future = st.integers(1, 60).map(
    lambda days: iso(datetime(2035, 1, 1, tzinfo=UTC) + timedelta(days=days))
)
VALID: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    names.REPORT_PROGRESS: st.fixed_dictionaries(
        {"percentComplete": st.integers(0, 100)},
        optional={
            "requestId": valid_ids,
            "source": st.sampled_from(["party", "enterprise"]),
            "note": st.text(max_size=20),
            "milestones": st.lists(
                st.fixed_dictionaries(
                    {"id": st.sampled_from(MILESTONES)},
                    optional={"status": st.sampled_from(["completed", "yetToReach"])},
                ),
                max_size=2,
            ),
            "expectedCompletionDate": future,
            "delivered": st.sampled_from([False] * 7 + [True]),
        },
    ),
    names.REQUEST_CHANGE: st.fixed_dictionaries(
        {
            "changes": st.one_of(
                st.fixed_dictionaries({"expectedCompletionDate": future}),
                st.fixed_dictionaries({"requestedCompletionDate": future}),
                st.fixed_dictionaries(
                    {
                        "milestones": st.lists(
                            st.fixed_dictionaries(
                                {"id": st.sampled_from(MILESTONES), "milestoneDate": future}
                            ),
                            min_size=1,
                            max_size=2,
                        )
                    }
                ),
                st.fixed_dictionaries(
                    {
                        "orderItems": st.lists(
                            st.fixed_dictionaries(
                                {"id": st.sampled_from(["1", "2"]), "quantity": st.integers(1, 3)}
                            ),
                            min_size=1,
                            max_size=2,
                        )
                    }
                ),
            )
        },
        optional={
            "requestId": valid_ids,
            "origin": st.sampled_from(["party", "enterprise", "external"]),
            "kind": st.sampled_from(["requested", "forced"]),
            "reason": st.text(max_size=20),
        },
    ),
    names.RESOLVE_CHANGE: st.fixed_dictionaries(
        {
            # OPEN_CHANGE stands for a change request open when the message is sent.
            "changeRequestId": st.sampled_from([OPEN_CHANGE] * 3) | valid_ids,
            "decision": st.sampled_from(["accepted", "rejected"]),
        },
        optional={
            "requestId": valid_ids,
            "resolvedBy": st.text(max_size=10),
            "note": st.text(max_size=10),
        },
    ),
    names.CANCEL_ORDER: st.fixed_dictionaries(
        {},
        optional={
            "requestId": valid_ids,
            "reason": st.text(max_size=20),
            "requestedBy": st.text(max_size=10),
        },
    ),
    names.CHECK_IN_NOW: st.fixed_dictionaries(
        {}, optional={"requestId": valid_ids, "requestedBy": st.text(max_size=10)}
    ),
    names.CHANGE_STATE: st.fixed_dictionaries(
        {"state": st.sampled_from(["inProgress", "pending", "held"] * 4 + ["failed"])},
        optional={"requestId": valid_ids, "reason": st.text(max_size=20)},
    ),
}


def messages_for(handler: str) -> st.SearchStrategy[Message]:
    """Mostly well-formed messages (so that orders move on), and every kind of bad one."""
    kinds: dict[str, st.SearchStrategy[Message]] = {
        "valid": VALID[handler].map(lambda p: Message(handler, "valid", p)),
        "fields": field_messages(handler),
        "json": json_values.map(lambda p: Message(handler, "json", p)),
        "raw": raw_payloads.map(lambda p: Message(handler, "raw", p)),
        "none": st.just(Message(handler, "none")),
    }
    # A valid cancellation ends the order: rarer, so that orders live long enough.
    valid = 1 if handler == names.CANCEL_ORDER else 5
    weighted = ["valid"] * valid + ["fields"] * 3 + ["json", "raw", "none"]
    return st.sampled_from(weighted).flatmap(kinds.__getitem__)


def clock_jumps() -> st.SearchStrategy[Message]:
    return st.integers(1, 40).map(lambda hours: Message("clock", "sleep", hours))


# Cancellations (valid ones end the order) come less often, so orders live long enough
# for clock jumps, change requests and their resolutions to meet.
messages = st.sampled_from(
    [h for h in HANDLERS if h != names.CANCEL_ORDER] * 5 + [names.CANCEL_ORDER] * 2 + ["clock"] * 2
).flatmap(lambda handler: clock_jumps() if handler == "clock" else messages_for(handler))


def generate(count: int, seed_value: int = SEED) -> list[Message]:
    """``count`` messages drawn by Hypothesis (its generation phase, no server involved)."""
    drawn: list[Message] = []

    @seed(seed_value)
    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(messages)
    def draw(message: Message) -> None:
        drawn.append(message)

    draw()
    return drawn[:count]


# ---------------------------------------------------------------------- the oracle


def canonical(payload: Any) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)


def as_received(message: Message) -> Any:
    """The payload as the workflow decodes it (a JSON round trip through the converter)."""
    return CONVERTER.from_payload(CONVERTER.to_payload(message.payload))


def validated(message: Message) -> InboundMessage | None:
    """The message as its model reads it, or None if the workflow must refuse its shape."""
    if message.kind in ("raw", "none"):
        return None
    try:
        return MESSAGE_MODELS[message.handler].model_validate(as_received(message))
    except ValidationError:
        return None


def applied(message: InboundMessage, before: PartyOrder, after: PartyOrder) -> str | None:
    """None if ``after`` shows ``message`` applied to ``before``, else what is missing."""
    if isinstance(message, ProgressReport):
        if message.delivered:
            return None if after.state == OrderState.COMPLETED else "not completed"
        if after.state == OrderState.ACKNOWLEDGED or after.last_progress_at is None:
            return "no progress recorded"
        if (
            message.percent_complete is not None
            and after.percent_complete != message.percent_complete
        ):
            return "percentComplete"
        if message.note is not None and after.last_note != message.note:
            return "note"
        if (
            message.expected_completion_date is not None
            and after.expected_completion_date != message.expected_completion_date
        ):
            return "expectedCompletionDate"
        for item in {m.id: m for m in message.milestones or []}.values():
            milestone = after.milestone(item.id)
            assert milestone is not None
            want = (
                {MilestoneStatus.COMPLETED}
                if item.status == "completed"
                else {MilestoneStatus.YET_TO_REACH, MilestoneStatus.VIOLATED}
            )
            if milestone.status not in want:
                return f"milestone {item.id}"
        return None
    if isinstance(message, ChangeRequestMessage):
        if len(after.change_requests) != len(before.change_requests) + 1:
            return "no change request added"
        added = after.change_requests[-1]
        if message.request_id is not None and added.id != message.request_id:
            return "change request id"
        return None
    if isinstance(message, ChangeResolution):
        change = after.change_request(message.change_request_id)
        return None if change is not None and change.status == message.decision else "decision"
    if isinstance(message, CancelRequest):
        if after.state not in (OrderState.PENDING_CANCELLATION, OrderState.CANCELLED):
            return "not cancelled"
        cancellation = after.cancellation
        if cancellation is None or cancellation.reason != message.reason:
            return "cancellation reason"
        return None
    if isinstance(message, CheckInRequest):
        return None if after.check_ins.sent == before.check_ins.sent + 1 else "no check-in sent"
    raise AssertionError(f"no oracle for {message!r}")


def unchanged(before: PartyOrder, after: PartyOrder) -> str | None:
    """What a message that was not applied changed, if anything."""
    for what in (
        "state",
        "percent_complete",
        "last_note",
        "expected_completion_date",
        "cancellation",
    ):
        if getattr(before, what) != getattr(after, what):
            return what
    if [c.id for c in before.change_requests] != [c.id for c in after.change_requests]:
        return "change requests"
    if [(c.id, c.status) for c in before.change_requests if not c.open] != [
        (c.id, c.status) for c in after.change_requests if not c.open
    ]:
        return "change resolutions"
    if before.check_ins.sent != after.check_ins.sent:
        return "check-ins"
    if [m.status for m in before.milestones if m.status != "violated"] != [
        m.status for m in after.milestones if m.status != "violated"
    ]:
        return "milestones"
    return None


def bind(message: Message, order: PartyOrder) -> Message:
    """The message with OPEN_CHANGE replaced by a change request open on the order."""
    payload = message.payload
    if isinstance(payload, dict) and payload.get("changeRequestId") == OPEN_CHANGE:
        open_ids = [c.id for c in order.change_requests if c.open]
        chosen = open_ids[len(open_ids) // 2] if open_ids else "no-open-change-request"
        return Message(message.handler, message.kind, {**payload, "changeRequestId": chosen})
    return message


# ---------------------------------------------------------------------- the target


@dataclass
class Target:
    """The running order under fuzz, and the tally."""

    env: WorkflowEnvironment
    task_queue: str
    workflow_ids: list[str] = field(default_factory=list)
    # (message name, requestId) -> the payload applied with it, as canonical JSON
    applied_ids: dict[tuple[str, str], str] = field(default_factory=dict)
    tally: Counter[str] = field(default_factory=Counter)

    @property
    def client(self) -> Client:
        return self.env.client

    @property
    def handle(self) -> WorkflowHandle[Any, PartyOrder]:
        return self.client.get_workflow_handle(self.workflow_ids[-1], result_type=PartyOrder)

    async def new_order(self) -> None:
        now = await self.env.get_current_time()
        order_id = unique("FUZZ")
        order = {
            "id": order_id,
            "party": {"id": "ACME", "name": "Acme Networks"},
            "requestedCompletionDate": iso(now + timedelta(days=30)),
            "expectedCompletionDate": iso(now + timedelta(days=25)),
            "milestones": [
                {"id": "survey", "milestoneDate": iso(now + timedelta(days=5))},
                {"id": "install", "milestoneDate": iso(now + timedelta(days=15))},
            ],
            "trackingPolicy": {"checkInInterval": "P1D", "responseWindow": "PT12H"},
        }
        workflow_id = track_workflow_id(order_id)
        await self.client.start_workflow(
            names.TRACK_WORKFLOW, order, id=workflow_id, task_queue=self.task_queue
        )
        self.workflow_ids.append(workflow_id)
        self.applied_ids = {}
        self.tally["orders"] += 1

    async def order(self) -> PartyOrder:
        for attempt in (1, 2, 3):
            try:
                return await self.handle.query(names.GET_ORDER, result_type=PartyOrder)
            except RPCError as error:
                if error.status != RPCStatusCode.DEADLINE_EXCEEDED or attempt == 3:
                    raise
                # A loaded machine, or a run whose workflow task fails: tell them apart.
                await self.check_history(self.workflow_ids[-1])
        raise AssertionError("unreachable")

    async def check_history(self, workflow_id: str) -> None:
        for run in await run_chain(self.client, workflow_id):
            failed = failed_workflow_tasks(run)
            assert not failed, (
                f"{workflow_id}: failed workflow task (seed {SEED}):"
                f" {failed[0].workflow_task_failed_event_attributes.failure.message}"
            )

    async def send(self, message: Message) -> None:
        if message.kind == "sleep":
            await skip(self.env, timedelta(hours=message.payload))
            self.tally["clock jumps"] += 1
            return
        before = await self.order()
        message = bind(message, before)
        model = validated(message)
        seen = (
            self.applied_ids.get((message.handler, model.request_id))
            if model is not None and model.request_id is not None
            else None
        )
        content = canonical(as_received(message)) if model is not None else ""
        repeat = seen is not None and seen == content
        reused = seen is not None and seen != content
        if message.handler == names.CHANGE_STATE:
            verdict = await self._update(message, model, repeat or reused, before)
        else:
            await self.handle.signal(message.handler, args=message.args())
            verdict = self._judge(message, model, repeat, before, await self.order())
            if reused:
                assert verdict == "recorded", f"a reused requestId was {verdict} {message}"
        self.tally[verdict] += 1
        self.tally[f"{message.handler} {verdict}"] += 1
        if verdict == "applied" and model is not None and model.request_id is not None:
            self.applied_ids[(message.handler, model.request_id)] = content
        after = await self.order()
        if after.is_final or after.state == OrderState.PENDING_CANCELLATION:
            final = await self.handle.result()
            assert final.is_final, f"{final.state} (seed {SEED}, {message})"
            if final.state == OrderState.COMPLETED:  # the close process ran, and is done
                closure = await self.client.get_workflow_handle(
                    close_workflow_id(final.id), result_type=ClosureRecord
                ).result()
                assert closure.order_id == final.id
            await self.check_history(self.workflow_ids[-1])
            self.tally[f"ended {final.state}"] += 1
            await self.new_order()

    async def stop(self) -> None:
        """End the current order, so that no run is left behind without a worker (on the
        time-skipping server such a run stops time from skipping for later tests)."""
        description = await self.handle.describe()
        if description.status is not None and description.status.name == "RUNNING":
            await self.handle.terminate("fuzz test over")

    def _judge(
        self,
        message: Message,
        model: InboundMessage | None,
        repeat: bool,
        before: PartyOrder,
        after: PartyOrder,
    ) -> str:
        where = f"(seed {SEED}) {message}"
        recorded = after.rejected_message_count - before.rejected_message_count
        assert recorded in (0, 1), f"{recorded} records for one message {where}"
        if recorded:
            newest = after.rejected_messages[-1]
            assert newest.message == message.handler, f"recorded as {newest.message} {where}"
            assert not repeat, f"a repeat of an applied requestId was recorded {where}"
            change = unchanged(before, after)
            assert change is None, f"rejected, yet {change} changed {where}: {newest.error}"
            return "recorded"
        assert model is not None, (
            f"a message of a bad shape was neither recorded nor refused {where}"
        )
        if repeat:
            change = unchanged(before, after)
            assert change is None, f"a repeat changed {change} {where}"
            return "repeat ignored"
        missing = applied(model, before, after)
        assert missing is None, f"neither recorded nor applied ({missing}) {where}"
        return "applied"

    async def _update(
        self, message: Message, model: InboundMessage | None, repeat: bool, before: PartyOrder
    ) -> str:
        where = f"(seed {SEED}) {message}"
        try:
            returned = await self.handle.execute_update(
                names.CHANGE_STATE, args=message.args(), result_type=PartyOrder
            )
        except WorkflowUpdateFailedError as refusal:
            after = await self.order()
            assert after.rejected_message_count == before.rejected_message_count, where
            assert unchanged(before, after) is None, f"refused, yet changed {where}"
            legal = (
                isinstance(model, StateChangeRequest)
                and not repeat
                and can_transition(before.state, OrderState(model.state), RULES_4)
            )
            assert not legal, f"a legal change was refused: {refusal.cause} {where}"
            return "refused"
        assert isinstance(model, StateChangeRequest), f"a bad update was accepted {where}"
        if repeat:
            assert unchanged(before, returned) is None, f"a repeat changed the order {where}"
            return "repeat ignored"
        assert can_transition(before.state, OrderState(model.state), RULES_4), (
            f"illegal, accepted {where}"
        )
        assert returned.state == model.state, where
        return "applied"


@pytest.fixture(scope="module")
async def target(
    time_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Target]:
    outbox = tmp_path_factory.mktemp("fuzz") / "outbox.jsonl"
    async with running_worker(time_env.client, outbox) as (_, task_queue):
        target = Target(time_env, task_queue)
        yield target
        if target.workflow_ids:
            await target.stop()


async def test_every_message_is_applied_or_recorded_and_the_order_runs_on(
    target: Target,
) -> None:
    sequence = generate(MESSAGES)
    assert len(sequence) == MESSAGES, f"Hypothesis drew only {len(sequence)} messages"
    print(f"\nfuzz seed {SEED}: sending {MESSAGES} messages")
    await target.new_order()
    for number, message in enumerate(sequence, start=1):
        try:
            await target.send(message)
        except Exception as error:
            failed = [
                event.workflow_task_failed_event_attributes.failure.message
                for run in await run_chain(target.client, target.workflow_ids[-1])
                for event in failed_workflow_tasks(run)
            ]
            raise AssertionError(
                f"message {number} (seed {SEED}) {message}: {error!r};"
                f" failed workflow tasks of {target.workflow_ids[-1]}: {failed[:3]}"
            ) from error

    # The last order is still running and healthy; no order ever failed a workflow task.
    description = await target.handle.describe()
    assert description.status is not None and description.status.name == "RUNNING"
    for workflow_id in target.workflow_ids:
        await target.check_history(workflow_id)
    sent = MESSAGES - target.tally["clock jumps"]
    accounted = sum(target.tally[verdict] for verdict in VERDICTS)
    assert accounted == sent
    for handler in HANDLERS if MESSAGES >= 100 else []:  # every handler was exercised
        assert sum(target.tally[f"{handler} {verdict}"] for verdict in VERDICTS), handler
    assert target.tally["applied"] and (target.tally["recorded"] + target.tally["refused"])
    print(f"\nfuzz seed {SEED}: {MESSAGES} messages, {dict(sorted(target.tally.items()))}")
    await target.handle.signal(names.CANCEL_ORDER, {"reason": "fuzz done"})
    assert (await target.handle.result()).state == OrderState.CANCELLED


async def test_a_signal_with_two_payloads_is_recorded(tmp_path: Path) -> None:
    """The SDK calls a named signal handler with every payload: a second one is a
    TypeError in the handler, which fails the workflow task on every retry. On a server of
    its own: a wedged run keeps a time-skipping server from skipping time."""
    env = await start_time_skipping(pydantic_data_converter)
    try:
        async with running_worker(env.client, tmp_path / "outbox.jsonl") as (_, task_queue):
            target = Target(env, task_queue)
            await target.new_order()
            handle = target.handle
            await handle.signal(names.CHECK_IN_NOW, args=[{"requestId": "a"}, {"requestId": "b"}])
            try:
                order = await asyncio.wait_for(target.order(), timeout=3)
                assert order.rejected_message_count == 1
                await target.check_history(target.workflow_ids[-1])
            finally:
                await handle.terminate("test done")
    finally:
        await env.shutdown()


def test_generated_messages_cover_every_kind() -> None:
    sequence = [m for m in generate(1_500, seed_value=SEED) if m.kind != "sleep"]
    kinds = Counter((m.handler, m.kind) for m in sequence)
    for handler in HANDLERS:
        for kind in ("valid", "fields", "json", "raw"):
            assert kinds[(handler, kind)], (handler, kind, f"seed {SEED}")
        # "none" (no payload) is one value per handler, and Hypothesis draws no value twice,
        # so a sample holds it only by chance: ask the strategy for it instead.
        empty = find(
            messages,
            lambda m, h=handler: m.handler == h and m.kind == "none",  # type: ignore[misc]
            settings=settings(database=None, max_examples=20_000),
        )
        assert (empty.handler, empty.kind) == (handler, "none")
    valid = [m for m in sequence if validated(m) is not None]
    assert {m.handler for m in valid} == set(HANDLERS)
