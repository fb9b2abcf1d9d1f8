"""Real processes for the fault tests: a Temporal dev server and `python worker.py`.

Everything binds to 127.0.0.1 on free ports, logs to files (a full pipe would block a
child), and every wait is bounded by a deadline. Children are only ever stopped by their
own pid: ``stop()`` sends SIGTERM and waits, ``kill()`` sends SIGKILL.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TypeVar

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from starter.local.binaries import temporal_cli_path
from starter.local.devserver import ensure_search_attributes, search_attribute_flags

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "default"
HOST = "127.0.0.1"

# Variables of Temporal's environment configuration that must not leak from the
# developer's shell into a test worker (it must talk to the test's server only).
_TEMPORAL_ENV_PREFIXES = ("TEMPORAL_", "PARTY_ORDERS_")

# The same as the tests' own API and workers use (tests/conftest.py sets it), so what a
# test's API hands out verifies what a worker process signs.
WORKER_MASTER_SECRET = (
    os.environ.get("PARTY_ORDERS_WEBHOOK_MASTER_SECRET") or "worker-process-master-secret-for-tests"
)

T = TypeVar("T")


class ProcessDied(RuntimeError):
    """A child process exited while it was being waited for: waiting longer cannot help."""


async def run_bash(
    script: str, *, cwd: Path, env: Mapping[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``script`` run by bash in a thread (the event loop keeps serving the test's workers
    and servers), its output captured as text."""
    return await asyncio.to_thread(
        subprocess.run,
        ["bash", "-c", script],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 40) -> str:
    """The last lines of a log file, for assertion messages."""
    if not path.exists():
        return f"<{path} does not exist>"
    text = path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


def start_up_demo(
    data_dir: Path, log: Path, task_queue: str, api_port: int
) -> subprocess.Popen[str]:
    """``party-orders up --headless --demo`` as a user runs it, on free ports, its output in
    ``log``, with nothing of the developer's Temporal or project settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_TEMPORAL_ENV_PREFIXES)}
    env["PARTY_ORDERS_TASK_QUEUE"] = task_queue
    with log.open("w") as out:
        return subprocess.Popen(
            [
                *(sys.executable, "-m", "starter", "up", "--headless", "--demo"),
                *("--data-dir", str(data_dir), "--port", str(free_port())),
                *("--ui-port", str(free_port()), "--api-port", str(api_port)),
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )


async def eventually(
    probe: Callable[[], Awaitable[T | None]],
    *,
    timeout: float,
    interval: float = 0.2,
    what: str = "condition",
) -> T:
    """Call ``probe`` until it returns something other than None (or False) or time is up.

    Exceptions from the probe count as "not yet" (the last one is reported on timeout),
    except ``ProcessDied``, which ends the wait at once.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    attempts = 0
    while True:
        attempts += 1
        try:
            result = await asyncio.wait_for(probe(), timeout=max(0.5, min(10.0, timeout)))
            if result is not None and result is not False:
                return result
            last_error = None
        except ProcessDied:
            raise
        except Exception as error:  # "not yet": retried until the deadline
            last_error = error
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"{what} not reached within {timeout:g}s after {attempts} attempts"
                + (f"; last error: {last_error!r}" if last_error else "")
            )
        await asyncio.sleep(interval)


def _stop_process(proc: subprocess.Popen[bytes], timeout: float) -> int:
    """SIGTERM, wait up to ``timeout``, then SIGKILL. Returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait(timeout=10)


class DevServer:
    """``temporal server start-dev`` on a SQLite file, headless, on fixed 127.0.0.1 ports.

    ``stop()`` and ``start()`` again reuse the same database file and ports, which is what
    a restart of a real single-node server looks like to clients and workers.
    """

    def __init__(self, directory: Path, *, port: int | None = None) -> None:
        self.directory = directory
        self.db_path = directory / "t.db"
        self.port = port or free_port()
        self.http_port = free_port()
        self.metrics_port = free_port()
        self.log_path = directory / "temporal.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._rebinds = 0

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def command(self) -> list[str]:
        args = [
            temporal_cli_path(),
            "server",
            "start-dev",
            "--db-filename",
            str(self.db_path),
            "--ip",
            HOST,
            "--port",
            str(self.port),
            "--http-port",
            str(self.http_port),
            "--metrics-port",
            str(self.metrics_port),
            "--headless",
            "--log-level",
            "warn",
        ]
        return args + search_attribute_flags()

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== start {self.starts} ===\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.directory,
                start_new_session=True,  # a Ctrl-C to pytest does not reach it first
            )

    async def connect(self, *, timeout: float = 60.0) -> Client:
        """Wait until the server answers and knows the contract's search attributes."""

        async def probe() -> Client:
            if self.proc is not None and self.proc.poll() is not None:
                if self._port_was_taken():
                    # Another process took a port between free_port() and the bind. A
                    # restart must keep its ports, so only a first start moves on.
                    self.port, self.http_port, self.metrics_port = (
                        free_port(),
                        free_port(),
                        free_port(),
                    )
                    self.start()
                    raise RuntimeError("a port was taken; started again on new ports")
                raise ProcessDied(
                    f"dev server exited with {self.proc.returncode}:\n{tail(self.log_path)}"
                )
            client = await Client.connect(
                self.address, namespace=NAMESPACE, data_converter=pydantic_data_converter
            )
            await ensure_search_attributes(client, NAMESPACE)
            return client

        try:
            return await eventually(probe, timeout=timeout, interval=0.3, what="dev server ready")
        except TimeoutError as error:
            raise TimeoutError(f"{error}\n{tail(self.log_path)}") from None

    def _port_was_taken(self) -> bool:
        if self.starts != 1 or self._rebinds >= 3:
            return False
        last_start = self.log_path.read_text(errors="replace").rsplit("=== start", 1)[-1]
        if "address already in use" not in last_start:
            return False
        self._rebinds += 1
        self.starts = 0
        return True

    def stop(self, timeout: float = 30.0) -> int | None:
        """Graceful stop (SIGTERM), then SIGKILL if it takes longer than ``timeout``."""
        if self.proc is None:
            return None
        return _stop_process(self.proc, timeout)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class WorkerProcess:
    """``python worker.py`` as a child process, configured only through its environment."""

    def __init__(
        self,
        name: str,
        *,
        address: str,
        task_queue: str,
        outbox: Path,
        log_dir: Path,
        env: Mapping[str, str] | None = None,
        module: str | None = None,
    ) -> None:
        self.name = name
        # ``python -m module`` instead of ``python worker.py``: a test's own worker program.
        self.module = module
        self.address = address
        self.task_queue = task_queue
        self.outbox = outbox
        self.log_path = log_dir / f"worker-{name}.log"
        self.extra_env = dict(env or {})
        self.proc: subprocess.Popen[bytes] | None = None

    def environment(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(_TEMPORAL_ENV_PREFIXES)
        }
        env.update(
            {
                "TEMPORAL_ADDRESS": self.address,
                "TEMPORAL_NAMESPACE": NAMESPACE,
                "PARTY_ORDERS_TASK_QUEUE": self.task_queue,
                "PARTY_ORDERS_OUTBOX": str(self.outbox),
                "PARTY_ORDERS_LOG_LEVEL": "INFO",
                # `python worker.py` refuses to start without one (it signs every webhook).
                "PARTY_ORDERS_WEBHOOK_MASTER_SECRET": WORKER_MASTER_SECRET,
                "PYTHONUNBUFFERED": "1",  # every line is on disk before a kill -9
            }
        )
        env.update(self.extra_env)
        return env

    def start(self) -> WorkerProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            program = ["-m", self.module] if self.module else [str(ROOT / "worker.py")]
            self.proc = subprocess.Popen(
                [sys.executable, *program],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=ROOT,
                env=self.environment(),
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    @property
    def identity(self) -> str:
        """The worker's Temporal identity: the SDK's default ``pid@hostname``."""
        return f"{self.pid}@{socket.gethostname()}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    async def wait_polling(self, client: Client, *, timeout: float = 60.0) -> None:
        """Wait until this worker polls its task queue for workflow and activity tasks."""

        async def probe() -> bool:
            if not self.running:
                raise ProcessDied(f"worker {self.name} exited:\n{tail(self.log_path)}")
            for kind in (
                TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
                TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
            ):
                described = await client.workflow_service.describe_task_queue(
                    DescribeTaskQueueRequest(
                        namespace=client.namespace,
                        task_queue=TaskQueue(name=self.task_queue),
                        task_queue_type=kind,
                    )
                )
                if self.identity not in {poller.identity for poller in described.pollers}:
                    return False
            return True

        try:
            await eventually(probe, timeout=timeout, interval=0.3, what=f"worker {self.name}")
        except TimeoutError as error:
            raise TimeoutError(f"{error}\n{tail(self.log_path)}") from None

    def kill(self) -> None:
        """kill -9: no graceful shutdown, no chance to finish or report anything."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 20.0) -> int | None:
        if self.proc is None:
            return None
        return _stop_process(self.proc, timeout)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
