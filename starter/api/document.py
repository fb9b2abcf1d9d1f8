"""The rules the API enforces that FastAPI cannot read off the models, written into the
OpenAPI document: a party's view of an order, the start input's required date, the hub
query's grammar. What the document calls valid, the API takes (schemathesis checks it).
"""

from __future__ import annotations

from typing import Any

from workflows.domain.hub import EVENT_TYPES
from workflows.domain.model import ORDER_ID_PATTERN
from workflows.domain.party_view import PartyOrderView

_EVENT = f"(?:{'|'.join(EVENT_TYPES)})"
_ORDER_ID = ORDER_ID_PATTERN.removeprefix("^").removesuffix("$")
_PARTY_ID = r"[^,&\s](?:[^,&]*[^,&\s])?"
_TERMS = (
    rf"eventType={_EVENT}(?:,{_EVENT})*",
    rf"partyOrder\.id={_ORDER_ID}(?:,{_ORDER_ID})*",
    rf"partyOrder\.party\.id={_PARTY_ID}(?:,{_PARTY_ID})*",
)


def _in_turn(terms: tuple[str, ...]) -> list[str]:
    """Every non-empty selection of ``terms``, in their order, joined by ``&``."""
    if not terms:
        return []
    first, rest = terms[0], _in_turn(terms[1:])
    return [first, *(f"{first}&{other}" for other in rest), *rest]


HUB_QUERY_PATTERN = rf"^(?:{'|'.join(_in_turn(_TERMS))})?$"
"""The hub queries the document promises: each field at most once, in the order
``eventType``, ``partyOrder.id``, ``partyOrder.party.id``. The API takes more (any order,
blanks around terms); never less."""


def complete(schemas: dict[str, Any]) -> None:
    """Add what the models cannot say to the document's component ``schemas``."""
    add_party_view(schemas)
    spec = schemas.get("PartyOrderSpec")
    if spec is not None:
        # One of the two completion dates, given as a date (not null).
        spec["anyOf"] = [
            {"required": [name], "properties": {name: {"type": "string", "format": "date-time"}}}
            for name in ("requestedCompletionDate", "expectedCompletionDate")
        ]
    hub = schemas.get("HubSubscriptionInput")
    if hub is not None:
        query = hub["properties"]["query"]
        for choice in query.get("anyOf", [query]):
            if choice.get("type") == "string":
                choice["pattern"] = HUB_QUERY_PATTERN


def add_party_view(schemas: dict[str, Any]) -> None:
    """``PartyOrderView``, the shape a party reads (referenced by hand: a route answers
    either shape, by the caller's role), with the models it uses that are not there yet."""
    view = PartyOrderView.model_json_schema(
        mode="serialization", ref_template="#/components/schemas/{model}"
    )
    for name, schema in view.pop("$defs", {}).items():
        schemas.setdefault(name, schema)
    schemas["PartyOrderView"] = view
