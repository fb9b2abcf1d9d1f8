"""The party-order worker (TrackPartyOrder, ClosePartyOrder, their activities), and the
one way every process of the project connects to Temporal.

    python worker.py        (or: party-orders worker)

Connection settings come from Temporal's own environment configuration
(``temporalio.envconfig``: ``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``,
``TEMPORAL_API_KEY``, ``TEMPORAL_TLS_*``, ``TEMPORAL_PROFILE`` and the ``temporal.toml``
profile file), defaulting to ``localhost:7233`` and namespace ``default``, always with the
pydantic data converter, which encrypts every payload when ``PARTY_ORDERS_ENCRYPTION_KEYS``
is set (``privacy.codec``). The task queue is ``party-orders`` unless
``PARTY_ORDERS_TASK_QUEUE`` says otherwise. With ``PARTY_ORDERS_METRICS_PORT`` set the
worker serves Prometheus metrics at ``/metrics`` on that port: the SDK's own and the
tracker's ``party_orders_*`` (``workflows/metrics.py``, ``activities/notify.py``).
SIGINT and SIGTERM stop the worker cleanly: polling stops and running activities may finish.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.envconfig import ClientConfig
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker, WorkerDeploymentConfig
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.hub import HubPublisher
from activities.notify import PartyOrderActivities
from activities.settings import NotificationSettings
from activities.signing import MasterSecretMissing, require_master_secret
from privacy.codec import data_converter
from workflows.close_party_order import ClosePartyOrder
from workflows.digest import PartyOrderDigest
from workflows.domain.names import DEFAULT_TASK_QUEUE, TASK_QUEUE_ENV
from workflows.hub import DeliverHubEvent, PartyOrderSubscriptions
from workflows.interceptors import interceptors
from workflows.track_party_order import TrackPartyOrder

WORKFLOWS = [
    TrackPartyOrder,
    ClosePartyOrder,
    PartyOrderDigest,
    PartyOrderSubscriptions,
    DeliverHubEvent,
]


# ---------------------------------------------------------------- connecting to Temporal


def task_queue() -> str:
    return os.environ.get(TASK_QUEUE_ENV) or DEFAULT_TASK_QUEUE


def connect_config() -> dict[str, Any]:
    """The keyword arguments of ``Client.connect`` from the environment configuration."""
    config: dict[str, Any] = dict(ClientConfig.load_client_connect_config())
    config.setdefault("target_host", "localhost:7233")
    if not config.get("target_host"):
        config["target_host"] = "localhost:7233"
    config.setdefault("namespace", "default")
    return config


async def connect(**overrides: Any) -> Client:
    """A client for the environment's Temporal service; ``overrides`` go to ``Client.connect``.

    The data converter encrypts when ``PARTY_ORDERS_ENCRYPTION_KEYS`` is set: a worker and
    the clients of one deployment must share the keys. EncryptionKeyError if they are
    malformed.
    """
    config = connect_config()
    config.setdefault("data_converter", data_converter())
    config.update(overrides)
    target = config.pop("target_host")
    return await Client.connect(target, **config)


# ---------------------------------------------------------------- metrics

METRICS_PORT_ENV = "PARTY_ORDERS_METRICS_PORT"


def metrics_address(environ: Mapping[str, str] | None = None) -> str | None:
    """Where the Prometheus exporter listens: ``PARTY_ORDERS_METRICS_PORT`` is a port (on
    every interface, for a scraper elsewhere) or ``HOST:PORT``; None when unset."""
    raw = (environ if environ is not None else os.environ).get(METRICS_PORT_ENV, "").strip()
    if not raw:
        return None
    host, _, port = raw.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{METRICS_PORT_ENV} must be a port or HOST:PORT, got {raw!r}")
    return f"{host or '0.0.0.0'}:{int(port)}"


def metrics_runtime(address: str) -> Runtime:
    """An SDK runtime whose Prometheus exporter serves ``/metrics`` on ``address``."""
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address)))


def serve_metrics() -> str | None:
    """In a worker process, before it connects: make every client of this process use a
    runtime with the Prometheus exporter, when ``PARTY_ORDERS_METRICS_PORT`` asks for one.

    Returns the address, or None. Only worker processes call this: a CLI command must not
    try to bind the port a running worker already serves.
    """
    address = metrics_address()
    if address is not None:
        Runtime.set_default(metrics_runtime(address))
    return address


# ---------------------------------------------------------------- worker versioning

BUILD_ID_ENV = "PARTY_ORDERS_BUILD_ID"
DEPLOYMENT_NAME_ENV = "PARTY_ORDERS_DEPLOYMENT_NAME"
DEFAULT_DEPLOYMENT_NAME = "party-orders"


def deployment_config(environ: Mapping[str, str] | None = None) -> WorkerDeploymentConfig | None:
    """Worker Deployment Versioning when ``PARTY_ORDERS_BUILD_ID`` is set: this worker is
    version ``<deployment>.<build id>`` of the deployment ``PARTY_ORDERS_DEPLOYMENT_NAME``
    (default ``party-orders``). None: an unversioned worker.

    Every workflow auto-upgrades: an order outlives any build, so it moves to the current
    version at its next workflow task, and every change must replay old histories
    (``workflow.patched``, docs/versioning.md). The behavior is the worker's default rather
    than one on ``@workflow.defn``, because the SDK refuses a workflow that declares one
    on an unversioned worker, and the same code runs both ways.
    """
    env = environ if environ is not None else os.environ
    build_id = env.get(BUILD_ID_ENV, "").strip()
    if not build_id:
        return None
    name = env.get(DEPLOYMENT_NAME_ENV, "").strip() or DEFAULT_DEPLOYMENT_NAME
    return WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(deployment_name=name, build_id=build_id),
        use_worker_versioning=True,
        default_versioning_behavior=VersioningBehavior.AUTO_UPGRADE,
    )


# ---------------------------------------------------------------- the worker

# Cached workflow runs bound the worker's memory with many open orders; evicted ones are
# rebuilt from history when they next have work.
DEFAULT_MAX_CACHED_WORKFLOWS = 2_000


def workflow_runner() -> SandboxedWorkflowRunner:
    """The SDK sandbox, with the project's own modules passed through.

    By default the sandbox imports every module a workflow uses afresh for each workflow
    run; the benchmark showed that re-importing ``workflows`` (and pydantic models with
    it) dominated the worker's CPU time and memory. These modules are deterministic and
    keep no mutable module state, so one import per process is safe; replay tests guard it.
    """
    restrictions = SandboxRestrictions.default.with_passthrough_modules("workflows", "activities")
    return SandboxedWorkflowRunner(restrictions=restrictions)


def build_worker(
    client: Client,
    task_queue: str,
    *,
    settings: NotificationSettings | None = None,
    activities: PartyOrderActivities | None = None,
    **options: Any,
) -> Worker:
    activities = activities or PartyOrderActivities(settings or NotificationSettings.from_env())
    hub = activities.hub or activities.use_hub(HubPublisher(client, task_queue))
    options.setdefault(
        "max_cached_workflows",
        int(os.environ.get("PARTY_ORDERS_MAX_CACHED_WORKFLOWS", DEFAULT_MAX_CACHED_WORKFLOWS)),
    )
    options.setdefault("graceful_shutdown_timeout", timedelta(seconds=10))
    options.setdefault("interceptors", interceptors())
    options.setdefault("workflow_runner", workflow_runner())
    versioning = deployment_config()
    if versioning is not None:
        options.setdefault("deployment_config", versioning)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=[*activities.all(), *hub.all()],
        **options,
    )


async def run_worker(
    client: Client, task_queue: str, *, stop: asyncio.Event | None = None, **options: Any
) -> None:
    """Run a worker until ``stop`` is set (or the task is cancelled), then shut down cleanly."""
    stop = stop or asyncio.Event()
    activities = PartyOrderActivities(
        options.pop("settings", None) or NotificationSettings.from_env()
    )
    worker = build_worker(client, task_queue, activities=activities, **options)
    try:
        async with worker:
            logging.getLogger(__name__).info("worker polling task queue %r", task_queue)
            await stop.wait()
    finally:
        await activities.aclose()  # close the webhook HTTP clients


async def _main() -> None:
    # Outside `up` (which makes a local one), the operator must give the master secret:
    # a worker that could sign nothing would fail every webhook and hub delivery.
    require_master_secret()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    address = serve_metrics()
    if address is not None:
        logging.getLogger(__name__).info("metrics at http://%s/metrics", address)
    client = await connect()
    await run_worker(client, task_queue(), stop=stop)


def main() -> None:
    logging.basicConfig(
        level=os.environ.get("PARTY_ORDERS_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        asyncio.run(_main())
    except MasterSecretMissing as missing:
        raise SystemExit(f"party-orders worker: {missing}") from None


if __name__ == "__main__":
    main()
