"""Sample party orders shipped with the package.

``PO-1001.json`` is the contract's example order; ``demo-*.json`` are the demo's templates
(``starter/demo.py``). The ``PO-*`` samples give their dates relative to the day they are
started (``"+P34D"``), so they never go stale: ``party-orders start`` resolves them, and
``party-orders sample NAME`` prints a sample with its dates made absolute. Tests and the
benchmark start from the example too, so that the order they exercise is the one the
README's tour and the contract show.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from importlib import resources
from typing import Any

from starter.dates import resolve_relative_dates
from workflows.domain.instants import iso

CONTRACT_EXAMPLE = "PO-1001"


def sample_names() -> list[str]:
    """The samples a person starts by name (the demo's templates are not among them)."""
    return sorted(
        entry.name.removesuffix(".json")
        for entry in resources.files(__name__).iterdir()
        if entry.name.startswith("PO-") and entry.name.endswith(".json")
    )


def load_sample(name: str, now: datetime | None = None) -> dict[str, Any]:
    """The order in ``starter/samples/{name}.json`` (installed as package data): with its
    relative dates made absolute from ``now``, or as written when ``now`` is None."""
    data = json.loads((resources.files(__name__) / f"{name}.json").read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"sample {name!r} is not a JSON object")
    return data if now is None else resolve_relative_dates(data, now)


def example_order(
    order_id: str,
    now: datetime,
    *,
    party_id: str = "ACME",
    survey_in: timedelta = timedelta(days=20),
    expected_in: timedelta = timedelta(days=110),
    requested_in: timedelta = timedelta(days=120),
    **overrides: Any,
) -> dict[str, Any]:
    """The contract's example order as ``order_id``, its dates placed after ``now``.

    The survey milestone, the expected and the requested completion dates fall
    ``survey_in``, ``expected_in`` and ``requested_in`` after ``now``; ``overrides`` replace
    whole top-level fields (camelCase, as on the wire).
    """
    order = load_sample(CONTRACT_EXAMPLE, now)
    order["id"] = order_id
    order["party"]["id"] = party_id
    (survey,) = order["milestones"]
    survey["milestoneDate"] = iso(now + survey_in)
    order["expectedCompletionDate"] = iso(now + expected_in)
    order["requestedCompletionDate"] = iso(now + requested_in)
    order.update(overrides)
    return order
