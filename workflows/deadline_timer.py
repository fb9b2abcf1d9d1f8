"""One durable timer for an order's next deadline, moved only when the deadline moves.

In the spirit of the SDK samples' updatable timer: the workflow says when the next thing
is due (``plan``), and asks whether that moment has come (``reached``). Most messages leave
the next deadline where it was; keeping the timer then saves a TimerCanceled and a
TimerStarted event per message, which is what keeps a quiet check-in cycle cheap.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from temporalio import workflow


class DeadlineTimer:
    def __init__(self) -> None:
        self._timer: asyncio.Future[None] | None = None
        self._at: datetime | None = None

    def plan(self, at: datetime | None, what: str = "") -> None:
        """Wait for ``at`` (``what`` is the timer's summary in the Web UI); ``None`` stops.

        A timer already set for the same instant is kept; any other is cancelled first.
        """
        if self._timer is not None and at is not None and self._at == at:
            return
        self.cancel()
        if at is not None:
            self._timer = asyncio.ensure_future(workflow.sleep(at - workflow.now(), summary=what))
            self._at = at

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._at = None, None

    def reached(self) -> bool:
        """Whether the planned instant has come; a fired timer is forgotten once seen."""
        if self._timer is None or not self._timer.done():
            return False
        self._timer, self._at = None, None  # fired: the next advance() handles it
        return True
