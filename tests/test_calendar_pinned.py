"""Party calendars whatever the server's own time zone, pinned (pure): working time is
found in the party's zone, and instants come back in UTC."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest

from workflows.domain.calendar import PartyCalendar, add_working_time, next_working_instant
from workflows.domain.instants import iso


@contextmanager
def server_zone(zone: str) -> Iterator[None]:
    """The worker's machine keeps ``zone``: nothing of the party's may depend on it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TZ", zone)
        time.tzset()
        try:
            yield
        finally:
            patch.undo()
            time.tzset()


@pytest.fixture
def server_in_los_angeles() -> Iterator[None]:
    with server_zone("America/Los_Angeles"):
        yield


def test_working_time_is_the_partys_and_comes_back_in_utc(server_in_los_angeles: None) -> None:
    tokyo = PartyCalendar.model_validate({"timeZone": "Asia/Tokyo"})
    # Friday 2027-01-08 20:00 UTC is Saturday 05:00 in Tokyo (and Friday noon in Los
    # Angeles): the party's next working instant is Monday 09:00 Tokyo.
    friday_evening = datetime(2027, 1, 8, 20, tzinfo=UTC)
    monday = datetime(2027, 1, 11, 0, tzinfo=UTC)  # 09:00 in Tokyo
    found = next_working_instant(tokyo, friday_evening)
    assert found == monday
    assert found.utcoffset() == timedelta(0) and iso(found) == "2027-01-11T00:00:00Z"
    # Thursday 2027-01-07 22:00 UTC is Friday 07:00 in Tokyo: a working day there.
    thursday_night = datetime(2027, 1, 7, 22, tzinfo=UTC)
    assert next_working_instant(tokyo, thursday_night) == datetime(2027, 1, 8, 0, tzinfo=UTC)
    ends = add_working_time(tokyo, thursday_night, timedelta(hours=10))
    assert iso(ends) == "2027-01-11T02:00:00Z"  # 8 hours on Friday, 2 on Monday


def test_the_partys_working_day_is_found_on_a_server_a_day_ahead() -> None:
    los_angeles = PartyCalendar.model_validate({"timeZone": "America/Los_Angeles"})
    # Friday 2027-01-08 20:00 UTC: noon on Friday in Los Angeles, Saturday in Tokyo.
    friday_noon = datetime(2027, 1, 8, 20, tzinfo=UTC)
    with server_zone("Asia/Tokyo"):
        found = next_working_instant(los_angeles, friday_noon)
        assert found == friday_noon and iso(found) == "2027-01-08T20:00:00Z"
        assert iso(add_working_time(los_angeles, friday_noon, timedelta(hours=6))) == (
            "2027-01-11T18:00:00Z"  # 5 hours on Friday in LA, 1 on Monday
        )
