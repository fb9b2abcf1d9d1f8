"""The operations of the party-order tracking API, each a thin call of the client API.

Orders and messages are validated by the domain core's models before anything reaches
Temporal. A message is answered 202 once Temporal has it: the workflow applies it (once
per ``requestId``) or records why it could not in the order's ``rejectedMessages``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from starter.api.auth import GuardedRoute, guarded, principal, visible
from starter.api.errors import ApiError, Error, bad_request, forbidden, from_client_error, not_found
from starter.api.keys import Role
from starter.api.schemas import (
    CancelPartyOrder,
    CancelPartyOrderTask,
    PartyOrderRef,
    RequestAccepted,
    Resolution,
)
from starter.client import (
    OrderAlreadyTracked,
    OrderNotFound,
    OrderSummary,
    PartyOrderClient,
    PartyOrderError,
    UpdateQueued,
)
from starter.query import JEOPARDY_LEVELS, STATES, OrderFilters
from starter.samples import CONTRACT_EXAMPLE, load_sample
from workflows.domain.messages import (
    CancelRequest,
    ChangeRequestMessage,
    CheckInRequest,
    EscalationAcknowledgement,
    ProgressReport,
    StateChangeRequest,
    describe_validation_error,
)
from workflows.domain.model import ORDER_ID_PATTERN, OrderState, PartyOrder, PartyOrderSpec
from workflows.domain.party_view import party_view
from workflows.domain.rules import CURRENT_RULES
from workflows.domain.tracker import PartyOrderTracker

BASE_PATH = "/tmf-api/partyOrderTracking/v1"
MAX_LIMIT = 1000
MAX_OFFSET = 10_000

ALL = (Role.PARTY, Role.PROCESS, Role.MANAGER)


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    texts = {
        400: "bad input: the message names the field and the rule",
        401: "no API key, or one that is not valid",
        403: "this key's role may not do this",
        404: "no such order, or one this key may not see",
        409: "conflicts with the order: tracked already, closed, or an illegal transition",
        429: "this key is over its rate limit: retry after",
        503: "Temporal unreachable, no worker answering, or the order busy: retry after",
    }
    every = (401, 403, 429)
    return {
        code: {"model": Error, "description": texts[code]} for code in sorted({*every, *statuses})
    }


router = APIRouter(prefix=BASE_PATH, route_class=GuardedRoute)


async def client_of(request: Request) -> PartyOrderClient:
    client: PartyOrderClient = await request.app.state.clients.get()
    return client


def href(order_id: str) -> str:
    return f"{BASE_PATH}/partyOrder/{order_id}"


async def visible_order(request: Request, order_id: str) -> PartyOrder:
    """The order, if the caller may see it; otherwise 404 as for an unknown order.

    Visibility is decided from Temporal's description first (as for messages), so an
    order of another party costs the same one call as an unknown one: the answer's timing
    does not tell them apart either."""
    client = await check_visible(request, order_id)
    try:
        return await client.get(order_id)
    except OrderNotFound:
        raise not_found(order_id) from None


async def check_visible(request: Request, order_id: str) -> PartyOrderClient:
    """404 unless the caller may see the order; asks Temporal only (no worker needed)."""
    key = principal(request)
    client = await client_of(request)
    if key.role == Role.MANAGER:
        return client
    try:
        summary = await client.describe(order_id)
    except OrderNotFound:
        raise not_found(order_id) from None
    if not visible(key, summary.party_id, summary.originating_process):
        raise not_found(order_id)
    return client


def _accepted(request_id: str) -> RequestAccepted:
    return RequestAccepted(request_id=request_id)


Message = TypeVar(
    "Message",
    ProgressReport,
    ChangeRequestMessage,
    CheckInRequest,
    Resolution,
    StateChangeRequest,
    EscalationAcknowledgement,
)


def _with_request_id(message: Message) -> Message:
    # Made here rather than by the client, so the 202 can name it.
    if message.request_id is None:
        return message.model_copy(update={"request_id": str(uuid.uuid4())})
    return message


def _queued(queued: UpdateQueued) -> JSONResponse:
    """202 for an update Temporal took that no worker applied yet: not a failure."""
    accepted = _accepted(queued.request_id).to_json_dict()
    return JSONResponse(accepted, status_code=status.HTTP_202_ACCEPTED)


# ---------------------------------------------------------------- orders

# The sample's dates are relative; the document's example gets them from when the API
# started, so that it is an order the API takes ("try it out").
_EXAMPLE_ORDER = load_sample(CONTRACT_EXAMPLE, datetime.now(UTC))


@router.post(
    "/partyOrder",
    status_code=status.HTTP_201_CREATED,
    response_model=PartyOrder,
    summary="Start tracking a party order",
    description="Idempotent: the same order posted again answers 200 with the tracked order;"
    " a different order under a tracked id is 409. An order whose tracking has ended is"
    " tracked once more only with ``again=true`` (201; the party is asked again from the"
    " start). A process key starts only orders it originates (``originatingProcess.name``"
    " is its process, filled in when left out). The completion dates must not have passed"
    " (400 naming the field).",
    responses={
        200: {"model": PartyOrder, "description": "already tracked, the same order"},
        **_errors(400, 409, 503),
    },
    openapi_extra=guarded(Role.PROCESS, Role.MANAGER),
)
async def create_party_order(
    request: Request,
    response: Response,
    spec: Annotated[
        PartyOrderSpec,
        Body(
            openapi_examples={
                "PO-1001": {"summary": "the contract's example", "value": _EXAMPLE_ORDER}
            }
        ),
    ],
    again: Annotated[
        bool,
        Query(
            description="track an order whose tracking has ended once more (a running"
            " order is answered as without it)"
        ),
    ] = False,
) -> PartyOrder:
    key = principal(request)
    check_dates_ahead(spec, datetime.now(UTC))
    check_start(spec, datetime.now(UTC))
    if key.role == Role.PROCESS:
        named = "originating_process" in spec.model_fields_set and (
            "name" in spec.originating_process.model_fields_set
        )
        if not named:
            process = spec.originating_process.model_copy(update={"name": key.process})
            spec = spec.model_copy(update={"originating_process": process})
        elif spec.originating_process.name != key.process:
            raise forbidden(
                f"originatingProcess.name: a key of process {key.process!r} may start only"
                f" orders it originates, not {spec.originating_process.name!r}"
            )
    client = await client_of(request)
    started = await track_again(client, spec) if again else await client.ensure_tracked(spec)
    if not started:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = href(spec.id)
    return await client.get(spec.id)


def check_dates_ahead(spec: PartyOrderSpec, now: datetime) -> None:
    """400 for a start input whose agreed date or forecast has passed already: it would be
    critical (and page the escalation contacts) from its first instant."""
    for name, when in (
        ("expectedCompletionDate", spec.expected_completion_date),
        ("requestedCompletionDate", spec.requested_completion_date),
    ):
        if when is not None and when < now:
            raise bad_request(f"{name}: {when.isoformat()} has passed; give a date to come")


def check_start(spec: PartyOrderSpec, now: datetime) -> None:
    """400 for a start input the workflow would refuse at its start (a milestone naming an
    unknown item, a completion in the future, ...): the core's own start checks, run here
    first, so the caller hears why instead of a tracking that fails. By the newest rules:
    a new tracking's run takes them (``workflows.patches``)."""
    try:
        PartyOrderTracker.start(spec, now, rules_version=CURRENT_RULES)
    except ValidationError as error:
        raise bad_request(describe_validation_error(error)) from None
    except ValueError as error:
        raise bad_request(str(error)) from None


async def track_again(client: PartyOrderClient, spec: PartyOrderSpec) -> bool:
    """Start a new tracking of ``spec`` even if an earlier one ended; a running tracking
    is answered as ``ensure_tracked`` does (the same order: not started; another: 409)."""
    try:
        await client.start(spec, again=True)
        return True
    except OrderAlreadyTracked:
        return await client.ensure_tracked(spec)


def check_one_of(value: str | None, allowed: tuple[str, ...], what: str) -> None:
    """400 unless ``value`` is absent or a comma-separated list of values each exactly one
    of ``allowed`` (any of them: ``hazard,critical`` is "in jeopardy"), as the document's
    pattern says: checked first, so a party asking for another party's orders is refused a
    bad filter as anyone is."""
    if value is None:
        return
    for part in value.split(","):
        if part not in allowed:
            raise bad_request(f"{what}: {part!r} is not one of {', '.join(allowed)}")


def any_of_pattern(allowed: tuple[str, ...]) -> str:
    """The pattern of a comma-separated list of values of ``allowed``."""
    one = "(?:" + "|".join(allowed) + ")"
    return f"^{one}(?:,{one})*$"


@router.get(
    "/partyOrder",
    response_model=list[OrderSummary],
    summary="List the party orders this key may see",
    description="From Temporal's visibility store (eventually consistent; GET one order for"
    " its exact state). Newest first; ``X-Total-Count`` is the number of matching orders.",
    responses=_errors(400, 503),
    openapi_extra=guarded(*ALL),
)
async def list_party_orders(
    request: Request,
    response: Response,
    state: Annotated[
        str | None,
        Query(
            description=f"one or more, comma-separated (any of them), of {', '.join(STATES)}",
            json_schema_extra={"pattern": any_of_pattern(STATES)},
        ),
    ] = None,
    jeopardy: Annotated[
        str | None,
        Query(
            description="one or more, comma-separated (any of them), of"
            f" {', '.join(JEOPARDY_LEVELS)}: hazard,critical is every order in jeopardy",
            json_schema_extra={"pattern": any_of_pattern(JEOPARDY_LEVELS)},
        ),
    ] = None,
    party_id: Annotated[
        str | None,
        Query(alias="partyId", max_length=1000, pattern=r"^[^\x00-\x1f\x7f]*$"),
    ] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> list[OrderSummary]:
    key = principal(request)
    check_one_of(state, STATES, "state")
    check_one_of(jeopardy, JEOPARDY_LEVELS, "jeopardy")
    if key.role == Role.PARTY and party_id is not None and party_id != key.party_id:
        response.headers["X-Total-Count"] = "0"
        return []  # another party's orders: none visible
    filters = OrderFilters(
        state=state,
        jeopardy=jeopardy,
        party=key.party_id if key.role == Role.PARTY else party_id,
        process=key.process if key.role == Role.PROCESS else None,
    )
    client = await client_of(request)
    total = await client.count(filters)
    orders = await client.list(filters, limit=offset + limit)
    response.headers["X-Total-Count"] = str(total)
    return orders[offset : offset + limit]


# The order's top-level fields as on the wire, for ``fields`` selection.
ORDER_FIELDS = tuple(sorted(field.alias or name for name, field in PartyOrder.model_fields.items()))


_FIELD_NAME = f"(?:{'|'.join(ORDER_FIELDS)})"
FIELDS_PATTERN = rf"^ *(?:{_FIELD_NAME} *)?(?:, *(?:{_FIELD_NAME} *)?)*$"
"""The ``fields`` the API takes: order fields, comma-separated (blanks are skipped)."""

# The order id in a path, as the API takes it (documented; an id outside it is 400).
OrderIdPath = Annotated[
    str, Path(json_schema_extra={"pattern": ORDER_ID_PATTERN}, examples=["PO-1001"])
]


def selected_fields(fields: str) -> list[str]:
    """The names in a ``fields`` parameter (comma-separated), each a field of the order."""
    names = [name.strip() for name in fields.split(",") if name.strip()]
    for name in names:
        if name not in ORDER_FIELDS:
            raise bad_request(
                f"fields: {name!r} is not a field of a party order"
                f" (one of {', '.join(ORDER_FIELDS)})"
            )
    return names


@router.get(
    "/partyOrder/{order_id}",
    response_model=None,
    summary="One party order, as get_order returns it",
    description="With ``fields`` (TMF attribute selection, e.g. ``fields=state,jeopardy``),"
    " only those top-level fields, and ``id``. A process or a manager gets the whole order"
    " (``PartyOrder``); a party gets its party view (``PartyOrderView``): no internal notes,"
    " no escalation contacts, no acknowledgements, no other source's rejected messages.",
    responses={
        200: {
            "description": "the order (whole, or a party's view), or with ``fields`` the"
            " fields asked for and ``id``",
            "content": {
                "application/json": {
                    "schema": {
                        "anyOf": [
                            {"$ref": "#/components/schemas/PartyOrder"},
                            {"$ref": "#/components/schemas/PartyOrderView"},
                            {
                                "type": "object",
                                "required": ["id"],
                                "properties": {"id": {"type": "string"}},
                            },
                        ]
                    }
                }
            },
        },
        **_errors(400, 404, 503),
    },
    openapi_extra=guarded(*ALL),
)
async def get_party_order(
    request: Request,
    order_id: OrderIdPath,
    fields: Annotated[
        str | None,
        Query(
            max_length=2000,
            description="comma-separated top-level fields, e.g. state,jeopardy",
            json_schema_extra={"pattern": FIELDS_PATTERN},
        ),
    ] = None,
) -> JSONResponse:
    wanted = selected_fields(fields) if fields is not None else None
    order = await visible_order(request, order_id)
    seen = party_view(order) if principal(request).role == Role.PARTY else order
    body = seen.to_json_dict()
    if wanted is None:
        return JSONResponse(body)
    return JSONResponse({"id": body["id"], **{name: body[name] for name in wanted}})


@router.patch(
    "/partyOrder/{order_id}",
    response_model=PartyOrder,
    summary="Change the order's state (change_state)",
    description="200 with the order once applied; 409 for an illegal transition (the message"
    " names both states); 202 when Temporal took the change but no worker applied it yet"
    " (sending it again with the same requestId is safe).",
    responses={
        202: {"model": RequestAccepted, "description": "taken, not applied yet"},
        **_errors(400, 404, 409, 503),
    },
    openapi_extra=guarded(Role.PROCESS, Role.MANAGER),
)
async def patch_party_order(
    request: Request,
    order_id: OrderIdPath,
    change: Annotated[
        StateChangeRequest,
        Body(
            openapi_examples={"hold": {"value": {"state": "held", "reason": "site access blocked"}}}
        ),
    ],
) -> PartyOrder | JSONResponse:
    client = await check_visible(request, order_id)
    try:
        return await client.change_state(order_id, _with_request_id(change))
    except UpdateQueued as queued:
        return _queued(queued)


@router.post(
    "/partyOrder/{order_id}/escalationAcknowledgement",
    response_model=PartyOrder,
    summary="Acknowledge an escalation (acknowledge_escalation)",
    description="200 with the order once applied: reminders stop until the jeopardy worsens"
    " again. A level the order has not reached (or an order not in jeopardy) is 409, as an"
    " illegal PATCH; 202 when Temporal took it but no worker applied it yet.",
    responses={
        202: {"model": RequestAccepted, "description": "taken, not applied yet"},
        **_errors(400, 404, 409, 503),
    },
    openapi_extra=guarded(Role.MANAGER),
)
async def acknowledge_escalation(
    request: Request,
    order_id: OrderIdPath,
    acknowledgement: Annotated[
        EscalationAcknowledgement,
        Body(
            openapi_examples={
                "level 1": {"value": {"level": 1, "by": "order-manager", "note": "on it"}}
            }
        ),
    ],
) -> PartyOrder | JSONResponse:
    key = principal(request)
    client = await check_visible(request, order_id)
    acknowledgement = _with_request_id(
        acknowledgement.model_copy(update={"by": acknowledgement.by or key.subject})
    )
    try:
        return await client.acknowledge_escalation(order_id, acknowledgement)
    except UpdateQueued as queued:
        return _queued(queued)


# ---------------------------------------------------------------- messages


@router.post(
    "/partyOrder/{order_id}/progress",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RequestAccepted,
    summary="Report progress (report_progress)",
    description="A party key reports as ``source: party`` (the default).",
    responses=_errors(400, 404, 409, 503),
    openapi_extra=guarded(Role.PARTY, Role.MANAGER),
)
async def report_progress(
    request: Request,
    order_id: OrderIdPath,
    report: Annotated[
        ProgressReport,
        Body(
            openapi_examples={
                "progress": {
                    "value": {
                        "percentComplete": 35,
                        "milestones": [{"id": "survey", "status": "completed"}],
                        "note": "survey done",
                    }
                },
                "items": {
                    "summary": "progress item by item",
                    "value": {
                        "orderItems": [
                            {"id": "1", "state": "completed"},
                            {
                                "id": "2",
                                "percentComplete": 60,
                                "expectedCompletionDate": "2027-01-20T00:00:00Z",
                                "note": "router held at customs",
                            },
                        ]
                    },
                },
            }
        ),
    ],
) -> RequestAccepted:
    key = principal(request)
    if key.role == Role.PARTY and report.source != "party":
        raise forbidden(f"source: a party key reports as 'party', not {report.source!r}")
    client = await check_visible(request, order_id)
    report = _with_request_id(report)
    return _accepted(await client.report_progress(order_id, report))


@router.post(
    "/partyOrder/{order_id}/changeRequest",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RequestAccepted,
    summary="Request a change (request_change); the requestId is the change request's id",
    description="A party key asks as ``origin: party`` (the default).",
    responses=_errors(400, 404, 409, 503),
    openapi_extra=guarded(*ALL),
)
async def request_change(
    request: Request,
    order_id: OrderIdPath,
    change: Annotated[
        ChangeRequestMessage,
        Body(
            openapi_examples={
                "later": {
                    "value": {
                        "requestId": "CR-1",
                        "reason": "permit delayed",
                        "changes": {"expectedCompletionDate": "2027-01-20T00:00:00Z"},
                    }
                }
            }
        ),
    ],
) -> RequestAccepted:
    key = principal(request)
    if key.role == Role.PARTY and change.origin != "party":
        raise forbidden(f"origin: a party key asks as 'party', not {change.origin!r}")
    client = await check_visible(request, order_id)
    change = _with_request_id(change)
    return _accepted(await client.request_change(order_id, change))


@router.post(
    "/partyOrder/{order_id}/changeRequest/{change_request_id}/resolution",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RequestAccepted,
    summary="Resolve a change request (resolve_change)",
    responses=_errors(400, 404, 409, 503),
    openapi_extra=guarded(Role.PROCESS, Role.MANAGER),
)
async def resolve_change(
    request: Request,
    order_id: OrderIdPath,
    change_request_id: str,
    resolution: Annotated[
        Resolution,
        Body(
            openapi_examples={
                "accept": {"value": {"decision": "accepted", "resolvedBy": "SO-77 owner"}}
            }
        ),
    ],
) -> RequestAccepted:
    if resolution.change_request_id not in (None, change_request_id):
        raise bad_request(
            f"changeRequestId: {resolution.change_request_id!r} differs from the path's"
            f" {change_request_id!r}"
        )
    key = principal(request)
    message = _with_request_id(
        resolution.model_copy(
            update={
                "change_request_id": change_request_id,
                "resolved_by": resolution.resolved_by or key.subject,
            }
        )
    )
    client = await check_visible(request, order_id)
    return _accepted(await client.resolve_change(order_id, message))


@router.post(
    "/partyOrder/{order_id}/checkIn",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RequestAccepted,
    summary="Check in with the party now (check_in_now)",
    responses=_errors(400, 404, 409, 503),
    openapi_extra=guarded(Role.PROCESS, Role.MANAGER),
)
async def check_in(
    request: Request,
    order_id: OrderIdPath,
    check_in: Annotated[CheckInRequest | None, Body()] = None,
) -> RequestAccepted:
    key = principal(request)
    message = _with_request_id(check_in or CheckInRequest())
    if message.requested_by is None:
        message = message.model_copy(update={"requested_by": key.subject})
    client = await check_visible(request, order_id)
    return _accepted(await client.check_in_now(order_id, message))


@router.post(
    "/cancelPartyOrder",
    status_code=status.HTTP_201_CREATED,
    response_model=CancelPartyOrderTask,
    summary="Cancel a party order (cancel_order)",
    responses=_errors(400, 404, 409, 503),
    openapi_extra=guarded(Role.PROCESS, Role.MANAGER),
)
async def cancel_party_order(
    request: Request,
    response: Response,
    cancel: Annotated[
        CancelPartyOrder,
        Body(
            openapi_examples={
                "cancel": {
                    "value": {
                        "partyOrder": {"id": "PO-1001"},
                        "cancellationReason": "site decommissioned",
                    }
                }
            }
        ),
    ],
) -> CancelPartyOrderTask:
    key = principal(request)
    order_id = cancel.party_order.id
    request_id = cancel.request_id or str(uuid.uuid4())
    message = CancelRequest(
        request_id=request_id,
        reason=cancel.cancellation_reason,
        requested_by=cancel.requested_by or key.subject,
    )
    client = await check_visible(request, order_id)
    try:
        await client.cancel(order_id, message)
    except PartyOrderError as error:
        raise from_client_error(error, order_id) from None
    task_href = cancel_href(order_id)
    response.headers["Location"] = task_href
    return CancelPartyOrderTask(
        id=order_id,
        href=task_href,
        request_id=request_id,
        creation_date=datetime.now(UTC),
        party_order=PartyOrderRef(id=order_id, href=href(order_id)),
        cancellation_reason=message.reason,
        requested_by=message.requested_by,
    )


def cancel_href(order_id: str) -> str:
    return f"{BASE_PATH}/cancelPartyOrder/{order_id}"


@router.get(
    "/cancelPartyOrder/{order_id}",
    response_model=CancelPartyOrderTask,
    summary="The cancellation of a party order (the Location of POST /cancelPartyOrder)",
    description="Named by the order's id (an order is cancelled once): ``inProgress`` while"
    " the party is told (``pendingCancellation``), ``done`` once cancelled. 404 when the"
    " order has no cancellation (yet: the order applies a cancellation as soon as a worker"
    " runs).",
    responses=_errors(400, 404, 503),
    openapi_extra=guarded(Role.PROCESS, Role.MANAGER),
)
async def get_cancel_party_order(request: Request, order_id: OrderIdPath) -> CancelPartyOrderTask:
    order = await visible_order(request, order_id)
    task = cancellation_task(order)
    if task is None:
        raise ApiError(404, "notFound", "Not found", f"order {order_id} has no cancellation", None)
    return task


def cancellation_task(order: PartyOrder) -> CancelPartyOrderTask | None:
    """The order's cancellation as a TMF task resource, or None when it has none."""
    changes = [
        change
        for change in order.state_history
        if change.to_state in (OrderState.PENDING_CANCELLATION, OrderState.CANCELLED)
    ]
    if order.state not in (OrderState.PENDING_CANCELLATION, OrderState.CANCELLED):
        return None
    cancellation = order.cancellation
    # The oldest state changes may have been let go on a long-lived order.
    since = changes[0].at if changes else None
    since = since or (cancellation.cancellation_date if cancellation else None)
    return CancelPartyOrderTask(
        id=order.id,
        href=cancel_href(order.id),
        state="done" if order.state == OrderState.CANCELLED else "inProgress",
        creation_date=since or datetime.now(UTC),
        party_order=PartyOrderRef(id=order.id, href=href(order.id)),
        cancellation_reason=cancellation.reason if cancellation else None,
        requested_by=cancellation.requested_by if cancellation else None,
    )
