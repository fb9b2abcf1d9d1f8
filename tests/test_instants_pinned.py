"""Instants and durations as the contract writes them (ISO 8601), pinned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from workflows.domain.instants import iso, iso_duration


@pytest.mark.parametrize(
    ("duration", "written"),
    [
        (timedelta(0), "PT0S"),
        (timedelta(days=2), "P2D"),
        (timedelta(days=3, hours=4), "P3DT4H"),
        (timedelta(minutes=90), "PT1H30M"),
        (timedelta(minutes=61), "PT1H1M"),
        (timedelta(seconds=59), "PT59S"),
        (timedelta(seconds=60), "PT1M"),
        (timedelta(seconds=61), "PT1M1S"),
        (timedelta(hours=1, minutes=59, seconds=59), "PT1H59M59S"),
        (timedelta(seconds=1, milliseconds=500), "PT1.5S"),
        (timedelta(milliseconds=120), "PT0.12S"),
        (timedelta(microseconds=1), "PT0.000001S"),
        (timedelta(days=1, milliseconds=500), "P1DT0.5S"),
        (timedelta(days=1, hours=2, minutes=3, seconds=4), "P1DT2H3M4S"),
        (-timedelta(days=1), "-P1D"),
        (-timedelta(minutes=90), "-PT1H30M"),
        (-timedelta(microseconds=1), "-PT0.000001S"),
    ],
    ids=str,
)
def test_durations_are_written_in_iso_8601(duration: timedelta, written: str) -> None:
    assert iso_duration(duration) == written


def test_instants_in_utc_are_written_with_z_and_others_keep_their_offset() -> None:
    assert iso(datetime(2027, 1, 15, tzinfo=UTC)) == "2027-01-15T00:00:00Z"
    berlin = timezone(timedelta(hours=1))
    assert iso(datetime(2027, 1, 15, 9, 30, tzinfo=berlin)) == "2027-01-15T09:30:00+01:00"
    precise = datetime(2027, 1, 15, 9, 30, 5, 123456, tzinfo=UTC)
    assert iso(precise) == "2027-01-15T09:30:05.123456Z"
    assert iso(precise, "seconds") == "2027-01-15T09:30:05Z"
