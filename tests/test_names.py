"""The contract's workflow ids and memo keys, each built in one place (``names.py``)."""

from __future__ import annotations

from workflows.domain import names


def test_an_order_is_found_by_the_contracts_workflow_ids() -> None:
    assert names.track_workflow_id("PO-1001") == "party-order-PO-1001"
    assert names.close_workflow_id("PO-1001") == "close-party-order-PO-1001"
    tracked = names.track_workflow_id("PO-1001")
    assert tracked.removeprefix(names.TRACK_WORKFLOW_ID_PREFIX) == "PO-1001"


def test_one_subscription_registry_per_task_queue() -> None:
    assert names.registry_workflow_id(names.DEFAULT_TASK_QUEUE) == "party-orders-subscriptions"
    assert names.registry_workflow_id("tq-1") == "party-orders-subscriptions-tq-1"


def test_one_hub_delivery_per_event_key() -> None:
    key = "PO-1001/checkIn-1/sub-7"
    assert names.delivery_workflow_id(key) == names.delivery_workflow_id(key)
    assert names.delivery_workflow_id(key) == f"party-orders-hub-{key}"
    assert names.delivery_workflow_id(key) != names.delivery_workflow_id(key + "x")


def test_memo_keys_are_distinct() -> None:
    keys = [names.START_DIGEST_MEMO, names.TRACKING_MEMO, names.SUBSCRIPTIONS_MEMO]
    assert len(set(keys)) == len(keys)
