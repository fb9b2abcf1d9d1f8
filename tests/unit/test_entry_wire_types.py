"""Where orders and messages enter (the client API, and the CLI and HTTP API through it):
strict wire types and the minimum interval (CONTRACT.md, "Wire types")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from settings import MIN_DURATION_ENV, Settings
from starter.client import InvalidInput, check_minimum_durations, validate_message
from starter.samples import example_order
from workflows.domain.messages import ProgressReport
from workflows.domain.model import PartyOrderSpec

NOW = datetime(2027, 1, 4, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("report", "error"),
    [
        ({"delivered": "yes"}, "delivered: should be a valid boolean (received 'yes')"),
        ({"percentComplete": True}, "percentComplete: should be a valid integer (received true)"),
        ({"percentComplete": "50"}, "percentComplete: should be a valid integer (received '50')"),
        (
            {"expectedCompletionDate": 1900000000},
            "expectedCompletionDate: should be a valid datetime",
        ),
    ],
)
def test_a_message_is_read_without_coercion(report: dict[str, Any], error: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        validate_message(ProgressReport, report, "progress report")
    assert str(refused.value).startswith(f"invalid progress report: {error}")


def test_python_dates_and_durations_are_still_taken_as_iso_8601() -> None:
    report = validate_message(
        ProgressReport, {"expectedCompletionDate": NOW + timedelta(days=3)}, "progress report"
    )
    assert report.expected_completion_date == NOW + timedelta(days=3)
    order = example_order("PO-E1", NOW)
    order["trackingPolicy"]["checkInInterval"] = timedelta(days=7)
    spec = validate_message(PartyOrderSpec, order, "party order")
    assert spec.tracking_policy.check_in_interval == timedelta(days=7)


@pytest.mark.parametrize("value", [7, 7.0, "7"])
def test_a_number_is_no_duration(value: Any) -> None:
    order = example_order("PO-E2", NOW)
    order["trackingPolicy"]["checkInInterval"] = value
    with pytest.raises(InvalidInput, match=r"trackingPolicy\.checkInInterval"):
        validate_message(PartyOrderSpec, order, "party order")


def test_every_interval_and_window_is_at_least_the_minimum() -> None:
    minimum = Settings.from_env({}).min_duration()
    assert minimum == timedelta(minutes=5)
    order = example_order("PO-E3", NOW)
    order["trackingPolicy"].update(checkInInterval="PT1S", responseWindow="PT1S")
    spec = validate_message(PartyOrderSpec, order, "party order")
    with pytest.raises(InvalidInput) as refused:
        check_minimum_durations(spec, minimum)
    assert str(refused.value) == (
        "invalid party order: trackingPolicy.checkInInterval: PT1S is shorter than the"
        f" minimum PT5M ({MIN_DURATION_ENV})"
    )
    order["trackingPolicy"].update(checkInInterval="PT5M", escalationRepeatInterval="PT4M")
    spec = validate_message(PartyOrderSpec, order, "party order")
    with pytest.raises(InvalidInput, match=r"trackingPolicy\.responseWindow: PT1S"):
        check_minimum_durations(spec, minimum)
    lowered = Settings.from_env({MIN_DURATION_ENV: "PT1S"}).min_duration()  # as tests do
    check_minimum_durations(spec, lowered)


@pytest.mark.parametrize("text", ["5 minutes", "300", "PT0S", "-PT5M"])
def test_a_minimum_that_is_no_positive_iso_duration_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=MIN_DURATION_ENV):
        Settings.from_env({MIN_DURATION_ENV: text}).min_duration()
