"""Building Temporal visibility queries for party orders, safely.

A list filter comes from a person or a script, so its values are never pasted into the
query as they are: every value is a double-quoted string literal with backslash and
double quote escaped (``x" OR PartyId != "`` stays one harmless value), enum values are
checked against the allowed sets, levels must be whole numbers and dates real ISO 8601
dates. Anything else raises ``ValueError`` with a message that names the filter.

Everything here is pure (no I/O, and the clock only when a caller passes ``now``).

Known limit of the dev server's SQLite visibility store (Temporal 1.32): a value that
itself contains ``"`` or ``\\`` is parsed correctly but never matches, because the server
re-escapes it for SQLite; such a filter finds nothing (it never finds more).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from starter.dates import midnight, parse_day_or_instant
from workflows.domain import names
from workflows.domain.instants import iso
from workflows.domain.model import JeopardyStatus, OrderState

STATES: tuple[str, ...] = tuple(state.value for state in OrderState)
JEOPARDY_LEVELS: tuple[str, ...] = tuple(status.value for status in JeopardyStatus)

# Runs closed by continue-as-new are not orders of their own: the order goes on in the next
# run. Leaving them out keeps every order counted once.
NOT_CONTINUED = 'ExecutionStatus != "ContinuedAsNew"'

# C0 controls and DEL: a NUL byte breaks the dev server's SQLite visibility store (it
# answers with a retried "SQL logic error"), and no party id or process name needs them.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def quote(value: str, *, what: str = "value") -> str:
    """``value`` as a double-quoted string literal of the visibility query language.

    Backslash is escaped first, so an escaped quote cannot be "unescaped" by a backslash
    the caller put in front of it.
    """
    if not isinstance(value, str):
        raise ValueError(f"{what}: expected text, got {type(value).__name__}")
    if _CONTROL.search(value):
        raise ValueError(f"{what}: control characters are not allowed in a filter value")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def query_instant(instant: datetime) -> str:
    """A date-time as the query language wants it: RFC 3339 in UTC, quoted."""
    utc = instant.astimezone(UTC)
    return '"' + iso(utc, "microseconds" if utc.microsecond else "seconds") + '"'


def _one_of(value: str, allowed: tuple[str, ...], what: str) -> str:
    """The canonical spelling of ``value`` in ``allowed`` (case-insensitive), else ValueError."""
    if isinstance(value, str):
        for candidate in allowed:
            if candidate.lower() == value.strip().lower():
                return candidate
    raise ValueError(f"{what}: {value!r} is not one of {', '.join(allowed)}")


def _any_of(value: str, allowed: tuple[str, ...], what: str) -> list[str]:
    """The values of a comma-separated filter (``hazard,critical``: "in jeopardy" is
    either), each checked against ``allowed``, in order and once each."""
    parts = value.split(",") if isinstance(value, str) else [value]
    chosen = [_one_of(part, allowed, what) for part in parts if str(part).strip()]
    if not chosen:
        return [_one_of(value, allowed, what)]  # nothing given: refused, naming the values
    return list(dict.fromkeys(chosen))


def _matches(attribute: str, values: list[str]) -> str:
    if len(values) == 1:
        return f"{attribute} = {quote(values[0])}"
    return f"{attribute} IN ({', '.join(quote(value) for value in values)})"


def _level(value: int | str) -> int:
    if isinstance(value, bool):  # bool is an int subclass; True is not a level
        raise ValueError(f"level: expected a whole number >= 0, got {value!r}")
    if isinstance(value, str):
        if not re.fullmatch(r"\s*\d{1,9}\s*", value):
            raise ValueError(f"level: expected a whole number >= 0, got {value!r}")
        value = int(value)
    if not isinstance(value, int) or value < 0:
        raise ValueError(f"level: expected a whole number >= 0, got {value!r}")
    return value


@dataclass(frozen=True)
class OrderFilters:
    """What ``party-orders list`` can filter on; ``None`` means "any"."""

    state: str | None = None  # one state, or several comma-separated (any of them)
    jeopardy: str | None = None  # likewise: "hazard,critical" is "in jeopardy"
    party: str | None = None  # party.id
    min_level: int | str | None = None  # escalation level at least this
    due_before: str | date | datetime | None = None
    due_after: str | date | datetime | None = None
    process: str | None = None  # originatingProcess.name
    open_only: bool = False  # only orders whose workflow is still running


def _bound(value: str | date | datetime, what: str, now: datetime | None) -> date | datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return value
    return parse_day_or_instant(value, what=what, now=now)


def build_list_query(filters: OrderFilters | None = None, *, now: datetime | None = None) -> str:
    """The visibility query selecting TrackPartyOrder runs that match ``filters``.

    Dates are calendar-minded: ``due_before=2027-01-10`` means due before that day begins,
    ``due_after=2027-01-10`` due after that day ends; a date-time bound is exclusive.
    ``now`` is needed only for relative dates (``+P7D``).
    """
    filters = filters or OrderFilters()
    clauses = [f"WorkflowType = {quote(names.TRACK_WORKFLOW)}", NOT_CONTINUED]
    if filters.open_only:
        clauses.append('ExecutionStatus = "Running"')
    if filters.state is not None:
        clauses.append(_matches(names.SA_STATE, _any_of(filters.state, STATES, "state")))
    if filters.jeopardy is not None:
        jeopardy = _any_of(filters.jeopardy, JEOPARDY_LEVELS, "jeopardy")
        clauses.append(_matches(names.SA_JEOPARDY, jeopardy))
    if filters.party is not None:
        clauses.append(f"{names.SA_PARTY_ID} = {quote(filters.party, what='party')}")
    if filters.min_level is not None:
        clauses.append(f"{names.SA_ESCALATION_LEVEL} >= {_level(filters.min_level)}")

    before: datetime | None = None
    after: datetime | None = None
    if filters.due_before is not None:
        bound = _bound(filters.due_before, "due before", now)
        before = bound if isinstance(bound, datetime) else midnight(bound)
        clauses.append(f"{names.SA_DUE_DATE} < {query_instant(before)}")
    if filters.due_after is not None:
        bound = _bound(filters.due_after, "due after", now)
        if isinstance(bound, datetime):
            after = bound
            clauses.append(f"{names.SA_DUE_DATE} > {query_instant(after)}")
        else:
            after = midnight(bound + timedelta(days=1))  # after the whole day
            clauses.append(f"{names.SA_DUE_DATE} >= {query_instant(after)}")
    if before is not None and after is not None and after >= before:
        raise ValueError(
            f"due after/due before: no date is after {query_instant(after)} and before"
            f" {query_instant(before)}"
        )

    if filters.process is not None:
        clauses.append(f"{names.SA_ORIGINATING_PROCESS} = {quote(filters.process, what='process')}")
    return " AND ".join(clauses)


def attention_query() -> str:
    """Open orders that need someone: critical, or escalated to level 1 or more."""
    return (
        f'WorkflowType = {quote(names.TRACK_WORKFLOW)} AND ExecutionStatus = "Running"'
        f" AND ({names.SA_JEOPARDY} = {quote(JeopardyStatus.CRITICAL.value)}"
        f" OR {names.SA_ESCALATION_LEVEL} >= 1)"
    )
