"""Notification channels: the one way the tracker's activities reach the outside world.

A channel delivers a ``Notification`` or raises. Delivery is at-least-once (Temporal retries
a failed activity), so every channel passes on the notification's idempotency key and the
outbox drops repeats itself; receivers of webhooks dedupe by the ``Idempotency-Key`` header.

Errors follow Temporal's retry rules: a failure that may pass (timeouts, connection errors,
408/429/5xx) raises a retryable ``ApplicationError`` of type ``NotificationDeliveryFailed``;
a refusal that will not change on retry (other 4xx, a redirect, a bad URL) raises a
non-retryable one of type ``NotificationRejected``.
"""

from __future__ import annotations

import asyncio
import email.utils
import fcntl
import json
import logging
import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Protocol, runtime_checkable

import httpx
from temporalio.exceptions import ApplicationError

from activities.failures import DELIVERY_FAILED, REJECTED
from activities.mail import EmailChannel
from activities.outbound import AllowList, OutboundRefused, check_url, guarded_client
from activities.settings import NotificationSettings, redact_url
from activities.signing import MASTER_SECRET_ENV, signed_headers, webhook_secret
from workflows.domain.effects import Notification
from workflows.domain.instants import iso

logger = logging.getLogger(__name__)


class _RedactUrls(logging.Filter):
    """httpx logs each request's full URL at INFO; a token in a webhook URL must not leak."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_url(str(arg)) if isinstance(arg, httpx.URL) else arg for arg in record.args
            )
        return True


logging.getLogger("httpx").addFilter(_RedactUrls())

EVENT_HEADER = "X-Party-Orders-Event"
IDEMPOTENCY_HEADER = "Idempotency-Key"

# A receiver asking us to wait longer than this is treated as asking for the retry
# policy's own pace: an activity must not be parked for hours on one header.
_MAX_RETRY_AFTER = timedelta(minutes=10)
_USER_AGENT = "party-order-tracker/0.1"


@runtime_checkable
class NotificationChannel(Protocol):
    """Somewhere a notification can be delivered. Raises if it was not delivered."""

    async def deliver(self, notification: Notification) -> None: ...


# ---------------------------------------------------------------- bodies


def encode_body(notification: Notification) -> bytes:
    """The exact bytes sent (and signed) for ``notification``: compact UTF-8 JSON."""
    return json.dumps(
        notification.to_json_dict(), ensure_ascii=False, separators=(",", ":")
    ).encode("utf-8")


# ---------------------------------------------------------------- outbox


def _utc_now_iso() -> str:
    return iso(datetime.now(UTC), "milliseconds")


class OutboxChannel:
    """Durable local delivery: an append-only JSON-lines file, one line per notification.

    Each line is the notification's JSON plus ``deliveredAt``. A notification whose
    ``idempotencyKey`` is already in the file is not written again, so activity retries and
    several workers (processes or instances) sharing the file still give one line per key.

    Appends take an exclusive ``flock`` on the file; under it the channel first reads what
    others appended since its last look (it remembers how far it has read), then decides.
    A torn last line (a writer killed mid-append) is closed off and skipped, never joined.
    Keys are kept in memory for the channel's lifetime: the outbox is meant to be drained
    or rotated by an operator, not to grow without bound.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._keys: set[str] = set()
        self._offset = 0  # bytes of the file already read into _keys
        self._inode: tuple[int, int] | None = None  # (st_dev, st_ino) of the file read
        # One thread at a time per instance: _keys/_offset are shared state, and
        # asyncio.to_thread may run several deliveries of one instance at once.
        self._thread_lock = threading.Lock()

    async def deliver(self, notification: Notification) -> None:
        key = notification.idempotency_key
        if key in self._keys:  # append-only file: a key once seen is there for good
            logger.debug("outbox: %s already delivered", key)
            return
        record = {**notification.to_json_dict(), "deliveredAt": _utc_now_iso()}
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        try:
            appended = await asyncio.to_thread(self._append, key, line.encode("utf-8"))
        except OSError as exc:
            # A full disk or a permission problem may be fixed by an operator: retry.
            raise ApplicationError(
                f"could not write to outbox {self.path}: {exc.strerror or exc}",
                type=DELIVERY_FAILED,
            ) from None
        if not appended:
            logger.debug("outbox: %s already delivered by another writer", key)

    def contains(self, idempotency_key: str) -> bool:
        """True if this channel has seen ``idempotency_key`` in (or written it to) the file."""
        return idempotency_key in self._keys

    # Everything below runs in a worker thread.

    def _append(self, key: str, line: bytes) -> bool:
        """Append ``line`` unless ``key`` is in the file; True if it was appended."""
        with self._thread_lock:
            if key in self._keys:
                return False
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a+b") as file:
                fcntl.flock(file.fileno(), fcntl.LOCK_EX)
                try:
                    torn = self._catch_up(file)
                    if key in self._keys:
                        return False
                    data = (b"\n" + line) if torn else line
                    file.write(data)  # "a" mode: always at the end, whatever was read
                    file.flush()
                    os.fsync(file.fileno())
                    self._offset += len(data)
                    self._keys.add(key)
                    return True
                finally:
                    fcntl.flock(file.fileno(), fcntl.LOCK_UN)

    def _catch_up(self, file: IO[bytes]) -> bool:
        """Read lines appended since the last look; True if the file ends in a torn line.

        Called under the file lock, so no writer is mid-line: an unterminated last line can
        only be left by a writer that died while appending.
        """
        stat = os.fstat(file.fileno())
        inode = (stat.st_dev, stat.st_ino)
        if inode != self._inode or stat.st_size < self._offset:
            # A new or truncated file (rotated by an operator): read it from the start.
            # Keys already known stay known; they were delivered once.
            self._inode = inode
            self._offset = 0
        # Judged from the file itself, not from what this call reads: the torn tail may
        # have been read (and skipped) by an earlier call that then had nothing to write.
        torn = stat.st_size > 0 and os.pread(file.fileno(), 1, stat.st_size - 1) != b"\n"
        if stat.st_size == self._offset:
            return torn
        file.seek(self._offset)
        data = file.read(stat.st_size - self._offset)
        self._offset += len(data)
        lines = data.split(b"\n")
        if lines.pop():  # the part after the last newline, read for the first time
            logger.warning("outbox %s ends in an incomplete line; it will be skipped", self.path)
        for raw in lines:
            if not raw.strip():
                continue
            try:
                key = json.loads(raw)["idempotencyKey"]
            except (ValueError, KeyError, TypeError):
                logger.warning("outbox %s has an unreadable line; skipped", self.path)
                continue
            if isinstance(key, str):
                self._keys.add(key)
        return torn


# ---------------------------------------------------------------- webhook


def _retry_after(response: httpx.Response) -> timedelta | None:
    """The delay a 429/503 response asks for, if it names a usable one."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    delay: timedelta | None
    try:
        delay = timedelta(seconds=float(value))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        delay = when - datetime.now(UTC)
    if delay <= timedelta(0) or delay > _MAX_RETRY_AFTER:
        return None
    return delay


class WebhookChannel:
    """HTTP POST of the notification JSON to one URL, always signed (Standard Webhooks).

    Headers: ``Idempotency-Key`` (receivers dedupe retried deliveries by it),
    ``X-Party-Orders-Event`` (the notification kind), and ``webhook-id`` (the same key),
    ``webhook-timestamp`` and ``webhook-signature`` (``activities/signing.py``) under the
    target's own ``whsec_`` secret. Any 2xx means delivered. Only public addresses, or those
    ``PARTY_ORDERS_CALLBACK_ALLOW`` lists, are called (``activities/outbound.py``). Redirects
    are not followed: a webhook should be configured with its final URL, and a signed POST
    must not be replayed to wherever a 3xx points.
    """

    def __init__(
        self,
        url: str,
        secret: str | None = None,
        timeout: float = 10.0,
        *,
        client: httpx.AsyncClient | None = None,
        allow: AllowList | None = None,
    ) -> None:
        self.url = url
        self._secret = secret
        # The internal addresses it may still reach (settings.callback_allow); none if None.
        self._allow = allow if allow is not None else AllowList()
        self._timeout = timeout
        self._client = client
        self._owns_client = client is None
        self._shown_url = redact_url(url)  # safe for logs and errors: no token, no query

    def __repr__(self) -> str:
        return f"WebhookChannel({self._shown_url!r}, signed={self._secret is not None})"

    def _get_client(self) -> httpx.AsyncClient:
        # Made on first use, inside the running event loop that will use it.
        if self._client is None:
            self._client = guarded_client(self._timeout, {"User-Agent": _USER_AGENT}, self._allow)
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP client if this channel made it."""
        if self._client is not None and self._owns_client:
            await self._client.aclose()
            self._client = None

    def _scrub(self, text: str) -> str:
        """``text`` with the secret and the full URL removed, for error messages."""
        if self._secret:
            text = text.replace(self._secret, "***")
        if self.url != self._shown_url:
            text = text.replace(self.url, self._shown_url)
        return text

    async def deliver(self, notification: Notification) -> None:
        await self.post(encode_body(notification), notification.idempotency_key, notification.kind)

    async def post(
        self, body: bytes, idempotency_key: str, event: str, *, secret: str | None = None
    ) -> None:
        """POST ``body``, signed with ``secret`` (a hub subscription's) or else the target's
        own, with the key and the event name; also how the hub delivers (``activities.hub``)."""
        secret = secret if secret is not None else self._secret
        if secret is None:
            raise ApplicationError(
                f"webhook {self._shown_url} not called: nothing is sent unsigned, and"
                f" {MASTER_SECRET_ENV} is not set",
                type=REJECTED,
                non_retryable=True,
            )
        try:
            check_url(self.url, f"webhook {self._shown_url}", self._allow)
        except OutboundRefused as refused:
            raise ApplicationError(str(refused), type=REJECTED, non_retryable=True) from None
        headers = {
            "Content-Type": "application/json",
            IDEMPOTENCY_HEADER: idempotency_key,
            EVENT_HEADER: event,
            **signed_headers(secret, idempotency_key, body),
        }
        try:
            # content=body: the bytes on the wire are exactly the bytes signed.
            response = await self._get_client().post(self.url, content=body, headers=headers)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise ApplicationError(
                f"webhook {self._shown_url} cannot be called: {self._scrub(str(exc))}",
                type=REJECTED,
                non_retryable=True,
            ) from None
        except OutboundRefused as refused:  # the address resolved to, or connected to
            raise ApplicationError(
                self._scrub(str(refused)), type=REJECTED, non_retryable=True
            ) from None
        except httpx.TimeoutException:
            raise ApplicationError(
                f"webhook {self._shown_url} timed out after {self._timeout:g}s",
                type=DELIVERY_FAILED,
            ) from None
        except httpx.HTTPError as exc:
            # `from None`: the httpx exception could carry the full URL into the failure.
            raise ApplicationError(
                f"webhook {self._shown_url} unreachable: {type(exc).__name__}:"
                f" {self._scrub(str(exc))}",
                type=DELIVERY_FAILED,
            ) from None
        self._check(response)

    def _check(self, response: httpx.Response) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        what = f"webhook {self._shown_url} answered {status} {response.reason_phrase}"
        detail = self._scrub(response.text[:200].strip())
        message = f"{what}: {detail}" if detail else what
        if status in (408, 429) or status >= 500:
            raise ApplicationError(
                message, type=DELIVERY_FAILED, next_retry_delay=_retry_after(response)
            )
        # Other 4xx (the receiver refuses this request) and 1xx/3xx (misconfiguration):
        # sending the same bytes again will get the same answer.
        raise ApplicationError(message, type=REJECTED, non_retryable=True)


# ---------------------------------------------------------------- routing


class ChannelRouter:
    """Picks the channel for each notification and keeps one channel per destination.

    Party notifications go to the party's own webhook when it has one, else by mail to its
    contact email when SMTP is configured; notifications to the originating process and
    to escalation contacts go to the configured webhook for each; everything else goes to
    the outbox. Injected channels (tests) take precedence.
    """

    def __init__(
        self,
        settings: NotificationSettings,
        *,
        outbox: NotificationChannel | None = None,
        process: NotificationChannel | None = None,
        contact: NotificationChannel | None = None,
    ) -> None:
        self.settings = settings
        self._outbox = outbox
        self._process = process
        self._contact = contact
        self._webhooks: dict[str, WebhookChannel] = {}
        self._email: NotificationChannel | None = None

    def outbox(self) -> NotificationChannel:
        if self._outbox is None:
            self._outbox = OutboxChannel(self.settings.outbox_path)
        return self._outbox

    def webhook(self, url: str) -> WebhookChannel:
        channel = self._webhooks.get(url)
        if channel is None:
            master = self.settings.master_secret
            channel = WebhookChannel(
                url,
                webhook_secret(master, url) if master else None,
                self.settings.webhook_timeout_seconds,
                allow=self.settings.callback_allow,
            )
            self._webhooks[url] = channel
        return channel

    def email(self) -> NotificationChannel | None:
        """The SMTP channel, when ``settings.smtp`` configures one."""
        if self._email is None and self.settings.smtp is not None:
            self._email = EmailChannel(self.settings.smtp, allow=self.settings.callback_allow)
        return self._email

    def channel_for(self, notification: Notification) -> NotificationChannel:
        kind = notification.recipient_kind
        if kind == "party" and notification.webhook_url:
            return self.webhook(notification.webhook_url)
        if kind == "party" and notification.contact_email and (mail := self.email()):
            return mail
        if kind == "originatingProcess":
            if self._process is not None:
                return self._process
            if self.settings.process_webhook_url:
                return self.webhook(self.settings.process_webhook_url)
        if kind == "contact":
            if self._contact is not None:
                return self._contact
            if self.settings.contact_webhook_url:
                return self.webhook(self.settings.contact_webhook_url)
        return self.outbox()

    async def aclose(self) -> None:
        """Close every HTTP client the router's channels opened."""
        webhooks = list(self._webhooks.values())
        self._webhooks.clear()
        for channel in webhooks:
            await channel.aclose()
