"""The morning digest: its rules (pure), and a triggered schedule run on the dev server."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client

from activities.digest import rules_listed
from starter.client import PartyOrderClient
from starter.local.binaries import temporal_cli_path
from starter.samples import example_order
from starter.schedules import ensure_digest_schedule, run_digest_now
from tests.conftest import read_outbox, running_worker, unique
from workflows.domain.digest import contacts_of, digest_entry, digest_notices
from workflows.domain.instants import iso
from workflows.domain.model import PartyOrder, PartyOrderSpec
from workflows.domain.rules import CURRENT_RULES, RULES_4
from workflows.domain.tracker import PartyOrderTracker

NOW = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)


def tracked(due_in: timedelta, manager: str, level_one: str, level_one_after: str) -> PartyOrder:
    """An order started a week ago, due ``due_in`` from NOW, advanced to NOW."""
    spec = example_order(unique(), NOW - timedelta(days=7), expected_in=timedelta(days=7) + due_in)
    spec["trackingPolicy"].update(
        orderManager=manager,
        escalation=[{"level": 1, "after": level_one_after, "notify": level_one}],
    )
    spec["milestones"] = []
    tracker = PartyOrderTracker.start(
        PartyOrderSpec.model_validate(spec), NOW - timedelta(days=7), rules_version=CURRENT_RULES
    )
    tracker.advance(NOW)
    return tracker.order


def test_an_order_is_listed_for_its_manager_and_the_levels_it_reached() -> None:
    late = tracked(timedelta(days=-1), "mgr-a", "lead-a", "PT0S")
    assert late.jeopardy.status == "critical" and late.jeopardy.escalation_level == 1
    assert contacts_of(late) == ["mgr-a", "lead-a"]
    not_reached = tracked(timedelta(days=-1), "mgr-b", "lead-b", "P30D")
    assert contacts_of(not_reached) == ["mgr-b"]


def test_orders_not_in_jeopardy_are_not_listed() -> None:
    calm = tracked(timedelta(days=60), "mgr-a", "lead-a", "PT0S")
    assert calm.jeopardy.status == "none"
    assert digest_entry(calm, NOW, RULES_4) is None


def test_one_notice_per_contact_with_something_to_report() -> None:
    late = tracked(timedelta(days=-1), "mgr-a", "lead-a", "PT0S")
    other = tracked(timedelta(days=-2), "mgr-b", "lead-b", "P30D")
    calm = tracked(timedelta(days=60), "mgr-c", "lead-c", "PT0S")
    entries = [e for o in (late, other, calm) if (e := digest_entry(o, NOW, RULES_4)) is not None]
    notices = digest_notices(entries, NOW, "run-1")
    by_contact = {n.recipient: n for n in notices}
    assert sorted(by_contact) == ["lead-a", "mgr-a", "mgr-b"]  # nobody hears of nothing
    for contact, order in (("mgr-a", late), ("lead-a", late), ("mgr-b", other)):
        notice = by_contact[contact]
        assert (notice.kind, notice.recipient_kind) == ("digest", "contact")
        assert notice.idempotency_key == f"digest/run-1/{contact}"
        (listed,) = notice.body["orders"]
        assert listed["orderId"] == order.id and listed["status"] == "critical"
        assert listed["reasons"] == order.jeopardy.reasons and listed["reasons"]
        assert listed["party"] == {"id": "ACME", "name": "Acme Networks"}
        assert listed["escalationLevel"] == order.jeopardy.escalation_level
        assert notice.subject == "1 party orders in jeopardy (1 critical)"


def policy(manager: str, level_one: str, after: str) -> dict[str, Any]:
    return {
        "orderManager": manager,
        "escalation": [{"level": 1, "after": after, "notify": level_one}],
    }


async def test_a_triggered_digest_lists_exactly_each_contacts_orders(
    dev_client: Client, tmp_path: Path
) -> None:
    tag = unique("d")
    mgr, lead, mgr2 = f"mgr-{tag}", f"lead-{tag}", f"mgr2-{tag}"
    outbox = tmp_path / "outbox.jsonl"
    now = datetime.now(UTC)

    def order(due_in: timedelta, tracking_policy: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": unique("DG"),
            "party": {"id": "ACME", "name": "Acme Networks"},
            "requestedCompletionDate": iso(now + due_in),
            "trackingPolicy": tracking_policy,
        }

    late = order(-timedelta(days=1), policy(mgr, lead, "PT0S"))  # critical, level 1
    soon = order(timedelta(days=1), policy(mgr2, lead, "P30D"))  # hazard, no level yet
    calm = order(timedelta(days=90), policy(mgr, lead, "PT0S"))  # not in jeopardy
    async with running_worker(dev_client, outbox) as (_, task_queue):
        orders = PartyOrderClient(dev_client, task_queue)
        for each in (late, soon, calm):
            await orders.start(each)
        for each, status in ((late, "critical"), (soon, "hazard")):
            for _ in range(100):
                if (await orders.get(each["id"])).jeopardy.status == status:
                    break
                await asyncio.sleep(0.1)
        # The digest lists what visibility shows: wait until it shows both in jeopardy.
        ids = ", ".join(f'"party-order-{each["id"]}"' for each in (late, soon))
        query = f'WorkflowId IN ({ids}) AND PartyOrderJeopardy IN ("hazard", "critical")'
        for _ in range(100):
            if (await dev_client.count_workflows(query)).count == 2:
                break
            await asyncio.sleep(0.1)
        # The listing shows the rules each run tracks by (the patch ids it recorded), by
        # which the digest tells an order's next deadline.
        running = [e async for e in dev_client.list_workflows(query)]
        assert [rules_listed(e.typed_search_attributes).version for e in running] == [
            CURRENT_RULES,
            CURRENT_RULES,
        ]
        schedule_id = unique("digest-schedule")
        assert await ensure_digest_schedule(dev_client, task_queue, schedule_id=schedule_id)
        # Once more: it is brought to the spec, not made twice.
        assert not await ensure_digest_schedule(dev_client, task_queue, schedule_id=schedule_id)
        described = await asyncio.to_thread(
            subprocess.run,
            [
                temporal_cli_path(),
                "schedule",
                "describe",
                "--schedule-id",
                schedule_id,
                "--address",
                dev_client.service_client.config.target_host,
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert described.returncode == 0, described.stderr
        assert "PartyOrderDigest" in described.stdout
        await run_digest_now(dev_client, schedule_id)
        ours = {mgr, lead, mgr2}
        digests: dict[str, Any] = {}
        for _ in range(200):  # the listing is eventually consistent; notices land in time
            digests = {
                n["recipient"]: n
                for n in read_outbox(outbox)
                if n["kind"] == "digest" and n["recipient"] in ours
            }
            if set(digests) == ours:
                break
            await asyncio.sleep(0.1)
        await dev_client.get_schedule_handle(schedule_id).delete()
    assert set(digests) == ours

    def listed(contact: str) -> list[str]:
        return [o["orderId"] for o in digests[contact]["body"]["orders"]]

    assert listed(mgr) == [late["id"]]
    assert listed(lead) == [late["id"]]
    assert listed(mgr2) == [soon["id"]]
    assert digests[mgr2]["body"]["orders"][0]["status"] == "hazard"
