"""Who is calling, and what they may see and do.

Every operation names the roles that may call it (``guarded``). ``GuardedRoute`` checks
the ``Authorization: Bearer`` key before anything else about the request is looked at,
so a caller without a valid key gets 401 and one whose role may not call the operation
gets 403, whatever the body holds. Which orders a key sees is ``visible``: a party its
own orders, a process the orders it originated, a manager all; an order a key may not
see is answered exactly like an order that does not exist (404).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from starter.api.errors import forbidden, too_many_requests, unauthorized, unavailable
from starter.api.keys import ApiKey, ApiKeyError, KeyStore, Role

log = logging.getLogger(__name__)

ROLES_EXTENSION = "x-roles"
BEARER_SCHEME = "bearerAuth"


def guarded(*roles: Role) -> dict[str, Any]:
    """The ``openapi_extra`` of an operation open to ``roles``: documented in the OpenAPI
    document as its security and ``x-roles``, and enforced by ``GuardedRoute``."""
    return {ROLES_EXTENSION: [role.value for role in roles], "security": [{BEARER_SCHEME: []}]}


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def principal(request: Request) -> ApiKey:
    """The caller's key, set by GuardedRoute."""
    key = getattr(request.state, "principal", None)
    if not isinstance(key, ApiKey):  # a route registered without guarded()
        raise forbidden("this operation is not open to API keys")
    return key


class GuardedRoute(APIRoute):
    """An APIRoute that authenticates and authorizes before the body is even parsed."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        extra = self.openapi_extra or {}
        allowed = frozenset(Role(role) for role in extra.get(ROLES_EXTENSION, ()))
        if not allowed:
            return handler

        async def guarded_handler(request: Request) -> Response:
            store: KeyStore = request.app.state.keys
            token = bearer_token(request)
            if token is None:
                raise unauthorized("an API key is required: Authorization: Bearer <key>")
            try:
                key = store.authenticate(token)
            except ApiKeyError as error:  # a damaged key file: nobody can be let in
                log.error("cannot check API keys: %s", error)
                raise unavailable("the API keys cannot be read; the operator is told") from None
            if key is None:
                raise unauthorized("the API key is not valid")
            wait = request.app.state.rate_limiter.take(key.id)
            if wait > 0:
                raise too_many_requests(wait)
            if key.role not in allowed:
                raise forbidden(
                    f"a {key.role.value} key may not {request.method} {self.path_format};"
                    f" open to: {', '.join(sorted(r.value for r in allowed))}"
                )
            request.state.principal = key
            return await handler(request)

        return guarded_handler


def visible(key: ApiKey, party_id: str | None, process: str | None) -> bool:
    """Whether ``key`` may see an order of ``party_id`` originated by ``process``."""
    if key.role == Role.MANAGER:
        return True
    if key.role == Role.PARTY:
        return party_id is not None and party_id == key.party_id
    return process is not None and process == key.process
