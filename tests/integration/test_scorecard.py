"""The supplier scorecard against orders with known outcomes (real dev server and worker)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.client import Client

from starter.client import PartyOrderClient
from starter.scorecard import TERMINATED, PartyScore
from tests.conftest import unique
from workflows.domain.instants import iso


def order(party_id: str, due: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "id": unique("SC"),
        "party": {"id": party_id, "name": "Scorecard Supplies"},
        "requestedCompletionDate": iso(due),
        # No warning lead time: only a passed due date puts these orders in jeopardy.
        "trackingPolicy": {"warningLeadTime": "PT0S"},
        **extra,
    }


async def final_state(orders: PartyOrderClient, order_id: str, state: str) -> None:
    for _ in range(200):
        if (await orders.get(order_id)).state == state:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{order_id} never reached {state}")


@pytest.fixture
def orders(dev_client: Client, dev_task_queue: str) -> PartyOrderClient:
    return PartyOrderClient(dev_client, dev_task_queue)


async def scorecard_of(orders: PartyOrderClient, party_id: str, count: int) -> PartyScore:
    for _ in range(100):  # visibility is eventually consistent
        rows = await orders.scorecard(party=party_id)
        if rows and rows[0].orders == count and rows[0].open == 1:
            return rows[0]
        await asyncio.sleep(0.2)
    raise AssertionError(f"the scorecard never showed {count} orders: {rows}")


async def test_the_scorecard_of_orders_with_known_outcomes(orders: PartyOrderClient) -> None:
    party_id = unique("SUPPLIER")
    now = datetime.now(UTC)
    on_time = order(party_id, now + timedelta(days=10))
    late = order(party_id, now - timedelta(days=2))  # due two days ago: critical at once
    cancelled = order(party_id, now + timedelta(days=30))
    still_open = order(party_id, now + timedelta(days=30))
    # Two items, one delivered and one failed: partial, and on time.
    partial = order(
        party_id,
        now + timedelta(days=10),
        orderItems=[{"id": "1", "quantity": 1}, {"id": "2", "quantity": 1}],
    )
    for each in (on_time, late, cancelled, still_open, partial):
        await orders.start(each)

    await orders.request_change(
        on_time["id"], {"changes": {"requestedCompletionDate": iso(now + timedelta(days=9))}}
    )
    await orders.report_progress(on_time["id"], {"delivered": True})
    # The late order is critical from its first task: delivered only once it is, so that
    # its one jeopardy episode is on record however loaded the machine.
    for _ in range(200):
        if (await orders.get(late["id"])).jeopardy.status == "critical":
            break
        await asyncio.sleep(0.1)
    await orders.report_progress(late["id"], {"delivered": True})
    await orders.cancel(cancelled["id"], {"reason": "not needed"})
    await orders.report_progress(
        partial["id"],
        {"orderItems": [{"id": "1", "state": "completed"}, {"id": "2", "state": "failed"}]},
    )
    # The party answers a check-in on the open order.
    await orders.check_in_now(still_open["id"], {"requestedBy": "test"})
    await orders.report_progress(still_open["id"], {"percentComplete": 10}, confirm=True)
    await final_state(orders, on_time["id"], "completed")
    await final_state(orders, late["id"], "completed")
    await final_state(orders, cancelled["id"], "cancelled")
    await final_state(orders, partial["id"], "partial")

    row = await scorecard_of(orders, party_id, 5)
    assert (row.party_id, row.party_name) == (party_id, "Scorecard Supplies")
    assert row.ended == {"cancelled": 1, "completed": 2, "partial": 1}
    # Delivered: two completed (one two days late) and the partial one, on time.
    assert row.on_time_rate is not None and abs(row.on_time_rate - 2 / 3) < 1e-9
    assert row.worst_slip_days is not None and 1.99 < row.worst_slip_days < 2.01
    assert row.mean_slip_days is not None and abs(row.mean_slip_days - 2 / 3) < 0.01
    assert (row.check_ins_sent, row.check_in_response_rate) == (1, 1.0)
    assert row.median_response_hours is not None and row.median_response_hours < 0.1
    assert row.change_requests_per_order == 0.2
    assert row.jeopardy_episodes_per_order == 0.2  # the late order's one episode


async def test_a_terminated_tracking_counts_as_such_not_as_its_last_state(
    orders: PartyOrderClient, dev_client: Client
) -> None:
    party_id = unique("SUPPLIER")
    now = datetime.now(UTC)
    stopped, going = (
        order(party_id, now + timedelta(days=30)),
        order(party_id, now + timedelta(days=30)),
    )
    for each in (stopped, going):
        await orders.start(each)
    assert (await orders.get(stopped["id"])).state == "acknowledged"  # tracking has begun
    await dev_client.get_workflow_handle(f"party-order-{stopped['id']}").terminate("test")
    row = await scorecard_of(orders, party_id, 2)
    # As last known it was acknowledged and open; the scorecard says what happened.
    assert row.ended == {TERMINATED: 1}
    assert row.open == 1


async def test_a_party_with_no_orders_has_no_row(orders: PartyOrderClient) -> None:
    assert await orders.scorecard(party=unique("NOBODY")) == []


async def test_the_cli_prints_the_scorecard(
    orders: PartyOrderClient,
    dev_address: str,
    dev_task_queue: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from starter.cli import main

    party_id = unique("CLI-SUPPLIER")
    now = datetime.now(UTC)
    first = order(party_id, now + timedelta(days=5))
    await orders.start(first)
    await orders.report_progress(first["id"], {"delivered": True})
    await final_state(orders, first["id"], "completed")
    await orders.start(order(party_id, now + timedelta(days=5)))
    await scorecard_of(orders, party_id, 2)
    monkeypatch.setenv("TEMPORAL_ADDRESS", dev_address)
    monkeypatch.setenv("PARTY_ORDERS_TASK_QUEUE", dev_task_queue)
    code = await asyncio.to_thread(main, ["report", "--by", "party", "--since", iso(now)])
    out = capsys.readouterr().out
    assert code == 0
    line = next(line for line in out.splitlines() if party_id in line)
    assert "Scorecard Supplies" in line and "1 completed" in line and "100%" in line
    assert out.splitlines()[0].startswith("PARTY")
    code = await asyncio.to_thread(main, ["report", "--since", "2027-01-01T00:00:00Z"])
    assert code == 2
    assert "--since: only with --by party" in capsys.readouterr().err
