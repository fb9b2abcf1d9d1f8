"""Fuzz the HTTP API with schemathesis, every check, as a party and as a process.

``python scripts/fuzz_api.py [--max-examples N] [--role party --role process]`` starts a
Temporal dev server (from PyPI, in memory), a worker and the API (uvicorn) in this
process, makes one key per role, and runs ``schemathesis run --checks all`` (every phase)
against the API's own OpenAPI document once per role. The API is configured as deployed:
a master secret, no internal callback allowed, and a rate limit high enough not to be what
is measured. docs/http-api.md ("How the API is tested") gives the counts of the last run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import uvicorn
from temporalio.testing import WorkflowEnvironment

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from activities.settings import NotificationSettings  # noqa: E402
from privacy.codec import data_converter  # noqa: E402
from settings import (  # noqa: E402
    API_BURST_ENV,
    API_RATE_ENV,
    WEBHOOK_MASTER_SECRET_ENV,
    Settings,
)
from starter.api.app import create_app  # noqa: E402
from starter.api.keys import KeyStore  # noqa: E402
from starter.api.routes import BASE_PATH  # noqa: E402
from starter.client import PartyOrderClient  # noqa: E402
from starter.local.binaries import temporal_cli_path  # noqa: E402
from worker import build_worker  # noqa: E402
from workflows.visibility import CONTRACT_SEARCH_ATTRIBUTES  # noqa: E402

ROLES = {"party": {"party_id": "ACME"}, "process": {"process": "service-order-handling"}}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def fuzz(url: str, role: str, key: str, max_examples: int, report: Path) -> int:
    """``schemathesis run`` as ``role``; its exit code (its output goes to ours)."""
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{url}{BASE_PATH}/openapi.json",
        "--checks",
        "all",
        "--header",
        f"Authorization: Bearer {key}",
        "--max-examples",
        str(max_examples),
        "--workers",
        "1",
        "--seed",
        "23",
        "--suppress-health-check",
        "all",
        "--report",
        "junit",
        "--report-dir",
        str(report / role),
    ]
    print(f"\n=== schemathesis as a {role} key ===", flush=True)
    # Run from the report folder: schemathesis keeps a cache where it runs.
    report.mkdir(parents=True, exist_ok=True)
    return subprocess.run(command, check=False, cwd=report).returncode


async def serve_and_fuzz(roles: list[str], max_examples: int, folder: Path) -> int:
    env = await WorkflowEnvironment.start_local(
        data_converter=data_converter(None),
        search_attributes=CONTRACT_SEARCH_ATTRIBUTES,
        dev_server_existing_path=temporal_cli_path(),
        dev_server_log_level="error",
        ui=False,
    )
    try:
        store = KeyStore(folder / "api-keys.json")
        keys = {role: store.create(role, **ROLES[role])[1] for role in roles}
        settings = Settings(
            {
                WEBHOOK_MASTER_SECRET_ENV: os.urandom(32).hex(),
                API_RATE_ENV: "100000",
                API_BURST_ENV: "100000",
            }
        )
        task_queue = "api-fuzz"
        client = PartyOrderClient(env.client, task_queue, callback_allow=settings.callback_allow())
        port = free_port()
        app = create_app(keys=store, client=client, settings=settings)
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        notifications = NotificationSettings(outbox_path=folder / "outbox.jsonl")
        async with build_worker(env.client, task_queue, settings=notifications):
            serving = asyncio.create_task(server.serve())
            while not server.started:
                await asyncio.sleep(0.05)
            url = f"http://127.0.0.1:{port}"
            codes = []
            for role in roles:
                began = time.monotonic()
                code = await asyncio.to_thread(
                    fuzz, url, role, keys[role], max_examples, folder / "reports"
                )
                print(f"=== {role}: exit {code} in {time.monotonic() - began:.0f} s", flush=True)
                codes.append(code)
            server.should_exit = True
            await serving
        return max(codes)
    finally:
        await env.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=10)
    parser.add_argument("--role", action="append", choices=sorted(ROLES))
    parser.add_argument("--reports", type=Path, help="keep the junit reports here")
    args = parser.parse_args()
    roles = args.role or sorted(ROLES)
    with tempfile.TemporaryDirectory(prefix="party-orders-fuzz-") as folder:
        where = args.reports or Path(folder)
        where.mkdir(parents=True, exist_ok=True)
        sys.exit(asyncio.run(serve_and_fuzz(roles, args.max_examples, where)))


if __name__ == "__main__":
    main()
