"""The notify_* activities run through Temporal's ActivityEnvironment, on real channels.

``inform_close_process`` needs a Temporal server (signal-with-start); it is covered by the
workflow tests, not here.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import NotificationSettings, PartyOrderActivities
from activities.failures import REJECTED
from activities.signing import webhook_secret
from tests.conftest import TEST_ALLOW
from workflows.domain.effects import Notification, RecipientKind

SECRET = "activity-test-secret-never-logged"  # the master secret
BODY_MARKER = "confidential-body-text"


def note(
    key: str,
    recipient_kind: RecipientKind = "party",
    *,
    recipient: str = "ACME",
    kind: str = "checkIn",
    webhook_url: str | None = None,
) -> Notification:
    return Notification(
        idempotency_key=key,
        order_id="PO-7",
        recipient_kind=recipient_kind,
        recipient=recipient,
        kind=kind,
        subject=f"{kind} for PO-7",
        occurred_at=datetime(2026, 12, 1, tzinfo=UTC),
        webhook_url=webhook_url,
        body={"text": BODY_MARKER},
    )


def outbox_keys(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [json.loads(line)["idempotencyKey"] for line in path.read_text("utf-8").splitlines()]


class Hook:
    """A local webhook receiver: records requests, answers with ``status``."""

    def __init__(self) -> None:
        self.status = 200
        self.requests: list[tuple[dict[str, str], bytes]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                hook.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(hook.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def env() -> ActivityEnvironment:
    return ActivityEnvironment()


async def test_notify_party_writes_the_outbox_once(
    tmp_path: Path, env: ActivityEnvironment
) -> None:
    outbox = tmp_path / "outbox.jsonl"
    acts = PartyOrderActivities(NotificationSettings(outbox_path=outbox))

    await env.run(acts.notifications.notify_party, note("PO-7/checkIn-1"))
    await env.run(acts.notifications.notify_party, note("PO-7/checkIn-1"))  # an activity retry
    await env.run(acts.notifications.notify_party, note("PO-7/checkIn-2"))

    assert outbox_keys(outbox) == ["PO-7/checkIn-1", "PO-7/checkIn-2"]


async def test_notify_contact_and_process_default_to_the_outbox(
    tmp_path: Path, env: ActivityEnvironment
) -> None:
    outbox = tmp_path / "outbox.jsonl"
    acts = PartyOrderActivities(NotificationSettings(outbox_path=outbox))

    await env.run(
        acts.notifications.notify_contact, note("PO-7/esc-1", "contact", recipient="order-manager")
    )
    await env.run(
        acts.notifications.notify_originating_process,
        note("PO-7/cr-1", "originatingProcess", recipient="service-order-handling"),
    )

    lines = [json.loads(line) for line in outbox.read_text("utf-8").splitlines()]
    assert [(line["recipientKind"], line["recipient"]) for line in lines] == [
        ("contact", "order-manager"),
        ("originatingProcess", "service-order-handling"),
    ]


async def test_notify_originating_process_posts_signed_webhook(
    tmp_path: Path, env: ActivityEnvironment, hook: Hook
) -> None:
    outbox = tmp_path / "outbox.jsonl"
    settings = NotificationSettings(
        outbox_path=outbox,
        master_secret=SECRET,
        callback_allow=TEST_ALLOW,
        process_webhook_url=hook.url,
    )
    acts = PartyOrderActivities(settings)
    try:
        await env.run(
            acts.notifications.notify_originating_process,
            note("PO-7/cr-1", "originatingProcess", kind="changeRequest"),
        )
        # The party has no webhook: its notification still goes to the outbox.
        await env.run(
            acts.notifications.notify_party, note("PO-7/changeResolved-1", kind="changeResolved")
        )
    finally:
        await acts.aclose()

    [(headers, body)] = hook.requests
    assert headers["idempotency-key"] == "PO-7/cr-1"
    assert headers["x-party-orders-event"] == "changeRequest"
    # The receiver verifies with the standardwebhooks package and its own secret.
    Webhook(webhook_secret(SECRET, hook.url)).verify(body, headers)
    assert json.loads(body)["recipientKind"] == "originatingProcess"
    assert outbox_keys(outbox) == ["PO-7/changeResolved-1"]


async def test_notify_party_uses_the_party_webhook(
    tmp_path: Path, env: ActivityEnvironment, hook: Hook
) -> None:
    acts = PartyOrderActivities(
        NotificationSettings(
            outbox_path=tmp_path / "outbox.jsonl", master_secret=SECRET, callback_allow=TEST_ALLOW
        )
    )
    try:
        await env.run(acts.notifications.notify_party, note("PO-7/checkIn-1", webhook_url=hook.url))
    finally:
        await acts.aclose()
    [(headers, _)] = hook.requests
    assert headers["idempotency-key"] == "PO-7/checkIn-1"
    assert "x-party-orders-signature" not in headers  # no secret configured
    assert not (tmp_path / "outbox.jsonl").exists()


async def test_rejected_webhook_fails_the_activity_for_good(
    tmp_path: Path, env: ActivityEnvironment, hook: Hook
) -> None:
    hook.status = 400
    settings = NotificationSettings(
        outbox_path=tmp_path / "outbox.jsonl",
        master_secret=SECRET,
        callback_allow=TEST_ALLOW,
        contact_webhook_url=hook.url,
    )
    acts = PartyOrderActivities(settings)
    try:
        with pytest.raises(ApplicationError) as info:
            await env.run(acts.notifications.notify_contact, note("PO-7/esc-1", "contact"))
    finally:
        await acts.aclose()
    assert info.value.type == REJECTED
    assert info.value.non_retryable
    assert SECRET not in str(info.value)


async def test_activities_log_kind_recipient_and_key_but_no_secret_or_body(
    tmp_path: Path, env: ActivityEnvironment, hook: Hook, caplog: pytest.LogCaptureFixture
) -> None:
    settings = NotificationSettings(
        outbox_path=tmp_path / "outbox.jsonl",
        master_secret=SECRET,
        callback_allow=TEST_ALLOW,
        contact_webhook_url=hook.url,
    )
    acts = PartyOrderActivities(settings)
    caplog.set_level(logging.DEBUG)
    try:
        await env.run(
            acts.notifications.notify_contact,
            note("PO-7/esc-9", "contact", recipient="executive-sponsor", kind="escalation"),
        )
        await env.run(acts.notifications.notify_party, note("PO-7/checkIn-9"))
    finally:
        await acts.aclose()
    text = caplog.text
    assert "escalation" in text
    assert "executive-sponsor" in text
    assert "PO-7/esc-9" in text
    assert "PO-7/checkIn-9" in text
    assert SECRET not in text
    assert BODY_MARKER not in text
    assert SECRET not in repr(acts.settings)


def test_all_lists_the_activities_by_their_contract_names() -> None:
    acts = PartyOrderActivities(NotificationSettings())
    names = set()
    for fn in acts.all():
        definition = activity._Definition.from_callable(fn)
        assert definition is not None
        names.add(definition.name)
    assert names == {
        "notify_party",
        "notify_originating_process",
        "notify_contact",
        "inform_close_process",
        "list_orders_in_jeopardy",
        "resolve_holidays",
    }
