"""The Sonata reader against files nobody here wrote: MEF 123's official management API
(``reference/mef-sonata/productOrderManagement.api.yaml``), its schema resolved with its
``$ref``s and checked by a JSON Schema validator.

What the spec accepts as the answer of ``GET /productOrder/{id}``, the reader accepts and
maps; what the spec refuses, the reader refuses, naming the field the spec names.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, get_args

import jsonschema_rs
import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML ships no type hints

from workflows.domain.connectors import OrderView, UnusableAnswer, sonata
from workflows.domain.connectors.sonata import read_answer

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "reference" / "mef-sonata" / "productOrderManagement.api.yaml"
NOW = datetime(2026, 11, 1, tzinfo=UTC)
VIEW = OrderView(
    item_ids={"item-001": "1", "item-002": "2"},
    milestone_ids={"site survey": "survey"},
    open_item_ids=("1", "2"),
    cancellation_requested=False,
)


@cache
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    return loaded


def get_answer_content() -> dict[str, Any]:
    """The media types of the 200 answer of ``retrieveProductOrder``, as the spec has them."""
    for path in spec()["paths"].values():
        operation = path.get("get", {})
        if operation.get("operationId") == "retrieveProductOrder":
            content: dict[str, Any] = operation["responses"]["200"]["content"]
            return content
    raise AssertionError("the spec has no retrieveProductOrder")


@cache
def validator() -> jsonschema_rs.Validator:
    [media] = get_answer_content().values()
    # The answer's schema, with the spec's components beside it so that its $refs
    # ("#/components/schemas/...") resolve inside one document.
    schema = {"allOf": [media["schema"]], "components": spec()["components"]}
    return jsonschema_rs.Draft4Validator(schema, validate_formats=True)


def spec_errors(document: Any) -> list[str]:
    """The fields the spec refuses in ``document``, as dotted paths."""
    fields = []
    for error in validator().iter_errors(document):
        path = [str(part) for part in error.instance_path]
        missing = getattr(error.kind, "property", None)
        if type(error.kind).__name__ == "Required" and missing is not None:
            path.append(str(missing))
        fields.append(".".join(path) or "(document)")
    return fields


def schema(name: str) -> dict[str, Any]:
    found: dict[str, Any] = spec()["components"]["schemas"][name]
    return found


def spec_examples() -> Iterator[Any]:
    """Every example the spec gives of the answer (``example``, ``examples``), on the
    media type or inside the schemas it names."""
    seen: set[int] = set()

    def walk(node: Any) -> Iterator[Any]:
        if id(node) in seen:
            return
        seen.add(id(node))
        if isinstance(node, dict):
            if "example" in node:
                yield node["example"]
            for example in (node.get("examples") or {}).values():
                yield example.get("value") if isinstance(example, dict) else example
            if isinstance(node.get("$ref"), str):
                yield from walk(schema(node["$ref"].rsplit("/", 1)[-1]))
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)

    for media in get_answer_content().values():
        for example in walk(media):
            # An example of the whole answer (not of one of its fields) has its id and state.
            if isinstance(example, dict) and {"id", "state", "productOrderItem"} <= example.keys():
                yield example


CONTACT = {
    "emailAddress": "orders@buyer.example",
    "name": "Buyer Orders",
    "number": "+49-30-1234",
    "role": "productOrderContact",
}

# The item state a seller gives with each order state (MEF 123 §6.1.9-6.1.10).
ITEM_STATE_WITH: dict[str, str] = {
    "acknowledged": "acknowledged",
    "assessingCancellation": "pending",
    "cancelled": "cancelled",
    "completed": "completed",
    "failed": "failed",
    "held.assessingCharge": "held",
    "inProgress": "inProgress",
    "partial": "completed",
    "pending.assessingModification": "pending",
    "pendingCancellation": "cancelled",
    "rejected": "rejected",
}


def seller_answer(state: str) -> dict[str, Any]:
    """A seller's answer in ``state`` with the attributes MEF 123 Table 10 and 11 ask for
    in that state, and the optional ones the reader reads."""
    item_state = ITEM_STATE_WITH[state]
    first: dict[str, Any] = {
        "id": "item-001",
        "action": "add",
        "state": item_state,
        "milestone": [{"name": "Site survey", "date": "2026-10-31T08:00:00Z", "note": "done"}],
        "note": [
            {
                "id": "n-2",
                "author": "Kate",
                "date": "2026-10-31T10:00:00Z",
                "source": "seller",
                "text": "survey done",
            }
        ],
        "stateChange": [{"state": item_state, "changeDate": "2026-10-31T10:00:00Z"}],
    }
    if item_state not in ("cancelled", "rejected", "acknowledged"):
        first["expectedCompletionDate"] = "2027-01-10T00:00:00Z"
    if item_state == "completed":
        first["completionDate"] = "2026-10-31T12:00:00Z"
    if item_state in ("failed", "rejected"):
        first["terminationError"] = [{"code": "otherIssue", "value": "no coverage"}]
    second = {**first, "id": "item-002"}
    if state == "partial":
        second = {**second, "state": "failed", "terminationError": [{"value": "no duct"}]}
        del second["completionDate"]
    document: dict[str, Any] = {
        "id": "00000000-1111-2222-3333-000000000123",
        "href": "https://seller.example/productOrder/00000000-1111-2222-3333-000000000123",
        "externalId": "PO-24",
        "orderDate": "2026-10-30T09:00:00Z",
        "state": state,
        "relatedContactInformation": [CONTACT],
        "productOrderItem": [first, second],
        "note": [
            {
                "id": "n-1",
                "author": "Buyer",
                "date": "2026-10-30T09:00:00Z",
                "source": "buyer",
                "text": "please call before visiting",
            }
        ],
        "stateChange": [
            {"state": state, "changeDate": "2026-10-31T10:00:00Z", "changeReason": "as planned"}
        ],
    }
    if state in ("cancelled", "completed", "failed", "partial", "rejected"):
        document["completionDate"] = "2026-10-31T12:00:00Z"
    if state == "cancelled":
        document["cancellationDate"] = "2026-10-31T12:00:00Z"
        document["cancellationReason"] = "network retired"
    return document


def test_the_readers_states_are_the_specs() -> None:
    assert set(get_args(sonata.SonataOrderState)) == set(schema("MEFProductOrderStateType")["enum"])
    assert set(get_args(sonata.SonataItemState)) == set(
        schema("MEFProductOrderItemStateType")["enum"]
    )


def test_every_state_of_the_spec_has_a_row_in_the_mapping() -> None:
    order_states = set(schema("MEFProductOrderStateType")["enum"])
    mapped = (
        set(sonata.ORDER_STATES)
        | sonata.CANCELLING_STATES
        | {
            "acknowledged",
            "completed",
            "partial",
            "cancelled",
        }  # read from the items / the cancellation
    )
    assert order_states == mapped
    # Every item state but ``cancelled`` (never a party's report) has our item state.
    assert set(schema("MEFProductOrderItemStateType")["enum"]) == set(sonata.ITEM_STATES) | {
        "cancelled"
    }


@pytest.mark.parametrize("state", sorted(ITEM_STATE_WITH))
def test_an_answer_the_spec_accepts_is_accepted_and_mapped(state: str) -> None:
    document = seller_answer(state)
    assert spec_errors(document) == []  # the corpus itself is held to the spec
    answer = read_answer(document, VIEW, NOW)
    assert answer.party_state == state
    assert answer.party_order_id == document["id"]
    assert [n.id for n in answer.notes] == ["n-2", "n-2"]  # the seller's, on both items
    assert answer.unplaced == ()


def test_every_example_of_the_answer_in_the_spec_is_accepted_and_mapped() -> None:
    examples = list(spec_examples())
    for example in examples:
        assert spec_errors(example) == []
        answer = read_answer(example, VIEW, NOW)
        assert answer.party_state == example["state"]
    # MEF 123 v10 gives no example of the answer in its YAML (its developer guide's is
    # annotated, not JSON). Should a later edition carry one, it is read above; this
    # says how many there were, so that the count is seen to change.
    assert len(examples) == 0


def mutated(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    document = copy.deepcopy(seller_answer("inProgress"))
    target: Any = document
    for part in path[:-1]:
        target = target[part]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return document


DELETE = object()

BROKEN: list[tuple[tuple[str | int, ...], Any]] = [
    (("id",), DELETE),
    (("id",), 123),
    (("orderDate",), DELETE),
    (("orderDate",), "yesterday"),
    (("orderDate",), 1761814800),
    (("state",), DELETE),
    (("state",), "done"),
    (("state",), "held"),  # an item state, not an order state
    (("relatedContactInformation",), DELETE),
    (("relatedContactInformation",), []),
    (("relatedContactInformation", 0, "role"), DELETE),
    (("productOrderItem",), DELETE),
    (("productOrderItem",), []),
    (("productOrderItem",), {"id": "item-001"}),
    (("productOrderItem", 0, "id"), DELETE),
    (("productOrderItem", 0, "action"), DELETE),
    (("productOrderItem", 0, "action"), "install"),
    (("productOrderItem", 0, "state"), "held.assessingCharge"),  # an order state
    (("productOrderItem", 0, "expectedCompletionDate"), "2027-01-10"),
    (("productOrderItem", 0, "milestone", 0, "date"), DELETE),
    (("productOrderItem", 0, "milestone", 0, "name"), DELETE),
    (("productOrderItem", 0, "note", 0, "source"), "carrier"),
    (("productOrderItem", 0, "stateChange", 0, "changeDate"), "soon"),
    (("note", 0, "text"), DELETE),
    (("completionDate",), "tomorrow"),
]


@pytest.mark.parametrize(("path", "value"), BROKEN, ids=lambda v: str(v))
def test_an_answer_the_spec_refuses_is_refused_naming_the_field_the_spec_names(
    path: tuple[str | int, ...], value: Any
) -> None:
    document = mutated(path, value)
    refused_by_spec = spec_errors(document)
    assert refused_by_spec, "the spec accepts this: not a broken answer"
    with pytest.raises(UnusableAnswer) as refused:
        read_answer(document, VIEW, NOW)
    assert refused.value.field in refused_by_spec


STILL_VALID: list[tuple[tuple[str | int, ...], Any]] = [
    (("orderDate",), "2026-10-30T11:00:00.983+02:00"),
    (("productOrderItem", 0, "state"), DELETE),
    (("productOrderItem", 0, "milestone", 0, "note"), DELETE),
    (("productOrderItem", 0, "note"), DELETE),
    (("productOrderItem", 0, "expediteAcceptedIndicator"), True),
    (("productOrderItem", 0, "sellerOwnField"), {"anything": [1, 2]}),
    (("projectId",), "buyerProject-001"),
    (("note",), []),
    (("stateChange",), DELETE),
]


@pytest.mark.parametrize(("path", "value"), STILL_VALID, ids=lambda v: str(v))
def test_what_the_spec_leaves_open_is_accepted(path: tuple[str | int, ...], value: Any) -> None:
    document = mutated(path, value)
    assert spec_errors(document) == []
    assert read_answer(document, VIEW, NOW).party_state == "inProgress"
