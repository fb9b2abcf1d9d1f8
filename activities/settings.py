"""Where notifications go, read once from the environment when the worker starts.

Every value has a safe default: with no configuration at all, every notification lands in
a local JSON-lines outbox, so a fresh checkout works without any receiver running.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from activities.portal import PortalSettings

OUTBOX_ENV = "PARTY_ORDERS_OUTBOX"
WEBHOOK_SECRET_ENV = "PARTY_ORDERS_WEBHOOK_SECRET"
PROCESS_WEBHOOK_URL_ENV = "PARTY_ORDERS_PROCESS_WEBHOOK_URL"
CONTACT_WEBHOOK_URL_ENV = "PARTY_ORDERS_CONTACT_WEBHOOK_URL"
WEBHOOK_TIMEOUT_ENV = "PARTY_ORDERS_WEBHOOK_TIMEOUT"

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

SMTP_URL_ENV = "PARTY_ORDERS_SMTP_URL"
SMTP_FROM_ENV = "PARTY_ORDERS_SMTP_FROM"
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
            raise ValueError(f"{SMTP_FROM_ENV} must be an email address, got {self.sender!r}")

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
            raise ValueError(f"{SMTP_URL_ENV} is not a valid URL ({exc})") from None
        if parts.scheme not in _SCHEMES:
            raise ValueError(
                f"{SMTP_URL_ENV} must start with smtp://, smtp+starttls:// or smtps://,"
                f" got {parts.scheme or 'no scheme'!r}"
            )
        if not parts.hostname:
            raise ValueError(f"{SMTP_URL_ENV} names no host")
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

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> SmtpSettings | None:
        url = environ.get(SMTP_URL_ENV) or None
        if url is None:
            return None
        return cls.from_url(url, (environ.get(SMTP_FROM_ENV) or "").strip() or None)


# ---------------------------------------------------------------- every channel


@dataclass(frozen=True)
class NotificationSettings:
    """How the worker reaches the party, the originating process and escalation contacts.

    ``None`` for a webhook URL means "write to the outbox instead". The secret signs every
    webhook body (HMAC-SHA256) so receivers can tell the tracker's calls from forgeries;
    it is kept out of ``repr`` so it never reaches a log by accident.
    """

    outbox_path: Path = DEFAULT_OUTBOX_PATH
    webhook_secret: str | None = field(default=None, repr=False)
    process_webhook_url: str | None = None
    contact_webhook_url: str | None = None
    webhook_timeout_seconds: float = DEFAULT_WEBHOOK_TIMEOUT_SECONDS
    # Signed check-in links (``PARTY_ORDERS_PORTAL_*``, see activities/portal.py); None:
    # check-ins carry no portalUrl.
    portal: PortalSettings | None = None
    # The email channel (``PARTY_ORDERS_SMTP_*``, see activities/mail.py); None: parties
    # without a webhook are written to in the outbox.
    smtp: SmtpSettings | None = None

    def __post_init__(self) -> None:
        # Direct construction (tests, embedding) gets the same checks as from_env.
        _check_timeout(self.webhook_timeout_seconds, "webhook_timeout_seconds")
        if self.process_webhook_url is not None:
            check_webhook_url(self.process_webhook_url, "process_webhook_url")
        if self.contact_webhook_url is not None:
            check_webhook_url(self.contact_webhook_url, "contact_webhook_url")
        if self.webhook_secret == "":
            raise ValueError("webhook_secret must be None or a non-empty string")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> NotificationSettings:
        """Read the settings from ``environ`` (default: ``os.environ``).

        An unset or empty variable takes its default. A relative outbox path is fixed
        against the current directory now, so a later ``chdir`` cannot move the outbox.
        Bad values raise ValueError naming the variable.
        """
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name)
            return value if value else None

        outbox_raw = get(OUTBOX_ENV)
        outbox_path = Path(outbox_raw).expanduser() if outbox_raw else DEFAULT_OUTBOX_PATH
        if not outbox_path.is_absolute():
            outbox_path = Path.cwd() / outbox_path

        process_url = get(PROCESS_WEBHOOK_URL_ENV)
        if process_url is not None:
            check_webhook_url(process_url.strip(), PROCESS_WEBHOOK_URL_ENV)
            process_url = process_url.strip()
        contact_url = get(CONTACT_WEBHOOK_URL_ENV)
        if contact_url is not None:
            check_webhook_url(contact_url.strip(), CONTACT_WEBHOOK_URL_ENV)
            contact_url = contact_url.strip()

        timeout = DEFAULT_WEBHOOK_TIMEOUT_SECONDS
        timeout_raw = get(WEBHOOK_TIMEOUT_ENV)
        if timeout_raw is not None:
            try:
                timeout = float(timeout_raw)
            except ValueError:
                raise ValueError(
                    f"{WEBHOOK_TIMEOUT_ENV} must be a positive number of seconds,"
                    f" got {timeout_raw!r}"
                ) from None
            _check_timeout(timeout, WEBHOOK_TIMEOUT_ENV)

        return cls(
            outbox_path=outbox_path,
            # Taken verbatim: stripping could silently diverge from the receiver's copy.
            webhook_secret=get(WEBHOOK_SECRET_ENV),
            process_webhook_url=process_url,
            contact_webhook_url=contact_url,
            webhook_timeout_seconds=timeout,
            portal=PortalSettings.from_env(env),
            smtp=SmtpSettings.from_env(env),
        )
