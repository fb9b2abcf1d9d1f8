"""How a refused message is explained to its sender, pinned (pure): each kind of problem in
the sender's own JSON, values cut when long, and the choices an enumerated field offers."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from workflows.domain.calendar import PartyCalendar
from workflows.domain.messages import (
    VALUE_CHARS,
    ChangeRequestMessage,
    ItemProgress,
    ProgressReport,
    StateChangeRequest,
    allowed_values,
    describe_validation_error,
    describe_value,
)
from workflows.domain.model import PartyOrderSpec


def explained(model: type[BaseModel], data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as raised:
        model.model_validate(data)
    return describe_validation_error(raised.value)


def order(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "PO-1",
        "party": {"id": "ACME", "name": "Acme"},
        "orderItems": [{"id": "1"}],
        "requestedCompletionDate": "2027-03-01T00:00:00Z",
    }
    data.update(changes)
    return data


def test_a_value_is_quoted_whole_up_to_its_limit_and_cut_past_it() -> None:
    exact = "x" * (VALUE_CHARS - 2)  # with its quotes, exactly VALUE_CHARS
    assert describe_value(exact) == f"'{exact}'"
    longer = "y" * (VALUE_CHARS - 1)
    assert describe_value(longer) == "'" + "y" * (VALUE_CHARS - 2) + "…"
    assert len(describe_value(longer)) == VALUE_CHARS
    assert describe_value([1, "a"]) == '[1, "a"]'


def test_a_value_json_cannot_write_is_described_as_python_writes_it() -> None:
    looped: list[Any] = []
    looped.append(looped)
    assert describe_value(looped) == "[[...]]"


def test_every_problem_is_named_and_joined_by_semicolons() -> None:
    assert explained(
        PartyOrderSpec, order(party=5, orderItems=[{"id": "1", "state": "bogus"}])
    ) == (
        "party: should be a JSON object (received 5); orderItems.0.state: 'bogus' is not one of"
        " acknowledged, inProgress, pending, held, completed, cancelled, failed"
    )


def test_lengths_are_explained_in_characters_or_entries() -> None:
    assert explained(PartyOrderSpec, order(id="")) == (
        "id: 0 characters received, at least 1 allowed"
    )
    assert explained(PartyCalendar, {"workingDays": []}) == (
        "workingDays: 0 entries received, at least 1 allowed"
    )
    assert explained(PartyCalendar, {"workingDays": ["mon"] * 8}) == (
        "workingDays: 8 entries received, at most 7 allowed"
    )


def test_a_rule_of_the_model_is_explained_in_its_own_words() -> None:
    text = explained(PartyCalendar, {"timeZone": "Mars/Olympus"})
    assert text.startswith("timeZone: ")
    assert text.endswith(": 'Mars/Olympus' is not an IANA time zone (such as Europe/Berlin)")


def test_an_object_where_one_is_expected_names_what_came() -> None:
    assert explained(ChangeRequestMessage, {"changes": [1, 2]}) == (
        "changes: should be a JSON object (received [1, 2])"
    )


def test_enumerated_fields_offer_their_values_as_written_on_the_wire() -> None:
    assert allowed_values(StateChangeRequest, "state") == (
        "inProgress",
        "pending",
        "held",
        "failed",
    )
    assert allowed_values(ProgressReport, "source") == ("party", "enterprise")
    # An optional field is unwrapped down to its choices.
    assert allowed_values(ItemProgress, "state") == (
        "acknowledged",
        "inProgress",
        "pending",
        "held",
        "completed",
        "cancelled",
        "failed",
    )


def test_a_field_without_choices_is_not_enumerated() -> None:
    with pytest.raises(TypeError) as raised:
        allowed_values(ItemProgress, "id")
    assert str(raised.value) == "ItemProgress.id is not an enumerated field"
