"""Where notifications go: the settings of every channel (read from the environment by
the top-level ``settings`` module, once, when the worker starts).

Every value has a safe default: with no configuration at all, every notification lands in
a local JSON-lines outbox, so a fresh checkout works without any receiver running.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from activities.outbound import AllowList
from activities.portal import PortalSettings
from activities.signing import check_master_secret

DEFAULT_OUTBOX_PATH = Path(".party-orders") / "outbox.jsonl"
DEFAULT_WEBHOOK_TIMEOUT_SECONDS = 10.0


def redact_url(url: str) -> str:
    """The URL without user info, query or fragment, fit for logs and error messages.

    Webhook URLs often carry a token (``https://user:token@host/...`` or ``?token=...``);
    what remains is enough to tell which receiver is meant.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        return "<invalid URL>"
    if not parts.scheme or not host:
        return "<invalid URL>"
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{port}{parts.path}"


def check_webhook_url(url: str, what: str) -> str:
    """Return ``url`` if it is an absolute http(s) URL, else raise ValueError naming ``what``."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a non-numeric or out-of-range port
    except ValueError as exc:
        raise ValueError(f"{what} is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"{what} must be an absolute http:// or https:// URL, got {redact_url(url)!r}"
        )
    return url


def _check_timeout(value: float, what: str) -> float:
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be a positive number of seconds, got {value!r}")
    return value


# ---------------------------------------------------------------- mail (activities/mail.py)

DEFAULT_SENDER = "party-orders@localhost"
DEFAULT_SMTP_TIMEOUT_SECONDS = 10.0

_SCHEMES = {
    # scheme: (default port, TLS from the start, STARTTLS required)
    "smtp": (25, False, False),
    "smtp+starttls": (587, False, True),
    "smtps": (465, True, False),
}


@dataclass(frozen=True)
class SmtpSettings:
    """Where mail goes and how to log in; the password is kept out of ``repr``."""

    host: str
    port: int
    use_tls: bool = False
    start_tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str = DEFAULT_SENDER
    timeout_seconds: float = DEFAULT_SMTP_TIMEOUT_SECONDS

    def __post_init__(self) -> None:
        if "@" not in self.sender:
            raise ValueError(
                f"PARTY_ORDERS_SMTP_FROM must be an email address, got {self.sender!r}"
            )

    @property
    def shown(self) -> str:
        """The server as logs and errors may name it: no user, no password."""
        scheme = "smtps" if self.use_tls else "smtp+starttls" if self.start_tls else "smtp"
        return f"{scheme}://{self.host}:{self.port}"

    @classmethod
    def from_url(cls, url: str, sender: str | None = None) -> SmtpSettings:
        """Parse ``PARTY_ORDERS_SMTP_URL``; a bad value raises ValueError naming it (never
        echoing the password)."""
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"PARTY_ORDERS_SMTP_URL is not a valid URL ({exc})") from None
        if parts.scheme not in _SCHEMES:
            raise ValueError(
                f"PARTY_ORDERS_SMTP_URL must start with smtp://, smtp+starttls:// or smtps://,"
                f" got {parts.scheme or 'no scheme'!r}"
            )
        if not parts.hostname:
            raise ValueError("PARTY_ORDERS_SMTP_URL names no host")
        default_port, use_tls, start_tls = _SCHEMES[parts.scheme]
        return cls(
            host=parts.hostname,
            port=port or default_port,
            use_tls=use_tls,
            start_tls=start_tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            sender=sender or DEFAULT_SENDER,
        )


# ---------------------------------------------------------------- every channel


@dataclass(frozen=True)
class NotificationSettings:
    """How the worker reaches the party, the originating process and escalation contacts.

    ``None`` for a webhook URL means "write to the outbox instead". Each webhook target's
    own signing secret is derived from ``master_secret`` (activities/signing.py); without
    it no webhook is called. It is kept out of ``repr`` so it never reaches a log.
    """

    outbox_path: Path = DEFAULT_OUTBOX_PATH
    master_secret: str | None = field(default=None, repr=False)
    process_webhook_url: str | None = None
    contact_webhook_url: str | None = None
    webhook_timeout_seconds: float = DEFAULT_WEBHOOK_TIMEOUT_SECONDS
    # Signed check-in links (``PARTY_ORDERS_PORTAL_*``, see activities/portal.py); None:
    # check-ins carry no portalUrl.
    portal: PortalSettings | None = None
    # The email channel (``PARTY_ORDERS_SMTP_*``, see activities/mail.py); None: parties
    # without a webhook are written to in the outbox.
    smtp: SmtpSettings | None = None
    # The internal addresses webhooks and the mail relay may still reach
    # (``PARTY_ORDERS_CALLBACK_ALLOW``, see activities/outbound.py); empty: none.
    callback_allow: AllowList = field(default_factory=AllowList)

    def __post_init__(self) -> None:
        # Direct construction (tests, embedding) gets the same checks as from_env.
        _check_timeout(self.webhook_timeout_seconds, "webhook_timeout_seconds")
        if self.process_webhook_url is not None:
            check_webhook_url(self.process_webhook_url, "process_webhook_url")
        if self.contact_webhook_url is not None:
            check_webhook_url(self.contact_webhook_url, "contact_webhook_url")
        if self.master_secret is not None:
            check_master_secret(self.master_secret, "master_secret")
