"""The samples never go stale: their dates are relative to the day they are started, so
the tour's orders start healthy today, next year and the year after."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from starter.calendars import resolve_holidays
from starter.dates import resolve_relative_dates
from starter.samples import load_sample, sample_names
from workflows.domain.model import PartyOrderSpec
from workflows.domain.rules import CURRENT_RULES
from workflows.domain.tracker import PartyOrderTracker

TODAY = datetime(2026, 12, 8, 9, 30, tzinfo=UTC)
DAY = timedelta(days=1)


def test_relative_dates_become_instants_and_nothing_else_changes() -> None:
    template = {
        "requestedCompletionDate": "+P75D",
        "milestones": [{"id": "m", "milestoneDate": "+PT36H"}],
        "trackingPolicy": {"checkInInterval": "P7D", "escalation": [{"after": "PT0S"}]},
        "orderDate": "2026-12-01T00:00:00Z",
        "note": "+ not a date",
    }
    assert resolve_relative_dates(template, TODAY) == {
        "requestedCompletionDate": "2027-02-21T09:30:00Z",
        "milestones": [{"id": "m", "milestoneDate": "2026-12-09T21:30:00Z"}],
        "trackingPolicy": {"checkInInterval": "P7D", "escalation": [{"after": "PT0S"}]},
        "orderDate": "2026-12-01T00:00:00Z",
        "note": "+ not a date",
    }


def test_a_relative_date_that_is_no_duration_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match=r"\+P3X"):
        resolve_relative_dates({"requestedCompletionDate": "+P3X"}, TODAY)


def test_every_sample_has_only_relative_dates() -> None:
    assert sample_names() == ["PO-1001", "PO-2002", "PO-3003", "PO-4004", "PO-5005"]
    for name in sample_names():
        as_written = load_sample(name)
        # Resolving against two different days gives two different orders: no date in the
        # file is fixed (a fixed one would go stale).
        today, later = (load_sample(name, TODAY + shift) for shift in (timedelta(0), 400 * DAY))
        assert today != later, name
        assert as_written != today, name


@pytest.mark.parametrize("name", ["PO-1001", "PO-2002", "PO-3003", "PO-4004", "PO-5005"])
@pytest.mark.parametrize("years_ahead", [0, 1, 2])
def test_every_sample_starts_healthy_whatever_the_year(name: str, years_ahead: int) -> None:
    now = TODAY + years_ahead * 365 * DAY
    order = load_sample(name, now)
    if "calendar" in order["party"]:
        order = resolve_holidays(order, today=date.fromisoformat(now.date().isoformat()))
    tracker = PartyOrderTracker.start(
        PartyOrderSpec.model_validate(order), now, rules_version=CURRENT_RULES
    )
    assert tracker.order.jeopardy.status == "none", (name, tracker.order.jeopardy.reasons)
    # Nothing is due before the order has run a day: the first check-in is days away.
    due = tracker.next_due(now)
    assert due is not None and due.at > now + DAY, (name, due)


def test_a_start_names_every_missing_field_and_the_missing_date_at_once() -> None:
    from starter.client.starting import start_input
    from starter.errors import InvalidInput

    with pytest.raises(InvalidInput) as refused:
        start_input({"id": "PO-1"})
    assert str(refused.value) == (
        "invalid party order: party: is required; one of requestedCompletionDate or"
        " expectedCompletionDate is required"
    )


def test_a_date_that_does_not_parse_names_the_relative_form_where_it_is_taken() -> None:
    from starter.dates import parse_day_or_instant

    with pytest.raises(ValueError, match=r"or a time from now \(\+P7D, \+PT90M\)$"):
        parse_day_or_instant("tomorrow", what="--expected-date", now=TODAY)
    with pytest.raises(ValueError, match=r"date-time \(2027-01-10T12:00:00Z\)$"):
        parse_day_or_instant("tomorrow", what="expectedCompletionDate")


@pytest.mark.parametrize(
    ("duration", "words"),
    [
        (timedelta(seconds=2.737648), "2 seconds"),
        (timedelta(milliseconds=300), "less than a second"),
        (timedelta(minutes=1), "1 minute"),
        (timedelta(days=2, hours=3, minutes=4), "2 days 3 hours"),
        (timedelta(hours=1, seconds=5), "1 hour"),
        (timedelta(hours=1, minutes=1, seconds=5), "1 hour 1 minute"),
    ],
)
def test_a_duration_reads_in_words(duration: timedelta, words: str) -> None:
    from workflows.domain.instants import in_words

    assert in_words(duration) == words


def test_show_gives_a_calendar_partys_times_in_its_own_zone_too() -> None:
    from starter.cli.render import party_time

    order = resolve_holidays(load_sample("PO-3003", TODAY), today=TODAY.date())
    tracker = PartyOrderTracker.start(
        PartyOrderSpec.model_validate(order), TODAY, rules_version=CURRENT_RULES
    )
    winter = datetime(2027, 1, 12, 8, 0, tzinfo=UTC)
    assert party_time(tracker.order, winter) == (
        "2027-01-12T08:00:00Z (2027-01-12 09:00 Europe/Berlin)"
    )
    plain = PartyOrderTracker.start(
        PartyOrderSpec.model_validate(load_sample("PO-1001", TODAY)),
        TODAY,
        rules_version=CURRENT_RULES,
    )
    assert party_time(plain.order, winter) == "2027-01-12T08:00:00Z"
