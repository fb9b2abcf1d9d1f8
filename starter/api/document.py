"""The rules the API enforces that FastAPI cannot read off the models, written into the
OpenAPI document: a party's view of an order, the start input's required date, the hub
query's grammar. What the document calls valid, the API takes (schemathesis checks it).
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime
from typing import Any

from workflows.domain.bounds import MAX_ITEM_CHARS, START_INPUT_CHARS_LIMIT
from workflows.domain.hub import EVENT_TYPES
from workflows.domain.model import ORDER_ID_PATTERN, TRACKED_ITEM_FIELDS, OrderItem
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


_HOST_LABEL = r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?"
CALLBACK_PATTERN = (
    r"^https?://"
    # Not a name of this machine (refused unless the operator's allow list has it).
    r"(?!(?:[^/?#]*\.)?localhost(?:\.localdomain)?\.?(?:[/?#]|$))"
    rf"{_HOST_LABEL}(?:\.{_HOST_LABEL})+"
    # Path, query and fragment: anything but blanks and control characters.
    r"(?:[/?#][^\s\x00-\x1f\x7f]*)?$"
)
"""Callbacks the document promises: an http(s) URL naming a host by its DNS name (each
label a letter first, no hyphen last), with any path, query and fragment but blanks and
control characters, as the API takes them. The API takes a few forms more (a port, an
upper-case host, a public address); whether the name resolves to an address it may call
is checked when it is called."""

# What a value must be to count as given, by its JSON type.
_GIVEN: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "list": {"type": "array", "minItems": 1},
}


def _at_least_one(schema: dict[str, Any], fields: dict[str, dict[str, Any]]) -> None:
    """``schema`` requires at least one of ``fields``, each given (not null, not empty)."""
    schema["anyOf"] = [
        {"required": [name], "properties": {name: given}} for name, given in fields.items()
    ]


def _unless_deleted(schema: dict[str, Any], dated: str) -> None:
    """``schema`` requires ``dated`` unless its ``action`` is ``delete``."""
    schema["anyOf"] = [
        {"required": [dated], "properties": {dated: _GIVEN["string"]}},
        {"required": ["action"], "properties": {"action": {"const": "delete"}}},
    ]


DATE_TIME_PATTERN = (
    r"^(?:19(?:0[1-9]|[1-9][0-9])|[2-7][0-9]{3}|8(?:[0-8][0-9]{2}|9(?:[0-8][0-9]|9[0-8])))-"
)
"""Date-times the document promises: years 1901 to 8998 as written (the API takes 1900 to
8999 in UTC, so an offset at either end never takes a promised one out of range)."""


TIME_OF_DAY_PATTERN = r"^(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9])?$"


def years_from(first: int) -> str:
    """A pattern for a date-time in the year ``first`` (2000 to 2989) or later, to 8998."""
    if not 2000 <= first <= 2989:
        raise ValueError(f"year {first} is outside 2000 to 2989")
    digits = f"{first:04d}"
    tens, unit = digits[:3], int(digits[3])
    choices = [f"{tens}[{unit}-9]"]
    if int(digits[2]) < 9:
        choices.append(f"{digits[:2]}[{int(digits[2]) + 1}-9][0-9]")
    if int(digits[1]) < 9:
        choices.append(f"2[{int(digits[1]) + 1}-9][0-9]{{2}}")
    choices += ["[3-7][0-9]{3}", "8(?:[0-8][0-9]{2}|9(?:[0-8][0-9]|9[0-8]))"]
    return f"^(?:{'|'.join(choices)})-"


def _bound_dates(schema: Any) -> None:
    """Every date-time in ``schema`` gains DATE_TIME_PATTERN."""
    if isinstance(schema, dict):
        if schema.get("format") == "date-time" and schema.get("type") == "string":
            schema.setdefault("pattern", DATE_TIME_PATTERN)
        for value in schema.values():
            _bound_dates(value)
    elif isinstance(schema, list):
        for value in schema:
            _bound_dates(value)


def complete(schemas: dict[str, Any]) -> None:
    """Add what the models cannot say to the document's component ``schemas``."""
    add_party_view(schemas)
    _complete_start(schemas)
    _complete_messages(schemas)
    _bound_dates(schemas)
    _complete_patterns(schemas)
    _say_cross_field_rules(schemas)


ITEM_SIZE_RULE = (
    f"At most {MAX_ITEM_CHARS:,} characters of JSON as a whole (its extra TMF fields and"
    " escapes included; state, percentComplete and expectedCompletionDate left out)."
)
ESCALATION_RULE = (
    "Levels listed in increasing level order, and ``after`` never decreasing from one"
    " level to the next."
)
WINDOW_RULE = "``responseWindow`` must not be longer than ``checkInInterval``."


def _say_cross_field_rules(schemas: dict[str, Any]) -> None:
    """The rules that hold between fields, which JSON Schema cannot state: said in words
    (and ``x-maxJsonChars`` for an item), so that the document names every rule the API
    enforces. A generator that reads only the schema may still break them: the 400 names
    the rule."""
    for name in ("OrderItem-Input", "OrderItem"):
        item = schemas.get(name)
        if item is not None and item.get("properties"):
            item["description"] = ITEM_SIZE_RULE
            item["x-maxJsonChars"] = MAX_ITEM_CHARS
            for choice in item["properties"]["description"].get("anyOf", []):
                if choice.get("type") == "string":
                    choice["maxLength"] = longest_item_description()
    spec = schemas.get("PartyOrderSpec")
    if spec is not None:
        spec["description"] = (
            f"{spec.get('description', '')} At most {START_INPUT_CHARS_LIMIT:,} characters"
            " of JSON as a whole."
        ).strip()
        spec["x-maxJsonChars"] = START_INPUT_CHARS_LIMIT
    policy = schemas.get("TrackingPolicy")
    if policy is not None:
        policy["description"] = f"{policy.get('description', '')} {WINDOW_RULE}".strip()
        escalation = policy["properties"]["escalation"]
        escalation["description"] = ESCALATION_RULE
        # True of every list the API takes (two equal levels are never in increasing order)
        escalation["uniqueItems"] = True


def longest_item_description() -> int:
    """The longest description an item can have: the item's bound less the JSON of the
    smallest item with a description (a longer one is refused whatever else it holds)."""
    smallest = OrderItem(id="x", description="")
    return MAX_ITEM_CHARS - len(smallest.model_dump_json(exclude=set(TRACKED_ITEM_FIELDS)))


def _complete_start(schemas: dict[str, Any]) -> None:
    spec = schemas.get("PartyOrderSpec")
    if spec is None:
        return
    date = _GIVEN["string"]
    # One of the two completion dates, given as a date (not null).
    _at_least_one(spec, {"requestedCompletionDate": date, "expectedCompletionDate": date})
    # A start's completion dates must be to come: the document promises those from
    # next year on (the API takes any instant from now on).
    to_come = years_from(datetime.now(UTC).year + 1)
    for name in ("requestedCompletionDate", "expectedCompletionDate"):
        for choice in spec["properties"][name].get("anyOf", []):
            if choice.get("format") == "date-time":
                choice["pattern"] = to_come
    spec["properties"]["id"]["pattern"] = ORDER_ID_PATTERN


def _complete_messages(schemas: dict[str, Any]) -> None:
    date = _GIVEN["string"]
    for name in ("ChangeSet-Input", "ChangeSet"):
        if schemas.get(name, {}).get("properties"):
            changes = ("milestones", "orderItems", "checkpoints")
            _at_least_one(
                schemas[name],
                {
                    "expectedCompletionDate": date,
                    "requestedCompletionDate": date,
                    **{field: _GIVEN["list"] for field in changes},
                },
            )
    if "CheckpointChange" in schemas:
        _unless_deleted(schemas["CheckpointChange"], "date")
    for name in ("MilestoneDateChange-Input", "MilestoneDateChange"):
        if schemas.get(name, {}).get("properties"):
            _unless_deleted(schemas[name], "milestoneDate")
    report = schemas.get("ProgressReport")
    if report is not None:
        _at_least_one(
            report,
            {
                "percentComplete": {"type": "integer"},
                "milestones": _GIVEN["list"],
                "expectedCompletionDate": date,
                "delivered": {"const": True},
                "note": {"type": "string"},
                "orderItems": _GIVEN["list"],
            },
        )
    resolution = schemas.get("Resolution")
    if resolution is not None:
        # Named by the path; the body may repeat it (the same), so the document leaves it out.
        resolution["properties"].pop("changeRequestId", None)


def _complete_patterns(schemas: dict[str, Any]) -> None:
    """Patterns and enums of the strings the API checks: URLs, zones, times, hub queries."""
    party = schemas.get("Party")
    if party is not None:
        for choice in party["properties"]["webhookUrl"].get("anyOf", []):
            if choice.get("type") == "string":
                choice["pattern"] = CALLBACK_PATTERN
    calendar = schemas.get("PartyCalendar")
    if calendar is not None:
        calendar["properties"]["timeZone"]["enum"] = sorted(zoneinfo.available_timezones())
    hours = schemas.get("WorkingHours")
    if hours is not None:
        for name in ("start", "end"):
            # A time of day without an offset, as the API takes and answers it ("format":
            # "time" would ask for an offset).
            hours["properties"][name].pop("format", None)
            hours["properties"][name]["pattern"] = TIME_OF_DAY_PATTERN
    hub = schemas.get("HubSubscriptionInput")
    if hub is not None:
        hub["properties"]["callback"]["pattern"] = CALLBACK_PATTERN
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
