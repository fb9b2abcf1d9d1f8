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

from activities.settings import check_webhook_url
from starter.api.app import create_app
from starter.api.document import (
    CALLBACK_PATTERN,
    DATE_TIME_PATTERN,
    HUB_QUERY_PATTERN,
    TIME_OF_DAY_PATTERN,
    years_from,
)
from starter.api.errors import ApiError
from starter.api.routes import FIELDS_PATTERN, selected_fields
from workflows.domain.calendar import PartyCalendar
from workflows.domain.hub import parse_query
from workflows.domain.messages import ProgressReport
from workflows.domain.model import Instant


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
    st.datetimes(timezones=st.sampled_from([timezone(timedelta(hours=h)) for h in (-14, 0, 14)])),
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
