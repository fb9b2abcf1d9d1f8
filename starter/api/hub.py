"""Event subscriptions (TMF hub): ``POST /hub`` and ``DELETE /hub/{id}``.

A subscription belongs to the scope of the key that made it (a party, a process, or the
managers) and gets only the events of the orders that scope sees. Subscriptions are kept
in Temporal by the registry workflow (``workflows/hub.py``); see the README's "Event
subscriptions" for the query syntax and how events are delivered.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Body, Request, Response, status
from pydantic import Field

from activities.settings import check_webhook_url
from starter.api.auth import GuardedRoute, guarded, principal
from starter.api.errors import ApiError, Error, bad_request
from starter.api.hub_quota import check_quota, per_owner_from_env
from starter.api.keys import ApiKey
from starter.api.routes import ALL, BASE_PATH, _errors
from workflows.domain.hub import (
    MAX_CALLBACK_CHARS,
    MAX_QUERY_CHARS,
    SubscriptionOwner,
    parse_query,
)
from workflows.domain.wire import WireModel

router = APIRouter(prefix=BASE_PATH, route_class=GuardedRoute)

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


class HubSubscriptionInput(WireModel):
    """``POST /hub``: where to send events, and which (see the query syntax)."""

    callback: Annotated[str, Field(min_length=1, max_length=MAX_CALLBACK_CHARS)]
    query: Annotated[str, Field(max_length=MAX_QUERY_CHARS)] | None = None


class HubSubscription(WireModel):
    id: str
    callback: str
    query: str


def owner_of(key: ApiKey) -> SubscriptionOwner:
    return SubscriptionOwner(role=key.role.value, party_id=key.party_id, process=key.process)


def _is_local(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def check_callback(url: str, request: Request) -> str:
    """The callback, if it is an http(s) URL that does not point at this API (which would
    have the API post events to itself, or let a key make it call its own routes)."""
    try:
        check_webhook_url(url, "callback")
    except ValueError as error:
        raise bad_request(str(error)) from None
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    called = request.url  # as the caller reached the API (its Host header)
    if host == (called.hostname or "").lower() and port == (
        called.port or (443 if called.scheme == "https" else 80)
    ):
        raise bad_request("callback: points at this API itself")
    server = request.scope.get("server")
    if server and port == server[1] and (host == str(server[0]).lower() or _is_local(host)):
        raise bad_request("callback: points at this API itself")
    return url


def _not_found(subscription_id: str) -> ApiError:
    # The same for an unknown id and another scope's: a key learns nothing of others'.
    return ApiError(
        404, "notFound", "Not found", f"no subscription {subscription_id} was found", None
    )


@router.post(
    "/hub",
    status_code=status.HTTP_201_CREATED,
    response_model=HubSubscription,
    summary="Subscribe to party order events",
    description="Events about the orders this key sees are POSTed to ``callback`` as"
    ' ``{"eventId", "eventTime", "eventType", "event": {"partyOrder": {...}}}``, with'
    " ``Idempotency-Key``, ``X-Party-Orders-Event`` and (when signing is on)"
    " ``X-Party-Orders-Signature``. ``query`` filters: ``field=value[,value...]`` terms"
    " joined by ``&``, on ``eventType``, ``partyOrder.id`` and ``partyOrder.party.id``.",
    responses={
        409: {
            "model": Error,
            "description": "this key's owner has subscribed this callback already, or holds"
            " its quota of subscriptions (PARTY_ORDERS_HUB_SUBSCRIPTIONS_PER_OWNER)",
        },
        **{k: v for k, v in _errors(400, 503).items() if k != 409},
    },
    openapi_extra=guarded(*ALL),
)
async def subscribe(
    request: Request,
    response: Response,
    subscription: Annotated[
        HubSubscriptionInput,
        Body(
            openapi_examples={
                "state changes": {
                    "value": {
                        "callback": "https://orders.example.com/listener",
                        "query": "eventType=PartyOrderStateChangeEvent",
                    }
                }
            }
        ),
    ],
) -> HubSubscription:
    key = principal(request)
    callback = check_callback(subscription.callback, request)
    try:
        parse_query((subscription.query or "").strip())
    except ValueError as error:
        raise bad_request(str(error)) from None
    client = await request.app.state.clients.get()
    await check_quota(client, callback, owner_of(key), per_owner_from_env())
    made = await client.subscribe(callback, subscription.query, owner_of(key))
    response.headers["Location"] = f"{BASE_PATH}/hub/{made.id}"
    return HubSubscription.model_validate(made.public())


@router.delete(
    "/hub/{subscription_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Remove an event subscription",
    description="Only keys of the scope that subscribed (the same party, the same process,"
    " or a manager) may remove it; for any other key it does not exist (404).",
    responses={
        204: {"description": "removed"},
        **_errors(404, 503),
    },
    openapi_extra=guarded(*ALL),
)
async def unsubscribe(request: Request, subscription_id: str) -> Response:
    key = principal(request)
    if not 1 <= len(subscription_id) <= 100:
        raise _not_found(subscription_id[:100])
    client = await request.app.state.clients.get()
    if not await client.unsubscribe(subscription_id, owner_of(key)):
        raise _not_found(subscription_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
