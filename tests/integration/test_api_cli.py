"""``party-orders api-key create|list|revoke`` and ``party-orders api`` as a process."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from starter.api.keys import KeyStore
from starter.api.routes import BASE_PATH
from starter.cli.runner import run
from starter.samples import example_order
from tests.conftest import TEST_CALLBACK_ALLOW, TEST_MASTER_SECRET, unique
from tests.support.processes import free_port, run_bash, start_up_demo

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "keys" / "api-keys.json"
    monkeypatch.setenv("PARTY_ORDERS_API_KEYS", str(path))
    return path


async def party_orders(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = await run(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def test_keys_are_printed_once_and_stored_as_hashes(
    key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = await party_orders(
        capsys, "api-key", "create", "--role", "party", "--party", "ACME"
    )
    assert code == 0
    key = out.strip().splitlines()[-1]  # the last line of stdout is the key
    assert key.startswith("pok_")
    stored = key_file.read_text()
    assert key not in stored
    assert key.split("_", 2)[2] not in stored  # nor its secret part
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    record = KeyStore(key_file).authenticate(key)
    assert record is not None and record.party_id == "ACME"

    code, out, _ = await party_orders(
        capsys,
        "api-key",
        "create",
        "--role",
        "process",
        "--process",
        "so-handling",
        "--label",
        "SO",
    )
    assert code == 0
    code, out, _ = await party_orders(capsys, "api-key", "list", "--json")
    assert code == 0
    listed = json.loads(out)
    assert [(k["role"], k["partyId"], k["process"]) for k in listed] == [
        ("party", "ACME", None),
        ("process", None, "so-handling"),
    ]
    assert "secretSha256" not in out and key not in out

    code, out, _ = await party_orders(capsys, "api-key", "revoke", listed[0]["id"])
    assert code == 0 and "revoked" in out
    assert KeyStore(key_file).authenticate(key) is None
    code, out, _ = await party_orders(capsys, "api-key", "list")
    assert "revoked" in out.splitlines()[0] and "active" in out.splitlines()[1]


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--role", "party"], "party id"),
        (["--role", "manager", "--party", "ACME"], "party id"),
        (["--role", "process"], "process"),
        (["--role", "owner"], "invalid choice"),
    ],
)
async def test_a_key_request_that_breaks_a_rule_is_exit_2(
    key_file: Path, capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    code, out, err = await party_orders(capsys, "api-key", "create", *argv)
    assert code == 2
    assert words in err
    assert out == "" or "pok_" not in out
    assert not key_file.exists() or "pok_" not in key_file.read_text()


async def test_revoking_an_unknown_key_is_exit_2(
    key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = await party_orders(capsys, "api-key", "revoke", "nope")
    assert code == 2 and "no API key 'nope'" in err


class ApiProcess:
    """``party-orders api`` in a process of its own, on the session's server and worker."""

    def __init__(self, process: subprocess.Popen[str], url: str) -> None:
        self.process = process
        self.url = url


@pytest.fixture
async def api_process(
    dev_address: str, dev_task_queue: str, key_file: Path
) -> AsyncIterator[ApiProcess]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "PARTY_ORDERS_"))}
    env.update(
        TEMPORAL_ADDRESS=dev_address,
        PARTY_ORDERS_TASK_QUEUE=dev_task_queue,
        PARTY_ORDERS_API_KEYS=str(key_file),
        # As the session's worker: the secrets it hands out verify what the worker signs,
        # and the tests' listeners on loopback may be subscribed.
        PARTY_ORDERS_WEBHOOK_MASTER_SECRET=TEST_MASTER_SECRET,
        PARTY_ORDERS_CALLBACK_ALLOW=TEST_CALLBACK_ALLOW,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "starter", "api", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    api = ApiProcess(process, f"http://127.0.0.1:{port}{BASE_PATH}")
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            deadline = time.monotonic() + 30
            while True:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                try:
                    await http.get(f"{api.url}/openapi.json")
                    break
                except httpx.HTTPError:
                    assert time.monotonic() < deadline, "the API did not answer"
                    await asyncio.sleep(0.2)
        yield api
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            await asyncio.to_thread(process.wait, 30)


async def test_the_api_command_serves_the_contract(
    api_process: ApiProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = await party_orders(
        capsys, "api-key", "create", "--role", "process", "--process", "service-order-handling"
    )
    process_key = out.strip().splitlines()[-1]
    _, out, _ = await party_orders(
        capsys, "api-key", "create", "--role", "party", "--party", "ACME"
    )
    party_key = out.strip().splitlines()[-1]
    async with httpx.AsyncClient(base_url=api_process.url, timeout=10) as http:
        document = await http.get("/openapi.json")
        assert document.json()["info"]["title"] == "Party order tracking"
        order = example_order(unique(), datetime.now(UTC))
        started = await http.post(
            "/partyOrder", json=order, headers={"Authorization": f"Bearer {process_key}"}
        )
        assert started.status_code == 201, started.text
        seen = await http.get(
            f"/partyOrder/{order['id']}", headers={"Authorization": f"Bearer {party_key}"}
        )
        assert seen.status_code == 200, seen.text
        assert seen.json()["state"] == "acknowledged"
    # Stop it and look at what it printed.
    api_process.process.send_signal(signal.SIGTERM)
    code = await asyncio.to_thread(api_process.process.wait, 30)
    output = api_process.process.stdout.read() if api_process.process.stdout else ""
    assert code == 0, output
    assert "openapi.json" in output  # it says where the docs are
    assert f"GET {BASE_PATH}/partyOrder/{order['id']}" in output  # uvicorn's access log
    assert process_key not in output and party_key not in output


def readme_sh_block(heading: str, opening: str = "") -> str:
    """The first ``sh`` block under ``heading`` in docs/http-api.md (starting with
    ``opening``)."""
    readme = (REPO / "docs" / "http-api.md").read_text()
    section = readme[readme.index(heading) :]
    start = section.index("```sh\n" + opening)
    return section[start + len("```sh\n") : section.index("```", start + 5)]


def as_order(script: str, order_id: str) -> str:
    """``script`` about the order ``order_id`` instead of the sample's PO-1001 (each test
    its own order): the sample printed under that id, and the paths that name it."""
    sample = "party-orders sample PO-1001"
    script = script.replace(f"{sample} --id", "\0")  # another id already: keep it
    script = script.replace(sample, "\1").replace("PO-1001", order_id)
    return script.replace("\1", f"{sample} --id {order_id}").replace("\0", f"{sample} --id")


def readme_curl_block() -> str:
    return readme_sh_block("# The HTTP API", "API=")


async def run_curl_script(
    script: str, api_url: str, key_file: Path, cwd: Path
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """``script`` run by bash against the API at ``api_url``; every curl prints its status on
    a line of its own, and the statuses are returned in order."""
    script = re.sub(r"^API=.*$", f"API={api_url}", script, flags=re.MULTILINE)
    prelude = "set -eu\ncurl() { command curl -sS -w '\\nHTTP %{http_code}\\n' \"$@\"; }\n"
    env = {**os.environ, "PARTY_ORDERS_API_KEYS": str(key_file)}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    result = await run_bash(prelude + script, cwd=cwd, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result, re.findall(r"^HTTP (\d{3})$", result.stdout, flags=re.MULTILINE)


async def test_the_readmes_curl_examples_work(
    api_process: ApiProcess, key_file: Path, tmp_path: Path
) -> None:
    order_id = unique("PO-1001")
    script = as_order(readme_curl_block(), order_id)
    result, statuses = await run_curl_script(script, api_process.url, key_file, tmp_path)
    assert statuses == ["201", "202", "200", "202", "202", "200", "202", "200", "201"], (
        result.stdout
    )
    assert f'"id":"{order_id}"' in result.stdout
    assert '"state":"held"' in result.stdout
    assert "x-total-count: 1" in result.stdout.lower()


def readme_hub_block() -> str:
    return readme_sh_block("## Event subscriptions")


async def test_the_readmes_hub_examples_work(
    api_process: ApiProcess, key_file: Path, tmp_path: Path
) -> None:
    """The subscription block, after the first (its variables), against a real listener."""
    from tests.support.hub_listener import HubListener

    first, second = unique("PO-1001"), unique("PO-1002")
    listener = await HubListener().start()
    try:
        script = as_order(readme_curl_block() + readme_hub_block(), first)
        script = script.replace("PO-1002", second)
        script = script.replace("http://127.0.0.1:9000/events", listener.url)
        result, statuses = await run_curl_script(script, api_process.url, key_file, tmp_path)
        assert statuses[9:] == ["201", "201", "202", "200", "204"], result.stdout
        subscription = json.loads((tmp_path / "subscription.json").read_text())
        assert set(subscription) == {"id", "callback", "query", "secret"}

        def about_second() -> list[str]:
            return sorted(
                e["eventType"]
                for e in listener.events()
                if e["event"]["partyOrder"]["id"] == second
            )

        wanted = ["PartyOrderInformationRequiredEvent", "PartyOrderStateChangeEvent"]
        deadline = time.monotonic() + 30
        while about_second() != wanted:
            assert time.monotonic() < deadline, [e["eventType"] for e in listener.events()]
            await asyncio.sleep(0.2)
        assert all(item.key.startswith(f"{subscription['id']}/") for item in listener.received)
        listener.assert_signed(subscription["secret"])
    finally:
        await listener.stop()


async def test_up_serves_the_api_and_prints_demo_keys(tmp_path: Path) -> None:
    api_port = free_port()
    log = tmp_path / "up.log"
    up = start_up_demo(tmp_path / "data", log, unique("up-api"), api_port)
    try:
        keys: dict[str, str] = {}
        deadline = time.monotonic() + 90
        while len(keys) < 3:
            assert up.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            for line in log.read_text().splitlines():
                if line.startswith("API key"):
                    subject, key = line.split()[-2:]
                    keys[subject] = key
            await asyncio.sleep(0.3)
        text = log.read_text()
        assert f"http://127.0.0.1:{api_port}{BASE_PATH}/openapi.json" in text
        base = f"http://127.0.0.1:{api_port}{BASE_PATH}"
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            (manager_key,) = [k for s, k in keys.items() if s.startswith("manager:")]
            manager = {"Authorization": f"Bearer {manager_key}"}

            async def demo_order() -> str | None:
                answer = await http.get("/partyOrder", headers=manager)
                assert answer.status_code == 200, answer.text
                ids = [summary["orderId"] for summary in answer.json()]
                return next((i for i in ids if i.startswith("DEMO-DELIVER")), None)

            while (demo := await demo_order()) is None:
                assert time.monotonic() < deadline, log.read_text()
                await asyncio.sleep(0.5)
            party = {"Authorization": f"Bearer {keys['party:ACME']}"}
            # The demo orders belong to other parties: invisible to ACME's key.
            hidden = await http.get(f"/partyOrder/{demo}", headers=party)
            assert hidden.status_code == 404
            order = example_order(unique(), datetime.now(UTC))
            process = {"Authorization": f"Bearer {keys['process:service-order-handling']}"}
            assert (await http.post("/partyOrder", json=order, headers=process)).status_code == 201
            mine = await http.get(f"/partyOrder/{order['id']}", headers=party)
            assert mine.status_code == 200, mine.text
    finally:
        up.send_signal(signal.SIGINT)
        code = await asyncio.to_thread(up.wait, 60)
    assert code == 0, log.read_text()
    stored = (tmp_path / "data" / "api-keys.json").read_text()
    assert all(key not in stored for key in keys.values())
