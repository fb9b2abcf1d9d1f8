"""Connecting to Temporal: Temporal's own environment configuration, the pydantic converter.

The address, namespace, API key and TLS settings come from ``temporalio.envconfig``
(``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``, ``TEMPORAL_TLS_*``,
``TEMPORAL_PROFILE`` and the ``temporal.toml`` profile file), defaulting to
``localhost:7233`` and namespace ``default``.
"""

from __future__ import annotations

import os
from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfig

from workflows.domain.names import DEFAULT_TASK_QUEUE, TASK_QUEUE_ENV


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
    config = connect_config()
    config.update(overrides)
    target = config.pop("target_host")
    return await Client.connect(target, data_converter=pydantic_data_converter, **config)
