"""The Temporal servers a benchmark runs against, both from PyPI (nothing downloaded).

Their clients encrypt every payload when ``PARTY_ORDERS_ENCRYPTION_KEYS`` is set, like the
project's own processes, so the benchmark measures the tracker with encryption on or off.
"""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from privacy.codec import data_converter
from settings import Settings
from starter.local.binaries import temporal_cli_path, test_server_path
from starter.local.devserver import add_search_attributes
from workflows.visibility import CONTRACT_SEARCH_ATTRIBUTES


async def start_dev_server() -> WorkflowEnvironment:
    """The Temporal dev server (in-memory SQLite) with the contract's search attributes."""
    return await WorkflowEnvironment.start_local(
        data_converter=data_converter(Settings.from_env().encryption_keys()),
        search_attributes=CONTRACT_SEARCH_ATTRIBUTES,
        dev_server_existing_path=temporal_cli_path(),
        dev_server_log_level="error",
        ui=False,
    )


async def start_time_skipping_server() -> WorkflowEnvironment:
    """The time-skipping test server, which knows no custom search attributes until told."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(Settings.from_env().encryption_keys()),
        test_server_existing_path=test_server_path(),
    )
    try:
        await add_search_attributes(env.client, env.client.namespace)
    except BaseException:
        await env.shutdown()
        raise
    return env


def target_of(env: WorkflowEnvironment) -> str:
    return env.client.service_client.config.target_host
