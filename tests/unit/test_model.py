"""The order on the wire (model.py) and the inbound messages (messages.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from workflows.domain.messages import (
    MESSAGE_MODELS,
    CancelRequest,
    ChangeRequestMessage,
    ChangeResolution,
    CheckInRequest,
    ProgressReport,
    StateChangeRequest,
    describe_validation_error,
)
from workflows.domain.model import (
    ChangeSet,
    MilestoneStatus,
    OrderState,
    PartyOrder,
    PartyOrderSpec,
    TrackingPolicy,
    check_order_id,
    close_workflow_id,
    track_workflow_id,
)
from workflows.domain.rules import CURRENT_RULES
from workflows.domain.tracker import PartyOrderTracker, TrackerState

# Copied verbatim from CONTRACT.md ("Start input of TrackPartyOrder").
CONTRACT_START_INPUT = """
{
  "id": "PO-1001",
  "description": "10G backhaul circuit for site 42",
  "party": {"id": "ACME", "name": "Acme Networks", "role": "supplier",
            "contactEmail": "orders@acme.example", "webhookUrl": null},
  "originatingProcess": {"name": "service-order-handling", "reference": "SO-77"},
  "orderItems": [{"id": "1", "description": "10G circuit", "quantity": 1}],
  "requestedCompletionDate": "2027-01-15T00:00:00Z",
  "expectedCompletionDate": "2027-01-10T00:00:00Z",
  "milestones": [{"id": "survey", "name": "Site survey", "milestoneDate": "2026-12-05T00:00:00Z"}],
  "trackingPolicy": {
    "checkInInterval": "P7D", "responseWindow": "P2D", "unansweredCheckInLimit": 2,
    "warningLeadTime": "P3D", "changeResolutionWindow": "P2D",
    "escalation": [{"level": 1, "after": "PT0S", "notify": "order-manager"},
                   {"level": 2, "after": "P1D",  "notify": "operations-lead"},
                   {"level": 3, "after": "P3D",  "notify": "executive-sponsor"}]
  }
}
"""

MINIMAL: dict[str, Any] = {
    "id": "PO-1",
    "party": {"id": "ACME", "name": "Acme Networks"},
    "requestedCompletionDate": "2027-01-15T00:00:00Z",
}


def minimal(**changes: Any) -> dict[str, Any]:
    data = json.loads(json.dumps(MINIMAL))
    data.update(changes)
    return data


def error_text(model: type[BaseModel], payload: Any) -> str:
    with pytest.raises(ValidationError) as raised:
        model.model_validate(payload)
    return describe_validation_error(raised.value)


# ---------------------------------------------------------------- the start input


def test_contract_example_validates_with_every_value() -> None:
    spec = PartyOrderSpec.model_validate_json(CONTRACT_START_INPUT)
    assert spec.id == "PO-1001"
    assert spec.description == "10G backhaul circuit for site 42"
    assert spec.party.id == "ACME"
    assert spec.party.role == "supplier"
    assert spec.party.contact_email == "orders@acme.example"
    assert spec.party.webhook_url is None
    assert spec.originating_process.name == "service-order-handling"
    assert spec.originating_process.reference == "SO-77"
    assert [(i.id, i.description, i.quantity) for i in spec.order_items] == [
        ("1", "10G circuit", 1)
    ]
    assert spec.requested_completion_date == datetime(2027, 1, 15, tzinfo=UTC)
    assert spec.expected_completion_date == datetime(2027, 1, 10, tzinfo=UTC)
    (survey,) = spec.milestones
    assert survey.id == "survey"
    assert survey.milestone_date == datetime(2026, 12, 5, tzinfo=UTC)
    assert survey.status == MilestoneStatus.YET_TO_REACH
    policy = spec.tracking_policy
    assert policy.check_in_interval == timedelta(days=7)
    assert policy.response_window == timedelta(days=2)
    assert policy.unanswered_check_in_limit == 2
    assert policy.warning_lead_time == timedelta(days=3)
    assert policy.change_resolution_window == timedelta(days=2)
    assert [(e.level, e.after, e.notify) for e in policy.escalation] == [
        (1, timedelta(0), "order-manager"),
        (2, timedelta(days=1), "operations-lead"),
        (3, timedelta(days=3), "executive-sponsor"),
    ]


def test_contract_example_is_also_a_valid_order_read_back() -> None:
    order = PartyOrder.model_validate_json(CONTRACT_START_INPUT)
    assert order.state == OrderState.ACKNOWLEDGED
    assert order.due_date == datetime(2027, 1, 10, tzinfo=UTC)  # expected wins


def test_tracking_policy_defaults_are_exactly_the_contract_example() -> None:
    contract_policy = PartyOrderSpec.model_validate_json(CONTRACT_START_INPUT).tracking_policy
    default = PartyOrderSpec.model_validate(MINIMAL).tracking_policy
    assert default == contract_policy
    assert default == TrackingPolicy()
    assert default.to_json_dict()["escalation"] == [
        {"level": 1, "after": "PT0S", "notify": "order-manager"},
        {"level": 2, "after": "P1D", "notify": "operations-lead"},
        {"level": 3, "after": "P3D", "notify": "executive-sponsor"},
    ]


def test_defaults_of_a_minimal_order() -> None:
    spec = PartyOrderSpec.model_validate(MINIMAL)
    assert spec.party.role == "supplier"
    assert spec.originating_process.name == "party-order-handling"
    assert spec.originating_process.reference is None
    assert spec.order_items == []
    assert spec.milestones == []
    assert spec.expected_completion_date is None
    assert spec.order_date is None


def test_default_escalation_lists_are_not_shared() -> None:
    first = TrackingPolicy()
    second = TrackingPolicy()
    first.escalation.pop()
    assert len(second.escalation) == 3


@pytest.mark.parametrize("role", ["customer", "supplier", "partner"])
def test_party_roles(role: str) -> None:
    spec = PartyOrderSpec.model_validate(minimal(party={"id": "A", "name": "B", "role": role}))
    assert spec.party.role == role


def test_unknown_party_role_is_refused() -> None:
    text = error_text(PartyOrderSpec, minimal(party={"id": "A", "name": "B", "role": "vendor"}))
    assert "party.role" in text


def test_webhook_must_be_http() -> None:
    text = error_text(
        PartyOrderSpec, minimal(party={"id": "A", "name": "B", "webhookUrl": "ftp://x"})
    )
    assert "party.webhookUrl" in text


@pytest.mark.parametrize("which", ["requestedCompletionDate", "expectedCompletionDate"])
def test_either_completion_date_is_enough(which: str) -> None:
    data = minimal()
    del data["requestedCompletionDate"]
    data[which] = "2027-01-15T00:00:00Z"
    assert PartyOrder.model_validate(data).due_date == datetime(2027, 1, 15, tzinfo=UTC)


def test_missing_both_completion_dates_names_them() -> None:
    data = minimal()
    del data["requestedCompletionDate"]
    assert error_text(PartyOrderSpec, data) == (
        "(message): one of requestedCompletionDate or expectedCompletionDate is required"
    )


@pytest.mark.parametrize("field", ["id", "party"])
def test_required_fields(field: str) -> None:
    data = minimal()
    del data[field]
    assert error_text(PartyOrderSpec, data) == f"{field}: is required"


@pytest.mark.parametrize("field", ["id", "name"])
def test_party_needs_id_and_name(field: str) -> None:
    party = {"id": "A", "name": "B"}
    del party[field]
    assert error_text(PartyOrderSpec, minimal(party=party)) == f"party.{field}: is required"


# ---------------------------------------------------------------- JSON round trip


def test_camel_case_round_trip_with_durations_and_offsets() -> None:
    data = minimal(
        expectedCompletionDate="2027-01-10T09:30:00+05:30",
        orderDate="2026-10-01T08:00:00-04:00",
        milestones=[{"id": "m1", "milestoneDate": "2026-12-05T00:00:00+01:00"}],
        trackingPolicy={"checkInInterval": "P7D", "responseWindow": "PT36H"},
    )
    spec = PartyOrderSpec.model_validate(data)
    assert spec.tracking_policy.response_window == timedelta(hours=36)
    assert spec.expected_completion_date is not None
    assert spec.expected_completion_date.utcoffset() == timedelta(hours=5, minutes=30)

    wire = spec.to_json_dict()
    # camelCase only, on every level
    assert "expectedCompletionDate" in wire and "expected_completion_date" not in wire
    assert "checkInInterval" in wire["trackingPolicy"]
    assert "milestoneDate" in wire["milestones"][0]
    # ISO 8601 durations and offset-carrying date-times
    assert wire["trackingPolicy"]["checkInInterval"] == "P7D"
    assert wire["trackingPolicy"]["responseWindow"] in ("PT36H", "P1DT12H")
    assert wire["expectedCompletionDate"] == "2027-01-10T09:30:00+05:30"
    assert wire["orderDate"] == "2026-10-01T08:00:00-04:00"
    assert wire["requestedCompletionDate"] in ("2027-01-15T00:00:00Z", "2027-01-15T00:00:00+00:00")

    text = spec.model_dump_json()
    assert "expected_completion_date" not in text
    again = PartyOrderSpec.model_validate_json(text)
    assert again == spec
    assert PartyOrderSpec.model_validate(wire) == spec


def test_snake_case_serialization_is_never_produced_for_the_full_order() -> None:
    now = datetime(2026, 11, 1, tzinfo=UTC)
    tracker = PartyOrderTracker.start(
        PartyOrderSpec.model_validate_json(CONTRACT_START_INPUT), now, rules_version=CURRENT_RULES
    )
    tracker.handle(
        "request_change", {"changes": {"expectedCompletionDate": "2027-02-01T00:00:00Z"}}, now
    )
    tracker.handle("report_progress", {"percentComplete": 101}, now)  # rejected, recorded
    text = json.dumps(tracker.order.to_json_dict())
    for snake in ("percent_complete", "check_ins", "state_history", "rejected_messages", "_at"):
        assert snake not in text
    for camel in ("percentComplete", "checkIns", "stateHistory", "rejectedMessages", "receivedAt"):
        assert camel in text


def test_tracker_state_survives_a_json_round_trip() -> None:
    """What continue-as-new carries over must come back identical."""
    now = datetime(2026, 11, 1, tzinfo=UTC)
    tracker = PartyOrderTracker.start(
        PartyOrderSpec.model_validate_json(CONTRACT_START_INPUT), now, rules_version=CURRENT_RULES
    )
    tracker.handle("report_progress", {"requestId": "r1", "percentComplete": 30}, now)
    tracker.handle("request_change", {"changes": {"orderItems": [{"id": "2", "x": 1}]}}, now)
    tracker.advance(now + timedelta(days=40))
    tracker.handle("bogus", {"a": 1}, now)
    text = tracker.state.model_dump_json()
    assert '"from"' in text and '"to"' in text  # stateHistory uses the TMF names
    again = TrackerState.model_validate_json(text)
    assert again == tracker.state
    restored = PartyOrderTracker(again)
    assert restored.already_applied("r1", "report_progress")


def test_order_items_keep_extra_tmf_fields() -> None:
    spec = PartyOrderSpec.model_validate(
        minimal(orderItems=[{"id": "1", "action": "add", "productOffering": {"id": "X"}}])
    )
    assert spec.to_json_dict()["orderItems"][0]["productOffering"] == {"id": "X"}


def test_order_item_quantity_at_least_one() -> None:
    assert error_text(PartyOrderSpec, minimal(orderItems=[{"id": "1", "quantity": 0}])) == (
        "orderItems.0.quantity: should be greater than or equal to 1 (received 0)"
    )


def test_read_back_order_ignores_unknown_fields() -> None:
    order = PartyOrder.model_validate(minimal(somethingNew=1, state="held"))
    assert order.state == OrderState.HELD


# ---------------------------------------------------------------- order id rule


@pytest.mark.parametrize(
    "order_id",
    ["a", "Z", "0", "PO-1001", "a.b_c-d", "9" * 64, "A" + "-" * 63, "x_", "1.0"],
)
def test_valid_order_ids(order_id: str) -> None:
    assert check_order_id(order_id) == order_id
    assert PartyOrderSpec.model_validate(minimal(id=order_id)).id == order_id
    assert track_workflow_id(order_id) == f"party-order-{order_id}"
    assert close_workflow_id(order_id) == f"close-party-order-{order_id}"


@pytest.mark.parametrize(
    "order_id",
    [
        "",
        "a" * 65,
        "-abc",
        ".abc",
        "_abc",
        "é",
        "abcé",
        "PO\u00a01",
        "PO 1",
        "PO/1",
        "PO:1",
        "٣",  # an Arabic-Indic digit is a digit to Python, but not to the rule
        "PO-1\n",
        "\nPO-1",
        "PO-1\r",
    ],
)
def test_invalid_order_ids(order_id: str) -> None:
    rule = (
        f"order id {order_id!r} is invalid: use 1 to 64 letters, digits, '.', '_' or '-',"
        " starting with a letter or digit"
    )
    with pytest.raises(ValueError) as raised:
        check_order_id(order_id)
    assert str(raised.value) == rule
    # In a start input the length is checked first, by the field's own bounds.
    by_length = {
        0: "id: 0 characters received, at least 1 allowed",
        65: "id: 65 characters received, at most 64 allowed",
    }
    text = error_text(PartyOrderSpec, minimal(id=order_id))
    assert text == by_length.get(len(order_id), f"id: {rule}")


def test_order_id_boundary_64_vs_65() -> None:
    assert PartyOrderSpec.model_validate(minimal(id="a" * 64)).id == "a" * 64
    assert error_text(PartyOrderSpec, minimal(id="a" * 65)) == (
        "id: 65 characters received, at most 64 allowed"
    )


# ---------------------------------------------------------------- invalid start inputs


@pytest.mark.parametrize(
    ("field", "path"),
    [
        ("requestedCompletionDate", "requestedCompletionDate"),
        ("expectedCompletionDate", "expectedCompletionDate"),
        ("orderDate", "orderDate"),
    ],
)
def test_naive_datetime_is_refused_naming_the_field(field: str, path: str) -> None:
    text = error_text(PartyOrderSpec, minimal(**{field: "2027-01-15T00:00:00"}))
    assert path in text
    assert "timezone" in text


def test_naive_milestone_date_names_the_milestone() -> None:
    text = error_text(
        PartyOrderSpec, minimal(milestones=[{"id": "a", "milestoneDate": "2027-01-01T00:00:00"}])
    )
    assert "milestones.0.milestoneDate" in text


def test_duplicate_milestone_ids_are_refused() -> None:
    text = error_text(
        PartyOrderSpec,
        minimal(milestones=[{"id": "survey"}, {"id": "build"}, {"id": "survey"}]),
    )
    assert "milestones" in text
    assert "'survey'" in text


def test_milestone_status_values() -> None:
    spec = PartyOrderSpec.model_validate(
        minimal(milestones=[{"id": "a", "status": "violated"}, {"id": "b", "status": "completed"}])
    )
    assert [m.status for m in spec.milestones] == [
        MilestoneStatus.VIOLATED,
        MilestoneStatus.COMPLETED,
    ]
    assert error_text(PartyOrderSpec, minimal(milestones=[{"id": "a", "status": "late"}])) == (
        "milestones.0.status: 'late' is not one of yetToReach, completed, violated"
    )


@pytest.mark.parametrize(
    "escalation",
    [
        [{"level": 2, "after": "P1D", "notify": "a"}, {"level": 1, "after": "P2D", "notify": "b"}],
        [{"level": 1, "after": "P1D", "notify": "a"}, {"level": 1, "after": "P2D", "notify": "b"}],
    ],
)
def test_escalation_levels_out_of_order_are_refused(escalation: list[dict[str, Any]]) -> None:
    text = error_text(PartyOrderSpec, minimal(trackingPolicy={"escalation": escalation}))
    assert "trackingPolicy.escalation" in text
    assert "increasing level order" in text


def test_escalation_after_must_not_decrease() -> None:
    escalation = [
        {"level": 1, "after": "P2D", "notify": "a"},
        {"level": 2, "after": "P1D", "notify": "b"},
    ]
    text = error_text(PartyOrderSpec, minimal(trackingPolicy={"escalation": escalation}))
    assert "trackingPolicy.escalation" in text
    assert "level 2 fires before level 1" in text


def test_escalation_same_after_and_gaps_in_levels_are_fine() -> None:
    escalation = [
        {"level": 1, "after": "P1D", "notify": "a"},
        {"level": 5, "after": "P1D", "notify": "b"},
    ]
    spec = PartyOrderSpec.model_validate(minimal(trackingPolicy={"escalation": escalation}))
    assert [e.level for e in spec.tracking_policy.escalation] == [1, 5]


def test_escalation_may_be_empty() -> None:
    spec = PartyOrderSpec.model_validate(minimal(trackingPolicy={"escalation": []}))
    assert spec.tracking_policy.escalation == []


@pytest.mark.parametrize(
    ("policy", "path"),
    [
        (
            {"checkInInterval": "PT0S"},
            "trackingPolicy.checkInInterval: should be greater than 0 seconds",
        ),
        (
            {"responseWindow": "-P1D"},
            "trackingPolicy.responseWindow: should be greater than 0 seconds",
        ),
        (
            {"warningLeadTime": "-PT1S"},
            "trackingPolicy.warningLeadTime: should be greater than or equal to 0 seconds",
        ),
        (
            {"changeResolutionWindow": "PT0S"},
            "trackingPolicy.changeResolutionWindow: should be greater than 0 seconds",
        ),
        (
            {"unansweredCheckInLimit": 0},
            "trackingPolicy.unansweredCheckInLimit: should be greater than or equal to 1",
        ),
        (
            {"behindPlanTolerance": 101},
            "trackingPolicy.behindPlanTolerance: should be less than or equal to 100",
        ),
        (
            {"behindPlanTolerance": -1},
            "trackingPolicy.behindPlanTolerance: should be greater than or equal to 0",
        ),
        (
            {"escalation": [{"level": 0, "after": "P1D", "notify": "a"}]},
            "trackingPolicy.escalation.0.level: should be greater than or equal to 1",
        ),
        (
            {"checkInterval": "P7D"},
            "trackingPolicy.checkInterval: Extra inputs are not permitted",
        ),
    ],
)
def test_bad_policy_values_name_the_field(policy: dict[str, Any], path: str) -> None:
    assert the_rule(error_text(PartyOrderSpec, minimal(trackingPolicy=policy))) == path


def the_rule(text: str) -> str:
    """An error without the value it echoes (a duration is echoed in Python's notation)."""
    return text.split(" (received ", 1)[0]


@pytest.mark.parametrize(
    "field",
    [
        "checkInInterval",
        "responseWindow",
        "warningLeadTime",
        "changeResolutionWindow",
    ],
)
def test_policy_durations_are_at_most_a_hundred_years(field: str) -> None:
    """Regression: ``P999999999D`` was accepted and made ``now + interval`` overflow."""
    # responseWindow may not exceed checkInInterval, so stretch that one alongside.
    others = {"checkInInterval": "P36500D"} if field == "responseWindow" else {}
    ok = PartyOrderSpec.model_validate(minimal(trackingPolicy={field: "P36500D", **others}))
    wire = ok.tracking_policy.to_json_dict()[field]
    assert wire in ("P36500D", "P100Y")  # pydantic writes 365-day years
    assert PartyOrderSpec.model_validate(minimal(trackingPolicy={field: wire, **others})) == ok
    rule = f"trackingPolicy.{field}: should be less than or equal to 36500 days"
    for too_long in ("P36501D", "P999999999D"):
        text = error_text(PartyOrderSpec, minimal(trackingPolicy={field: too_long}))
        assert the_rule(text) == rule


def test_escalation_after_is_at_most_a_hundred_years() -> None:
    escalation = [{"level": 1, "after": "P36501D", "notify": "a"}]
    text = error_text(PartyOrderSpec, minimal(trackingPolicy={"escalation": escalation}))
    assert the_rule(text) == (
        "trackingPolicy.escalation.0.after: should be less than or equal to 36500 days"
    )


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("0001-01-01T00:00:00Z", False),
        ("1899-12-31T23:59:59.999999Z", False),
        ("1900-01-01T00:00:00Z", True),
        ("1900-01-01T00:30:00+01:00", False),  # 1899-12-31T23:30Z
        ("8999-12-31T23:59:59.999999Z", True),
        ("8999-12-31T23:00:00-01:00", False),  # 9000-01-01T00:00Z
        ("9000-01-01T00:00:00Z", False),
        ("9999-12-31T23:59:59-08:00", False),
    ],
)
@pytest.mark.parametrize(
    "field", ["requestedCompletionDate", "expectedCompletionDate", "orderDate"]
)
def test_dates_must_lie_in_a_sane_range(field: str, value: str, valid: bool) -> None:
    """Regression: dates near year 1 or 9999 made deadline arithmetic overflow."""
    data = minimal(**{field: value})
    if valid:
        assert PartyOrderSpec.model_validate(data)
    else:
        text = error_text(PartyOrderSpec, data)
        assert text == f"{field}: date-time must lie in the years 1900 to 8999"


def test_message_dates_must_lie_in_a_sane_range() -> None:
    far = "0001-01-01T00:00:00Z"
    rule = "date-time must lie in the years 1900 to 8999"
    assert error_text(ProgressReport, {"expectedCompletionDate": far}) == (
        f"expectedCompletionDate: {rule}"
    )
    assert error_text(ProgressReport, {"milestones": [{"id": "a", "completedAt": far}]}) == (
        f"milestones.0.completedAt: {rule}"
    )
    assert error_text(
        ChangeRequestMessage, {"changes": {"milestones": [{"id": "a", "milestoneDate": far}]}}
    ) == (f"changes.milestones.0.milestoneDate: {rule}")
    assert error_text(ChangeRequestMessage, {"changes": {"requestedCompletionDate": far}}) == (
        f"changes.requestedCompletionDate: {rule}"
    )


def test_zero_warning_lead_time_is_allowed() -> None:
    spec = PartyOrderSpec.model_validate(minimal(trackingPolicy={"warningLeadTime": "PT0S"}))
    assert spec.tracking_policy.warning_lead_time == timedelta(0)


@pytest.mark.parametrize(
    ("data", "path"),
    [
        (minimal(percentComplete=5), "percentComplete"),
        (minimal(party={"id": "A", "name": "B", "email": "x"}), "party.email"),
        (minimal(trackingPolicy={"checkInIntervall": "P7D"}), "trackingPolicy.checkInIntervall"),
        (minimal(milestones=[{"id": "a", "due": "x"}]), "milestones.0.due"),
        (minimal(originatingProcess={"name": "x", "ref": "y"}), "originatingProcess.ref"),
    ],
)
def test_unknown_fields_are_refused_with_the_field_named(data: dict[str, Any], path: str) -> None:
    text = error_text(PartyOrderSpec, data)
    assert f"{path}: Extra inputs are not permitted" in text


def test_several_problems_are_all_named_in_camel_case() -> None:
    data = minimal(
        id="-bad",
        orderDate="2026-01-01T00:00:00",
        trackingPolicy={"checkInInterval": "nope", "unansweredCheckInLimit": 0},
    )
    text = error_text(PartyOrderSpec, data)
    for path in (
        "id",
        "orderDate",
        "trackingPolicy.checkInInterval",
        "trackingPolicy.unansweredCheckInLimit",
    ):
        assert path in text
    assert "_" not in text.replace("'_'", "")  # no snake_case path anywhere
    assert len(text.split("; ")) == 4


# ---------------------------------------------------------------- order helpers


def test_due_date_prefers_expected_then_requested() -> None:
    order = PartyOrder.model_validate(minimal())
    assert order.due_date == datetime(2027, 1, 15, tzinfo=UTC)
    order.expected_completion_date = datetime(2027, 3, 1, tzinfo=UTC)
    assert order.due_date == datetime(2027, 3, 1, tzinfo=UTC)


def test_lookups_by_id() -> None:
    order = PartyOrder.model_validate(minimal(milestones=[{"id": "a"}, {"id": "b"}]))
    milestone = order.milestone("b")
    assert milestone is not None and milestone.id == "b"
    assert order.milestone("c") is None
    assert order.change_request("CR-1") is None


@pytest.mark.parametrize("state", list(OrderState))
def test_is_final(state: OrderState) -> None:
    order = PartyOrder.model_validate(minimal(state=state.value))
    assert order.is_final == (state in {"cancelled", "completed", "failed", "partial"})


# ---------------------------------------------------------------- inbound messages


def test_every_contract_message_has_a_model() -> None:
    assert set(MESSAGE_MODELS) == {
        "report_progress",
        "request_change",
        "resolve_change",
        "cancel_order",
        "check_in_now",
        "change_state",
        "acknowledge_escalation",
    }


def test_full_progress_report_from_the_contract() -> None:
    report = ProgressReport.model_validate(
        {
            "requestId": "r-1",
            "source": "enterprise",
            "percentComplete": 40,
            "milestones": [
                {"id": "survey", "status": "completed", "completedAt": "2026-12-04T10:00:00Z"}
            ],
            "expectedCompletionDate": "2027-01-12T00:00:00+01:00",
            "delivered": False,
            "note": "survey done",
        }
    )
    assert report.request_id == "r-1"
    assert report.source == "enterprise"
    assert report.percent_complete == 40
    assert report.milestones is not None and report.milestones[0].status == "completed"
    assert report.expected_completion_date == datetime(
        2027, 1, 12, tzinfo=timezone(timedelta(hours=1))
    )


def test_progress_report_defaults() -> None:
    report = ProgressReport.model_validate({"percentComplete": 0})
    assert report.source == "party"
    assert report.delivered is False
    milestone = ProgressReport.model_validate({"milestones": [{"id": "a"}]}).milestones
    assert milestone is not None and milestone[0].status == "completed"


@pytest.mark.parametrize(
    ("payload", "parsed"),
    [
        ({"percentComplete": 0}, {"percent_complete": 0}),
        ({"percentComplete": 100}, {"percent_complete": 100}),
        (
            {"milestones": [{"id": "a"}]},
            {"milestones": [{"id": "a", "status": "completed", "completed_at": None}]},
        ),
        (
            {"expectedCompletionDate": "2027-01-01T00:00:00Z"},
            {"expected_completion_date": datetime(2027, 1, 1, tzinfo=UTC)},
        ),
        ({"delivered": True}, {"delivered": True}),
        ({"note": ""}, {"note": ""}),
    ],
)
def test_a_progress_report_needs_one_thing(payload: dict[str, Any], parsed: dict[str, Any]) -> None:
    report = ProgressReport.model_validate(payload)
    # The one thing given is what was parsed, and every other field keeps its default.
    expected = {
        "request_id": None,
        "source": "party",
        "percent_complete": None,
        "milestones": None,
        "expected_completion_date": None,
        "delivered": False,
        "note": None,
        "order_items": None,
        **parsed,
    }
    assert report.model_dump(by_alias=False) == expected


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"requestId": "r"},
        {"source": "party"},
        {"delivered": False},
        {"milestones": []},
        {"percentComplete": None, "note": None},
    ],
)
def test_empty_progress_report_is_refused(payload: dict[str, Any]) -> None:
    assert error_text(ProgressReport, payload) == (
        "(message): a progress report needs at least one of percentComplete, milestones,"
        " expectedCompletionDate, delivered, note or orderItems"
    )


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ({"percentComplete": 101}, "percentComplete: should be less than or equal to 100"),
        ({"percentComplete": -1}, "percentComplete: should be greater than or equal to 0"),
        (
            {"percentComplete": 50.5},
            "percentComplete: should be a valid integer, got a number with a fractional part",
        ),
        (
            {"percentComplete": "lots"},
            "percentComplete: should be a valid integer, unable to parse string as an integer",
        ),
        ({"source": "supplier", "note": "x"}, "source: 'supplier' is not one of party, enterprise"),
        (
            {"milestones": [{"id": "a", "status": "violated"}]},
            "milestones.0.status: 'violated' is not one of yetToReach, completed",
        ),
        (
            {"milestones": [{"id": ""}]},
            "milestones.0.id: 0 characters received, at least 1 allowed",
        ),
        (
            {"milestones": [{"id": "a", "completedAt": "2026-01-01T00:00:00"}]},
            "milestones.0.completedAt: should have timezone info",
        ),
        (
            {"expectedCompletionDate": "2027-01-01"},
            "expectedCompletionDate: should have timezone info",
        ),
        (
            {"expectedCompletionDate": "2027-01-01T00:00:00"},
            "expectedCompletionDate: should have timezone info",
        ),
        (
            {"delivered": "perhaps"},
            "delivered: should be a valid boolean, unable to interpret input",
        ),
        ({"note": "x" * 4001}, "note: 4001 characters received, at most 4000 allowed"),
        ({"requestId": "", "note": "x"}, "requestId: 0 characters received, at least 1 allowed"),
        (
            {"requestId": "r" * 201, "note": "x"},
            "requestId: 201 characters received, at most 200 allowed",
        ),
        ({"percentComplet": 5}, "percentComplet: Extra inputs are not permitted"),
    ],
)
def test_progress_report_problems_name_the_field(payload: dict[str, Any], path: str) -> None:
    """The field, and the rule it breaks (the value received is echoed after it)."""
    assert the_rule(error_text(ProgressReport, payload)) == path


def test_percent_complete_101_is_named() -> None:
    assert error_text(ProgressReport, {"percentComplete": 101}) == (
        "percentComplete: should be less than or equal to 100 (received 101)"
    )


def test_change_request_message() -> None:
    message = ChangeRequestMessage.model_validate(
        {
            "requestId": "chg-1",
            "origin": "external",
            "kind": "forced",
            "reason": "regulator",
            "changes": {
                "expectedCompletionDate": "2027-02-01T00:00:00Z",
                "requestedCompletionDate": "2027-02-05T00:00:00Z",
                "milestones": [{"id": "survey", "milestoneDate": "2026-12-20T00:00:00Z"}],
                "orderItems": [{"id": "1", "quantity": 2}],
            },
        }
    )
    assert message.origin == "external" and message.kind == "forced"
    assert message.changes.milestones is not None
    assert message.changes.milestones[0].milestone_date == datetime(2026, 12, 20, tzinfo=UTC)
    defaults = ChangeRequestMessage.model_validate({"changes": {"orderItems": [{"id": "1"}]}})
    assert (defaults.origin, defaults.kind) == ("party", "requested")


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"milestones": []},
        {"orderItems": []},
        {"expectedCompletionDate": None, "requestedCompletionDate": None},
    ],
)
def test_change_with_empty_changes_is_refused(changes: dict[str, Any]) -> None:
    assert error_text(ChangeRequestMessage, {"changes": changes}) == (
        "changes: changes must name at least one field to change"
    )
    with pytest.raises(ValidationError):
        ChangeSet.model_validate(changes)


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ({}, "changes: is required"),
        ({"changes": {"note": "x"}}, "changes.note: Extra inputs are not permitted"),
        (
            {"origin": "me", "changes": {"orderItems": [{"id": "1"}]}},
            "origin: 'me' is not one of party, enterprise, external",
        ),
        (
            {"kind": "urgent", "changes": {"orderItems": [{"id": "1"}]}},
            "kind: 'urgent' is not one of requested, forced",
        ),
        (
            {"changes": {"milestones": [{"id": "a"}]}},
            "changes.milestones.0: milestoneDate is required (except with action delete)",
        ),
        (
            {"changes": {"milestones": [{"id": "a", "milestoneDate": "2027-01-01T00:00:00"}]}},
            "changes.milestones.0.milestoneDate: should have timezone info",
        ),
        ({"changes": {"orderItems": [{"quantity": 1}]}}, "changes.orderItems.0.id: is required"),
        (
            {"changes": {"expectedCompletionDate": "2027-01-01T00:00:00"}},
            "changes.expectedCompletionDate: should have timezone info",
        ),
    ],
)
def test_change_request_problems_name_the_field(payload: dict[str, Any], path: str) -> None:
    assert the_rule(error_text(ChangeRequestMessage, payload)) == path


def test_change_resolution() -> None:
    ok = ChangeResolution.model_validate(
        {"changeRequestId": "CR-1", "decision": "accepted", "resolvedBy": "SO-77", "note": "ok"}
    )
    assert ok.change_request_id == "CR-1" and ok.decision == "accepted"
    assert error_text(ChangeResolution, {"changeRequestId": "CR-1"}) == "decision: is required"
    assert error_text(ChangeResolution, {"changeRequestId": "CR-1", "decision": "maybe"}) == (
        "decision: 'maybe' is not one of accepted, rejected"
    )
    assert error_text(ChangeResolution, {"decision": "accepted"}) == (
        "changeRequestId: is required"
    )
    assert error_text(ChangeResolution, {"changeRequestId": "", "decision": "accepted"}) == (
        "changeRequestId: 0 characters received, at least 1 allowed"
    )


def test_cancel_and_check_in_accept_empty_payloads_but_no_strangers() -> None:
    assert CancelRequest.model_validate({}).reason is None
    assert CheckInRequest.model_validate({}).requested_by is None
    assert error_text(CancelRequest, {"why": "x"}) == (
        "why: Extra inputs are not permitted (received 'x')"
    )
    assert error_text(CheckInRequest, {"who": "x"}) == (
        "who: Extra inputs are not permitted (received 'x')"
    )


@pytest.mark.parametrize("state", ["inProgress", "pending", "held", "failed"])
def test_state_change_targets(state: str) -> None:
    request = StateChangeRequest.model_validate({"state": state, "reason": "r"})
    assert OrderState(request.state).value == state


@pytest.mark.parametrize(
    "state", ["acknowledged", "completed", "cancelled", "pendingCancellation", "InProgress", ""]
)
def test_state_change_to_other_states_is_refused(state: str) -> None:
    assert error_text(StateChangeRequest, {"state": state}) == (
        f"state: '{state}' is not one of inProgress, pending, held, failed"
    )


@pytest.mark.parametrize("payload", [None, [], "text", 5, True])
@pytest.mark.parametrize("name", sorted(MESSAGE_MODELS))
def test_non_object_payloads_are_refused(name: str, payload: Any) -> None:
    with pytest.raises(ValidationError):
        MESSAGE_MODELS[name].model_validate(payload)


def test_describe_validation_error_uses_camel_case_paths() -> None:
    text = error_text(
        ChangeRequestMessage,
        {
            "requestId": "",
            "changes": {
                "expectedCompletionDate": "2027-01-01T00:00:00",
                "milestones": [{"id": "a", "milestoneDate": "soon"}],
            },
        },
    )
    assert "requestId:" in text
    assert "changes.expectedCompletionDate:" in text
    assert "changes.milestones.0.milestoneDate:" in text
    assert "request_id" not in text and "milestone_date" not in text
    assert "expected_completion_date" not in text
    assert len(text.split("; ")) == 3


def test_describe_validation_error_for_a_whole_message() -> None:
    assert error_text(ProgressReport, "not an object") == (
        "(message): should be a JSON object (received 'not an object')"
    )
