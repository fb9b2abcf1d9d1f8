"""Standard Webhooks signatures: one secret per receiver, none of them stored anywhere.

Every webhook and hub delivery carries ``webhook-id`` (the delivery's idempotency key, the
same on every retry), ``webhook-timestamp`` (seconds since the epoch, of this attempt) and
``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, made with the
``standardwebhooks`` package receivers verify with.

Each receiver has its own ``whsec_...`` secret, derived from the master secret in
``PARTY_ORDERS_WEBHOOK_MASTER_SECRET`` (an HMAC of what the receiver is): a hub subscription
by its id and its rotation counter (kept in the registry workflow, which holds no secret),
a configured webhook target by its URL. So nothing secret enters workflow history, and one
receiver's secret tells nothing of another's. Changing the master secret changes them all.
The master secret is read in the top-level ``settings`` module (``Settings.master_secret``)
and handed to the worker and the API.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

from standardwebhooks import Webhook

# Named in refusals; read only in the top-level ``settings`` module.
MASTER_SECRET_ENV = "PARTY_ORDERS_WEBHOOK_MASTER_SECRET"
SECRET_PREFIX = "whsec_"
MIN_MASTER_SECRET_CHARS = 16
OLD_SHARED_SECRET_ENV = "PARTY_ORDERS_WEBHOOK_SECRET"

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"


class MasterSecretMissing(RuntimeError):
    """No usable master secret: nothing can be signed, so nothing may be sent."""


def check_master_secret(value: str, what: str) -> str:
    if len(value) < MIN_MASTER_SECRET_CHARS:
        raise ValueError(f"{what} must be at least {MIN_MASTER_SECRET_CHARS} characters")
    return value


def require_master_secret(value: str | None, old_shared_secret_set: bool = False) -> str:
    """The master secret ``value`` (``Settings.master_secret``), or MasterSecretMissing
    saying how to set one (and that the old shared secret, when it is still set, is no
    longer read)."""
    if value is None:
        replaced = (
            f" ({OLD_SHARED_SECRET_ENV}, one secret shared by every receiver, is no longer"
            " read: each receiver now has its own, derived from the master secret.)"
            if old_shared_secret_set
            else ""
        )
        raise MasterSecretMissing(
            f"{MASTER_SECRET_ENV} is not set: every webhook and hub delivery is signed with"
            " a secret derived from it. Set it to a long random string (for example the"
            ' output of `python -c "import secrets; print(secrets.token_urlsafe(32))"`),'
            " the same for the worker and the HTTP API. `party-orders up` makes one itself."
            + replaced
        )
    return value


def _derive(master: str, purpose: str) -> str:
    digest = hmac.new(master.encode("utf-8"), purpose.encode("utf-8"), hashlib.sha256).digest()
    return SECRET_PREFIX + base64.b64encode(digest).decode("ascii")


def subscription_secret(master: str, subscription_id: str, rotation: int) -> str:
    """The ``whsec_`` secret of hub subscription ``subscription_id`` after ``rotation``
    rotations: a new rotation makes a new secret, and the old one stops verifying."""
    return _derive(master, f"party-orders/hub-subscription/{subscription_id}/{rotation}")


def webhook_secret(master: str, url: str) -> str:
    """The ``whsec_`` secret of the webhook target at ``url`` (a party's, the originating
    process's, the escalation contacts'): its own, whoever else is configured."""
    return _derive(master, f"party-orders/webhook/{url}")


def signed_headers(
    secret: str, message_id: str, body: bytes, now: datetime | None = None
) -> dict[str, str]:
    """The Standard Webhooks headers of ``body`` sent as ``message_id`` at ``now``."""
    when = now if now is not None else datetime.now(UTC)
    return {
        ID_HEADER: message_id,
        TIMESTAMP_HEADER: str(int(when.timestamp())),
        SIGNATURE_HEADER: Webhook(secret).sign(message_id, when, body),
    }


MASTER_SECRET_FILE = "webhook-master-secret"


def local_master_secret(data_dir: Path) -> str:
    """For ``party-orders up`` when no master secret is set: the one made once and kept in
    ``data_dir/webhook-master-secret`` (owner-only), so the subscribers' secrets survive a
    restart; ``up`` passes it to the worker and the API it runs in their settings."""
    path = data_dir / MASTER_SECRET_FILE
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        secret = ""
    if len(secret) < MIN_MASTER_SECRET_CHARS:
        data_dir.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(32)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(secret + "\n")
    return secret
