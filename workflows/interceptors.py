"""A worker interceptor that keeps a malformed signal from wedging an order.

Each named signal of the two workflows takes exactly one payload. Sent with two or more (e.g.
``temporal workflow signal --input a --input b``), the SDK would call the handler with
every payload and the handler's TypeError would fail the workflow task on every retry.
This interceptor hands such a signal to the workflow's ``reject_signal`` instead, so it is
recorded in ``rejectedMessages`` like any other bad message.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.worker import (
    HandleSignalInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)


class _OnePayloadPerSignal(WorkflowInboundInterceptor):
    async def handle_signal(self, input: HandleSignalInput) -> None:
        reject = getattr(workflow.instance(), "reject_signal", None)
        named = workflow.get_signal_handler(input.signal) is not None  # not the dynamic one
        if reject is not None and named and len(input.args) > 1:
            reject(input.signal, input.args, f"expected one payload, got {len(input.args)}")
            return
        await super().handle_signal(input)


class OnePayloadPerSignal(Interceptor):
    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        return _OnePayloadPerSignal


def interceptors() -> list[Any]:
    return [OnePayloadPerSignal()]
