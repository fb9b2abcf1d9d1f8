"""The notifications of TrackPartyOrder on their way, in the background of the main loop.

A slow or broken channel never stops tracking: each notification is delivered by its own
task while the loop goes on. Under the run budget at most ``NOTIFICATIONS_IN_FLIGHT`` are
on their way at once, far below the server's 2,000 activities per workflow; the rest wait
for a free slot, and every one of them is carried over by continue-as-new.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.domain.effects import Effect
    from workflows.run_budget import PendingNotification, pending

NOTIFICATIONS_IN_FLIGHT = 100


class NotificationPool:
    def __init__(self, on_free_slot: Callable[[Effect], None]) -> None:
        """``on_free_slot`` gets the next waiting notification once a slot is free."""
        self._in_flight: dict[asyncio.Task[object], PendingNotification] = {}
        self._waiting: deque[Effect] = deque()
        self._on_free_slot = on_free_slot

    def __bool__(self) -> bool:
        """Whether any notification is on its way."""
        return bool(self._in_flight)

    def full(self, budgeted: Callable[[], bool]) -> bool:
        return len(self._in_flight) >= NOTIFICATIONS_IN_FLIGHT and budgeted()

    def wait(self, effect: Effect) -> None:
        """Keep a notification until a slot is free."""
        self._waiting.append(effect)

    def start(self, work: Awaitable[object], effect: Effect) -> None:
        task: asyncio.Task[object] = asyncio.ensure_future(work)
        self._in_flight[task] = pending(effect)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[object]) -> None:
        self._in_flight.pop(task, None)
        if self._waiting:
            # A slot is free: the main loop (or the settling) starts the next one.
            self._on_free_slot(self._waiting.popleft())

    async def all_delivered(self) -> None:
        """Until every notification on its way now has been delivered or has given up."""
        await asyncio.gather(*self._in_flight)

    def carried(self) -> list[PendingNotification]:
        """What goes over to the next run: those on their way, then those waiting."""
        return [*self._in_flight.values(), *map(pending, self._waiting)]
