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
tracker's ``party_orders_*`` (``workflows/metrics.py``, ``activities/notifications.py``).
SIGINT and SIGTERM stop the worker cleanly: polling stops and running activities may finish.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.envconfig import ClientConfig
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker, WorkerDeploymentConfig
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.hub import HubPublisher
from activities.registry import PartyOrderActivities
from activities.settings import NotificationSettings
from activities.signing import MasterSecretMissing
from privacy.codec import data_converter
from settings import Settings
from workflows.close_party_order import ClosePartyOrder
from workflows.digest import PartyOrderDigest
from workflows.hub import DeliverHubEvent, PartyOrderSubscriptions
from workflows.interceptors import interceptors
from workflows.track_party_order import TrackPartyOrder

# Activities in flight get this long to finish when the worker stops (the SDK's graceful
# shutdown); the worker as a whole stops within STOP_LIMIT of SIGTERM or SIGINT.
GRACEFUL_SHUTDOWN = timedelta(seconds=10)
STOP_LIMIT = timedelta(seconds=30)
# The exit code of a worker that had to leave a stuck workflow task behind.
EXIT_STUCK = 70

WORKFLOWS = [
    TrackPartyOrder,
    ClosePartyOrder,
    PartyOrderDigest,
    PartyOrderSubscriptions,
    DeliverHubEvent,
]


# ---------------------------------------------------------------- connecting to Temporal


def task_queue(settings: Settings | None = None) -> str:
    return (settings or Settings.from_env()).task_queue


def connect_config() -> dict[str, Any]:
    """The keyword arguments of ``Client.connect`` from the environment configuration."""
    config: dict[str, Any] = dict(ClientConfig.load_client_connect_config())
    config.setdefault("target_host", "localhost:7233")
    if not config.get("target_host"):
        config["target_host"] = "localhost:7233"
    config.setdefault("namespace", "default")
    return config


async def connect(settings: Settings | None = None, **overrides: Any) -> Client:
    """A client for the environment's Temporal service; ``overrides`` go to ``Client.connect``.

    The data converter encrypts when ``settings`` have encryption keys
    (``PARTY_ORDERS_ENCRYPTION_KEYS``): a worker and the clients of one deployment must
    share the keys. EncryptionKeyError if they are malformed.
    """
    config = connect_config()
    if "data_converter" not in overrides:
        keys = (settings or Settings.from_env()).encryption_keys()
        config["data_converter"] = data_converter(keys)
    config.update(overrides)
    target = config.pop("target_host")
    return await Client.connect(target, **config)


# ---------------------------------------------------------------- metrics


def metrics_runtime(address: str) -> Runtime:
    """An SDK runtime whose Prometheus exporter serves ``/metrics`` on ``address``."""
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address)))


def serve_metrics(settings: Settings | None = None) -> str | None:
    """In a worker process, before it connects: make every client of this process use a
    runtime with the Prometheus exporter, when ``PARTY_ORDERS_METRICS_PORT`` asks for one.

    Returns the address, or None. Only worker processes call this: a CLI command must not
    try to bind the port a running worker already serves.
    """
    address = (settings or Settings.from_env()).metrics_address()
    if address is not None:
        Runtime.set_default(metrics_runtime(address))
    return address


# ---------------------------------------------------------------- worker versioning


def deployment_config(settings: Settings | None = None) -> WorkerDeploymentConfig | None:
    """Worker Deployment Versioning when ``PARTY_ORDERS_BUILD_ID`` is set: this worker is
    version ``<deployment>.<build id>`` of the deployment ``PARTY_ORDERS_DEPLOYMENT_NAME``
    (default ``party-orders``). None: an unversioned worker.

    Every workflow auto-upgrades: an order outlives any build, so it moves to the current
    version at its next workflow task, and every change must replay old histories
    (``workflow.patched``, docs/versioning.md). The behavior is the worker's default rather
    than one on ``@workflow.defn``, because the SDK refuses a workflow that declares one
    on an unversioned worker, and the same code runs both ways.
    """
    settings = settings or Settings.from_env()
    if settings.build_id is None:
        return None
    return WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(
            deployment_name=settings.deployment_name, build_id=settings.build_id
        ),
        use_worker_versioning=True,
        default_versioning_behavior=VersioningBehavior.AUTO_UPGRADE,
    )


# ---------------------------------------------------------------- the worker


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
    worker_settings: Settings | None = None,
    **options: Any,
) -> Worker:
    """The worker of ``task_queue``: ``settings`` say where notifications go (unless
    ``activities`` are given), ``worker_settings`` how the worker runs (both default to
    the environment's)."""
    worker_settings = worker_settings or Settings.from_env()
    activities = activities or PartyOrderActivities(settings or worker_settings.notifications())
    hub = activities.hub or activities.use_hub(HubPublisher(client, task_queue))
    options.setdefault("max_cached_workflows", worker_settings.max_cached_workflows)
    options.setdefault("graceful_shutdown_timeout", GRACEFUL_SHUTDOWN)
    options.setdefault("workflows", WORKFLOWS)
    options.setdefault("interceptors", interceptors())
    options.setdefault("workflow_runner", workflow_runner())
    versioning = deployment_config(worker_settings)
    if versioning is not None:
        options.setdefault("deployment_config", versioning)
    return Worker(
        client,
        task_queue=task_queue,
        activities=[*activities.all(), *hub.all()],
        **options,
    )


async def run_worker(
    client: Client, task_queue: str, *, stop: asyncio.Event | None = None, **options: Any
) -> None:
    """Run a worker until ``stop`` is set (or the task is cancelled), then shut down cleanly.

    ``options`` go to ``build_worker``: ``settings`` (notifications) and ``worker_settings``
    default to the environment's."""
    stop = stop or asyncio.Event()
    worker_settings = options.get("worker_settings") or Settings.from_env()
    activities = PartyOrderActivities(
        options.pop("settings", None) or worker_settings.notifications()
    )
    worker = build_worker(client, task_queue, activities=activities, **options)
    try:
        async with worker:
            logging.getLogger(__name__).info("worker polling task queue %r", task_queue)
            await stop.wait()
    finally:
        await activities.aclose()  # close the webhook HTTP clients


async def stopped_within(runner: asyncio.Task[None], limit: timedelta) -> bool:
    """Whether ``runner``, a worker told to stop, has ended within ``limit``."""
    done, _ = await asyncio.wait({runner}, timeout=limit.total_seconds())
    return bool(done)


async def serve(settings: Settings, **options: Any) -> None:
    """Run the worker until SIGTERM or SIGINT, and stop within ``STOP_LIMIT`` of it.

    A workflow whose code never yields (a task stuck past the deadlock detector) cannot
    leave the worker's cache, and the SDK's shutdown then waits for it for ever: the
    process would ignore every SIGTERM. Past the limit the worker says so and exits with
    ``EXIT_STUCK``; the order's next workflow task goes to another worker (or to this one
    restarted), which replays it from its history.
    """
    # Outside `up` (which makes a local one), the operator must give the master secret:
    # a worker that could sign nothing would fail every webhook and hub delivery.
    settings.require_master_secret()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    address = serve_metrics(settings)
    if address is not None:
        logging.getLogger(__name__).info("metrics at http://%s/metrics", address)
    client = await connect(settings)
    runner = asyncio.create_task(
        run_worker(client, settings.task_queue, stop=stop, worker_settings=settings, **options)
    )
    signalled = asyncio.create_task(stop.wait())
    await asyncio.wait({runner, signalled}, return_when=asyncio.FIRST_COMPLETED)
    signalled.cancel()
    if not runner.done() and not await stopped_within(runner, STOP_LIMIT):
        logging.getLogger(__name__).error(
            "the worker did not stop within %d s of the signal: a workflow task would not"
            " leave the cache (workflow code that never yields); exiting without it, and"
            " its order goes on from its history on the next worker",
            STOP_LIMIT.total_seconds(),
        )
        logging.shutdown()
        # The stuck workflow thread cannot be joined, so a normal exit would wait for it.
        os._exit(EXIT_STUCK)
    await runner


def main() -> None:
    settings = Settings.from_env()
    logging.basicConfig(
        level=settings.log_level("INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        asyncio.run(serve(settings))
    except MasterSecretMissing as missing:
        raise SystemExit(f"party-orders worker: {missing}") from None


if __name__ == "__main__":
    main()
