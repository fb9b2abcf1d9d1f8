"""A seller's MEF LSO Sonata ProductOrder, read into the tracker's own messages and applied
through PartyOrderTracker: the mapping table of docs/connectors.md, row by row."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from workflows.domain.connectors import (
    CancellationDone,
    CancellationUnderWay,
    OrderView,
    PartyAnswer,
    PartyCancelling,
    UnusableAnswer,
)
from workflows.domain.connectors.protocols import reader
from workflows.domain.connectors.sonata import read_answer
from workflows.domain.messages import CancelRequest
from workflows.domain.model import ItemState, MilestoneStatus, OrderState, PartyOrderSpec
from workflows.domain.rules import CURRENT_RULES
from workflows.domain.tracker import PartyOrderTracker

NOW = datetime(2026, 11, 1, tzinfo=UTC)
LATER = NOW + timedelta(days=3)
DAY = timedelta(days=1)


def order_input(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "PO-24",
        "party": {"id": "CARRIER", "name": "Carrier One"},
        "orderItems": [
            {"id": "1", "description": "access E-Line"},
            {"id": "2", "description": "UNI"},
        ],
        "requestedCompletionDate": "2027-03-01T00:00:00Z",
        "milestones": [{"id": "survey", "name": "Site survey"}],
    }
    data.update(changes)
    return data


def start(**changes: Any) -> PartyOrderTracker:
    spec = PartyOrderSpec.model_validate(order_input(**changes))
    return PartyOrderTracker.start(spec, NOW, rules_version=CURRENT_RULES)


def item(item_id: str, state: str, **fields: Any) -> dict[str, Any]:
    return {"id": item_id, "action": "add", "state": state, **fields}


def product_order(state: str, *items: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A ProductOrder as a seller answers ``GET /productOrder/{id}`` (MEF 123 §6.4)."""
    return {
        "id": "SELLER-9001",
        "externalId": "PO-24",
        "orderDate": "2026-10-30T09:00:00Z",
        "state": state,
        "relatedContactInformation": [
            {
                "emailAddress": "orders@buyer.example",
                "name": "Buyer Orders",
                "number": "+49-30-1234",
                "role": "productOrderContact",
            }
        ],
        "productOrderItem": list(items) or [item("1", "inProgress"), item("2", "inProgress")],
        **fields,
    }


def read(tracker: PartyOrderTracker, document: dict[str, Any], **view: Any) -> PartyAnswer:
    return read_answer(document, OrderView.of(tracker.order, **view), LATER)


def apply(tracker: PartyOrderTracker, answer: PartyAnswer) -> None:
    """Apply an answer as the workflow will: the report, then the state it names."""
    if answer.report is not None:
        payload = answer.report.model_dump(mode="json", by_alias=True, exclude_none=True)
        tracker.handle("report_progress", payload, LATER)
    change = answer.state_change
    if change is not None and change.state != tracker.order.state and not tracker.order.is_final:
        tracker.validate_state_change(change)
        tracker.change_state(change, LATER)
    assert tracker.order.rejected_messages == [], tracker.order.rejected_messages


def test_the_protocol_name_of_the_contract_finds_the_sonata_reader() -> None:
    assert reader("mef-sonata-v10") is read_answer
    with pytest.raises(KeyError):
        reader("carrier-pigeon")


def test_completed_delivers_the_order_and_its_items() -> None:
    tracker = start()
    answer = read(
        tracker,
        product_order(
            "completed",
            item("1", "completed", completionDate="2026-11-03T10:00:00Z"),
            item("2", "completed", completionDate="2026-11-03T11:00:00Z"),
            completionDate="2026-11-03T12:00:00Z",
        ),
    )
    apply(tracker, answer)
    assert tracker.order.state == OrderState.COMPLETED
    assert [i.state for i in tracker.order.order_items] == [ItemState.COMPLETED] * 2
    assert answer.completion_date == datetime(2026, 11, 3, 12, tzinfo=UTC)
    assert answer.report is not None and answer.report.source == "party"


def test_completed_delivers_an_order_tracked_as_a_whole() -> None:
    tracker = start(orderItems=[])
    apply(tracker, read(tracker, product_order("completed", item("1", "completed"))))
    assert tracker.order.state == OrderState.COMPLETED


def test_each_item_forecast_is_its_own_and_the_order_forecast_is_the_latest() -> None:
    tracker = start()
    answer = read(
        tracker,
        product_order(
            "inProgress",
            item("1", "inProgress", expectedCompletionDate="2027-01-10T00:00:00Z"),
            item("2", "acknowledged", expectedCompletionDate="2027-02-01T00:00:00Z"),
        ),
    )
    assert answer.report is not None
    assert answer.report.expected_completion_date == datetime(2027, 2, 1, tzinfo=UTC)
    apply(tracker, answer)
    order = tracker.order
    assert order.state == OrderState.IN_PROGRESS
    assert order.expected_completion_date == datetime(2027, 2, 1, tzinfo=UTC)
    first, second = order.order_items
    assert (first.state, first.expected_completion_date) == (
        ItemState.IN_PROGRESS,
        datetime(2027, 1, 10, tzinfo=UTC),
    )
    assert (second.state, second.expected_completion_date) == (
        ItemState.ACKNOWLEDGED,
        datetime(2027, 2, 1, tzinfo=UTC),
    )


def test_a_forecast_that_has_passed_is_left_out_and_said_so_the_rest_applies() -> None:
    tracker = start()
    answer = read(
        tracker,
        product_order(
            "inProgress",
            item("1", "inProgress", expectedCompletionDate="2026-10-01T00:00:00Z"),
            item("2", "inProgress", expectedCompletionDate="2027-01-05T00:00:00Z"),
        ),
    )
    apply(tracker, answer)
    assert tracker.order.expected_completion_date == datetime(2027, 1, 5, tzinfo=UTC)
    assert tracker.order.order_items[0].expected_completion_date is None
    assert any("'1'" in text and "has passed" in text for text in answer.unplaced)


def test_an_item_milestone_reaches_our_milestone_of_that_name_on_its_date() -> None:
    tracker = start()
    reached = "2026-11-02T08:00:00Z"
    answer = read(
        tracker,
        product_order(
            "inProgress",
            item("1", "inProgress", milestone=[{"name": "site  SURVEY", "date": reached}]),
            item("2", "inProgress", milestone=[{"name": "Rack installed", "date": reached}]),
        ),
    )
    apply(tracker, answer)
    survey = tracker.order.milestone("survey")
    assert survey is not None and survey.status == MilestoneStatus.COMPLETED
    assert survey.completed_at == datetime(2026, 11, 2, 8, tzinfo=UTC)
    # A milestone we do not track is said, not applied (and does not refuse the report).
    assert answer.unplaced == ("milestone 'Rack installed' is not a milestone of this order",)


def test_held_assessing_charge_holds_the_order() -> None:
    tracker = start()
    apply(tracker, read(tracker, product_order("inProgress")))
    answer = read(
        tracker, product_order("held.assessingCharge", item("1", "held"), item("2", "inProgress"))
    )
    apply(tracker, answer)
    assert tracker.order.state == OrderState.HELD
    assert tracker.order.order_items[0].state == ItemState.HELD
    assert "charge" in (tracker.order.state_reason or "")


def test_pending_assessing_modification_makes_the_order_pending() -> None:
    tracker = start()
    apply(tracker, read(tracker, product_order("inProgress")))
    apply(
        tracker, read(tracker, product_order("pending.assessingModification", item("1", "pending")))
    )
    assert tracker.order.state == OrderState.PENDING


def test_in_progress_again_resumes_a_held_order() -> None:
    tracker = start()
    apply(tracker, read(tracker, product_order("held.assessingCharge")))
    apply(tracker, read(tracker, product_order("inProgress")))
    assert tracker.order.state == OrderState.IN_PROGRESS


def test_rejected_is_failed_with_the_sellers_reason() -> None:
    tracker = start()
    answer = read(
        tracker,
        product_order(
            "rejected",
            item(
                "1", "rejected", terminationError=[{"code": "invalidValue", "value": "no coverage"}]
            ),
            item("2", "rejected.validated"),
            # The spec does not order the list: the reason is the one of the state reached.
            stateChange=[
                {
                    "state": "rejected",
                    "changeDate": "2026-10-31T09:00:00Z",
                    "changeReason": "site unserviceable",
                },
                {
                    "state": "acknowledged",
                    "changeDate": "2026-10-30T09:00:00Z",
                    "changeReason": "received",
                },
            ],
        ),
    )
    apply(tracker, answer)
    assert tracker.order.state == OrderState.FAILED
    assert answer.state_change is not None and answer.state_change.state == "failed"
    assert "site unserviceable" in (answer.state_change.reason or "")
    assert "received" not in (answer.state_change.reason or "")
    assert [i.state for i in tracker.order.order_items] == [ItemState.FAILED] * 2


def test_a_rejection_without_a_state_change_gives_the_items_termination_errors() -> None:
    tracker = start()
    answer = read(
        tracker,
        product_order(
            "rejected",
            item("1", "rejected", terminationError=[{"value": "no coverage"}]),
            item("2", "rejected.unassessed"),
        ),
    )
    assert answer.state_change is not None
    assert "no coverage" in (answer.state_change.reason or "")


def test_partial_ends_the_order_partial_through_its_items() -> None:
    tracker = start()
    apply(
        tracker,
        read(tracker, product_order("partial", item("1", "completed"), item("2", "failed"))),
    )
    assert tracker.order.state == OrderState.PARTIAL


def test_failed_fails_the_order() -> None:
    tracker = start()
    apply(tracker, read(tracker, product_order("inProgress")))
    apply(tracker, read(tracker, product_order("failed", item("1", "failed"), item("2", "failed"))))
    assert tracker.order.state == OrderState.FAILED


@pytest.mark.parametrize("state", ["assessingCancellation", "pendingCancellation", "cancelled"])
def test_a_cancellation_we_did_not_ask_for_is_a_forced_change_request(state: str) -> None:
    tracker = start()
    apply(tracker, read(tracker, product_order("inProgress")))
    answer = read(
        tracker,
        product_order(
            state,
            item("1", "cancelled"),
            item("2", "cancelled"),
            cancellationReason="network retired",
        ),
    )
    assert isinstance(answer.cancellation, PartyCancelling)
    apply(tracker, answer)
    # Nothing is cancelled silently: the items stay open, the order stays in progress ...
    assert tracker.order.state == OrderState.IN_PROGRESS
    assert {i.state for i in tracker.order.order_items} == {ItemState.IN_PROGRESS}
    # ... and the originating process gets a forced change request from the party.
    change = answer.cancellation.change_request("sonata-cancel-1")
    assert change is not None
    tracker.handle(
        "request_change", change.model_dump(mode="json", by_alias=True, exclude_none=True), LATER
    )
    assert tracker.order.rejected_messages == []
    [request] = tracker.order.change_requests
    assert (request.origin, request.kind) == ("party", "forced")
    assert "network retired" in (request.reason or "")
    assert [(i.id, i.state) for i in request.changes.order_items or []] == [
        ("1", ItemState.CANCELLED),
        ("2", ItemState.CANCELLED),
    ]


def test_a_cancellation_we_asked_for_is_under_way_then_done() -> None:
    tracker = start()
    tracker.cancel(CancelRequest(reason="project stopped", requested_by="SO"), NOW)
    assert tracker.order.state == OrderState.PENDING_CANCELLATION
    for state in ("assessingCancellation", "pendingCancellation"):
        answer = read(tracker, product_order(state))
        assert answer.cancellation == CancellationUnderWay(party_state=state)
    done = read(
        tracker,
        product_order(
            "cancelled",
            item("1", "cancelled"),
            item("2", "cancelled"),
            cancellationReason="project stopped",
            cancellationDate="2026-11-02T00:00:00Z",
        ),
    )
    assert done.cancellation == CancellationDone(
        reason="project stopped", cancellation_date=datetime(2026, 11, 2, tzinfo=UTC)
    )
    # A cancelled item is never reported as progress: a party cannot cancel by a report.
    assert done.report is None


def test_only_the_sellers_notes_are_read_and_only_those_not_read_before() -> None:
    tracker = start()
    notes = [
        {
            "id": "a",
            "author": "Buyer",
            "date": "2026-10-30T10:00:00Z",
            "source": "buyer",
            "text": "please hurry",
        },
        {
            "id": "b",
            "author": "Kate",
            "date": "2026-10-31T10:00:00Z",
            "source": "seller",
            "text": "survey booked",
        },
    ]
    item_note = {
        "id": "c",
        "author": "Field",
        "date": "2026-11-01T12:00:00Z",
        "source": "seller",
        "text": "duct blocked",
    }
    document = product_order(
        "inProgress", item("1", "inProgress", note=[item_note]), item("2", "inProgress"), note=notes
    )
    answer = read(tracker, document)
    assert answer.report is not None and answer.report.note is not None
    assert (
        "survey booked" in answer.report.note and "duct blocked on item 1" not in answer.report.note
    )
    assert "on item 1: duct blocked" in answer.report.note
    assert "please hurry" not in answer.report.note
    assert [n.id for n in answer.notes] == ["b", "c"]
    later = read(tracker, document, notes_read_until=datetime(2026, 10, 31, 10, tzinfo=UTC))
    assert later.report is not None and later.report.note is not None
    assert "survey booked" not in later.report.note and "duct blocked" in later.report.note


def test_an_acknowledged_order_with_nothing_new_is_an_answer_with_no_report() -> None:
    tracker = start()
    answer = read(
        tracker, product_order("acknowledged", item("1", "acknowledged"), item("2", "acknowledged"))
    )
    assert answer.report is not None  # item states are news to an order that had none
    apply(tracker, answer)
    quiet = read_answer(
        product_order("acknowledged", {"id": "1", "action": "add"}),
        OrderView.of(tracker.order),
        LATER,
    )
    assert quiet.report is None and quiet.state_change is None and quiet.cancellation is None
    assert quiet.party_order_id == "SELLER-9001" and quiet.channel == "connector:mef-sonata-v10"


def test_an_item_the_seller_numbers_itself_is_found_by_its_external_id() -> None:
    tracker = start(orderItems=[{"id": "1", "externalId": "S-ITEM-7"}])
    answer = read(tracker, product_order("inProgress", item("S-ITEM-7", "held")))
    apply(tracker, answer)
    assert tracker.order.order_items[0].state == ItemState.HELD


def test_an_item_that_is_not_ours_is_said_and_not_applied() -> None:
    tracker = start()
    answer = read(
        tracker, product_order("inProgress", item("1", "inProgress"), item("99", "failed"))
    )
    apply(tracker, answer)
    assert answer.unplaced == ("productOrderItem '99' is not an item of this order",)
    assert tracker.order.state == OrderState.IN_PROGRESS


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("state",), "bogus", "state"),
        (("productOrderItem", 0, "state"), "done", "productOrderItem.0.state"),
        (
            ("productOrderItem", 0, "expectedCompletionDate"),
            "soon",
            "productOrderItem.0.expectedCompletionDate",
        ),
        (
            ("productOrderItem", 0, "expectedCompletionDate"),
            "2027-01-10T00:00:00",
            "productOrderItem.0.expectedCompletionDate",
        ),
        (
            ("productOrderItem", 0, "milestone"),
            [{"name": "x"}],
            "productOrderItem.0.milestone.0.date",
        ),
        (("orderDate",), None, "orderDate"),
        (("productOrderItem",), [], "productOrderItem"),
        (
            ("note",),
            [{"id": "n", "author": "a", "date": "2026-11-01T00:00:00Z", "text": "t"}],
            "note.0.source",
        ),
    ],
)
def test_an_answer_without_the_specs_shape_is_refused_naming_the_field(
    path: tuple[str | int, ...], value: Any, field: str
) -> None:
    tracker = start()
    document = copy.deepcopy(product_order("completed"))
    target: Any = document
    for part in path[:-1]:
        target = target[part]
    if value is None:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    before = tracker.order.model_dump()
    with pytest.raises(UnusableAnswer) as refused:
        read(tracker, document)
    assert refused.value.field == field
    assert str(refused.value).startswith(f"{field}: ")
    assert tracker.order.model_dump() == before


@pytest.mark.parametrize("document", [None, [], "completed", 7])
def test_an_answer_that_is_no_object_is_refused(document: Any) -> None:
    with pytest.raises(UnusableAnswer) as refused:
        read(start(), document)
    assert refused.value.field == "(document)"
