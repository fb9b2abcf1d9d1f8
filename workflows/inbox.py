"""The inbox of TrackPartyOrder: messages as they arrived, applied by the main loop.

A signal handler's whole work is to queue the raw message, so handlers stay cheap however
many signals one workflow task brings. The main loop applies them in arrival order, each
at its arrival time; under the run budget at most ``MESSAGES_PER_TASK`` per workflow
task (rules 5: messages up to ``COST_PER_TASK``, what they cost), with a 1 ms timer
between two slices so the next slice runs in a fresh activation (no activation nears the
SDK's 2 s deadlock detector).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.common import RawValue

MESSAGES_PER_TASK = 2_000
# Rules 5 (``bounded_work_per_message``): a slice is bounded by what its messages cost:
# each message a base that grows with the order's plan (a message that sends a notice
# assesses the jeopardy, item by item and milestone by milestone: about 6 ms on an order
# of 200 late items), and one unit more per KB of payload (decoding, validation, what it
# adds). A small order's messages cost one unit: 2,000 of them, as before; on an order
# of 200 items and 200 milestones about 48 messages make a slice, some 0.3 s of work.
COST_PER_TASK = 2_000
BYTES_PER_COST_UNIT = 1_000
PLAN_ENTRIES_PER_COST_UNIT = 5


def message_base_cost(plan_entries: int) -> int:
    """What any message to an order of ``plan_entries`` items, milestones and checkpoints
    costs before its payload, in units of ``COST_PER_TASK``."""
    return 1 + plan_entries // PLAN_ENTRIES_PER_COST_UNIT


# The pause between two slices of messages: a timer, so the workflow task ends there.
BETWEEN_SLICES = timedelta(milliseconds=1)

# What a signal handler gets when the signal came with no payload at all (for instance
# `temporal workflow signal` without --input): recorded as rejected, where a missing
# argument would otherwise fail the workflow task on every retry.
NO_PAYLOAD = RawValue(Payload())


@dataclass(frozen=True)
class Arrival:
    """A message as it arrived: its raw payload, or (``raw`` None) why no handler took it."""

    name: str
    at: datetime
    raw: RawValue | None
    text: str = ""
    error: str = ""


@dataclass(frozen=True)
class Unreadable:
    """A message that cannot even be read: what arrived, and why it is refused."""

    text: str
    error: str


class Inbox:
    def __init__(self) -> None:
        self._queue: deque[Arrival] = deque()

    def __bool__(self) -> bool:
        return bool(self._queue)

    def receive(self, name: str, raw: RawValue) -> None:
        self._queue.append(Arrival(name, workflow.now(), raw))

    def refuse(self, name: str, args: Sequence[Any], error: str) -> None:
        """Queue a signal no handler can take, so rejections keep the order of arrival."""
        text = json.dumps(list(args), default=str)
        self._queue.append(Arrival(name, workflow.now(), None, text, error))

    def take_all(self) -> list[Arrival]:
        taken = list(self._queue)
        self._queue.clear()
        return taken

    def take_slice(
        self, budgeted: Callable[[], bool], by_cost: bool = False, base_cost: int = 1
    ) -> list[Arrival]:
        """The next slice: everything queued, or ``MESSAGES_PER_TASK`` under the budget;
        ``by_cost`` (rules 5), messages up to ``COST_PER_TASK`` (at least one), each
        ``base_cost`` and its payload."""
        if by_cost:
            return self._take_by_cost(budgeted, base_cost)
        size = len(self._queue)
        if size > MESSAGES_PER_TASK and budgeted():
            size = MESSAGES_PER_TASK
        return [self._queue.popleft() for _ in range(size)]

    def _take_by_cost(self, budgeted: Callable[[], bool], base_cost: int) -> list[Arrival]:
        taken: list[Arrival] = []
        spent = 0
        while self._queue:
            spent += cost(self._queue[0], base_cost)
            if taken and spent > COST_PER_TASK and budgeted():
                break
            taken.append(self._queue.popleft())
        return taken


def cost(arrival: Arrival, base_cost: int = 1) -> int:
    """What applying a message costs, in units of ``COST_PER_TASK``."""
    size = len(arrival.raw.payload.data) if arrival.raw is not None else len(arrival.text)
    return base_cost + size // BYTES_PER_COST_UNIT


def content(arrival: Arrival) -> Any | Unreadable:
    """The JSON value a message carries, or why it cannot be read."""
    raw = arrival.raw
    if raw is None:
        return Unreadable(arrival.text, arrival.error)
    if raw is NO_PAYLOAD:
        return Unreadable("", "no payload: send a JSON object ({} for none)")
    try:
        return decode(raw)
    except ValueError as error:
        return Unreadable(raw_text(raw), str(error))


def decode(raw: RawValue) -> Any:
    """The JSON value of a raw payload; ValueError if it is not JSON at all."""
    try:
        return workflow.payload_converter().from_payload(raw.payload)
    except Exception as error:  # any decoding failure becomes a recorded rejection
        raise ValueError(f"payload is not valid JSON: {error}") from error


def raw_text(raw: RawValue) -> str:
    data = raw.payload.data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.hex()
