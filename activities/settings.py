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
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from activities.outbound import AllowList, check_url
from activities.portal import PortalSettings
from activities.signing import check_master_secret, master_secret_from_env

if TYPE_CHECKING:  # activities.mail imports the channels, which import these settings
    from activities.mail import SmtpSettings

OUTBOX_ENV = "PARTY_ORDERS_OUTBOX"
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

    def __post_init__(self) -> None:
        # Direct construction (tests, embedding) gets the same checks as from_env.
        _check_timeout(self.webhook_timeout_seconds, "webhook_timeout_seconds")
        if self.process_webhook_url is not None:
            check_webhook_url(self.process_webhook_url, "process_webhook_url")
        if self.contact_webhook_url is not None:
            check_webhook_url(self.contact_webhook_url, "contact_webhook_url")
        if self.master_secret is not None:
            check_master_secret(self.master_secret, "master_secret")

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

        allow = AllowList.from_env(env)  # a bad entry stops the worker at start, named
        process_url = get(PROCESS_WEBHOOK_URL_ENV)
        if process_url is not None:
            check_webhook_url(process_url.strip(), PROCESS_WEBHOOK_URL_ENV)
            process_url = process_url.strip()
            check_url(process_url, PROCESS_WEBHOOK_URL_ENV, allow)
        contact_url = get(CONTACT_WEBHOOK_URL_ENV)
        if contact_url is not None:
            check_webhook_url(contact_url.strip(), CONTACT_WEBHOOK_URL_ENV)
            contact_url = contact_url.strip()
            check_url(contact_url, CONTACT_WEBHOOK_URL_ENV, allow)

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

        from activities.mail import SmtpSettings

        return cls(
            outbox_path=outbox_path,
            master_secret=master_secret_from_env(env),
            process_webhook_url=process_url,
            contact_webhook_url=contact_url,
            webhook_timeout_seconds=timeout,
            portal=PortalSettings.from_env(env),
            smtp=SmtpSettings.from_env(env),
        )
