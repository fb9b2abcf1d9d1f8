"""Signed check-in links: how a party answers a check-in without an API key.

Each check-in to the party carries ``portalUrl``: the API's check-in page for that one
order, with a token that says which order and party it is for and until when it may be
used (the check-in's ``answerBy``: the end of its response window). The token is
``<payload>.<signature>``, both base64url: the payload is compact JSON, the signature its
HMAC-SHA256 under ``PARTY_ORDERS_PORTAL_SECRET``. Anyone holding the link may report
progress on that order until it expires, exactly like a party's API key scoped to one order.

The link is made here, by the delivering activity, never in workflow code: the secret must
not enter workflow history, and the workflow must stay deterministic. The token depends only
on the notification (order, party, answerBy), so a retried delivery carries the same link.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlsplit

from workflows.domain.effects import Notification

DEFAULT_PORTAL_BASE_URL = "http://127.0.0.1:8080"  # the API's own default address

PORTAL_PATH = "/portal/partyOrder/{order_id}/checkIn"
"""The check-in page, relative to the API's root; the token rides in ``?token=``."""

TOKEN_PARAMETER = "token"
CHECK_IN_KIND = "checkIn"
_TOKEN_VERSION = 1
# A check-in without an answerBy (not one the tracker makes today) still gets a link that
# ends: the contract's default response window.
_FALLBACK_VALIDITY = timedelta(days=2)
_MIN_SECRET_LENGTH = 16


class PortalLinkError(Exception):
    """A portal token that cannot be used; ``status`` is the HTTP status to answer with."""

    status = 403


class PortalLinkInvalid(PortalLinkError):
    """Not a token this tracker issued (tampered, truncated, or signed with another secret)."""


class PortalLinkWrongOrder(PortalLinkError):
    """A genuine token, but for another order than the page it was opened on."""


class PortalLinkExpired(PortalLinkError):
    """A genuine token whose check-in's response window is over."""

    status = 410


@dataclass(frozen=True)
class PortalClaims:
    """What a valid token vouches for."""

    order_id: str
    party_id: str
    expires_at: datetime
    # The tracking (first run id) the check-in was sent from: a link from an ended tracking
    # does not work on the order's next one. None in links made before it was carried.
    tracking_id: str | None = None


@dataclass(frozen=True)
class PortalSettings:
    """The secret that signs check-in links and the API address they point at.

    The secret is kept out of ``repr`` so it never reaches a log by accident.
    """

    secret: str = field(repr=False)
    base_url: str = DEFAULT_PORTAL_BASE_URL

    def __post_init__(self) -> None:
        if len(self.secret) < _MIN_SECRET_LENGTH:
            raise ValueError(
                f"PARTY_ORDERS_PORTAL_SECRET must be at least {_MIN_SECRET_LENGTH} characters"
            )
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"PARTY_ORDERS_PORTAL_BASE_URL must be an absolute http:// or https:// URL,"
                f" got {self.base_url!r}"
            )
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))

    def url_for(self, claims: PortalClaims) -> str:
        path = PORTAL_PATH.format(order_id=quote(claims.order_id, safe=""))
        return f"{self.base_url}{path}?{TOKEN_PARAMETER}={issue_token(self.secret, claims)}"


# ---------------------------------------------------------------- tokens


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: str, payload: str) -> str:
    digest = hmac.new(secret.encode("utf-8"), payload.encode("ascii"), hashlib.sha256).digest()
    return _b64(digest)


def issue_token(secret: str, claims: PortalClaims) -> str:
    """The token for ``claims``: the same claims always give the same token."""
    payload = _b64(
        json.dumps(
            {
                "v": _TOKEN_VERSION,
                "order": claims.order_id,
                "party": claims.party_id,
                "exp": int(claims.expires_at.timestamp()),
                **({"trk": claims.tracking_id} if claims.tracking_id else {}),
            },
            separators=(",", ":"),
            sort_keys=True,
        ).encode("utf-8")
    )
    return f"{payload}.{_signature(secret, payload)}"


def read_token(secret: str, token: str, order_id: str, now: datetime) -> PortalClaims:
    """The claims of ``token`` if it is genuine, for ``order_id``, and not expired at ``now``.

    The signature is checked first (in constant time), so nothing of a forged token is
    believed, not even its expiry.
    """
    payload, dot, signature = token.strip().partition(".")
    if not dot or not payload or not signature:
        raise PortalLinkInvalid("this link is not complete")
    try:
        expected = _signature(secret, payload)
    except UnicodeEncodeError:
        raise PortalLinkInvalid("this link is not one we sent") from None
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii", "replace")):
        raise PortalLinkInvalid("this link is not one we sent, or it was changed")
    try:
        data = json.loads(_unb64(payload))
        claims = PortalClaims(
            order_id=str(data["order"]),
            party_id=str(data["party"]),
            expires_at=datetime.fromtimestamp(int(data["exp"]), UTC),
            tracking_id=str(data["trk"]) if "trk" in data else None,
        )
        version = data["v"]
    except (ValueError, KeyError, TypeError, binascii.Error, OverflowError, OSError):
        raise PortalLinkInvalid("this link is not one we sent") from None
    if version != _TOKEN_VERSION:
        raise PortalLinkInvalid("this link is from an older version of the portal")
    if claims.order_id != order_id:
        raise PortalLinkWrongOrder("this link was sent for another order")
    if now >= claims.expires_at:
        raise PortalLinkExpired(
            f"this link expired at {claims.expires_at:%Y-%m-%d %H:%M} UTC,"
            " when the check-in's response window ended"
        )
    return claims


# ---------------------------------------------------------------- notifications


def _answer_by(notification: Notification) -> datetime:
    raw = notification.body.get("answerBy")
    if isinstance(raw, str):
        try:
            when = datetime.fromisoformat(raw)
            if when.tzinfo is not None:
                return when
        except ValueError:
            pass
    return notification.occurred_at + _FALLBACK_VALIDITY


def tracking_of(notification: Notification) -> str | None:
    """The tracking a notification was sent from: its key is ``{order}/{tracking}/{name}``
    (``{order}/{name}`` for orders tracked before trackings were told apart)."""
    rest = notification.idempotency_key.removeprefix(f"{notification.order_id}/")
    tracking, slash, _ = rest.partition("/")
    return tracking if slash and tracking else None


def with_portal_link(notification: Notification, settings: PortalSettings | None) -> Notification:
    """``notification`` with ``body.portalUrl`` when it is a check-in to the party and the
    portal is configured; otherwise ``notification`` unchanged."""
    if (
        settings is None
        or notification.recipient_kind != "party"
        or notification.kind != CHECK_IN_KIND
    ):
        return notification
    claims = PortalClaims(
        order_id=notification.order_id,
        party_id=notification.recipient,
        expires_at=_answer_by(notification),
        tracking_id=tracking_of(notification),
    )
    body = {**notification.body, "portalUrl": settings.url_for(claims)}
    return notification.model_copy(update={"body": body})


# ---------------------------------------------------------------- logs

_TOKEN_IN_TEXT = re.compile(rf"({TOKEN_PARAMETER}=)[^&\s\"']+")


def redact_tokens(text: str) -> str:
    """``text`` with every ``token=...`` value replaced, fit for logs."""
    return _TOKEN_IN_TEXT.sub(r"\1***", text)


class RedactPortalTokens(logging.Filter):
    """Access logs (uvicorn's) name each request's path and query: a portal link's token
    must not be written there."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_tokens(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        if isinstance(record.msg, str):
            record.msg = redact_tokens(record.msg)
        return True
