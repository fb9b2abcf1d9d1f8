"""Worker Deployment Versioning on the real dev server: with ``PARTY_ORDERS_BUILD_ID`` the
worker is a version of the ``party-orders`` deployment; an order runs on the current
version and, being auto-upgrade, moves to the next version once that is made current.
Without a build id the same workflows run on an unversioned worker (every other test)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import RoutingConfigUpdateState
from temporalio.api.enums.v1 import VersioningBehavior as ProtoBehavior
from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentRequest,
    SetWorkerDeploymentCurrentVersionRequest,
)
from temporalio.client import Client, WorkflowHandle
from temporalio.common import VersioningBehavior
from temporalio.service import RPCError, RPCStatusCode

import worker
from activities.settings import NotificationSettings
from settings import Settings
from starter.client import PartyOrderClient
from starter.samples import example_order
from tests.conftest import unique
from workflows.domain.model import close_workflow_id, track_workflow_id

COMPLETED = RoutingConfigUpdateState.ROUTING_CONFIG_UPDATE_STATE_COMPLETED


def test_versioning_is_off_without_a_build_id() -> None:
    assert worker.deployment_config(Settings({})) is None
    config = worker.deployment_config(Settings({"PARTY_ORDERS_BUILD_ID": "2027.01.1"}))
    assert config is not None and config.use_worker_versioning
    assert config.version.deployment_name == "party-orders"
    assert config.version.build_id == "2027.01.1"
    assert config.default_versioning_behavior == VersioningBehavior.AUTO_UPGRADE
    named = worker.deployment_config(
        Settings({"PARTY_ORDERS_BUILD_ID": "b7", "PARTY_ORDERS_DEPLOYMENT_NAME": "orders-eu"})
    )
    assert named is not None and named.version.deployment_name == "orders-eu"


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"not in time: {what}"
        await asyncio.sleep(0.3)


async def make_current(client: Client, deployment: str, build_id: str) -> None:
    """Make ``build_id`` the deployment's current version (what an operator does with
    ``temporal worker deployment set-current-version``), once its worker has polled every
    task queue type: until then the server refuses, and the test asks again."""

    async def made_current() -> bool:
        try:
            described = await client.workflow_service.describe_worker_deployment(
                DescribeWorkerDeploymentRequest(
                    namespace=client.namespace, deployment_name=deployment
                )
            )
            versions = described.worker_deployment_info.version_summaries
            if not any(v.deployment_version.build_id == build_id for v in versions):
                return False
            await client.workflow_service.set_worker_deployment_current_version(
                SetWorkerDeploymentCurrentVersionRequest(
                    namespace=client.namespace, deployment_name=deployment, build_id=build_id
                )
            )
        except RPCError as error:
            if error.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
                raise
            return False
        return True

    await eventually(made_current, f"version {build_id} current")

    async def propagated() -> bool:
        described = await client.workflow_service.describe_worker_deployment(
            DescribeWorkerDeploymentRequest(namespace=client.namespace, deployment_name=deployment)
        )
        info = described.worker_deployment_info
        return (
            info.routing_config.current_deployment_version.build_id == build_id
            and info.routing_config_update_state == COMPLETED
        )

    # Task queues learn the new routing asynchronously.
    await eventually(propagated, f"version {build_id} current on every task queue")


async def versioning_of(handle: WorkflowHandle[Any, Any]) -> tuple[int, str]:
    info = (await handle.describe()).raw_description.workflow_execution_info.versioning_info
    return info.behavior, info.deployment_version.build_id


async def test_orders_follow_the_current_version(
    dev_client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = unique("deploy")
    task_queue = unique("tq-versioned")
    monkeypatch.setenv("PARTY_ORDERS_DEPLOYMENT_NAME", deployment)
    settings = NotificationSettings(outbox_path=tmp_path / "outbox.jsonl")

    monkeypatch.setenv("PARTY_ORDERS_BUILD_ID", "v1")
    first = worker.build_worker(dev_client, task_queue, settings=settings)
    async with first:
        await make_current(dev_client, deployment, "v1")
        orders = PartyOrderClient(dev_client, task_queue)
        order_id, closing_id = unique(), unique()
        await orders.start(example_order(order_id, datetime.now(UTC)))
        await orders.start(example_order(closing_id, datetime.now(UTC)))
        track = dev_client.get_workflow_handle(track_workflow_id(order_id))

        async def on(handle: WorkflowHandle[Any, Any], behavior: int, build_id: str) -> bool:
            try:
                return await versioning_of(handle) == (behavior, build_id)
            except RPCError:
                return False

        auto = ProtoBehavior.VERSIONING_BEHAVIOR_AUTO_UPGRADE
        await eventually(lambda: on(track, auto, "v1"), "the order on v1, auto-upgrade")
        await orders.report_progress(closing_id, {"delivered": True}, confirm=True)
        close = dev_client.get_workflow_handle(close_workflow_id(closing_id))
        await eventually(lambda: on(close, auto, "v1"), "the close process on v1")
        await close.result()

        monkeypatch.setenv("PARTY_ORDERS_BUILD_ID", "v2")
        second = worker.build_worker(dev_client, task_queue, settings=settings)
        async with second:
            await make_current(dev_client, deployment, "v2")
            # The order's next workflow task runs on v2: it has moved with the deployment.
            await orders.report_progress(order_id, {"percentComplete": 10}, confirm=True)
            await eventually(lambda: on(track, auto, "v2"), "the order upgraded to v2")
            assert (await orders.get(order_id)).percent_complete == 10
            await track.terminate(reason="test finished")
