"""Visibility queries for ``party-orders list``: built safely, checked strictly (pure)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from starter.dates import parse_day_or_instant, parse_duration, parse_instant
from starter.query import (
    JEOPARDY_LEVELS,
    NOT_CONTINUED,
    STATES,
    OrderFilters,
    attention_query,
    build_list_query,
    query_instant,
    quote,
)

BASE = f'WorkflowType = "TrackPartyOrder" AND {NOT_CONTINUED}'
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


# ---------------------------------------------------------------- a tiny reader of the
# query language, to check what the server's parser would see (MySQL-style literals).

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:\\.|[^"\\])*")
      | (?P<op>!=|>=|<=|=|<|>|\(|\))
      | (?P<number>\d+)
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE | re.DOTALL,
)


def tokens(query: str) -> list[tuple[str, str]]:
    """(kind, text) tokens; a string's text is its decoded value. Fails on leftovers."""
    found: list[tuple[str, str]] = []
    position = 0
    while position < len(query):
        match = _TOKEN.match(query, position)
        assert match is not None, f"unreadable query at {query[position:]!r}"
        kind = match.lastgroup
        assert kind is not None
        text = match.group(kind)
        if kind == "string":
            text = re.sub(r"\\(.)", r"\1", text[1:-1], flags=re.DOTALL)
        found.append((kind, text))
        position = match.end()
        while position < len(query) and query[position].isspace():
            position += 1
    return found


def clauses(query: str) -> list[list[tuple[str, str]]]:
    """The top-level AND-ed clauses (no OR may appear at the top level)."""
    result: list[list[tuple[str, str]]] = [[]]
    depth = 0
    for token in tokens(query):
        if token == ("op", "("):
            depth += 1
        elif token == ("op", ")"):
            depth -= 1
        if depth == 0 and token[0] == "word" and token[1].upper() == "AND":
            result.append([])
        else:
            assert not (depth == 0 and token[0] == "word" and token[1].upper() == "OR")
            result[-1].append(token)
    return result


def filter_clause(filters: OrderFilters) -> str:
    query = build_list_query(filters, now=NOW)
    assert query.startswith(BASE + " AND ")
    return query.removeprefix(BASE + " AND ")


# ---------------------------------------------------------------- the base query


def test_no_filter_selects_every_tracked_order_once() -> None:
    assert build_list_query() == BASE
    assert build_list_query(OrderFilters()) == BASE
    assert clauses(BASE) == [
        [("word", "WorkflowType"), ("op", "="), ("string", "TrackPartyOrder")],
        [("word", "ExecutionStatus"), ("op", "!="), ("string", "ContinuedAsNew")],
    ]


def test_open_only() -> None:
    assert filter_clause(OrderFilters(open_only=True)) == 'ExecutionStatus = "Running"'


def test_every_filter_together() -> None:
    query = build_list_query(
        OrderFilters(
            state="held",
            jeopardy="critical",
            party="ACME",
            min_level=2,
            due_before="2027-02-01",
            due_after="2027-01-01",
            process="service-order-handling",
            open_only=True,
        ),
        now=NOW,
    )
    assert query == (
        f"{BASE}"
        ' AND ExecutionStatus = "Running"'
        ' AND PartyOrderState = "held"'
        ' AND PartyOrderJeopardy = "critical"'
        ' AND PartyId = "ACME"'
        " AND PartyOrderEscalationLevel >= 2"
        ' AND PartyOrderDueDate < "2027-02-01T00:00:00Z"'
        ' AND PartyOrderDueDate >= "2027-01-02T00:00:00Z"'
        ' AND OriginatingProcess = "service-order-handling"'
    )
    assert len(clauses(query)) == 10


# ---------------------------------------------------------------- enums


@pytest.mark.parametrize("state", STATES)
def test_every_state_is_accepted(state: str) -> None:
    assert filter_clause(OrderFilters(state=state)) == f'PartyOrderState = "{state}"'


@pytest.mark.parametrize(
    ("given_value", "canonical"),
    [
        ("INPROGRESS", "inProgress"),
        (" held ", "held"),
        ("PendingCancellation", "pendingCancellation"),
    ],
)
def test_state_spelling_is_forgiven(given_value: str, canonical: str) -> None:
    assert filter_clause(OrderFilters(state=given_value)) == f'PartyOrderState = "{canonical}"'


@pytest.mark.parametrize("jeopardy", JEOPARDY_LEVELS)
def test_every_jeopardy_is_accepted(jeopardy: str) -> None:
    assert filter_clause(OrderFilters(jeopardy=jeopardy)) == f'PartyOrderJeopardy = "{jeopardy}"'


@pytest.mark.parametrize(
    "bad",
    ["", "running", "in progress", 'held" OR PartyOrderState != "x', "held\\", "*"],
)
def test_unknown_state_is_refused_naming_the_allowed_ones(bad: str) -> None:
    with pytest.raises(ValueError, match=r"^state: .* is not one of acknowledged, inProgress"):
        build_list_query(OrderFilters(state=bad))


@pytest.mark.parametrize("bad", ["", "red", "critical OR 1=1", "CRITICAL!"])
def test_unknown_jeopardy_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match=r"^jeopardy: .* is not one of none, hazard, critical"):
        build_list_query(OrderFilters(jeopardy=bad))


def test_several_values_are_any_of_them_once_each() -> None:
    assert filter_clause(OrderFilters(jeopardy="hazard, Critical,hazard")) == (
        'PartyOrderJeopardy IN ("hazard", "critical")'
    )
    assert filter_clause(OrderFilters(state="held,pending")) == (
        'PartyOrderState IN ("held", "pending")'
    )


def test_one_bad_value_among_several_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match=r"^jeopardy: 'red' is not one of none, hazard"):
        build_list_query(OrderFilters(jeopardy="hazard,red"))


# ---------------------------------------------------------------- free text, injections

INJECTIONS = [
    'x" OR PartyId != "',
    'x" OR PartyId != "x',
    '" OR 1=1 OR PartyId = "',
    'ACME") OR (PartyId != "',
    'x\\" OR PartyId != \\"',
    "x\\",
    "\\",
    '\\"',
    '"',
    "x' OR PartyId != 'x",
    "ACME' --",
    "ACME; DROP TABLE executions_visibility",
    "ACME%",
    "A_ME",
    "é-🙂-中文",
]


@pytest.mark.parametrize("value", INJECTIONS)
def test_party_injection_stays_one_value(value: str) -> None:
    clause = filter_clause(OrderFilters(party=value))
    assert tokens(clause) == [("word", "PartyId"), ("op", "="), ("string", value)]


@pytest.mark.parametrize("value", INJECTIONS)
def test_process_injection_stays_one_value(value: str) -> None:
    clause = filter_clause(OrderFilters(process=value))
    assert tokens(clause) == [("word", "OriginatingProcess"), ("op", "="), ("string", value)]


def test_quote_escapes_backslash_before_quote() -> None:
    assert quote('a"b') == '"a\\"b"'
    assert quote("a\\b") == '"a\\\\b"'
    # A backslash the caller put before a quote must not swallow the escape of that quote.
    assert quote('a\\"b') == '"a\\\\\\"b"'
    assert quote("") == '""'


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs"))))
def test_quote_round_trips_any_text(value: str) -> None:
    literal = quote(value)
    assert tokens(literal) == [("string", value)]
    clause = filter_clause(OrderFilters(party=value))
    assert tokens(clause) == [("word", "PartyId"), ("op", "="), ("string", value)]


@pytest.mark.parametrize("value", ["a\x00b", "line\nbreak", "tab\there", "bell\x07", "del\x7f"])
def test_control_characters_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match=r"^party: control characters are not allowed"):
        build_list_query(OrderFilters(party=value))
    with pytest.raises(ValueError, match=r"^process: control characters"):
        build_list_query(OrderFilters(process=value))


def test_non_text_value_is_refused() -> None:
    with pytest.raises(ValueError, match="party: expected text"):
        build_list_query(OrderFilters(party=42))  # type: ignore[arg-type]


# ---------------------------------------------------------------- escalation level


@pytest.mark.parametrize(("value", "level"), [(0, 0), (3, 3), ("2", 2), (" 1 ", 1), ("007", 7)])
def test_level_is_a_minimum(value: int | str, level: int) -> None:
    assert filter_clause(OrderFilters(min_level=value)) == f"PartyOrderEscalationLevel >= {level}"


@pytest.mark.parametrize("bad", [-1, "-1", "x", "1.5", "", "1 OR 1=1", True, 2.0, "1e3"])
def test_bad_level_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match=r"^level: expected a whole number >= 0"):
        build_list_query(OrderFilters(min_level=bad))  # type: ignore[arg-type]


# ---------------------------------------------------------------- due dates


def test_due_before_a_day_means_before_it_begins() -> None:
    clause = filter_clause(OrderFilters(due_before="2027-01-10"))
    assert clause == 'PartyOrderDueDate < "2027-01-10T00:00:00Z"'


def test_due_after_a_day_means_after_it_ends() -> None:
    clause = filter_clause(OrderFilters(due_after="2027-01-10"))
    assert clause == 'PartyOrderDueDate >= "2027-01-11T00:00:00Z"'
    # Month and year ends roll over.
    assert filter_clause(OrderFilters(due_after="2026-12-31")).endswith('"2027-01-01T00:00:00Z"')


def test_date_times_are_exclusive_and_in_utc() -> None:
    assert (
        filter_clause(OrderFilters(due_before="2027-01-10T12:30:00+02:00"))
        == 'PartyOrderDueDate < "2027-01-10T10:30:00Z"'
    )
    assert (
        filter_clause(OrderFilters(due_after="2027-01-10T12:30:00Z"))
        == 'PartyOrderDueDate > "2027-01-10T12:30:00Z"'
    )
    # No offset: taken as UTC.
    assert (
        filter_clause(OrderFilters(due_after="2027-01-10T12:30:00"))
        == 'PartyOrderDueDate > "2027-01-10T12:30:00Z"'
    )
    assert (
        filter_clause(OrderFilters(due_before="2027-01-10T12:30:00.250Z"))
        == 'PartyOrderDueDate < "2027-01-10T12:30:00.250000Z"'
    )


def test_python_dates_and_datetimes_are_accepted() -> None:
    assert filter_clause(OrderFilters(due_before=date(2027, 1, 10))).endswith(
        '"2027-01-10T00:00:00Z"'
    )
    eastern = timezone(timedelta(hours=-5))
    assert filter_clause(OrderFilters(due_after=datetime(2027, 1, 10, 7, tzinfo=eastern))) == (
        'PartyOrderDueDate > "2027-01-10T12:00:00Z"'
    )
    assert filter_clause(OrderFilters(due_after=datetime(2027, 1, 10, 7))).endswith(
        '"2027-01-10T07:00:00Z"'
    )


def test_relative_dates_count_from_now() -> None:
    assert filter_clause(OrderFilters(due_before="+P7D")) == (
        'PartyOrderDueDate < "2026-12-04T12:00:00Z"'
    )
    assert filter_clause(OrderFilters(due_after="+PT90M")) == (
        'PartyOrderDueDate > "2026-11-27T13:30:00Z"'
    )


def test_relative_date_needs_now() -> None:
    with pytest.raises(ValueError, match="needs the current time"):
        build_list_query(OrderFilters(due_before="+P1D"))


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "tomorrow",
        "2027-13-01",
        "2027-02-30",
        "2027-01-10 OR 1=1",
        '2027-01-10" OR PartyId != "',
        "10/01/2027",
        "+P",
        "+tomorrow",
        "+-P1D",
    ],
)
def test_bad_dates_are_refused_naming_the_filter(bad: str) -> None:
    with pytest.raises(ValueError, match=r"^due before: "):
        build_list_query(OrderFilters(due_before=bad), now=NOW)
    with pytest.raises(ValueError, match=r"^due after: "):
        build_list_query(OrderFilters(due_after=bad), now=NOW)


@pytest.mark.parametrize(
    ("after", "before"),
    [
        ("2027-01-10", "2027-01-11"),  # after the 10th ends = the 11th begins: nothing between
        ("2027-01-12", "2027-01-10"),
        ("2027-01-10T12:00:00Z", "2027-01-10T12:00:00Z"),
    ],
)
def test_empty_range_is_refused(after: str, before: str) -> None:
    with pytest.raises(ValueError, match="no date is after"):
        build_list_query(OrderFilters(due_after=after, due_before=before))


def test_a_one_day_range() -> None:
    query = build_list_query(OrderFilters(due_after="2027-01-09", due_before="2027-01-11"))
    assert query.endswith(
        'PartyOrderDueDate < "2027-01-11T00:00:00Z" AND PartyOrderDueDate >= "2027-01-10T00:00:00Z"'
    )


# ---------------------------------------------------------------- helpers


def test_parse_helpers() -> None:
    assert parse_day_or_instant("2027-01-10", what="d") == date(2027, 1, 10)
    assert parse_instant("2027-01-10", what="d") == datetime(2027, 1, 10, tzinfo=UTC)
    assert parse_instant("2027-01-10T05:00:00Z", what="d") == datetime(2027, 1, 10, 5, tzinfo=UTC)
    assert parse_instant("+PT20S", what="d", now=NOW) == NOW + timedelta(seconds=20)
    assert parse_duration("P7D", what="d") == timedelta(days=7)
    assert parse_duration("PT36H", what="d") == timedelta(hours=36)
    with pytest.raises(ValueError, match="negative"):
        parse_duration("-P1D", what="d")
    with pytest.raises(ValueError, match="not an ISO 8601 duration"):
        parse_duration("7 days", what="d")
    assert query_instant(datetime(2027, 1, 10, tzinfo=UTC)) == '"2027-01-10T00:00:00Z"'


def test_attention_query_is_open_critical_or_escalated() -> None:
    query = attention_query()
    assert query == (
        'WorkflowType = "TrackPartyOrder" AND ExecutionStatus = "Running"'
        ' AND (PartyOrderJeopardy = "critical" OR PartyOrderEscalationLevel >= 1)'
    )
    assert len(clauses(query)) == 3
