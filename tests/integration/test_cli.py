"""The ``party-orders`` command line, run in-process against the shared dev server.

``main`` runs its own event loop, so the tests call it in a thread: the session's loop (and
the worker on it) keeps running meanwhile. ``up`` is tested as a real subprocess.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client, WorkflowExecutionStatus

from activities.settings import NotificationSettings
from starter.cli import main
from starter.client import PartyOrderClient, PartyOrderError
from starter.local.binaries import temporal_cli_path
from starter.local.devserver import DevServer, DevServerConfig, server_command
from tests.support.processes import eventually
from worker import build_worker
from workflows.domain.instants import iso
from workflows.domain.model import track_workflow_id
from workflows.visibility import CONTRACT_SEARCH_ATTRIBUTES

REPO = Path(__file__).resolve().parents[2]


def unique(prefix: str = "PO") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def order_json(order_id: str, party_id: str = "ACME") -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "id": order_id,
        "description": "10G backhaul circuit for site 42",
        "party": {"id": party_id, "name": "Acme Networks", "role": "supplier"},
        "originatingProcess": {"name": "service-order-handling", "reference": "SO-77"},
        "expectedCompletionDate": iso(now + timedelta(days=30)),
        "milestones": [
            {"id": "survey", "name": "Site survey", "milestoneDate": iso(now + timedelta(days=10))}
        ],
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def party_orders(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


class Cli:
    """Runs ``party-orders`` in-process and keeps what it printed."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys
        self.out = ""
        self.err = ""

    async def __call__(self, *argv: str) -> int:
        code = await party_orders(*argv)
        captured = self.capsys.readouterr()
        self.out, self.err = captured.out, captured.err
        return code

    async def json(self, *argv: str) -> Any:
        code = await self(*argv, "--json")
        assert code == 0, self.err
        return json.loads(self.out)

    async def eventually_json(self, *argv: str, check: Any, timeout: float = 15.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = await self.json(*argv)
            if check(value):
                return value
            assert time.monotonic() < deadline, f"not met: {value}"
            await asyncio.sleep(0.2)


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got: {err!r}"
    assert lines[0].startswith("party-orders")
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def cli(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    dev_address: str,
    dev_task_queue: str,
) -> Cli:
    for name in list(os.environ):
        if name.startswith("TEMPORAL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TEMPORAL_ADDRESS", dev_address)
    monkeypatch.setenv("PARTY_ORDERS_TASK_QUEUE", dev_task_queue)
    return Cli(capsys)


# ---------------------------------------------------------------- a whole order


async def test_order_flow(cli: Cli, tmp_path: Path, dev_client: Client) -> None:
    order_id = unique()
    path = tmp_path / "order.json"
    path.write_text(json.dumps(order_json(order_id)))

    assert await cli("start", str(path)) == 0
    assert f"Tracking order {order_id}" in cli.out

    assert (
        await cli(
            "progress",
            order_id,
            "--percent",
            "40",
            "--milestone",
            "survey",
            "--note",
            "Survey done",
        )
        == 0
    )
    assert "state inProgress, 40% complete" in cli.out
    order = await cli.json("show", order_id)
    assert order["state"] == "inProgress"
    assert order["percentComplete"] == 40
    assert order["lastNote"] == "Survey done"
    assert order["milestones"][0]["status"] == "completed"

    assert await cli("show", order_id) == 0
    assert f"Order {order_id}: 10G backhaul circuit for site 42" in cli.out
    assert "Acme Networks (ACME, supplier)" in cli.out
    assert "inProgress" in cli.out and "40% complete" in cli.out
    assert "survey  Site survey" in cli.out
    assert "Rejected messages: 0" in cli.out

    assert (
        await cli(
            "change",
            order_id,
            "--reason",
            "equipment late",
            "--expected-date",
            "2027-03-01",
            "--milestone",
            "survey=2027-02-01T12:00:00Z",
            "--request-id",
            "CR-flow",
        )
        == 0
    )
    assert f"party-orders resolve {order_id} CR-flow --accept" in cli.out
    assert (
        await cli("resolve", order_id, "CR-flow", "--accept", "--by", "som", "--note", "agreed")
        == 0
    )
    order = await cli.json("show", order_id)
    change, asked = order["changeRequests"]
    assert (change["id"], change["status"], change["resolvedBy"]) == ("CR-flow", "accepted", "som")
    # The new forecast is past the agreed date: the order asks to move that, by itself.
    assert (asked["origin"], asked["changes"]["requestedCompletionDate"]) == (
        "party",
        "2027-03-01T00:00:00Z",
    )
    assert order["requestedCompletionDate"] != "2027-03-01T00:00:00Z"
    assert order["expectedCompletionDate"] == "2027-03-01T00:00:00Z"
    assert order["milestones"][0]["milestoneDate"] == "2027-02-01T12:00:00Z"

    assert await cli("state", order_id, "held", "--reason", "site closed") == 0
    assert f"Order {order_id} is now held: site closed" in cli.out
    assert await cli("state", order_id, "pending", "--reason", "no") == 1
    assert "illegal transition from held to pending" in one_line_error(cli.err)
    assert await cli("state", order_id, "inProgress", "--reason", "site open") == 0

    assert await cli("check-in", order_id, "--by", "order-manager") == 0
    assert "Check-in 1 sent to Acme Networks" in cli.out

    assert await cli("cancel", order_id, "--reason", "not needed", "--by", "ops") == 0
    order = await cli.eventually_json("show", order_id, check=lambda o: o["state"] == "cancelled")
    assert order["cancellation"]["reason"] == "not needed"
    assert order["cancellation"]["requestedBy"] == "ops"

    # Closed: messages are refused with a clear reason. The query shows "cancelled" a moment
    # before the workflow closes, and until then a signal is still taken (and rejected).
    async def closed() -> bool:
        description = await dev_client.get_workflow_handle(track_workflow_id(order_id)).describe()
        return description.status != WorkflowExecutionStatus.RUNNING

    await eventually(closed, timeout=30, what=f"the workflow of {order_id} closed")
    assert await cli("progress", order_id, "--percent", "50") == 1
    assert "is closed" in one_line_error(cli.err)


async def test_start_from_stdin_and_twice(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    order_id = unique()
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(order_json(order_id))))
    assert await cli("start", "-", "--json") == 0
    assert json.loads(cli.out) == {"orderId": order_id, "workflowId": f"party-order-{order_id}"}
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(order_json(order_id))))
    assert await cli("start", "-") == 1
    assert f"order {order_id} is already tracked" in one_line_error(cli.err)


async def test_the_contract_sample_starts(cli: Cli, tmp_path: Path) -> None:
    sample = REPO / "starter" / "samples" / "PO-1001.json"
    data = json.loads(sample.read_text())
    assert data["id"] == "PO-1001" and data["party"]["webhookUrl"] is None
    # Under another id: PO-1001 itself may be in use by other tests on the shared server.
    data["id"] = unique("PO-1001")
    copy = tmp_path / "sample.json"
    copy.write_text(json.dumps(data))
    before = datetime.now(UTC).replace(microsecond=0)
    assert await cli("start", str(copy)) == 0
    after = datetime.now(UTC)
    order = await cli.json("show", data["id"])
    assert order["trackingPolicy"]["checkInInterval"] == "P7D"
    assert order["originatingProcess"] == {"name": "service-order-handling", "reference": "SO-77"}
    # Its dates are relative ("+P34D"): the survey is 34 days after the day it starts, and
    # the order starts healthy whatever the day.
    assert data["milestones"][0]["milestoneDate"] == "+P34D"
    survey = datetime.fromisoformat(order["milestones"][0]["milestoneDate"])
    assert before + timedelta(days=34) <= survey <= after + timedelta(days=34)
    assert order["jeopardy"]["status"] == "none"
    assert await cli("cancel", data["id"], "--reason", "test done") == 0


async def test_a_sample_is_printed_with_absolute_dates_under_any_id(cli: Cli) -> None:
    """What `temporal workflow start --input` and curl take (neither knows "+P34D")."""
    before = datetime.now(UTC).replace(microsecond=0)
    assert await cli("sample", "PO-2002", "--id", "PO-2002-B") == 0, cli.err
    printed = json.loads(cli.out)
    assert printed["id"] == "PO-2002-B"
    permit = datetime.fromisoformat(printed["milestones"][0]["milestoneDate"])
    assert before + timedelta(days=43) <= permit <= datetime.now(UTC) + timedelta(days=43)
    assert await cli("sample", "PO-9999") == 2
    assert "invalid choice: 'PO-9999'" in cli.err


async def test_an_order_in_jeopardy_is_found_and_acknowledged_from_the_cli(
    cli: Cli, tmp_path: Path
) -> None:
    party = unique("Zeta")  # mixed case: "zeta-..." is another party
    order_id = unique()
    order = order_json(order_id, party_id=party)
    order["requestedCompletionDate"] = order["expectedCompletionDate"]
    order["trackingPolicy"] = {"escalation": [{"level": 1, "after": "PT0S", "notify": "lead"}]}
    path = tmp_path / "order.json"
    path.write_text(json.dumps(order))
    assert await cli("start", str(path)) == 0, cli.err
    # The forecast moves past the agreed date: critical at once, level 1 at once.
    assert await cli("progress", order_id, "--expected-date", "+P40D") == 0, cli.err

    listed = await cli.eventually_json(
        "list", "--party", party, "--jeopardy", "hazard,critical", check=lambda rows: rows
    )
    assert [row["orderId"] for row in listed] == [order_id]
    assert await cli("list", "--party", party.lower()) == 0
    assert cli.out.strip() == "" or order_id not in cli.out
    assert f"party ids are case-sensitive, and {party!r} has orders" in cli.err

    assert await cli("ack", order_id, "--by", "lead", "--note", "on it") == 0, cli.err
    assert f"Escalation of {order_id} acknowledged at level 1 by lead" in cli.out
    shown = await cli.json("show", order_id)
    assert shown["jeopardy"]["acknowledgedBy"] == "lead"
    assert shown["jeopardy"]["acknowledgedLevel"] == 1
    assert await cli("cancel", order_id, "--reason", "test done") == 0


async def test_a_due_date_filter_leaves_ended_orders_out_unless_asked(
    cli: Cli, tmp_path: Path
) -> None:
    party = unique("DUE")
    order_id = unique()
    path = tmp_path / "order.json"
    path.write_text(json.dumps(order_json(order_id, party_id=party)))
    assert await cli("start", str(path)) == 0, cli.err
    assert await cli("cancel", order_id, "--reason", "no longer needed") == 0, cli.err
    await cli.eventually_json(
        "list", "--party", party, "--state", "cancelled", check=lambda rows: rows
    )
    assert await cli.json("list", "--party", party, "--due-before", "+P60D") == []
    ended = await cli.json("list", "--party", party, "--due-before", "+P60D", "--include-ended")
    assert [row["orderId"] for row in ended] == [order_id]


# ---------------------------------------------------------------- failures


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"id": "PO-1", "party": ', "is not valid JSON: Expecting value (line 1, column 25)"),
        ("[1, 2]", "a party order must be a JSON object"),
        (
            '{"id": "PO-1", "party": {"id": "ACME"},'
            ' "expectedCompletionDate": "2027-01-10T00:00:00Z"}',
            "invalid party order: party.name: is required",
        ),
        (
            '{"id": "PO-1", "party": {"id": "A", "name": "B"}}',
            "one of requestedCompletionDate or expectedCompletionDate is required",
        ),
        (
            '{"id": "PO-1", "party": {"id": "A", "name": "B", "role": "boss"},'
            ' "expectedCompletionDate": "2027-01-10T00:00:00Z"}',
            "party.role: 'boss' is not one of customer, supplier, partner",
        ),
    ],
)
async def test_bad_order_file_is_bad_input(
    cli: Cli, tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    assert await cli("start", str(path)) == 2
    assert expected in one_line_error(cli.err)
    assert cli.out == ""


async def test_missing_file_is_bad_input(cli: Cli, tmp_path: Path) -> None:
    assert await cli("start", str(tmp_path / "nope.json")) == 2
    assert "cannot read" in one_line_error(cli.err)


@pytest.mark.parametrize(
    "argv",
    [
        ["show", "{id}"],
        ["show", "{id}", "--json"],
        ["progress", "{id}", "--percent", "5"],
        ["state", "{id}", "held", "--reason", "x"],
        ["cancel", "{id}", "--reason", "x"],
        ["resolve", "{id}", "CR-1", "--reject"],
    ],
)
async def test_unknown_order_is_exit_3(cli: Cli, argv: list[str]) -> None:
    missing = unique("NOPE")
    assert await cli(*[arg.replace("{id}", missing) for arg in argv]) == 3
    assert f"no order {missing} is tracked" in one_line_error(cli.err)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["progress", "PO-1"], "a progress report needs at least one of"),
        (["progress", "PO-1", "--percent", "101"], "percentComplete"),
        (["progress", "PO-1", "--percent", "ten"], "argument --percent: invalid int value"),
        (["progress", "PO-1", "--expected-date", "soon"], "--expected-date: 'soon' is not"),
        (["progress", "PO-1", "--milestone", "=x"], "--milestone: expected ID"),
        (["progress", "PO-1", "--milestone", "s=done"], "milestones.0.status"),
        (["change", "PO-1"], "changes must name at least one field"),
        (["change", "PO-1", "--milestone", "survey"], "--milestone: expected ID=DATE"),
        (["state", "PO-1", "completed", "--reason", "x"], "argument STATE: invalid choice"),
        (["state", "PO-1", "held"], "the following arguments are required: --reason"),
        (["cancel", "PO-1"], "the following arguments are required: --reason"),
        (["resolve", "PO-1", "CR-1"], "one of the arguments --accept --reject is required"),
        (["show", "bad id!"], "order id 'bad id!' is invalid"),
        (["list", "--state", "nonsense"], "state: 'nonsense' is not one of"),
        (["list", "--jeopardy", "red"], "jeopardy: 'red' is not one of none, hazard, critical"),
        (["list", "--level", "high"], "level: expected a whole number"),
        (["list", "--due-before", "tomorrow"], "due before: 'tomorrow' is not an ISO 8601"),
        (["list", "--party", "a\nb"], "party: control characters are not allowed"),
        (["fly"], "invalid choice: 'fly'"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
async def test_bad_input_is_exit_2_in_one_line(cli: Cli, argv: list[str], expected: str) -> None:
    assert await cli(*argv) == 2
    assert expected in one_line_error(cli.err)


async def test_help_is_exit_0(cli: Cli) -> None:
    assert await cli("--help") == 0
    for command in (
        "up",
        "worker",
        "start",
        "show",
        "list",
        "progress",
        "change",
        "resolve",
        "state",
        "cancel",
        "check-in",
        "report",
        "demo",
    ):
        assert command in cli.out
    assert await cli("list", "--help") == 0
    assert "--due-before" in cli.out


async def test_unreachable_server_is_exit_4_fast(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("PARTY_ORDERS_CONNECT_TIMEOUT", "2")
    for argv in (["show", "PO-1"], ["list"], ["report"], ["progress", "PO-1", "--percent", "1"]):
        started = time.monotonic()
        assert await cli(*argv) == 4
        assert time.monotonic() - started < 5
        line = one_line_error(cli.err)
        assert "cannot reach the Temporal service at 127.0.0.1:" in line
        assert "connection refused" in line


# ---------------------------------------------------------------- list and report


async def test_list_with_an_injection_attempt(cli: Cli, tmp_path: Path) -> None:
    party = unique("PARTY")
    mine, other = unique(), unique()
    for order_id, party_id in ((mine, party), (other, unique("ELSE"))):
        path = tmp_path / f"{order_id}.json"
        path.write_text(json.dumps(order_json(order_id, party_id)))
        assert await cli("start", str(path)) == 0

    rows = await cli.eventually_json("list", "--party", party, check=lambda rows: len(rows) == 1)
    assert rows[0]["orderId"] == mine
    assert rows[0]["partyId"] == party
    assert rows[0]["state"] == "acknowledged"

    for attack in (
        f'{party}" OR PartyId != "',
        f'{party}\\" OR PartyId != \\"',
        f"{party}' OR PartyId != '",
        '" OR WorkflowType = "TrackPartyOrder',
    ):
        assert await cli.json("list", "--party", attack) == []
    assert await cli.json("list", "--process", 'x" OR OriginatingProcess != "') == []

    assert await cli("list", "--party", party, "--state", "acknowledged", "--open") == 0
    assert mine in cli.out and other not in cli.out
    assert "ORDER" in cli.out and "acknowledged" in cli.out
    assert await cli("list", "--party", unique("NOBODY")) == 0
    assert "No orders match." in cli.out


async def test_report(cli: Cli) -> None:
    report = await cli.json("report")
    assert set(report) >= {"generatedAt", "total", "open", "byState", "byJeopardy", "attention"}
    assert set(report["byJeopardy"]) == {"none", "hazard", "critical"}
    assert await cli("report") == 0
    assert "By state (all orders)" in cli.out
    assert "Needing attention" in cli.out


async def test_demo_starts_its_orders(cli: Cli) -> None:
    assert await cli("demo", "--no-script") == 0
    ids = [line.strip() for line in cli.out.splitlines() if line.startswith("  DEMO-")]
    assert [i.split("-")[1] for i in ids] == ["DELIVER", "CRITICAL", "CANCEL", "CHANGE", "CALENDAR"]
    order = await cli.json("show", ids[1])
    assert order["trackingPolicy"]["checkInInterval"] == "PT20S"
    assert order["party"]["id"] == "INITECH"
    # The calendar party's day is over: its first check-in waits for its 09:00, hours away,
    # though its interval is a minute.
    calendar = await cli.json("show", ids[4])
    zone = ZoneInfo(calendar["party"]["calendar"]["timeZone"])
    first = datetime.fromisoformat(calendar["checkIns"]["nextAt"]).astimezone(zone)
    assert first.time() == clock(9) and first - datetime.now(zone) > timedelta(hours=11)
    # A second demo replaces the first: its orders left open are cancelled, not piled up.
    assert await cli("demo", "--no-script") == 0
    again = [line.strip() for line in cli.out.splitlines() if line.startswith("  DEMO-")]
    assert len(again) == 5 and not set(again) & set(ids)
    for order_id in ids:
        replaced = await cli.eventually_json(
            "show", order_id, check=lambda o: o["state"] in ("pendingCancellation", "cancelled")
        )
        assert replaced["cancellation"]["reason"] == "replaced by a new demo run"
    for order_id in again:
        assert await cli("cancel", order_id, "--reason", "test done") == 0


# ---------------------------------------------------------------- up


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "PARTY_ORDERS_"))}
    env.update(extra)
    return env


@pytest.fixture
def up_process() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes started by a test; any still running at the end are killed."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def _start_up(
    data_dir: Path, port: int, ui_port: int, task_queue: str, *more: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "starter",
            "up",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
            "--ui-port",
            str(ui_port),
            *(more or ("--no-api",)),
        ],
        cwd=REPO,
        env=_env(PARTY_ORDERS_TASK_QUEUE=task_queue),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


async def _wait_for_ui(process: subprocess.Popen[str], ui_port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            try:
                response = await http.get(f"http://localhost:{ui_port}/", timeout=2)
                if response.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.3)
    raise AssertionError("the Web UI did not answer")


async def _stop(process: subprocess.Popen[str], signum: int) -> tuple[int, str, float]:
    started = time.monotonic()
    process.send_signal(signum)
    code = await asyncio.to_thread(process.wait, 30)
    output = process.stdout.read() if process.stdout else ""
    return code, output, time.monotonic() - started


def _port_closed(port: int) -> bool:
    try:
        with socket.create_connection(("localhost", port), timeout=0.5):
            return False
    except OSError:
        return True


async def test_up_serves_ui_and_worker_and_stops_cleanly(
    tmp_path: Path, up_process: list[subprocess.Popen[str]]
) -> None:
    data_dir = tmp_path / "data"
    port, ui_port = free_port(), free_port()
    task_queue = unique("up-test")
    up = _start_up(data_dir, port, ui_port, task_queue)
    up_process.append(up)
    await _wait_for_ui(up, ui_port)

    # The worker inside `up` runs orders started on its task queue.
    client = await _pydantic_client(port)
    orders = PartyOrderClient(client, task_queue)
    order_id = unique()
    await orders.start(order_json(order_id))
    assert (await orders.get(order_id)).state == "acknowledged"
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace="default")
    )
    assert {key.name for key in CONTRACT_SEARCH_ATTRIBUTES} <= set(listed.custom_attributes)

    # A second `up` on the same stack names the running one and where to reach it.
    second = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "starter", "up", "--data-dir", str(data_dir), "--port",
         str(port), "--ui-port", str(ui_port), "--no-api"],
        cwd=REPO, env=_env(PARTY_ORDERS_TASK_QUEUE=task_queue), capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert second.returncode == 1, second.stdout + second.stderr
    assert f"by the running `party-orders up` of {data_dir} (pid {up.pid})" in second.stderr
    assert f"its Web UI is http://localhost:{ui_port}" in second.stderr
    assert "left running" not in second.stderr

    code, output, took = await _stop(up, signal.SIGINT)
    assert code == 0, output
    assert took < 20, output
    assert "Stopping the worker" in output or "Stopping the Temporal dev server" in output
    assert "Traceback" not in output
    assert _port_closed(port) and _port_closed(ui_port)
    assert (data_dir / "temporal.db").exists()

    # Again on the same database: the order is still there, the attributes still work.
    again = _start_up(data_dir, port, ui_port, task_queue)
    up_process.append(again)
    await _wait_for_ui(again, ui_port)
    orders = PartyOrderClient(await _pydantic_client(port), task_queue)
    assert (await orders.get(order_id)).id == order_id
    code, output, took = await _stop(again, signal.SIGTERM)
    assert code == 0, output
    assert _port_closed(port)


async def _pydantic_client(port: int) -> Client:
    """A client of up's server. The Web UI can answer a moment before the server's
    frontend reports healthy, so a connect refused as "not healthy yet" is tried again."""
    from temporalio.contrib.pydantic import pydantic_data_converter

    deadline = time.monotonic() + 30
    while True:
        try:
            return await Client.connect(f"localhost:{port}", data_converter=pydantic_data_converter)
        except RuntimeError as error:
            if "not healthy" not in str(error) or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def test_up_refuses_a_taken_port(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = await asyncio.to_thread(
            subprocess.run,
            [
                sys.executable,
                "-m",
                "starter",
                "up",
                "--data-dir",
                str(tmp_path),
                "--port",
                str(port),
                "--ui-port",
                str(free_port()),
            ],
            cwd=REPO,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"port {port} (gRPC) on localhost is already in use" in result.stderr
    # It names the holder (this test's own process) and how to stop it.
    assert f"by pid {os.getpid()}" in result.stderr and f"kill {os.getpid()}" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGKILL], ids=["SIGHUP", "SIGKILL"])
async def test_up_leaves_no_server_behind(
    tmp_path: Path, up_process: list[subprocess.Popen[str]], signum: int
) -> None:
    """Closing the terminal (SIGHUP) stops up cleanly; killing it (SIGKILL) still stops
    its server (the kernel's parent-death signal), so the next up finds its ports free."""
    data_dir = tmp_path / "data"
    port, ui_port = free_port(), free_port()
    task_queue = unique("up-gone")
    up = _start_up(data_dir, port, ui_port, task_queue)
    up_process.append(up)
    await _wait_for_ui(up, ui_port)
    # Serving: its worker answers an order (so the signal does not land mid-start).
    orders = PartyOrderClient(await _pydantic_client(port), task_queue)
    order_id = unique()
    await orders.start(order_json(order_id))
    assert (await orders.get(order_id)).state == "acknowledged"
    # up made the morning digest's schedule.
    described = await asyncio.to_thread(
        subprocess.run,
        [
            temporal_cli_path(),
            *("schedule", "describe", "--schedule-id", "party-orders-digest"),
            *("--address", f"localhost:{port}"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert described.returncode == 0 and "PartyOrderDigest" in described.stdout, described
    server_pid = int((data_dir / "temporal-server.pid").read_text())
    up.send_signal(signum)
    await asyncio.to_thread(up.wait, 30)
    deadline = time.monotonic() + 20
    while not (_port_closed(port) and _port_closed(ui_port)):
        assert time.monotonic() < deadline, f"ports still open after {signal.Signals(signum).name}"
        await asyncio.sleep(0.2)
    while Path(f"/proc/{server_pid}").exists() and "zombie" not in _process_state(server_pid):
        assert time.monotonic() < deadline, "the server process is still running"
        await asyncio.sleep(0.2)
    if signum == signal.SIGHUP:
        assert up.returncode == 0
        assert not (data_dir / "temporal-server.pid").exists()


def _process_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return "zombie"


async def test_search_attributes_are_added_to_an_existing_database(tmp_path: Path) -> None:
    """``start-dev`` ignores --search-attribute on an existing file; ``up`` adds them."""
    config = DevServerConfig(
        data_dir=tmp_path, port=free_port(), ui_port=free_port(), headless=True
    )
    # A database made without the tracker's attributes.
    bare = server_command(config, temporal_cli_path(), with_search_attributes=False)
    process = subprocess.Popen(bare, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                client = await Client.connect(config.address)
                await client.operator_service.list_search_attributes(
                    ListSearchAttributesRequest(namespace="default")
                )
                break
            except Exception:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.3)
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace="default")
        )
        assert "PartyOrderState" not in listed.custom_attributes
    finally:
        process.terminate()
        process.wait(timeout=20)

    server = DevServer(config)
    try:
        client = await server.start()
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace="default")
        )
        assert {key.name for key in CONTRACT_SEARCH_ATTRIBUTES} <= set(listed.custom_attributes)
    finally:
        assert await server.stop_async() is not None
    assert not server.running


async def test_worker_command_runs_orders_and_stops_on_sigterm(
    dev_address: str, dev_client: Client, tmp_path: Path
) -> None:
    task_queue = unique("worker-cmd")
    outbox = tmp_path / "outbox.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "starter", "worker"],
        cwd=REPO,
        env=_env(
            TEMPORAL_ADDRESS=dev_address,
            PARTY_ORDERS_TASK_QUEUE=task_queue,
            PARTY_ORDERS_OUTBOX=str(outbox),
            # Outside `up` the worker needs one (it signs every webhook).
            PARTY_ORDERS_WEBHOOK_MASTER_SECRET="a-master-secret-for-the-test",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        orders = PartyOrderClient(dev_client, task_queue)
        order_id = unique()
        await orders.start(order_json(order_id))
        deadline = time.monotonic() + 30
        while True:  # the worker process takes a moment to start polling
            try:
                order = await orders.get(order_id)
                break
            except PartyOrderError:
                assert process.poll() is None and time.monotonic() < deadline
                await asyncio.sleep(0.3)
        assert order.state == "acknowledged"
        # Cancelling needs the notification activity, run by the worker process.
        await orders.cancel(order_id, {"reason": "test done"})
        deadline = time.monotonic() + 20
        while (await orders.get(order_id)).state != "cancelled":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.2)
        assert order_id in outbox.read_text()

        code, output, took = await _stop(process, signal.SIGTERM)
        assert code == 0, output
        assert took < 15
        assert f"Worker polling task queue '{task_queue}'" in output
        assert "Worker stopped" in output
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def test_a_state_change_with_no_worker_is_queued_and_safe_to_repeat(
    cli: Cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    dev_client: Client,
) -> None:
    # A task queue no worker polls yet: the update is taken by Temporal, not applied.
    task_queue = unique("no-worker")
    monkeypatch.setenv("PARTY_ORDERS_TASK_QUEUE", task_queue)
    monkeypatch.setenv("PARTY_ORDERS_ANSWER_TIMEOUT", "2")
    order_id = unique()
    path = tmp_path / "order.json"
    path.write_text(json.dumps(order_json(order_id)))
    assert await cli("start", str(path)) == 0, cli.err

    code = await cli("state", order_id, "pending", "--reason", "waiting for a floor plan")
    assert code == 5, cli.err
    assert "Queued:" in cli.out and "applies when a worker runs" in cli.out
    repeat = cli.out.split("To confirm later: ")[-1].strip()
    argv = shlex.split(repeat)
    assert argv[:4] == ["party-orders", "state", order_id, "pending"], repeat
    request_id = argv[argv.index("--request-id") + 1]
    assert len(request_id) == 36, cli.out  # the generated UUID, to repeat the command with
    assert argv[argv.index("--reason") + 1] == "waiting for a floor plan"

    worker = build_worker(
        dev_client, task_queue, settings=NotificationSettings(outbox_path=tmp_path / "o.jsonl")
    )
    async with worker:
        await cli.eventually_json("show", order_id, check=lambda o: o["state"] == "pending")
        # The printed command, run again: success, applied once.
        code = await cli(*argv[1:])
        assert code == 0, cli.err
        assert f"Order {order_id} is now pending" in cli.out
        order = await cli.json("show", order_id)
    assert [s["to"] for s in order["stateHistory"]] == ["acknowledged", "pending"]
    assert order["stateReason"] == "waiting for a floor plan"


async def test_an_ended_order_is_tracked_again_only_when_asked(cli: Cli, tmp_path: Path) -> None:
    order_id, party = unique(), unique("AGAIN")
    path = tmp_path / "order.json"
    path.write_text(json.dumps(order_json(order_id, party_id=party)))
    assert await cli("start", str(path)) == 0
    assert await cli("progress", order_id, "--delivered") == 0
    await cli.eventually_json("show", order_id, check=lambda o: o["state"] == "completed")

    async def closed() -> bool:
        assert await cli("list", "--party", party, "--json", "--history") == 0
        runs = [o for o in json.loads(cli.out) if o["orderId"] == order_id]
        return bool(runs) and runs[0]["status"] == "completed"

    deadline = time.monotonic() + 20
    while not await closed():  # the workflow closes once its close process is informed
        assert time.monotonic() < deadline
        await asyncio.sleep(0.2)

    assert await cli("start", str(path)) == 1
    error = one_line_error(cli.err)
    assert f"order {order_id} was tracked before: it ended completed on" in error
    assert "--again" in error

    assert await cli("start", str(path), "--again") == 0
    assert f"Tracking order {order_id}" in cli.out
    # Listed once (its newest tracking), unless the history is asked for.
    rows = [o for o in await cli.json("list", "--party", party) if o["orderId"] == order_id]
    assert [row["status"] for row in rows] == ["running"]
    history = await cli.json("list", "--party", party, "--history")
    assert sorted(o["status"] for o in history if o["orderId"] == order_id) == [
        "completed",
        "running",
    ]
    # The report counts the order once too (its newest tracking), or every tracking.
    report = await cli.eventually_json(
        "report", "--party", party, "--json", check=lambda r: r["open"] == 1
    )
    assert (report["total"], report["byState"]["acknowledged"]) == (1, 1), report
    assert report["byState"]["completed"] == 0, report
    runs = await cli.json("report", "--party", party, "--history", "--json")
    assert (runs["total"], runs["open"], runs["byState"]["completed"]) == (2, 1, 1), runs
    assert await cli("cancel", order_id, "--reason", "test done") == 0


async def test_show_says_why_an_order_failed_at_start(cli: Cli, dev_client: Client) -> None:
    order_id = unique()
    bad = order_json(order_id)
    bad["trackingPolicy"] = {"checkInInterval": "weekly"}
    # The CLI and client refuse such a start; another starter need not.
    handle = await dev_client.start_workflow(
        "TrackPartyOrder",
        bad,
        id=f"party-order-{order_id}",
        task_queue=os.environ["PARTY_ORDERS_TASK_QUEUE"],
    )
    with pytest.raises(Exception):  # noqa: B017 - the workflow fails, as it should
        await handle.result()
    assert await cli("show", order_id) == 1
    error = one_line_error(cli.err)
    assert f"order {order_id} failed: invalid party order" in error
    assert "trackingPolicy.checkInInterval" in error


async def test_show_says_tracking_was_terminated(
    cli: Cli, dev_client: Client, tmp_path: Path
) -> None:
    """Temporal's Terminate ends tracking with nobody told: ``show`` says so before the
    order as last known, which still reads as open."""
    order_id = unique()
    path = tmp_path / "order.json"
    path.write_text(json.dumps(order_json(order_id)))
    assert await cli("start", str(path)) == 0, cli.err
    assert await cli("show", order_id) == 0, cli.err
    assert cli.out.startswith(f"Order {order_id}"), cli.out  # nothing to warn of yet
    await dev_client.get_workflow_handle(f"party-order-{order_id}").terminate(
        reason="operator stopped it"
    )
    assert await cli("show", order_id) == 0, cli.err
    first = cli.out.splitlines()[0]
    assert first.startswith("Tracking terminated (operator stopped it):"), cli.out
    assert f"Order {order_id}" in cli.out
    # Starting it again says how it ended: terminated, not "ended acknowledged".
    assert await cli("start", str(path)) != 0
    assert "its tracking was terminated on" in cli.err
    assert "when it was acknowledged" in cli.err


async def test_a_date_time_without_an_offset_is_refused(cli: Cli) -> None:
    code = await cli("progress", unique(), "--expected-date", "2027-02-01T00:00:00")
    assert code == 2
    error = one_line_error(cli.err)
    assert "'2027-02-01T00:00:00' has no offset" in error
    assert "2027-02-01T00:00:00Z" in error


async def test_a_closed_pipe_ends_quietly(cli: Cli, dev_address: str) -> None:
    """`party-orders show ID --json | head -c 100`: the reader leaves early. The order's
    JSON is far larger than a pipe's buffer, so the writer meets the closed pipe."""
    order_id = unique()
    order = order_json(order_id)
    order["milestones"] = [
        {"id": f"m{n}", "name": "x" * 900, "milestoneDate": "2027-01-01T00:00:00Z"}
        for n in range(150)
    ]
    path = REPO / "tests" / "output" / f"{order_id}.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(order))
    try:
        assert await cli("start", str(path)) == 0, cli.err
    finally:
        path.unlink()
    result = await asyncio.to_thread(
        subprocess.run,
        [
            "bash",
            "-c",
            f"set -o pipefail; {sys.executable} -m starter show {order_id} --json"
            " | head -c 100 >/dev/null",
        ],
        cwd=REPO,
        env=_env(
            TEMPORAL_ADDRESS=dev_address,
            PARTY_ORDERS_TASK_QUEUE=os.environ["PARTY_ORDERS_TASK_QUEUE"],
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode in (0, 141), result.stderr
    assert result.stderr == ""
    assert await cli("cancel", order_id, "--reason", "test done") == 0


async def test_resolve_explains_accept_and_reject(cli: Cli) -> None:
    assert await cli("resolve", "--help") == 0
    assert "accept: the changes are applied" in cli.out
    assert "reject: the order stays as it is" in cli.out


async def test_a_three_item_order_is_followed_item_by_item(cli: Cli, tmp_path: Path) -> None:
    order_id = unique()
    now = datetime.now(UTC)
    order = {
        "id": order_id,
        "party": {"id": "ACME", "name": "Acme Networks"},
        "orderItems": [
            {"id": "1", "description": "10G circuit", "quantity": 2},
            {"id": "2", "description": "edge router"},
            {"id": "3", "description": "spare rack"},
        ],
        "requestedCompletionDate": iso(now + timedelta(days=60)),
        "milestones": [
            {"id": "router", "milestoneDate": iso(now + timedelta(days=30)), "orderItemIds": ["2"]}
        ],
        "checkpoints": [
            {"id": "design", "name": "Design review", "date": iso(now + timedelta(days=5))}
        ],
    }
    path = tmp_path / "order.json"
    path.write_text(json.dumps(order))
    assert await cli("start", str(path)) == 0
    late = iso(now + timedelta(days=70))
    assert (
        await cli(
            "progress",
            order_id,
            "--item",
            "1",
            "state=inProgress",
            "percent=50",
            "--item",
            "2",
            f"expected={late}",
            "note=held at customs",
        )
        == 0
    ), cli.err
    assert "state inProgress, 25% complete" in cli.out
    shown = await cli.eventually_json(
        "show", order_id, check=lambda o: o["jeopardy"]["status"] == "critical"
    )
    assert shown["orderItems"][1]["expectedCompletionDate"] == late
    assert shown["jeopardyAlerts"][-1]["orderItem"] == [{"id": "2"}]
    assert await cli("show", order_id) == 0
    assert "1   10G circuit  2    inProgress    50%" in cli.out
    assert "Checkpoint   next: checkpoint design check-in at" in cli.out
    assert "Acme Networks: Order item 2: held at customs" in cli.out
    assert "[items 2]" in cli.out

    assert await cli("progress", order_id, "--item", "1", "colour=red") == 2
    assert "--item 1: expected KEY=VALUE with KEY one of state, percent" in one_line_error(cli.err)
    assert await cli("progress", order_id, "--item", "9", "state=held") == 1
    assert "orderItems: unknown order item '9'" in one_line_error(cli.err)

    assert (
        await cli(
            "change",
            order_id,
            "--request-id",
            "CR-3",
            "--cancel-item",
            "3",
            "--remove-checkpoint",
            "design",
        )
        == 0
    )
    assert await cli("resolve", order_id, "CR-3", "--accept") == 0
    assert (
        await cli(
            "progress", order_id, "--item", "1", "state=completed", "--item", "2", "state=completed"
        )
        == 0
    ), cli.err
    assert "state partial, 100% complete" in cli.out
    final = await cli.json("show", order_id)
    assert final["state"] == "partial"
    assert [i["state"] for i in final["orderItems"]] == ["completed", "completed", "cancelled"]
    assert final["checkpoints"] == []
