"""The Temporal servers a benchmark runs against, both from PyPI (nothing downloaded)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from starter.binaries import temporal_cli_path, test_server_path
from workflows.names import SEARCH_ATTRIBUTE_TYPES

_KEY_FACTORIES: dict[str, Callable[[str], SearchAttributeKey[Any]]] = {
    "Keyword": SearchAttributeKey.for_keyword,
    "Int": SearchAttributeKey.for_int,
    "Datetime": SearchAttributeKey.for_datetime,
}
_INDEXED_TYPES = {
    "Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "Int": IndexedValueType.INDEXED_VALUE_TYPE_INT,
    "Datetime": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
}
CONTRACT_SEARCH_ATTRIBUTES = [
    _KEY_FACTORIES[kind](name) for name, kind in SEARCH_ATTRIBUTE_TYPES.items()
]


async def start_dev_server() -> WorkflowEnvironment:
    """The Temporal dev server (in-memory SQLite) with the contract's search attributes."""
    return await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        search_attributes=CONTRACT_SEARCH_ATTRIBUTES,
        dev_server_existing_path=temporal_cli_path(),
        dev_server_log_level="error",
        ui=False,
    )


async def start_time_skipping_server() -> WorkflowEnvironment:
    """The time-skipping test server, which knows no custom search attributes until told."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=test_server_path(),
    )
    try:
        await env.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=env.client.namespace,
                search_attributes={
                    name: _INDEXED_TYPES[kind] for name, kind in SEARCH_ATTRIBUTE_TYPES.items()
                },
            )
        )
    except BaseException:
        await env.shutdown()
        raise
    return env


def target_of(env: WorkflowEnvironment) -> str:
    return env.client.service_client.config.target_host
