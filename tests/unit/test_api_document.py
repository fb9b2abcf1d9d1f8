"""What the OpenAPI document calls valid, the API takes: the patterns written into the
document by hand (``starter/api/document.py``, ``starter/api/routes.py``) against the
parsers the API really uses."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from activities.outbound import OutboundRefused, check_url
from activities.settings import check_webhook_url
from starter.api.app import create_app
from starter.api.document import (
    CALLBACK_PATTERN,
    DATE_TIME_PATTERN,
    HUB_QUERY_PATTERN,
    TIME_OF_DAY_PATTERN,
    longest_item_description,
    years_from,
)
from starter.api.errors import ApiError
from starter.api.routes import FIELDS_PATTERN, selected_fields
from workflows.domain.bounds import MAX_ITEM_CHARS
from workflows.domain.calendar import PartyCalendar
from workflows.domain.hub import parse_query
from workflows.domain.messages import ProgressReport
from workflows.domain.model import Instant, OrderItem, TrackingPolicy


@settings(max_examples=300)
@given(st.from_regex(HUB_QUERY_PATTERN, fullmatch=True))
def test_every_hub_query_the_document_allows_is_taken(query: str) -> None:
    parse_query(query)


@pytest.mark.parametrize(
    "refused",
    [
        "eventType=Bogus",
        "eventType=PartyOrderCreateEvent&eventType=PartyOrderMilestoneEvent",
        "partyOrder.id=-bad",
        "colour=blue",
        "partyOrder.party.id=",
    ],
)
def test_the_hub_query_pattern_refuses_what_the_api_refuses(refused: str) -> None:
    with pytest.raises(ValueError):
        parse_query(refused)
    assert re.fullmatch(HUB_QUERY_PATTERN, refused) is None


@settings(max_examples=300)
@given(st.from_regex(FIELDS_PATTERN, fullmatch=True))
def test_every_fields_selection_the_document_allows_is_taken(fields: str) -> None:
    selected_fields(fields)


def test_the_fields_pattern_refuses_an_unknown_field() -> None:
    with pytest.raises(ApiError):
        selected_fields("state,jeopardi")
    assert re.fullmatch(FIELDS_PATTERN, "state,jeopardi") is None


@settings(max_examples=200)
@given(st.from_regex(CALLBACK_PATTERN, fullmatch=True))
def test_every_callback_form_the_document_allows_is_a_webhook_url(callback: str) -> None:
    check_webhook_url(callback, "callback")
    check_url(callback, "callback")  # the API's own check at POST /hub, nothing allowed


@settings(max_examples=300)
@given(st.text(max_size=40))
def test_every_path_the_api_takes_in_a_callback_the_document_allows(rest: str) -> None:
    """schemathesis found ``.../1sqzTZ*`` taken while the pattern refused it."""
    callback = f"https://orders.example.com/{rest}"
    try:
        check_url(callback, "callback")
    except OutboundRefused:
        return
    assert re.fullmatch(CALLBACK_PATTERN, callback)


@pytest.mark.parametrize(
    "callback",
    [
        "https://ltqbtnt5-.example.com/",  # a label may not end with a hyphen
        "https://-x.example.com/",
        "https://x.localhost/events",  # a name of this machine
        "https://localhost.localdomain/",
        "https://orders.example.com/with space",
        "https://orders.example.com/tab\there",
    ],
)
def test_a_callback_the_api_refuses_is_outside_the_pattern(callback: str) -> None:
    with pytest.raises(OutboundRefused):
        check_url(callback, "callback")
    assert re.fullmatch(CALLBACK_PATTERN, callback) is None


def test_an_item_description_is_as_long_as_the_item_s_bound_lets_it_be() -> None:
    """schemathesis found a description of 4,000 characters (its own bound) refused: the
    item as a whole is bounded tighter, so the document bounds the description by it."""
    schemas = create_app().openapi()["components"]["schemas"]
    item = schemas["OrderItem-Input"]
    (text,) = [c for c in item["properties"]["description"]["anyOf"] if c["type"] == "string"]
    longest = text["maxLength"]
    assert longest == longest_item_description()
    OrderItem(id="x", description="d" * longest)
    with pytest.raises(ValidationError, match="characters of JSON"):
        OrderItem(id="x", description="d" * (longest + 1))
    assert item["x-maxJsonChars"] == MAX_ITEM_CHARS


def test_the_rules_between_fields_are_said_in_the_document() -> None:
    schemas = create_app().openapi()["components"]["schemas"]
    policy = schemas["TrackingPolicy"]
    assert "responseWindow" in policy["description"]
    escalation = policy["properties"]["escalation"]
    assert "increasing level order" in escalation["description"]
    # The document calls a repeated level invalid, as the API does.
    assert escalation["uniqueItems"] is True
    level = {"level": 1, "after": "PT0S", "notify": "order-manager"}
    with pytest.raises(ValidationError, match="increasing level order"):
        TrackingPolicy.model_validate({"escalation": [level, level]})
    assert "characters of JSON" in schemas["OrderItem-Input"]["description"]
    assert "characters of JSON" in schemas["PartyOrderSpec"]["description"]


def test_the_document_says_what_a_report_and_a_change_must_hold() -> None:
    schemas = create_app().openapi()["components"]["schemas"]
    report = schemas["ProgressReport"]
    must = {tuple(alternative["required"]) for alternative in report["anyOf"]}
    assert ("percentComplete",) in must and ("note",) in must
    with pytest.raises(ValidationError, match="at least one"):
        ProgressReport.model_validate({"source": "party"})
    changes = schemas["ChangeSet-Input"]
    assert {
        "required": ["milestones"],
        "properties": {"milestones": {"type": "array", "minItems": 1}},
    } in changes["anyOf"]
    assert "changeRequestId" not in schemas["Resolution"]["properties"]


@settings(max_examples=300)
@given(
    st.from_regex(DATE_TIME_PATTERN),
    st.datetimes(
        timezones=st.sampled_from([timezone(timedelta(hours=h)) for h in (-14, 0, 14)])
    ).filter(lambda when: (when.month, when.day) != (2, 29)),  # in any year, not only leap
)
def test_every_date_the_document_allows_is_in_the_api_s_range(prefix: str, when: datetime) -> None:
    year = int(prefix[:4])
    written = when.replace(year=year).isoformat()
    assert re.match(DATE_TIME_PATTERN, written)
    TypeAdapter(Instant).validate_python(written)


@settings(max_examples=300)
@given(st.integers(2000, 2989), st.integers(1900, 8999))
def test_years_from_takes_exactly_the_years_from_the_first(first: int, year: int) -> None:
    pattern = years_from(first)
    assert (re.match(pattern, f"{year:04d}-01-01T00:00:00Z") is not None) == (first <= year <= 8998)


def test_a_start_s_dates_are_promised_from_next_year_on() -> None:
    spec = create_app().openapi()["components"]["schemas"]["PartyOrderSpec"]
    agreed = spec["properties"]["requestedCompletionDate"]["anyOf"][0]
    next_year = datetime.now(UTC).year + 1
    assert re.match(agreed["pattern"], f"{next_year}-01-01T00:00:00Z")
    assert not re.match(agreed["pattern"], f"{next_year - 1}-12-31T00:00:00Z")


@settings(max_examples=200)
@given(
    st.from_regex(TIME_OF_DAY_PATTERN, fullmatch=True), st.sampled_from(["UTC", "Europe/Berlin"])
)
def test_every_calendar_the_document_allows_is_taken(start: str, zone: str) -> None:
    PartyCalendar.model_validate(
        {"timeZone": zone, "workingHours": {"start": start, "end": "23:59:59"}}
    )


def test_the_document_lists_the_time_zones_the_api_takes() -> None:
    schemas = create_app().openapi()["components"]["schemas"]
    zones = schemas["PartyCalendar"]["properties"]["timeZone"]["enum"]
    assert "Europe/Berlin" in zones and "Mars/Olympus" not in zones
    for zone in zones[:: max(1, len(zones) // 50)]:
        PartyCalendar.model_validate({"timeZone": zone})
