"""The inbox of TrackPartyOrder: messages as they arrived, applied by the main loop.

A signal handler's whole work is to queue the raw message, so handlers stay cheap however
many signals one workflow task brings. The main loop applies them in arrival order, each
at its arrival time; under the run budget at most ``MESSAGES_PER_TASK`` per workflow
task, with a 1 ms timer between two slices so the next slice runs in a fresh activation
(no activation nears the SDK's 2 s deadlock detector).
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

    def take_slice(self, budgeted: Callable[[], bool]) -> list[Arrival]:
        """The next slice: everything queued, or ``MESSAGES_PER_TASK`` under the budget."""
        size = len(self._queue)
        if size > MESSAGES_PER_TASK and budgeted():
            size = MESSAGES_PER_TASK
        return [self._queue.popleft() for _ in range(size)]


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
