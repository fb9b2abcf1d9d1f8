"""Party orders and progress reports as a client sends them (the contract's JSON)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any


def iso(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


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
    if milestones is None:
        milestones = [("survey", now + timedelta(days=20))]
    policy: dict[str, Any] = {
        "checkInInterval": "P7D",
        "responseWindow": "P2D",
        "unansweredCheckInLimit": 2,
        "warningLeadTime": "P3D",
        "changeResolutionWindow": "P2D",
        "escalation": [
            {"level": 1, "after": "PT0S", "notify": "order-manager"},
            {"level": 2, "after": "P1D", "notify": "operations-lead"},
            {"level": 3, "after": "P3D", "notify": "executive-sponsor"},
        ],
    }
    policy.update(tracking_policy or {})
    return {
        "id": order_id,
        "description": "10G backhaul circuit for site 42",
        "party": {
            "id": party_id,
            "name": "Acme Networks",
            "role": "supplier",
            "contactEmail": "orders@acme.example",
            "webhookUrl": None,
        },
        "originatingProcess": {"name": "service-order-handling", "reference": "SO-77"},
        "orderItems": [{"id": "1", "description": "10G circuit", "quantity": 1}],
        "requestedCompletionDate": iso(now + due_in + timedelta(days=10)),
        "expectedCompletionDate": iso(now + due_in),
        "milestones": [
            {"id": mid, "name": f"Milestone {mid}", "milestoneDate": iso(when)}
            for mid, when in milestones
        ],
        "trackingPolicy": policy,
    }


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
