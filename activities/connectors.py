"""A party's own ordering system, called: ``fetch_party_order`` asks it for the party's
order and reads the answer (docs/connectors.md).

Each protocol is a ``PartySystem``: it knows its paths and how to read its answers
(the reading itself is pure, in ``workflows/domain/connectors/``). The activity resolves
the credentials the connector names from the worker's settings when it runs, so no secret
ever enters an order or its history, and it calls only through the outbound guard.

How a failed call ends, as the ``ApplicationError`` type says:

* ``PartySystemUnavailable`` (retried, with backoff, within the activity's timeouts): a
  timeout, a refused or broken connection, a 5xx, a 429 (after its ``Retry-After``);
* ``PartySystemRefused`` (not retried): 401 or 403, our credentials are not accepted; any
  other 4xx but 404 and 429, our request is not;
* ``PartyOrderNotFound`` (not retried): 404, the party's system has no such order;
* ``PartySystemAnswerUnusable`` (not retried): an answer without its standard's shape,
  naming the field;
* ``PartySystemNotAllowed`` (not retried): the base URL is refused by the outbound guard,
  or the connector's credentials are not configured.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import quote

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.outbound import AllowList, OutboundRefused, check_url, guarded_client
from workflows.domain import names
from workflows.domain.connectors import (
    OrderView,
    PartyAnswer,
    PartyOrderFetch,
    UnusableAnswer,
    sonata,
)
from workflows.domain.model import PartyConnector

UNAVAILABLE = "PartySystemUnavailable"
REFUSED = "PartySystemRefused"
NOT_FOUND = "PartyOrderNotFound"
UNUSABLE = "PartySystemAnswerUnusable"
NOT_ALLOWED = "PartySystemNotAllowed"

DEFAULT_TIMEOUT_SECONDS = 10.0
# A Retry-After beyond this is not waited for in one step: the activity's own retry
# policy and the response window bound the wait.
MAX_RETRY_AFTER = timedelta(minutes=10)


# ---------------------------------------------------------------- credentials


@dataclass(frozen=True)
class BearerToken:
    """``PARTY_ORDERS_SECRET_<NAME>``: sent as ``Authorization: Bearer <token>``."""

    token: str

    def __repr__(self) -> str:
        return "BearerToken(****)"  # never in a log or a traceback


@dataclass(frozen=True)
class OAuth2ClientCredentials:
    """``PARTY_ORDERS_SECRET_<NAME>_CLIENT_ID``, ``..._CLIENT_SECRET``, ``..._TOKEN_URL``."""

    client_id: str
    client_secret: str
    token_url: str

    def __repr__(self) -> str:
        return f"OAuth2ClientCredentials({self.client_id}, ****, {self.token_url})"


PartyCredentials = BearerToken | OAuth2ClientCredentials


@dataclass(frozen=True)
class ConnectorSettings:
    """What the worker's settings give the connectors (``settings.py``, ``connectors()``)."""

    # A credentials name -> its secret; None when no variable holds it.
    credentials: Callable[[str], PartyCredentials | None]
    allow: AllowList
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS


# ---------------------------------------------------------------- the protocols


class PartySystem(Protocol):
    """One protocol's calls on a party's system. Fetching now; cancelling, answering a
    charge and registering a listener come with the later slices of the connector."""

    async def fetch_order(
        self, client: httpx.AsyncClient, connector: PartyConnector, external_id: str
    ) -> Any:
        """The party's order document (decoded JSON), or an ApplicationError."""
        ...

    def read(self, document: Any, view: OrderView, now: datetime) -> PartyAnswer:
        """The document in the tracker's messages; UnusableAnswer without its shape."""
        ...


class SonataSystem:
    """A seller's MEF LSO Sonata Product Ordering Management API (MEF 123, v10)."""

    async def fetch_order(
        self, client: httpx.AsyncClient, connector: PartyConnector, external_id: str
    ) -> Any:
        url = f"{connector.base_url}/productOrder/{quote(external_id, safe='')}"
        response = await _get(client, url)
        document = _json(response)
        # The answer is the order asked for, or nothing of it is ours to apply.
        if isinstance(document, dict) and document.get("id") not in (None, external_id):
            raise _unusable(
                UnusableAnswer(
                    "id", f"id: {document.get('id')!r} answered for productOrder {external_id!r}"
                )
            )
        return document

    def read(self, document: Any, view: OrderView, now: datetime) -> PartyAnswer:
        return sonata.read_answer(document, view, now)


SYSTEMS: dict[str, PartySystem] = {sonata.PROTOCOL: SonataSystem()}


# ---------------------------------------------------------------- the activity


class PartySystems:
    """The connectors' activities of one worker, bound to its settings."""

    def __init__(
        self,
        settings: ConnectorSettings,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        client_for: Callable[[Mapping[str, str]], httpx.AsyncClient] | None = None,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._client_for = client_for or self._guarded_client

    def _guarded_client(self, headers: Mapping[str, str]) -> httpx.AsyncClient:
        return guarded_client(self.settings.timeout_seconds, headers, self.settings.allow)

    @activity.defn(name=names.FETCH_PARTY_ORDER)
    async def fetch_party_order(self, request: PartyOrderFetch) -> PartyAnswer:
        """Ask the party's system for its order and read the answer."""
        connector = request.connector
        system = SYSTEMS.get(connector.protocol)
        if system is None:
            raise ApplicationError(
                f"party.connector.protocol: {connector.protocol!r} is not built yet",
                type=NOT_ALLOWED,
                non_retryable=True,
            )
        try:
            check_url(connector.base_url, "party.connector.baseUrl", self.settings.allow)
        except OutboundRefused as refused:
            raise ApplicationError(str(refused), type=NOT_ALLOWED, non_retryable=True) from None
        headers = {"Accept": "application/json", **self._authorization(connector)}
        started = time.monotonic()
        async with self._client_for(headers) as client:
            document = await system.fetch_order(client, connector, request.external_id)
        try:
            answer = system.read(document, request.view, self._clock())
        except UnusableAnswer as unusable:
            raise _unusable(unusable) from None
        activity.logger.info(
            "party system answered for order %s in %.2f s: %s",
            request.order_id,
            time.monotonic() - started,
            answer.party_state,
        )
        return answer

    def _authorization(self, connector: PartyConnector) -> dict[str, str]:
        if connector.credentials is None:
            return {}
        secret = self.settings.credentials(connector.credentials)
        if secret is None:
            raise ApplicationError(
                f"party.connector.credentials: no secret named {connector.credentials!r} is"
                f" configured (PARTY_ORDERS_SECRET_{connector.credentials})",
                type=NOT_ALLOWED,
                non_retryable=True,
            )
        if isinstance(secret, OAuth2ClientCredentials):
            # The token exchange (cached, refreshed) comes with a later slice.
            raise ApplicationError(
                f"party.connector.credentials: {connector.credentials!r} holds OAuth2 client"
                " credentials, which the connector does not use yet; give a bearer token",
                type=NOT_ALLOWED,
                non_retryable=True,
            )
        return {"Authorization": f"Bearer {secret.token}"}


async def _get(client: httpx.AsyncClient, url: str) -> httpx.Response:
    try:
        response = await client.get(url)
    except OutboundRefused as refused:
        raise ApplicationError(str(refused), type=NOT_ALLOWED, non_retryable=True) from None
    except httpx.TimeoutException:
        raise ApplicationError(
            f"the party's system did not answer in time (GET {url})", type=UNAVAILABLE
        ) from None
    except httpx.TransportError as error:
        raise ApplicationError(
            f"the party's system could not be reached (GET {url}): {error or type(error).__name__}",
            type=UNAVAILABLE,
        ) from None
    _check_status(response, url)
    return response


def _check_status(response: httpx.Response, url: str) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    said = f"GET {url} answered {status}"
    if status == 429:
        raise ApplicationError(
            f"{said}: too many requests",
            type=UNAVAILABLE,
            next_retry_delay=retry_after(response.headers.get("Retry-After"), datetime.now(UTC)),
        )
    if status >= 500:
        raise ApplicationError(f"{said}: the party's system failed", type=UNAVAILABLE)
    if status in (401, 403):
        raise ApplicationError(
            f"{said}: the party's system does not accept our credentials",
            type=REFUSED,
            non_retryable=True,
        )
    if status == 404:
        raise ApplicationError(
            f"{said}: the party's system has no such order", type=NOT_FOUND, non_retryable=True
        )
    raise ApplicationError(
        f"{said}: the party's system refused the request", type=REFUSED, non_retryable=True
    )


def retry_after(value: str | None, now: datetime) -> timedelta | None:
    """A ``Retry-After`` header (seconds, or an HTTP date) as a delay, at most
    MAX_RETRY_AFTER; None when absent or unreadable (the retry policy's backoff then)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        delay = timedelta(seconds=int(value))
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        delay = max(when - now, timedelta(0))
    return min(delay, MAX_RETRY_AFTER)


def _json(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except ValueError:
        raise _unusable(
            UnusableAnswer("(document)", "(document): the answer is not JSON")
        ) from None


def _unusable(unusable: UnusableAnswer) -> ApplicationError:
    return ApplicationError(
        f"the party's system answered without its standard's shape: {unusable}",
        unusable.field,
        type=UNUSABLE,
        non_retryable=True,
    )
