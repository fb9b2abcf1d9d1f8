"""Schemathesis against the live API: uvicorn serving the app over the dev server and its
worker, the OpenAPI document as the only guide. A bounded number of examples per
operation (``API_FUZZ_EXAMPLES``, default 15) keeps CI quick; no answer may be a 5xx, and
every answer must match the document (status, content type, schema)."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.settings import NotificationSettings
from starter.api.app import create_app
from starter.api.keys import KeyStore
from starter.api.routes import BASE_PATH
from starter.client import PartyOrderClient
from tests.conftest import unique
from worker import build_worker

EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "15"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class LiveApi:
    def __init__(self, url: str, manager_key: str, party_key: str, process_key: str) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {manager_key}"}
        # For fuzzing as a party and as a process too (the schemathesis CLI, by hand).
        self.party_key = party_key
        self.process_key = process_key


@pytest.fixture(scope="module")
def live_api(dev_address: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    """uvicorn and a worker of their own, in a thread with its own event loop: the tests
    here are synchronous (hypothesis drives them) and block the session's loop, so the
    session's worker could not answer while they run."""
    folder = Path(tmp_path_factory.mktemp("fuzz"))
    store = KeyStore(folder / "api-keys.json")
    _, manager_key = store.create("manager")
    _, party_key = store.create("party", party_id="ACME")
    _, process_key = store.create("process", process="service-order-handling")
    task_queue = unique("api-fuzz")
    client_ready: asyncio.Future[PartyOrderClient] | None = None

    async def connect() -> PartyOrderClient:
        assert client_ready is not None
        return await client_ready

    port = free_port()
    config = uvicorn.Config(
        create_app(keys=store, connect=connect), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)

    async def serve() -> None:
        nonlocal client_ready
        client_ready = asyncio.get_running_loop().create_future()
        client = await Client.connect(dev_address, data_converter=pydantic_data_converter)
        client_ready.set_result(PartyOrderClient(client, task_queue))
        settings = NotificationSettings(outbox_path=folder / "outbox.jsonl")
        async with build_worker(client, task_queue, settings=settings):
            await server.serve()

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "the API thread ended"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield LiveApi(url, manager_key, party_key, process_key)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture
def api_schema(live_api: LiveApi) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{live_api.url}{BASE_PATH}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # CI replays the same examples; failures reproduce
)
def test_the_api_keeps_its_document_and_never_fails(
    case: schemathesis.Case, live_api: LiveApi
) -> None:
    case.call_and_validate(
        base_url=live_api.url,
        headers=live_api.headers,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )


def test_the_live_api_answers_without_a_key_with_401(live_api: LiveApi) -> None:
    answer = httpx.get(f"{live_api.url}{BASE_PATH}/partyOrder")
    assert answer.status_code == 401
    assert answer.json()["code"] == "unauthorized"
