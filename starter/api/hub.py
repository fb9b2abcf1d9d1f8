"""Event subscriptions (TMF hub): ``POST /hub`` and ``DELETE /hub/{id}``.

A subscription belongs to the scope of the key that made it (a party, a process, or the
managers) and gets only the events of the orders that scope sees. Subscriptions are kept
in Temporal by the registry workflow (``workflows/hub.py``); see docs/http-api.md's "Event
subscriptions" for the query syntax and how events are delivered.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Request, Response, status
from pydantic import Field

from activities.outbound import AllowList, OutboundRefused, check_url, parse_address
from activities.signing import MasterSecretMissing, subscription_secret
from settings import Settings
from starter.api.auth import GuardedRoute, guarded, principal
from starter.api.errors import ApiError, Error, bad_request, unavailable
from starter.api.hub_quota import check_quota
from starter.api.keys import ApiKey
from starter.api.routes import ALL, BASE_PATH, _errors
from workflows.domain.bounds import MAX_CALLBACK_CHARS, MAX_QUERY_CHARS
from workflows.domain.hub import (
    Subscription,
    SubscriptionOwner,
    parse_query,
    seen_subscription,
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
    secret: str = Field(
        description="The subscription's own Standard Webhooks secret (``whsec_...``), shown"
        " only here and by ``rotateSecret``: verify each delivery with the"
        " ``standardwebhooks`` package."
    )


class HubSubscriptionStatus(WireModel):
    """A subscription as its owner reads it back: where its events go, and whether they
    still do (never its secret)."""

    id: str
    callback: str
    query: str
    created_at: datetime
    state: Literal["active", "suspended"] = Field(
        description="``suspended``: its callback kept failing, so no more events are sent"
        " to it; remove it and subscribe again once the callback answers"
    )
    suspended_at: datetime | None = Field(
        default=None, description="when it was suspended (absent while active)"
    )
    suspended_reason: str | None = Field(
        default=None,
        description="why: the consecutive days its deliveries gave up, and the last error",
    )

    @classmethod
    def of(cls, subscription: Subscription) -> HubSubscriptionStatus:
        suspended = subscription.suspended_at is not None
        return cls(
            id=subscription.id,
            callback=subscription.callback,
            query=subscription.query,
            created_at=subscription.created_at,
            state="suspended" if suspended else "active",
            suspended_at=subscription.suspended_at,
            suspended_reason=subscription.suspended_reason if suspended else None,
        )


def owner_of(key: ApiKey) -> SubscriptionOwner:
    return SubscriptionOwner(role=key.role.value, party_id=key.party_id, process=key.process)


def _same_address(host: str, other: str) -> bool:
    mine, theirs = parse_address(host), parse_address(other)
    if mine is not None and theirs is not None:
        return mine == theirs or (mine.is_unspecified and theirs.is_loopback)
    return host.strip("[]").lower() == other.strip("[]").lower()


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _allow(request: Request) -> AllowList:
    """The operator's ``PARTY_ORDERS_CALLBACK_ALLOW``, from the app's settings."""
    try:
        return _settings(request).callback_allow()
    except ValueError as error:
        raise unavailable(f"event subscriptions are not available: {error}") from None


def _per_owner(request: Request) -> int:
    """The operator's ``PARTY_ORDERS_HUB_SUBSCRIPTIONS_PER_OWNER``, from the app's settings."""
    try:
        return _settings(request).hub_subscriptions_per_owner
    except ValueError as error:
        raise unavailable(f"event subscriptions are not available: {error}") from None


def _master_secret(request: Request) -> str:
    """The master secret the subscriptions' secrets are derived from; 503 without one."""
    try:
        return _settings(request).require_master_secret()
    except (MasterSecretMissing, ValueError) as missing:
        raise unavailable(f"event subscriptions are not signed yet: {missing}") from None


def check_callback(url: str, request: Request, allow: AllowList | None = None) -> str:
    """The callback, if the worker may call it (``activities/outbound.py``: no internal
    address unless ``PARTY_ORDERS_CALLBACK_ALLOW`` lists it) and it does not point at this
    API (which would have the API post events to itself, or let a key call its own routes,
    even where the allow list lets this host through)."""
    try:
        target = check_url(url, "callback", allow)
    except OutboundRefused as error:
        raise bad_request(str(error)) from None
    called = request.url  # as the caller reached the API (its Host header)
    if _same_address(target.host, called.hostname or "") and target.port == (
        called.port or (443 if called.scheme == "https" else 80)
    ):
        raise bad_request("callback: points at this API itself")
    server = request.scope.get("server")
    if server and target.port == server[1]:
        address = target.address
        if (
            _same_address(target.host, str(server[0]))
            or (address is not None and address.is_loopback)
            or target.host in ("localhost", "localhost.localdomain")
        ):
            raise bad_request("callback: points at this API itself")
    return url


def _with_secret(subscription: Subscription, master: str) -> HubSubscription:
    secret = subscription_secret(master, subscription.id, subscription.secret_rotation)
    return HubSubscription.model_validate({**subscription.public(), "secret": secret})


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
    " ``Idempotency-Key``, ``X-Party-Orders-Event`` and the Standard Webhooks headers"
    " ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature``, signed with the"
    " subscription's own ``secret``, returned here once. ``query`` filters:"
    " ``field=value[,value...]`` terms joined by ``&``, on ``eventType``, ``partyOrder.id``"
    " and ``partyOrder.party.id``. The callback must be http(s), without user info, and not"
    " at a loopback, private, link-local, multicast or metadata address (in any numeric"
    " form) unless the operator's ``PARTY_ORDERS_CALLBACK_ALLOW`` lists it.",
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
    callback = check_callback(subscription.callback, request, _allow(request))
    master = _master_secret(request)  # before anything is recorded: a secret must be given
    try:
        parse_query((subscription.query or "").strip())
    except ValueError as error:
        raise bad_request(str(error)) from None
    client = await request.app.state.clients.get()
    per_owner = _per_owner(request)
    await check_quota(client, callback, owner_of(key), per_owner)
    # The registry checks the quota again as it adds: of two requests racing past the
    # check above, one is refused there.
    made = await client.subscribe(
        callback, subscription.query, owner_of(key), owner_quota=per_owner
    )
    response.headers["Location"] = f"{BASE_PATH}/hub/{made.id}"
    return _with_secret(made, master)


async def _held(request: Request) -> list[Subscription]:
    """Every subscription, read afresh from the registry's memo (no worker needed)."""
    client = await request.app.state.clients.get()
    held: list[Subscription] = await client.hub_subscriptions.hub.subscriptions(fresh=True)
    return held


@router.get(
    "/hub",
    response_model=list[HubSubscriptionStatus],
    response_model_exclude_none=True,
    summary="The event subscriptions of this key's scope",
    description="The subscriptions of this key's owner (the same party, the same process;"
    " a manager's key lists every one), each with its ``state``: a subscription whose"
    " callback kept failing is ``suspended``, with ``suspendedAt`` and"
    " ``suspendedReason``, and gets no more events.",
    responses=_errors(503),
    openapi_extra=guarded(*ALL),
)
async def list_subscriptions(request: Request) -> list[HubSubscriptionStatus]:
    owner = owner_of(principal(request))
    return [HubSubscriptionStatus.of(s) for s in await _held(request) if owner.may_remove(s)]


@router.get(
    "/hub/{subscription_id}",
    response_model=HubSubscriptionStatus,
    response_model_exclude_none=True,
    summary="One event subscription, and whether it is suspended",
    description="Only keys of the scope that subscribed (or a manager) see it; for any"
    " other key it does not exist (404, after the same work as for an unknown id).",
    responses=_errors(404, 503),
    openapi_extra=guarded(*ALL),
)
async def get_subscription(request: Request, subscription_id: str) -> HubSubscriptionStatus:
    owner = owner_of(principal(request))
    held = await _held(request)  # read for every id, known or not, so both cost the same
    found = seen_subscription(held, subscription_id, owner)
    if found is None:
        raise _not_found(subscription_id[:100])
    return HubSubscriptionStatus.of(found)


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


@router.post(
    "/hub/{subscription_id}/rotateSecret",
    status_code=status.HTTP_200_OK,
    response_model=HubSubscription,
    summary="Give an event subscription a new signing secret",
    description="The subscription's deliveries are signed with the new ``secret`` from now"
    " on (retries of earlier events included); the old one stops verifying. Only keys of the"
    " scope that subscribed (or a manager) may; for any other key it does not exist (404).",
    responses=_errors(404, 503),
    openapi_extra=guarded(*ALL),
)
async def rotate_secret(request: Request, subscription_id: str) -> HubSubscription:
    key = principal(request)
    if not 1 <= len(subscription_id) <= 100:
        raise _not_found(subscription_id[:100])
    master = _master_secret(request)
    client = await request.app.state.clients.get()
    rotated = await client.rotate_subscription_secret(subscription_id, owner_of(key))
    if rotated is None:
        raise _not_found(subscription_id)
    return _with_secret(rotated, master)
