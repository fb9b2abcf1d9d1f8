"""A party's working time: its time zone, working days and hours, and holidays.

Pure arithmetic on instants: the next working instant at or after a moment, and a moment
plus an amount of working time. Working hours are wall-clock hours in the party's zone, so
a 09:00 start stays 09:00 local across a daylight-saving change. Holidays are plain dates
stored on the order (resolved from a country's calendar when tracking starts), so replaying
an order never depends on a library's data.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationInfo, field_validator, model_validator

from workflows.domain.bounds import MAX_HOLIDAYS
from workflows.domain.wire import WireModel

Weekday = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
WEEKDAYS: tuple[Weekday, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# Far enough to cross any run of holidays a calendar can list (at most MAX_HOLIDAYS),
# even one that takes every working day of a one-day working week: no instant of an order
# can then be without a next working instant.
_SEARCH_DAYS = 7 * (MAX_HOLIDAYS + 2)
# The validation context under which a calendar may name a country whose holidays are not
# resolved yet: a start input the workflow resolves itself (``workflows.domain.holidays``).
COUNTRY_PENDING = "holidayCountryPending"


class WorkingHours(WireModel):
    start: time = time(9, 0)
    end: time = time(17, 0)

    @field_validator("start", "end")
    @classmethod
    def _wall_clock(cls, value: time) -> time:
        # Working hours are read in the calendar's own time zone: an offset here would
        # say another zone (and could not be compared with the other end).
        if value.tzinfo is not None:
            raise ValueError("a wall-clock time without an offset, such as 17:00")
        return value

    @model_validator(mode="after")
    def _start_before_end(self) -> WorkingHours:
        if self.start >= self.end:
            raise ValueError(f"start {self.start:%H:%M} must be before end {self.end:%H:%M}")
        return self


class PartyCalendar(WireModel):
    """When a party works (``party.calendar`` in the contract)."""

    time_zone: str = "UTC"
    working_days: Annotated[list[Weekday], Field(min_length=1, max_length=7)] = Field(
        default_factory=lambda: list(WEEKDAYS[:5])
    )
    working_hours: WorkingHours = Field(default_factory=WorkingHours)
    holidays: Annotated[list[date], Field(max_length=MAX_HOLIDAYS)] = Field(default_factory=list)
    holiday_country: Annotated[str, Field(min_length=2, max_length=3)] | None = None
    holiday_subdivision: Annotated[str, Field(min_length=1, max_length=10)] | None = None
    # The last day up to which the country's holidays are in ``holidays``: set when they are
    # resolved (starter.calendars), so the order never depends on a library at replay.
    holidays_resolved_through: date | None = None

    @model_validator(mode="after")
    def _country_resolved(self, info: ValidationInfo) -> PartyCalendar:
        # Everywhere but a start input read under COUNTRY_PENDING, a country stands for the
        # dates resolved from it: an order never holds a country without them.
        pending_allowed = bool(info.context and info.context.get(COUNTRY_PENDING))
        if (
            self.holiday_country is not None
            and self.holidays_resolved_through is None
            and not pending_allowed
        ):
            raise ValueError(
                f"holidayCountry: the holidays of {self.holiday_country!r} are not resolved"
                " (no holidaysResolvedThrough); tracking resolves them when it starts"
            )
        return self

    @property
    def country_pending(self) -> bool:
        """A country named whose holidays are not resolved yet (a start input only)."""
        return self.holiday_country is not None and self.holidays_resolved_through is None

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not an IANA time zone (such as Europe/Berlin)"
            ) from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def works_on(self, day: date) -> bool:
        return WEEKDAYS[day.weekday()] in self.working_days and day not in self.holidays


def _local(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """The instant (UTC) of a wall-clock time on a local day (a time a spring change skips
    is taken as the instant just after the gap)."""
    local = datetime.combine(day, clock, tzinfo=zone)
    # Round-tripping through UTC moves a nonexistent local time past the gap.
    return local.astimezone(UTC)


def working_periods(calendar: PartyCalendar, since: datetime) -> list[tuple[datetime, datetime]]:
    """The working periods (UTC start, end) from the local day of ``since`` on, until one
    has been found on a working day after a run of at most MAX_HOLIDAYS days off."""
    zone = calendar.zone
    day = since.astimezone(zone).date()
    hours = calendar.working_hours
    periods = []
    for offset in range(_SEARCH_DAYS):
        current = day + timedelta(days=offset)
        if calendar.works_on(current):
            periods.append((_local(current, hours.start, zone), _local(current, hours.end, zone)))
            if len(periods) >= 2:
                break
    return periods


def next_working_instant(calendar: PartyCalendar, instant: datetime) -> datetime:
    """The first instant at or after ``instant`` inside the party's working time (UTC)."""
    cursor = instant.astimezone(UTC)
    for start, end in working_periods(calendar, cursor):
        if cursor < end:
            return max(cursor, start)
    raise ValueError(f"the calendar has no working time after {instant.isoformat()}")


def add_working_time(calendar: PartyCalendar, start: datetime, amount: timedelta) -> datetime:
    """The instant at which ``amount`` of the party's working time has passed since
    ``start`` (time outside working hours, on days off and on holidays does not count)."""
    cursor = next_working_instant(calendar, start)
    left = amount
    while True:
        period_end = next(end for begin, end in working_periods(calendar, cursor) if cursor < end)
        available = period_end - cursor
        if left <= available:
            return cursor + left
        left -= available
        cursor = next_working_instant(calendar, period_end)


def working_window(calendar: PartyCalendar, window: timedelta) -> timedelta:
    """A response window in the party's working time, its days counted as working days
    (rules 5): ``P2D`` is two working days, ``P1DT2H`` one working day and two hours."""
    days, rest = divmod(window, timedelta(days=1))
    hours = calendar.working_hours
    today = date(2000, 1, 3)  # any day: working hours are wall-clock times
    day = datetime.combine(today, hours.end) - datetime.combine(today, hours.start)
    return days * day + rest


def working_time_between(calendar: PartyCalendar, start: datetime, end: datetime) -> timedelta:
    """How much of the party's working time lies from ``start`` to ``end`` (zero when
    ``end`` is not after ``start``): what is left of a response window at a given moment."""
    total = timedelta(0)
    if end <= start:
        return total
    cursor = next_working_instant(calendar, start)
    while cursor < end:
        period_end = next(e for begin, e in working_periods(calendar, cursor) if cursor < e)
        total += min(period_end, end) - cursor
        cursor = next_working_instant(calendar, period_end)
    return total
