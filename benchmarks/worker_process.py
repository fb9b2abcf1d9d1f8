"""A worker in its own process, so that its CPU time and peak memory can be measured alone.

Child side (``python -m benchmarks.worker_process``): connect, run either the project's
worker (``worker.build_worker``, as ``python worker.py`` does) or the baseline's (the same
worker options with the logic-free workflows), print ``ready``, and run until SIGTERM.

Parent side: ``WorkerProcess``, an async context manager that starts the child, waits for
``ready``, reads its CPU time and memory from /proc, and stops it cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections import deque
from pathlib import Path
from types import TracebackType
from typing import Any
from unittest import mock

from benchmarks import procfs

PROJECT_ROOT = Path(__file__).resolve().parent.parent
READY = "ready"


# ---------------------------------------------------------------- child

RUNNERS = ("default", "passthrough", "unsandboxed")


def workflow_runner(name: str) -> Any:
    """An experiment with the SDK's workflow sandbox (``default``: as ``build_worker`` sets it).

    ``passthrough``: the benchmark's own modules pass through the sandbox too (the
    project's already do). ``unsandboxed``: no sandbox at all.
    """
    from temporalio.worker import UnsandboxedWorkflowRunner
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

    if name == "unsandboxed":
        return UnsandboxedWorkflowRunner()
    if name == "passthrough":
        restrictions = SandboxRestrictions.default.with_passthrough_modules(
            "workflows", "activities", "benchmarks"
        )
        return SandboxedWorkflowRunner(restrictions=restrictions)
    raise ValueError(f"unknown workflow runner {name!r}; choose from {RUNNERS}")


async def _serve(args: argparse.Namespace) -> None:
    from temporalio.client import Client
    from temporalio.worker import Worker

    from activities.settings import NotificationSettings
    from privacy.codec import data_converter
    from settings import Settings
    from worker import build_worker

    options: dict[str, Any] = {}
    if args.workflow_runner != "default":
        options["workflow_runner"] = workflow_runner(args.workflow_runner)
    client = await Client.connect(
        # Encrypted when PARTY_ORDERS_ENCRYPTION_KEYS is set (the environment is inherited).
        args.target,
        namespace=args.namespace,
        data_converter=data_converter(Settings.from_env().encryption_keys()),
    )
    settings = NotificationSettings(outbox_path=Path(args.outbox))
    if args.kind == "orders":
        worker = build_worker(client, args.task_queue, settings=settings, **options)
    else:
        # Exactly the project's worker options (cache bound, runner, tuner, ...), with the
        # logic-free workflows and activity in place of the project's own.
        options["settings"] = settings
        worker = Worker(client, **_project_worker_options(client, args.task_queue, options))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with worker:
        print(READY, flush=True)
        await stop.wait()


def _project_worker_options(client: Any, task_queue: str, options: dict[str, Any]) -> Any:
    """What ``build_worker`` passes to ``Worker``, with the baseline's workflows instead."""
    import worker as project_worker
    from benchmarks.baseline import BASELINE_ACTIVITIES, BASELINE_WORKFLOWS

    captured: dict[str, Any] = {}

    def capture(_client: Any, **kwargs: Any) -> None:
        captured.update(kwargs)

    with mock.patch.object(project_worker, "Worker", capture):
        project_worker.build_worker(client, task_queue, **options)
    if not captured:
        raise RuntimeError("build_worker no longer calls temporalio.worker.Worker by name")
    captured.update(workflows=BASELINE_WORKFLOWS, activities=BASELINE_ACTIVITIES)
    return captured


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", required=True)
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--kind", choices=["orders", "baseline"], required=True)
    parser.add_argument("--outbox", required=True)
    parser.add_argument("--workflow-runner", choices=RUNNERS, default="default")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("PARTY_ORDERS_LOG_LEVEL", "WARNING"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    asyncio.run(_serve(args))


# ---------------------------------------------------------------- parent


class WorkerProcess:
    """``async with WorkerProcess(...) as worker:`` a running worker subprocess."""

    def __init__(
        self,
        *,
        target: str,
        task_queue: str,
        kind: str,
        outbox: Path,
        log_path: Path,
        namespace: str = "default",
        env: dict[str, str] | None = None,
        workflow_runner: str = "default",
    ) -> None:
        self.target = target
        self.task_queue = task_queue
        self.kind = kind
        self.outbox = outbox
        self.log_path = log_path
        self.namespace = namespace
        self.env = env
        self.workflow_runner = workflow_runner
        self._process: asyncio.subprocess.Process | None = None
        self.final_peak_rss_bytes = 0
        self.final_cpu_seconds = 0.0

    @property
    def pid(self) -> int:
        assert self._process is not None, "the worker process is not running"
        return self._process.pid

    def cpu_seconds(self) -> float:
        return procfs.cpu_seconds(self.pid)

    def peak_rss_bytes(self) -> int:
        return procfs.peak_rss_bytes(self.pid)

    def rss_bytes(self) -> int:
        return procfs.rss_bytes(self.pid)

    def thread_cpu_seconds(self) -> dict[str, float]:
        return procfs.thread_cpu_seconds(self.pid)

    async def __aenter__(self) -> WorkerProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        try:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "benchmarks.worker_process",
                "--target",
                self.target,
                "--namespace",
                self.namespace,
                "--task-queue",
                self.task_queue,
                "--kind",
                self.kind,
                "--outbox",
                str(self.outbox),
                "--workflow-runner",
                self.workflow_runner,
                cwd=PROJECT_ROOT,
                env={**os.environ, **(self.env or {})},
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
            )
        finally:
            log.close()
        try:
            await asyncio.wait_for(self._ready(), timeout=120)
        except BaseException:
            await self._stop()
            raise
        return self

    async def _ready(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        while True:
            line = await self._process.stdout.readline()
            if not line:
                raise RuntimeError(
                    f"the {self.kind} worker exited before it was ready:\n{self._log_tail()}"
                )
            if line.decode().strip() == READY:
                return

    def _log_tail(self, lines: int = 30) -> str:
        try:
            with self.log_path.open(errors="replace") as log:
                return "".join(deque(log, maxlen=lines))
        except OSError:
            return "(no log)"

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._stop()

    def kill(self) -> None:
        """SIGKILL: the worker dies at once, as in a crash (``async with`` then ends)."""
        if self._process is not None and self._process.returncode is None:
            self._process.kill()

    async def _stop(self) -> None:
        process = self._process
        if process is None or process.returncode is not None:
            return
        try:
            self.final_peak_rss_bytes = self.peak_rss_bytes()
            self.final_cpu_seconds = self.cpu_seconds()
        except (OSError, KeyError, ValueError):
            pass  # it has exited already
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), timeout=30)
        except TimeoutError:
            process.kill()
            await process.wait()


if __name__ == "__main__":
    main()
