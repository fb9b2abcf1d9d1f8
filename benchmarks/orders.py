"""Party orders and progress reports as a client sends them (the contract's JSON)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio.common import TypedSearchAttributes

from starter.client import initial_search_attributes
from starter.samples import example_order
from workflows.domain.instants import iso
from workflows.domain.model import PartyOrderSpec


def duration(value: timedelta) -> str:
    """ISO 8601 duration of whole seconds (``PT3600S`` style is valid ISO 8601)."""
    seconds = int(value.total_seconds())
    days, rest = divmod(seconds, 86_400)
    return f"P{days}DT{rest}S" if rest else f"P{days}D"


def order_payload(
    order_id: str,
    now: datetime,
    *,
    party_id: str = "ACME",
    due_in: timedelta = timedelta(days=110),
    milestones: list[tuple[str, datetime]] | None = None,
    tracking_policy: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The contract's example start input, with its dates placed after ``now``."""
    order = example_order(
        order_id,
        now,
        party_id=party_id,
        expected_in=due_in,
        requested_in=due_in + timedelta(days=10),
    )
    if milestones is not None:
        order["milestones"] = [
            {"id": mid, "name": f"Milestone {mid}", "milestoneDate": iso(when)}
            for mid, when in milestones
        ]
    order["trackingPolicy"].update(tracking_policy or {})
    return order


def start_attributes(payload: dict[str, Any]) -> TypedSearchAttributes:
    """The search attributes the client API sets when it starts this order."""
    return initial_search_attributes(PartyOrderSpec.model_validate(payload))


def lifecycle_reports(order_id: str) -> list[dict[str, Any]]:
    """Three progress reports and the delivery, as the party sends them."""
    return [
        {"requestId": f"{order_id}-p1", "percentComplete": 25, "note": "survey booked"},
        {
            "requestId": f"{order_id}-p2",
            "percentComplete": 60,
            "milestones": [{"id": "survey", "status": "completed"}],
        },
        {"requestId": f"{order_id}-p3", "percentComplete": 90, "note": "circuit patched"},
        {"requestId": f"{order_id}-done", "delivered": True, "note": "circuit live"},
    ]
