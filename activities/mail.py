"""Email to parties: the SMTP notification channel.

A party with a ``contactEmail`` and no ``webhookUrl`` is written to by mail when
``PARTY_ORDERS_SMTP_URL`` is set (read by ``activities.settings``): ``smtp://host:port`` (plain), ``smtp+starttls://user:pass@
host:587`` (STARTTLS required) or ``smtps://user:pass@host:465`` (TLS from the start). Each
mail has a plain-text and an HTML part (Jinja2 templates in ``activities/templates/mail``),
the portal link when it is a check-in, and a ``Message-ID`` derived from the notification's
idempotency key: a retried delivery sends a mail with the same id, so the receiving side
(and a person reading the headers) can tell it is the same message again.

Errors follow the other channels: a failure that may pass (connection refused, timeouts,
4xx replies, a failed login an operator can fix) raises the retryable
``NotificationDeliveryFailed``; a 5xx refusal of the sender, a recipient or the message
raises the non-retryable ``NotificationRejected``. The password never appears in a log, an
error or a ``repr``.
"""

from __future__ import annotations

import hashlib
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import aiosmtplib
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from temporalio.exceptions import ApplicationError

from activities.failures import DELIVERY_FAILED, REJECTED
from activities.outbound import AllowList, OutboundRefused, check_host
from activities.settings import SmtpSettings
from workflows.domain.effects import Notification

TEMPLATES = Path(__file__).parent / "templates" / "mail"


def message_id(idempotency_key: str, sender: str) -> str:
    """The ``Message-ID`` of the mail for ``idempotency_key``: the same key, the same id."""
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:32]
    domain = sender.rpartition("@")[2] or "localhost"
    return f"<{digest}@{domain}>"


def _templates() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,  # a template naming a missing value fails, loudly
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


_ENVELOPE_FIELDS = ("order", "portalUrl", "answerBy")


def compose(
    notification: Notification, sender: str, templates: Environment | None = None
) -> EmailMessage:
    """The mail for ``notification`` (to its ``contactEmail``): text and HTML parts."""
    if not notification.contact_email:
        raise ValueError(f"notification {notification.idempotency_key} has no contactEmail")
    templates = templates or _templates()
    body = notification.body
    context: dict[str, Any] = {
        "notification": notification,
        "subject": notification.subject,
        "kind": notification.kind,
        "order": body.get("order", {}),
        "portal_url": body.get("portalUrl"),
        "answer_by": body.get("answerBy"),
        # Everything else the body says, for the reader: kind-specific fields.
        "details": {k: v for k, v in body.items() if k not in _ENVELOPE_FIELDS},
    }
    message = EmailMessage()
    message["Subject"] = notification.subject
    message["From"] = sender
    try:
        message["To"] = Address(addr_spec=notification.contact_email)
    except (ValueError, MessageError):  # also refuses CR/LF: no header injection
        # Not the parser's words: they quote the address, and it is personal data.
        raise ValueError("the party's contactEmail is not a mail address") from None
    message["Date"] = format_datetime(notification.occurred_at)
    message["Message-ID"] = message_id(notification.idempotency_key, sender)
    message["Idempotency-Key"] = notification.idempotency_key
    message["X-Party-Orders-Event"] = notification.kind
    text = templates.get_template("notification.txt").render(context)
    html = templates.get_template("notification.html").render(context)
    message.set_content(text, cte=_transfer_encoding(text))
    message.add_alternative(html, subtype="html", cte=_transfer_encoding(html))
    return message


def _transfer_encoding(text: str) -> str:
    """``8bit`` (the link stays whole, readable in the raw mail) unless a line is too long
    for SMTP (998 octets); then quoted-printable."""
    longest = max((len(line.encode("utf-8")) for line in text.splitlines()), default=0)
    return "8bit" if longest <= 900 else "quoted-printable"


class EmailChannel:
    """Delivers party notifications by SMTP (one connection per mail)."""

    def __init__(self, settings: SmtpSettings, *, allow: AllowList | None = None) -> None:
        self.settings = settings
        # The internal relays it may still reach (settings.callback_allow); none if None.
        self.allow = allow if allow is not None else AllowList()
        self._templates = _templates()

    def __repr__(self) -> str:
        return f"EmailChannel({self.settings.shown!r})"

    def _scrub(self, text: str) -> str:
        if self.settings.password:
            text = text.replace(self.settings.password, "***")
        return text

    async def deliver(self, notification: Notification) -> None:
        try:
            message = compose(notification, self.settings.sender, self._templates)
        except ValueError as exc:
            # A malformed address will not become valid on retry.
            raise ApplicationError(str(exc), type=REJECTED, non_retryable=True) from None
        settings = self.settings
        where = f"mail server {settings.shown}"
        try:
            await check_host(settings.host, settings.port, where, self.allow)
        except OutboundRefused as refused:
            raise ApplicationError(str(refused), type=REJECTED, non_retryable=True) from None
        try:
            await aiosmtplib.send(
                message,
                hostname=settings.host,
                port=settings.port,
                username=settings.username,
                password=settings.password,
                use_tls=settings.use_tls,
                start_tls=settings.start_tls,
                timeout=settings.timeout_seconds,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [error.code for error in exc.recipients]
            permanent = bool(codes) and all(code >= 500 for code in codes)
            raise ApplicationError(
                f"{where} refused the recipient: {self._scrub(str(exc))}",
                type=REJECTED if permanent else DELIVERY_FAILED,
                non_retryable=permanent,
            ) from None
        except aiosmtplib.SMTPAuthenticationError as exc:
            # Wrong credentials are the operator's to fix; the mail waits for them.
            raise ApplicationError(
                f"{where} refused the login ({exc.code})", type=DELIVERY_FAILED
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            permanent = exc.code >= 500
            raise ApplicationError(
                f"{where} answered {exc.code}: {self._scrub(exc.message)}",
                type=REJECTED if permanent else DELIVERY_FAILED,
                non_retryable=permanent,
            ) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            # Refused connections, timeouts, TLS failures: they may pass.
            raise ApplicationError(
                f"{where} unreachable: {type(exc).__name__}: {self._scrub(str(exc))}",
                type=DELIVERY_FAILED,
            ) from None
