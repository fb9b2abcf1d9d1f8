"""Standard Webhooks signing: the secrets, the headers, and the master secret's rules.

Deliveries themselves are verified end to end in tests/test_api_hub.py (hub events) and
tests/test_channels.py (webhooks); here are the rules those rely on, checked with the
``standardwebhooks`` package a receiver uses.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from activities.signing import (
    MASTER_SECRET_ENV,
    MASTER_SECRET_FILE,
    MasterSecretMissing,
    local_master_secret,
    signed_headers,
    subscription_secret,
    webhook_secret,
)
from settings import Settings

ROOT = Path(__file__).resolve().parents[1]
MASTER = "a-master-secret-of-some-length"
BODY = b'{"eventId":"e-1","eventType":"PartyOrderStateChangeEvent"}'


def test_every_receiver_has_its_own_whsec_secret() -> None:
    secrets = {
        subscription_secret(MASTER, "sub-1", 0),
        subscription_secret(MASTER, "sub-1", 1),  # rotated
        subscription_secret(MASTER, "sub-2", 0),
        subscription_secret("another-master-secret-entirely", "sub-1", 0),
        webhook_secret(MASTER, "https://acme.example/hooks"),
        webhook_secret(MASTER, "https://nordfiber.example/hooks"),
    }
    assert len(secrets) == 6
    assert all(s.startswith("whsec_") for s in secrets)
    # Derived, not random: the API that shows it and the worker that signs agree.
    assert subscription_secret(MASTER, "sub-1", 0) == subscription_secret(MASTER, "sub-1", 0)
    assert MASTER not in "".join(secrets)


def test_the_headers_verify_with_the_standardwebhooks_package() -> None:
    secret = subscription_secret(MASTER, "sub-1", 0)
    headers = signed_headers(secret, "sub-1/PO-1/t/checkIn-1", BODY)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-id"] == "sub-1/PO-1/t/checkIn-1"
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(BODY, headers) == {
        "eventId": "e-1",
        "eventType": "PartyOrderStateChangeEvent",
    }


@pytest.mark.parametrize(
    "tamper",
    ["body", "id", "timestamp", "other secret", "rotated secret", "stale", "from the future"],
)
def test_anything_but_the_signed_delivery_is_refused(tamper: str) -> None:
    secret = subscription_secret(MASTER, "sub-1", 0)
    now = datetime.now(UTC)
    body, headers = BODY, signed_headers(secret, "sub-1/e-1", BODY, now)
    if tamper == "body":
        body = BODY.replace(b"StateChange", b"Milestone")
    elif tamper == "id":
        headers["webhook-id"] = "sub-1/e-2"
    elif tamper == "timestamp":
        headers["webhook-timestamp"] = str(int(now.timestamp()) + 1)
    elif tamper == "other secret":  # another subscriber signs a fake event
        headers = signed_headers(subscription_secret(MASTER, "sub-2", 0), "sub-1/e-1", BODY)
    elif tamper == "rotated secret":  # the secret before a rotation
        headers = signed_headers(subscription_secret(MASTER, "sub-1", 1), "sub-1/e-1", BODY)
    elif tamper == "stale":  # a captured delivery replayed ten minutes later
        headers = signed_headers(secret, "sub-1/e-1", BODY, now - timedelta(minutes=10))
    elif tamper == "from the future":
        headers = signed_headers(secret, "sub-1/e-1", BODY, now + timedelta(minutes=10))
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, headers)


def test_no_master_secret_is_an_error_saying_what_to_set() -> None:
    with pytest.raises(MasterSecretMissing, match=MASTER_SECRET_ENV) as missing:
        Settings({}).require_master_secret()
    assert "no longer read" not in str(missing.value)
    # An operator still setting the old shared secret is told it is not used any more.
    with pytest.raises(MasterSecretMissing, match=r"PARTY_ORDERS_WEBHOOK_SECRET.*no longer"):
        Settings({"PARTY_ORDERS_WEBHOOK_SECRET": "the-old-shared-secret"}).require_master_secret()
    with pytest.raises(ValueError, match="at least 16"):
        Settings({MASTER_SECRET_ENV: "short"}).require_master_secret()
    assert Settings({MASTER_SECRET_ENV: MASTER}).require_master_secret() == MASTER


@pytest.mark.parametrize(
    "command", [["worker.py"], ["-m", "starter", "worker"]], ids=["worker.py", "party-orders"]
)
def test_the_worker_refuses_to_start_without_a_master_secret(command: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARTY_ORDERS_")}
    # Nothing listens there: a worker that went on would fail to connect, not say this.
    env["TEMPORAL_ADDRESS"] = "127.0.0.1:1"
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert MASTER_SECRET_ENV in done.stderr
    assert "Traceback" not in done.stderr


def test_up_makes_a_local_master_secret_once_and_keeps_it(tmp_path: Path) -> None:
    made = local_master_secret(tmp_path / "data")
    path = tmp_path / "data" / MASTER_SECRET_FILE
    assert path.read_text(encoding="utf-8").strip() == made
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # owner only
    # up passes it on in the settings it derives, never through the environment.
    given = Settings({})
    settings = given.with_defaults({MASTER_SECRET_ENV: made})
    assert settings.require_master_secret() == made and given.master_secret() is None
    # The next `up` uses the same one: the subscribers' secrets survive a restart.
    assert local_master_secret(tmp_path / "data") == made
    # A secret the operator set wins.
    mine = Settings({MASTER_SECRET_ENV: MASTER}).with_defaults({MASTER_SECRET_ENV: made})
    assert mine.require_master_secret() == MASTER
