"""``party.connector`` and ``externalId`` on the start input (the contract's third part):
what a start accepts and refuses, and that an order without them reads as it always did."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from activities.outbound import AllowList
from starter.client.starting import start_input
from starter.errors import InvalidInput
from workflows.domain.connectors import OrderView
from workflows.domain.messages import describe_validation_error
from workflows.domain.model import PartyOrder, PartyOrderSpec
from workflows.domain.rules import CURRENT_RULES
from workflows.domain.tracker import PartyOrderTracker, TrackerState
from workflows.domain.wire import from_wire

CONNECTOR: dict[str, Any] = {
    "protocol": "mef-sonata-v10",
    "baseUrl": "https://seller.example/mefApi/sonata/productOrderingManagement/v10/",
    "credentials": "CARRIER_ONE",
    "subscribe": True,
}


def order(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "PO-24",
        "party": {"id": "CARRIER", "name": "Carrier One", "connector": CONNECTOR},
        "externalId": "00000000-1111-2222-3333-000000000123",
        "orderItems": [{"id": "1", "externalId": "item-001"}, {"id": "2"}],
        "requestedCompletionDate": "2027-03-01T00:00:00Z",
    }
    data.update(changes)
    return data


def refusal(data: dict[str, Any]) -> str:
    """The refusal of a start input, validated as every entry validates it (strictly)."""
    with pytest.raises(ValidationError) as refused:
        from_wire(PartyOrderSpec, data, strict=True)
    return describe_validation_error(refused.value)


def test_an_order_with_a_connector_reads_back_with_it() -> None:
    spec = PartyOrderSpec.model_validate(order())
    connector = spec.party.connector
    assert connector is not None
    assert (connector.protocol, connector.credentials, connector.subscribe) == (
        "mef-sonata-v10",
        "CARRIER_ONE",
        True,
    )
    # One way to write the base URL: the paths are added to it without a slash twice.
    assert connector.base_url == CONNECTOR["baseUrl"].rstrip("/")
    wire = PartyOrder.model_validate(spec.to_json_dict()).to_json_dict()
    assert wire["externalId"] == "00000000-1111-2222-3333-000000000123"
    assert wire["party"]["connector"]["credentials"] == "CARRIER_ONE"
    assert [item.get("externalId") for item in wire["orderItems"]] == ["item-001", None]


def test_a_connector_without_the_orders_external_id_is_refused_naming_the_field() -> None:
    data = order()
    del data["externalId"]
    assert "externalId: the party's own order id is required with party.connector" in refusal(data)


def test_an_order_without_a_connector_needs_no_external_id_and_reads_as_before() -> None:
    data = order(party={"id": "CARRIER", "name": "Carrier One"})
    del data["externalId"]
    data["orderItems"] = [{"id": "1"}]
    wire = PartyOrderSpec.model_validate(data).to_json_dict()
    assert "connector" not in wire["party"]
    assert "externalId" not in wire
    assert "externalId" not in wire["orderItems"][0]


@pytest.mark.parametrize(
    ("connector", "field"),
    [
        ({**CONNECTOR, "protocol": "sonata"}, "party.connector.protocol"),
        ({**CONNECTOR, "baseUrl": "ftp://seller.example"}, "party.connector.baseUrl"),
        ({**CONNECTOR, "credentials": "carrier-one"}, "party.connector.credentials"),
        ({**CONNECTOR, "subscribe": "yes"}, "party.connector.subscribe"),
        ({k: v for k, v in CONNECTOR.items() if k != "baseUrl"}, "party.connector.baseUrl"),
    ],
)
def test_a_connector_that_breaks_a_rule_is_refused_naming_the_field(
    connector: dict[str, Any], field: str
) -> None:
    data = order(party={"id": "CARRIER", "name": "Carrier One", "connector": connector})
    assert refusal(data).startswith(f"{field}: ")


def test_an_internal_base_url_is_refused_where_orders_enter_unless_allowed() -> None:
    internal = {**CONNECTOR, "baseUrl": "http://10.1.2.3/v10"}
    data = order(party={"id": "CARRIER", "name": "Carrier One", "connector": internal})
    with pytest.raises(InvalidInput, match=r"^party\.connector\.baseUrl: 10\.1\.2\.3"):
        start_input(data)
    allowed = start_input(data, AllowList.parse("10.1.2.3"))
    assert allowed.party.connector is not None


def test_the_party_knows_our_items_by_their_external_id_or_our_id() -> None:
    view = OrderView.of(PartyOrder.model_validate(order()))
    assert view.item_ids == {"item-001": "1", "2": "2"}


def test_tracking_keeps_the_connector_across_continue_as_new() -> None:
    spec = from_wire(PartyOrderSpec, order(), strict=True)
    tracker = PartyOrderTracker.start(
        spec, datetime(2026, 11, 1, tzinfo=UTC), rules_version=CURRENT_RULES
    )
    carried = TrackerState.model_validate_json(tracker.state.model_dump_json())
    assert carried.order.external_id == spec.external_id
    assert carried.order.party.connector == spec.party.connector
    assert carried.order.order_items[0].external_id == "item-001"
