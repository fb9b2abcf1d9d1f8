"""The docs, run as written: the README's tour and the shell blocks of every page in docs/.

Every ``sh`` block of the README and of ``docs/*.md`` either runs (here, or in the test
named for it) or is listed with the reason it cannot, so a block added to a page without
a way to run it fails ``test_every_shell_block_runs_or_says_why``.

The tour runs with a worker on the README's task queue (`party-orders`) against a dev
server of this test's own (the tour's fixed order ids must not meet other tests' orders).
Each command must succeed, and what the tour says it does must show in the orders
afterwards.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from dataclasses import dataclass
from datetime import date, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.settings import NotificationSettings
from starter.client import PartyOrderClient
from starter.local.binaries import temporal_cli_path
from starter.schedules import ensure_digest_schedule
from tests.support.processes import run_bash
from worker import build_worker
from workflows.visibility import CONTRACT_SEARCH_ATTRIBUTES

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
HTTP_API = REPO / "docs" / "http-api.md"
# The README and every page under docs/: each one's shell blocks are accounted for below.
DOCS = [README, *sorted((REPO / "docs").glob("*.md"))]

# Where each shell block runs, by its page and the start of its first command: a test of
# this file, or another test file that reads the block from that page.
RUNS: dict[tuple[str, str], str] = {
    ("README.md", "party-orders start starter/samples/PO-1001.json"): (
        "test_the_tour_runs_as_written"
    ),
    ("docs/http-api.md", "party-orders api-key create"): "test_the_key_commands_run_as_written",
    ("docs/http-api.md", "API=http://127.0.0.1:8080"): "tests/integration/test_api_cli.py",
    ("docs/http-api.md", 'curl -X POST "$API/hub"'): "tests/integration/test_api_cli.py",
    ("docs/http-api.md", "party-orders start starter/samples/PO-1001.json --again"): (
        "test_the_emailed_link_flow_runs_as_written"
    ),
}
# The blocks that cannot run in a test, and why (what covers their claim instead).
NOT_RUN: dict[tuple[str, str], str] = {
    ("README.md", "./dev up"): "the two commands themselves: CI runs ./dev test",
    ("docs/operations.md", "export TEMPORAL_ADDRESS=temporal.internal"): (
        "needs a self-hosted cluster; the search attributes are registered the same way by"
        " the test servers"
    ),
    ("docs/operations.md", "export TEMPORAL_ADDRESS=<region>"): "needs a Temporal Cloud account",
    ("docs/operations.md", "PARTY_ORDERS_METRICS_PORT=9464 python worker.py"): (
        "a worker that runs until stopped; tests/integration/test_metrics.py scrapes its exporter"
    ),
    ("docs/privacy.md", "export PARTY_ORDERS_ENCRYPTION_KEYS="): (
        "./dev up runs until stopped;"
        " tests/integration/test_encrypted_orders.py runs encrypted orders"
    ),
    ("docs/privacy.md", "party-orders codec-server [--port"): (
        "a synopsis with optional arguments; tests/integration/test_codec_server.py runs the server"
    ),
    ("docs/versioning.md", "PARTY_ORDERS_BUILD_ID="): (
        "a rollout across two worker builds on a server with Worker Deployments"
    ),
}

# What each command of the tour prints, as the README describes it (command prefix ->
# a phrase its output must contain).
SAYS = {
    "party-orders start starter/samples/PO-1001.json": "Tracking order PO-1001",
    "party-orders progress PO-1001 --percent 20": "state inProgress, 20% complete",
    "party-orders resolve PO-1001 CR-1 --accept": "Change request CR-1 on PO-1001 accepted",
    "party-orders resolve PO-1001 CR-2 --accept": "Change request CR-2 on PO-1001 accepted",
    "party-orders state PO-1001 held": "Order PO-1001 is now held: site access blocked",
    "party-orders state PO-1001 inProgress": "Order PO-1001 is now inProgress",
    "temporal workflow update execute": "state:pending",
    "party-orders show PO-1001 --json": '"id": "PO-1001"',
    "party-orders show PO-1001": "Order PO-1001: 10G backhaul circuit for site 42",
    "party-orders check-in PO-1001": "sent to Acme Networks",
    "party-orders cancel PO-2002": "Cancellation of PO-2002 accepted",
    "party-orders start starter/samples/PO-3003.json": "Tracking order PO-3003",
    "party-orders start starter/samples/PO-4004.json": "Tracking order PO-4004",
    "party-orders state PO-4004 held": "Order PO-4004 is now held",
    "party-orders show PO-4004 --json": '"pausedFor"',
    "party-orders show PO-4004": "Clock stopped: held since",
    "party-orders digest run": "Digest run triggered",
    "temporal schedule describe": "PartyOrderDigest",
    "party-orders start starter/samples/PO-5005.json": "Tracking order PO-5005",
    "party-orders progress PO-5005 --item 1 state=inProgress": "state inProgress, 25% complete",
    "party-orders resolve PO-5005 CR-rack --accept": "Change request CR-rack on PO-5005 accepted",
    "party-orders progress PO-5005 --item 1 state=completed": "state partial, 100% complete",
}


@dataclass(frozen=True)
class ShellBlock:
    doc: str  # the page, relative to the repository
    text: str

    @property
    def first_command(self) -> str:
        return commands_in(self.text)[0]


def shell_blocks(doc: Path) -> list[ShellBlock]:
    """Every ``sh`` block of a page, in order."""
    name = doc.relative_to(REPO).as_posix()
    text = doc.read_text(encoding="utf-8")
    return [ShellBlock(name, m.group(1)) for m in re.finditer(r"```sh\n(.*?)```", text, re.DOTALL)]


def tour_commands() -> list[str]:
    """The shell commands of the README's tour block, continuation lines joined."""
    return commands_after("## A tour")


def commands_after(heading: str, doc: Path = README) -> list[str]:
    """The shell commands of the first sh block after ``heading`` in ``doc``, continuation
    lines joined, comments and blank lines left out."""
    text = doc.read_text(encoding="utf-8")
    section = text[text.index(heading) :]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None, f"no sh block after {heading!r} in {doc.name}"
    return commands_in(block.group(1))


def commands_in(block: str) -> list[str]:
    commands: list[str] = []
    pending = ""
    for line in block.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        commands.append(pending + line)
        pending = ""
    return commands


def accounted_for(block: ShellBlock) -> str | None:
    """Where the block runs, or why it cannot; None when the docs' tests do not know it."""
    for table in (RUNS, NOT_RUN):
        for (doc, start), where in table.items():
            if doc == block.doc and block.first_command.startswith(start):
                return where
    return None


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: doc.relative_to(REPO).as_posix())
def test_every_shell_block_runs_or_says_why(doc: Path) -> None:
    for block in shell_blocks(doc):
        assert accounted_for(block) is not None, (
            f"{block.doc}: the sh block starting {block.first_command!r} neither runs in a"
            " test nor is listed in NOT_RUN with the reason it cannot"
        )


def test_every_listed_block_is_in_its_page() -> None:
    """A block listed in RUNS or NOT_RUN that a page no longer has is a stale entry; a
    block said to run elsewhere is read from its page by that test."""
    blocks = [block for doc in DOCS for block in shell_blocks(doc)]
    for doc, start in [*RUNS, *NOT_RUN]:
        assert any(b.doc == doc and b.first_command.startswith(start) for b in blocks), (
            f"{doc} has no sh block starting {start!r}"
        )
    for (doc, _), where in RUNS.items():
        if where.startswith("tests/"):
            assert doc in (REPO / where).read_text(encoding="utf-8"), f"{where} does not read {doc}"
        else:
            assert callable(globals().get(where)), f"no test {where} in this file"


def test_the_tour_is_found_whole() -> None:
    commands = tour_commands()
    assert commands[0] == "party-orders start starter/samples/PO-1001.json"
    assert commands[-1].startswith("party-orders cancel PO-2002")
    assert len(commands) == 35
    for prefix in SAYS:
        assert any(command.startswith(prefix) for command in commands), prefix


@pytest.mark.slow
async def test_the_tour_runs_as_written(tmp_path: Path) -> None:
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        search_attributes=CONTRACT_SEARCH_ATTRIBUTES,
        dev_server_existing_path=temporal_cli_path(),
    )
    try:
        worker = build_worker(
            env.client,
            "party-orders",
            settings=NotificationSettings(outbox_path=tmp_path / "outbox.jsonl"),
        )
        address = env.client.service_client.config.target_host
        shell_env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("TEMPORAL_", "PARTY_ORDERS_"))
        }
        # The README's shell has the project's venv active: its party-orders and temporal.
        bin_dir = str(Path(temporal_cli_path()).parent)
        shell_env.update(TEMPORAL_ADDRESS=address, PATH=f"{bin_dir}:{shell_env['PATH']}")
        async with worker:
            # As `party-orders up` does before the tour.
            await ensure_digest_schedule(env.client, "party-orders")
            for command in tour_commands():
                result = await run_bash(command, cwd=REPO, env=shell_env)
                assert result.returncode == 0, f"{command}\n{result.stdout}{result.stderr}"
                for prefix, phrase in SAYS.items():
                    if command.startswith(prefix) and (
                        prefix != "party-orders show PO-1001" or "--json" not in command
                    ):
                        assert phrase in result.stdout, f"{command}\n{result.stdout}"
                        break
            orders = PartyOrderClient(env.client, "party-orders")
            delivered = await orders.get("PO-1001")
            calendar_order = await orders.get("PO-3003")
            paused_order = await orders.get("PO-4004")
            items_order = await orders.get("PO-5005")
            cancelled = None
            for _ in range(100):  # the cancellation takes effect once the party is told
                cancelled = await orders.get("PO-2002")
                if cancelled.state == "cancelled":
                    break
                await asyncio.sleep(0.1)
        assert delivered.state == "completed" and delivered.percent_complete == 100
        change = delivered.change_request("CR-1")
        assert change is not None and change.status == "accepted"
        # CR-2 was the order's own: the forecast past the agreed date, put to the process.
        agreed = delivered.change_request("CR-2")
        assert agreed is not None and agreed.status == "accepted"
        assert agreed.changes.requested_completion_date == delivered.requested_completion_date
        assert [s.to_state for s in delivered.state_history][:5] == [
            "acknowledged",
            "inProgress",
            "held",
            "inProgress",
            "pending",
        ]
        assert delivered.check_ins.sent >= 1
        # The three-item order: item 2 was late by name, item 3 cancelled by an agreed
        # change, and the order ended partial with items 1 and 2 delivered.
        assert items_order.state == "partial"
        assert [(i.id, i.state) for i in items_order.order_items] == [
            ("1", "completed"),
            ("2", "completed"),
            ("3", "cancelled"),
        ]
        late = [a for a in items_order.jeopardy_alerts if a.order_item]
        assert late and [ref.id for ref in late[0].order_item or []] == ["2"]
        assert [n.text for n in items_order.notes] == ["Order item 2: router held at customs"]
        assert cancelled is not None and cancelled.state == "cancelled"
        assert cancelled.cancellation is not None
        assert cancelled.cancellation.reason == "site decommissioned"
        # The calendar's country holidays were resolved into dates at start, and the first
        # check-in is in the party's working time (09:00 to 17:00 in Munich, a weekday).
        assert calendar_order.party.calendar is not None
        assert date(2026, 12, 25) in calendar_order.party.calendar.holidays
        first = calendar_order.check_ins.next_at
        assert first is not None
        munich = first.astimezone(ZoneInfo("Europe/Berlin"))
        assert munich.weekday() < 5 and time(9) <= munich.time() < time(17)
        # The held order's clock stood still while it was held, and runs again.
        assert paused_order.state == "inProgress"
        (pause,) = paused_order.pauses
        assert pause.state == "held" and pause.end_date_time is not None
        assert paused_order.paused_for == pause.end_date_time - pause.start_date_time > timedelta(0)
    finally:
        await env.shutdown()


async def test_the_key_commands_run_as_written(tmp_path: Path) -> None:
    """The "Keys and roles" block of the HTTP API page, in one bash, on a key store of its
    own: three keys made, listed, and the manager's revoked by the id it was given."""
    script = "set -euo pipefail\n" + "\n".join(commands_after("## Keys and roles", HTTP_API))
    key_file = tmp_path / "api-keys.json"
    shell_env = {k: v for k, v in os.environ.items() if not k.startswith("PARTY_ORDERS_")}
    bin_dir = str(Path(temporal_cli_path()).parent)  # the venv's, as for the tour
    shell_env.update(PARTY_ORDERS_API_KEYS=str(key_file), PATH=f"{bin_dir}:{shell_env['PATH']}")
    result = await run_bash(script, cwd=tmp_path, env=shell_env)
    assert result.returncode == 0, f"{result.stdout}{result.stderr}"
    keys = {key["role"]: key for key in json.loads(key_file.read_text())["keys"]}
    assert sorted(keys) == ["manager", "party", "process"]
    assert keys["manager"].get("revokedAt") is not None
    assert keys["party"].get("revokedAt") is None and keys["process"].get("revokedAt") is None
    assert f"API key {keys['manager']['id']} (manager:{keys['manager']['id']}) revoked" in (
        result.stdout
    )


def emailed_link_commands() -> list[str]:
    """The commands of the HTTP API page's "answer a check-in through the emailed link"
    block."""
    return commands_after("**Answer a check-in through the emailed link.**", HTTP_API)


@pytest.mark.slow
async def test_the_emailed_link_flow_runs_as_written(tmp_path: Path) -> None:
    """As under ``up --demo``: mails land in ``.party-orders/mail/`` (an aiosmtpd server),
    the worker signs check-in links, the API serves the page they open; the page's shell
    block, run in one bash (its variables carry from line to line), answers the check-in."""
    from activities.settings import SmtpSettings
    from starter.local.mailsink import MailSink
    from tests.support.live_portal import live_stack

    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        search_attributes=CONTRACT_SEARCH_ATTRIBUTES,
        dev_server_existing_path=temporal_cli_path(),
    )
    workdir = tmp_path / "checkout"
    workdir.mkdir()
    (workdir / "starter").symlink_to(REPO / "starter")
    try:
        async with (
            MailSink(workdir / ".party-orders" / "mail") as sink,
            live_stack(
                env.client, tmp_path, smtp=SmtpSettings(host=sink.host, port=sink.port)
            ) as stack,
        ):
            shell_env = {
                key: value
                for key, value in os.environ.items()
                if not key.startswith(("TEMPORAL_", "PARTY_ORDERS_"))
            }
            bin_dir = str(Path(temporal_cli_path()).parent)
            shell_env.update(
                TEMPORAL_ADDRESS=env.client.service_client.config.target_host,
                PARTY_ORDERS_TASK_QUEUE=stack.orders.task_queue,
                PATH=f"{bin_dir}:{shell_env['PATH']}",
            )
            script = "set -euo pipefail\n" + "\n".join(emailed_link_commands())
            result = await run_bash(script, cwd=workdir, env=shell_env)
            assert result.returncode == 0, f"{result.stdout}{result.stderr}"
            assert f"{stack.base_url}/portal/partyOrder/PO-1001/checkIn?token=" in result.stdout
            assert 'is now <strong id="state">In progress' in result.stdout
            assert any(m["X-Party-Orders-Event"] == "checkIn" for m in sink.received)
            order = await stack.orders.get("PO-1001")
        assert order.percent_complete == 45
        survey = order.milestone("survey")
        assert survey is not None and survey.status == "completed"
    finally:
        await env.shutdown()
