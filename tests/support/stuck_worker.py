"""The product's worker (``worker.serve``) with one more workflow, ``SpinForever``, whose
code never yields: once it runs, its task can never leave the worker's cache.

The SDK interrupts a workflow thread that runs Python code past the deadlock detector, so
the workflow blocks in C instead (a lock that is never released), where no interruption
reaches it: as a task stuck in a library call would.

    python -m tests.support.stuck_worker     # configured by the environment, as worker.py
"""

from __future__ import annotations

import asyncio
import logging
import threading

from temporalio import workflow

import worker
from settings import Settings

SPIN_WORKFLOW = "SpinForever"


@workflow.defn(name=SPIN_WORKFLOW, sandboxed=False)
class SpinForever:
    @workflow.run
    async def run(self) -> None:
        # Never awaits: the deadlock detector fires, and the thread never ends.
        threading.Event().wait()


def main() -> None:
    settings = Settings.from_env()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(worker.serve(settings, workflows=[*worker.WORKFLOWS, SpinForever]))


if __name__ == "__main__":
    main()
