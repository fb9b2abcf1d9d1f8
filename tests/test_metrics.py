"""Metrics, for real: a worker whose SDK runtime runs the Prometheus exporter tracks a few
orders through their lives on the dev server, and ``/metrics`` then has the SDK's own
metrics and each ``party_orders_*`` counter with the right labels.

The worker caches no workflow, so every workflow task replays the order's history from
the start: the counts, exact but for workflow tasks that ran again (their histories name
them), show that replay records nothing twice."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import httpx
import pytest
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

import worker
from settings import Settings
from starter.client import PartyOrderClient
from starter.samples import example_order
from tests.conftest import TEST_ALLOW, running_worker, unique
from tests.test_visibility import critical_order, stop_orders, whole_seconds_now
from workflows.domain.model import PartyOrder, track_workflow_id

_LINE = re.compile(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}/hook"  # nothing listens: connection refused


Samples = dict[str, list[tuple[dict[str, str], float]]]


def parse(text: str) -> Samples:
    samples: Samples = defaultdict(list)
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        assert match, f"not Prometheus text: {line!r}"
        name, labels, value = match.groups()
        samples[name].append((dict(_LABEL.findall(labels or "")), float(value)))
    return samples


async def retried_tasks(client: Client, order_id: str) -> list[str]:
    """The workflow tasks of the order's tracking that failed or timed out, with the cause."""
    history = await client.get_workflow_handle(track_workflow_id(order_id)).fetch_history()
    retried = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            cause = WorkflowTaskFailedCause.Name(event.workflow_task_failed_event_attributes.cause)
            retried.append(f"event {event.event_id}: {cause}")
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
            retried.append(f"event {event.event_id}: timed out")
    return retried


def total(samples: Samples, name: str, **labels: str) -> float:
    return sum(
        value
        for found, value in samples.get(name, [])
        if all(found.get(key) == wanted for key, wanted in labels.items())
    )


def test_the_metrics_port_setting() -> None:
    assert Settings({}).metrics_address() is None
    assert Settings({"PARTY_ORDERS_METRICS_PORT": "9464"}).metrics_address() == "0.0.0.0:9464"
    assert (
        Settings({"PARTY_ORDERS_METRICS_PORT": "127.0.0.1:9464"}).metrics_address()
        == "127.0.0.1:9464"
    )
    for bad in ("metrics", "0", "70000", "host:"):
        with pytest.raises(ValueError, match="PARTY_ORDERS_METRICS_PORT must be a port"):
            Settings({"PARTY_ORDERS_METRICS_PORT": bad}).metrics_address()


@pytest.mark.parametrize("taken", [False, True])
def test_the_worker_command_refuses_a_bad_or_taken_metrics_port(taken: bool) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        setting = f"127.0.0.1:{busy.getsockname()[1]}" if taken else "not-a-port"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PARTY_ORDERS_")}
        done = subprocess.run(
            [sys.executable, "-m", "starter", "worker"],
            cwd=Path(__file__).resolve().parents[1],
            env={
                **env,
                "PARTY_ORDERS_METRICS_PORT": setting,
                # Given, so that the worker goes on to the metrics port.
                "PARTY_ORDERS_WEBHOOK_MASTER_SECRET": "a-master-secret-for-the-test",
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert "Traceback" not in done.stderr
    if taken:
        assert done.returncode == 1
        assert f"cannot serve metrics on {setting}" in done.stderr
    else:
        assert done.returncode == 2
        assert "PARTY_ORDERS_METRICS_PORT must be a port or HOST:PORT" in done.stderr


async def test_metrics_scrape_after_a_lifecycle(dev_address: str, tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    client = await Client.connect(
        dev_address,
        runtime=worker.metrics_runtime(address),
        data_converter=pydantic_data_converter,
    )
    now = whole_seconds_now()
    # critical: a milestone passes in 3 s, then escalation levels 1 to 3 at +0, +2, +4 s;
    # its party's webhook refuses connections, so party notifications fail.
    critical = critical_order(unique(), "ACME", now)
    critical["party"]["webhookUrl"] = closed_port_url()
    delivered = example_order(unique(), now)
    cancelled = example_order(unique(), now)
    async with running_worker(client, tmp_path / "outbox.jsonl", max_cached_workflows=0) as (
        _,
        task_queue,
    ):
        orders = PartyOrderClient(client, task_queue, callback_allow=TEST_ALLOW)
        for order in (critical, delivered, cancelled):
            await orders.start(order)
        track = client.get_workflow_handle(track_workflow_id(critical["id"]))
        await track.signal("report_progress", {"percentComplete": 500})  # out of range
        await track.signal("no_such_message", {"x": 1})
        # No confirming query: a worker without a cache answers a query by replaying the
        # run, and the SDK may then take the run's newest task as new and count it again.
        await orders.report_progress(delivered["id"], {"delivered": True})
        await orders.cancel(cancelled["id"], {"reason": "no longer needed"})
        for order_id in (delivered["id"], cancelled["id"]):
            handle = client.get_workflow_handle(track_workflow_id(order_id), result_type=PartyOrder)
            await asyncio.wait_for(handle.result(), timeout=30)

        expected = {
            ("party_orders_orders_ended", ("outcome", "completed")): 1,
            ("party_orders_orders_ended", ("outcome", "cancelled")): 1,
            ("party_orders_rejected_messages", ("message", "report_progress")): 1,
            ("party_orders_rejected_messages", ("message", "unknown")): 1,
            ("party_orders_escalations", ("level", "1")): 1,
            ("party_orders_escalations", ("level", "2")): 1,
            ("party_orders_escalations", ("level", "3")): 1,
        }
        deadline = time.monotonic() + 40
        async with httpx.AsyncClient() as http:
            while True:
                response = await http.get(f"http://{address}/metrics", timeout=5)
                assert response.status_code == 200
                samples = parse(response.text)
                mine = {"task_queue": task_queue}
                counts = {key: total(samples, key[0], **mine, **dict([key[1]])) for key in expected}
                ready = (
                    all(counts[key] >= expected[key] for key in expected)
                    and total(samples, "party_orders_jeopardy_changes", status="critical") >= 1
                    and total(samples, "party_orders_notification_failures", channel="webhook") >= 1
                    and total(samples, "party_orders_notifications_delivered", channel="outbox")
                    >= 1
                )
                if ready or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
        retried = {
            order["id"]: await retried_tasks(client, order["id"])
            for order in (critical, delivered, cancelled)
        }
        await stop_orders(track)

    # A workflow task that fails or times out is run again, not replayed, so what it counted
    # is counted again (the SDK's metrics are at least once); replay itself counts nothing.
    # Each count is exact but for such tasks, which the orders' histories name.
    allowed = sum(len(tasks) for tasks in retried.values())
    assert all(expected[key] <= counts[key] <= expected[key] + allowed for key in expected), (
        f"{counts} against {expected}; tasks run again: {retried}\n{response.text}"
    )
    # One start per order although every task replayed the history from the start.
    assert 3 <= total(samples, "party_orders_orders_started", **mine) <= 3 + allowed
    assert total(samples, "party_orders_orders_started", **mine, workflow_type="TrackPartyOrder")
    assert total(samples, "party_orders_jeopardy_changes", **mine, status="critical") >= 1
    assert total(samples, "party_orders_jeopardy_changes", status="critical", **{"from": "none"})
    assert total(samples, "party_orders_jeopardy_changes", **mine, status="none") == 0
    failures = total(
        samples, "party_orders_notification_failures", channel="webhook", recipient="party"
    )
    assert failures >= 1
    assert total(samples, "party_orders_notifications_delivered", channel="outbox") >= 3
    assert total(samples, "party_orders_notification_failures", channel="outbox") == 0
    # The SDK's own metrics come from the same exporter.
    assert total(samples, "temporal_workflow_completed", **mine) >= 2
    assert any(name.startswith("temporal_activity_execution_latency") for name in samples)
    # Every message applied is timed from its arrival, by name (4 signals to 3 orders).
    waits = "party_orders_message_wait_count"
    assert total(samples, waits, **mine, message="report_progress") == 2
    assert total(samples, waits, **mine, message="cancel_order") == 1
    assert total(samples, waits, **mine, message="unknown") == 1
    assert f"{waits[: -len('_count')]}_bucket" in samples
    # No order id or personal data in any label.
    for order in (critical, delivered, cancelled):
        assert order["id"] not in response.text
    assert "/hook" not in "".join(
        value for found in samples.values() for labels, _ in found for value in labels.values()
    )
