"""Email to parties, through a real SMTP server (aiosmtpd, in-process).

The channel alone: text and HTML parts, a Message-ID derived from the idempotency key
(the same on a retry), retryable and non-retryable failures, no password in any error.
Then the whole way on the dev server: a check-in to a party with a contact email and no
webhook arrives as a mail whose link opens the check-in form on the running API.
"""

from __future__ import annotations

import asyncio
import re
import signal
import stat
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.channels import ChannelRouter, OutboxChannel
from activities.failures import DELIVERY_FAILED, REJECTED
from activities.mail import EmailChannel, message_id
from activities.notifications import channel_label
from activities.outbound import AllowList
from activities.portal import PortalSettings, with_portal_link
from activities.settings import NotificationSettings, SmtpSettings
from settings import SMTP_FROM_ENV, SMTP_URL_ENV, Settings
from starter.local.mailsink import MailSink
from starter.samples import example_order
from tests.conftest import TEST_ALLOW, unique
from tests.live_portal import PORTAL_SECRET, eventually, live_stack
from tests.processes import free_port, start_up_demo
from tests.test_channels import note

PASSWORD = "pa55-w0rd-never-logged"


def parts_of(message: EmailMessage) -> dict[str, Any]:
    """The text and HTML bodies of ``message``, by subtype."""
    found: dict[str, Any] = {}
    for part in message.walk():
        if part.get_content_maintype() == "text" and isinstance(part, EmailMessage):
            found.setdefault(part.get_content_subtype(), part.get_content())
    return found


def to_party(**overrides: Any) -> Any:
    notification = note(body={"answerBy": "2026-12-03T09:30:00Z", "checkInNumber": 1})
    return notification.model_copy(update={"contact_email": "orders@acme.example", **overrides})


@pytest.fixture
async def sink(tmp_path: Path) -> AsyncIterator[MailSink]:
    async with MailSink(tmp_path / "mail") as running:
        yield running


def smtp_to(sink: MailSink, **options: Any) -> SmtpSettings:
    return SmtpSettings(host=sink.host, port=sink.port, **options)


async def test_a_check_in_mail_has_text_and_html_parts_and_the_link(sink: MailSink) -> None:
    portal = PortalSettings(secret=PORTAL_SECRET, base_url="https://orders.example")
    notification = with_portal_link(to_party(), portal)
    link = notification.body["portalUrl"]
    channel = EmailChannel(smtp_to(sink, sender="tracking@orders.example"), allow=TEST_ALLOW)
    await channel.deliver(notification)
    (mail,) = sink.received
    assert mail["To"] == "orders@acme.example"
    assert mail["From"] == "tracking@orders.example"
    assert mail["Subject"] == notification.subject
    assert mail["Message-ID"] == message_id(notification.idempotency_key, "x@orders.example")
    assert re.fullmatch(r"<[0-9a-f]{32}@orders\.example>", mail["Message-ID"])
    assert mail["Idempotency-Key"] == notification.idempotency_key
    assert mail["X-Party-Orders-Event"] == "checkIn"
    assert mail.get_content_type() == "multipart/alternative"
    parts = parts_of(mail)
    assert set(parts) == {"plain", "html"}
    assert link in parts["plain"]
    assert "2026-12-03T09:30:00Z" in parts["plain"]
    # In HTML the link is an attribute, its & escaped as HTML requires.
    assert f'href="{link.replace("&", "&amp;")}"' in parts["html"]
    assert '<html lang="en">' in parts["html"]
    # The sink keeps each mail as a file too (what up --demo shows the user).
    (saved,) = sink.files()
    assert "orders@acme.example" in saved.name
    assert link.encode() in saved.read_bytes()

    # A retry sends the same Message-ID: recognisably the same mail.
    await channel.deliver(notification)
    assert [m["Message-ID"] for m in sink.received] == [mail["Message-ID"]] * 2


async def test_html_part_escapes_what_the_order_says(sink: MailSink) -> None:
    notification = to_party(subject="<b>PO-1</b>", body={"reason": "<script>x</script>"})
    await EmailChannel(smtp_to(sink), allow=TEST_ALLOW).deliver(notification)
    html = parts_of(sink.received[0])["html"]
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<b>PO-1</b>" not in html


@pytest.mark.parametrize(
    "address", ["not an email", "@@", "orders@acme.example\r\nBcc: all@corp.example"]
)
async def test_a_malformed_address_is_rejected_not_retried(sink: MailSink, address: str) -> None:
    with pytest.raises(ApplicationError) as caught:
        await EmailChannel(smtp_to(sink), allow=TEST_ALLOW).deliver(to_party(contact_email=address))
    assert caught.value.type == REJECTED and caught.value.non_retryable
    assert "contactEmail is not a mail address" in str(caught.value)
    assert address not in str(caught.value)
    assert sink.received == []


async def test_a_relay_at_an_internal_address_is_refused_unless_listed(sink: MailSink) -> None:
    for allow in (None, AllowList.parse(f"127.0.0.1:{sink.port + 1}")):
        with pytest.raises(ApplicationError, match="loopback") as caught:
            await EmailChannel(smtp_to(sink), allow=allow).deliver(to_party())
        assert caught.value.type == REJECTED and caught.value.non_retryable
    assert sink.received == []  # nothing was sent to it
    allow = AllowList.parse(f"127.0.0.1:{sink.port}")
    await EmailChannel(smtp_to(sink), allow=allow).deliver(to_party())
    assert len(sink.received) == 1


async def test_a_refused_connection_is_retryable() -> None:
    channel = EmailChannel(
        SmtpSettings(host="127.0.0.1", port=1, password=PASSWORD), allow=TEST_ALLOW
    )
    with pytest.raises(ApplicationError) as caught:
        await channel.deliver(to_party())
    assert caught.value.type == DELIVERY_FAILED
    assert not caught.value.non_retryable
    assert "smtp://127.0.0.1:1" in str(caught.value)


class Refusing:
    """An SMTP handler that refuses recipients with a given reply, or any login."""

    def __init__(self, reply: str) -> None:
        self.reply = reply

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        return self.reply


async def serve(handler: Any, **options: Any) -> tuple[Any, int]:
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(handler, **options), "127.0.0.1", 0
    )
    return server, server.sockets[0].getsockname()[1]


@pytest.mark.parametrize(
    ("reply", "kind", "final"),
    [
        ("550 5.1.1 no such mailbox", REJECTED, True),
        ("451 4.3.0 try later", DELIVERY_FAILED, False),
    ],
)
async def test_a_refused_recipient_is_rejected_or_retried(
    reply: str, kind: str, final: bool
) -> None:
    server, port = await serve(Refusing(reply))
    try:
        with pytest.raises(ApplicationError) as caught:
            await EmailChannel(SmtpSettings(host="127.0.0.1", port=port), allow=TEST_ALLOW).deliver(
                to_party()
            )
    finally:
        server.close()
    assert caught.value.type == kind
    assert caught.value.non_retryable is final
    assert reply.split()[0] in str(caught.value)


async def test_a_failed_login_is_retried_and_names_no_password() -> None:
    def refuse(*_: Any) -> AuthResult:
        return AuthResult(success=False, handled=False)

    server, port = await serve(Refusing("250 OK"), authenticator=refuse, auth_require_tls=False)
    settings = SmtpSettings.from_url(f"smtp://mailer:{PASSWORD}@127.0.0.1:{port}")
    try:
        with pytest.raises(ApplicationError) as caught:
            await EmailChannel(settings, allow=TEST_ALLOW).deliver(to_party())
    finally:
        server.close()
    assert caught.value.type == DELIVERY_FAILED and not caught.value.non_retryable
    assert "login" in str(caught.value)
    assert PASSWORD not in str(caught.value)
    assert PASSWORD not in repr(settings) and PASSWORD not in repr(EmailChannel(settings))


def test_smtp_settings_from_the_url() -> None:
    plain = SmtpSettings.from_url("smtp://mail.example:2525")
    assert (plain.host, plain.port, plain.start_tls, plain.use_tls) == (
        "mail.example",
        2525,
        False,
        False,
    )
    assert plain.username is None and plain.password is None
    tls = SmtpSettings.from_url("smtp+starttls://user%40corp:p%3Ass@mail.example")
    assert (tls.port, tls.start_tls, tls.username, tls.password) == (
        587,
        True,
        "user@corp",
        "p:ss",
    )
    assert tls.shown == "smtp+starttls://mail.example:587"
    assert SmtpSettings.from_url("smtps://mail.example").port == 465
    env = {SMTP_URL_ENV: "smtp://127.0.0.1:25", SMTP_FROM_ENV: "noreply@orders.example"}
    from_env = Settings.from_env(env).notifications().smtp
    assert from_env is not None and from_env.sender == "noreply@orders.example"
    assert Settings.from_env({}).notifications().smtp is None
    for bad, says in (
        ("http://mail.example", "must start with smtp://"),
        ("smtp://", "names no host"),
        ("smtp://mail.example:99999", "not a valid URL"),
    ):
        with pytest.raises(ValueError, match=says):
            SmtpSettings.from_url(bad)
    # A bad URL's error names the problem, never the password in it.
    for bad in ("gopher://u:secret-pass@mail.example", "smtp://u:secret-pass@mail.example:x"):
        with pytest.raises(ValueError) as caught:
            SmtpSettings.from_url(bad)
        assert "secret-pass" not in str(caught.value)


def test_the_router_mails_parties_without_a_webhook(tmp_path: Path) -> None:
    smtp = SmtpSettings(host="127.0.0.1", port=25)
    with_mail = ChannelRouter(NotificationSettings(outbox_path=tmp_path / "o.jsonl", smtp=smtp))
    without = ChannelRouter(NotificationSettings(outbox_path=tmp_path / "o.jsonl"))
    mailed = with_mail.channel_for(to_party())
    assert isinstance(mailed, EmailChannel) and channel_label(mailed) == "email"
    hooked = with_mail.channel_for(to_party(webhook_url="https://acme.example/hook"))
    assert channel_label(hooked) == "webhook"  # the webhook wins over the mailbox
    no_address = with_mail.channel_for(to_party(contact_email=None))
    assert isinstance(no_address, OutboxChannel)
    contact = note(kind="escalation", recipient_kind="contact", recipient="order-manager")
    assert isinstance(with_mail.channel_for(contact), OutboxChannel)
    assert isinstance(without.channel_for(to_party()), OutboxChannel)  # no SMTP configured


async def test_the_party_gets_the_check_in_by_mail_with_a_working_link(
    dev_client: Client, tmp_path: Path, sink: MailSink
) -> None:
    async with live_stack(dev_client, tmp_path, smtp=smtp_to(sink)) as stack:
        order = example_order(unique(), datetime.now(UTC))
        assert order["party"]["contactEmail"] and order["party"]["webhookUrl"] is None
        await stack.orders.start(order)
        await stack.orders.check_in_now(order["id"], {"requestedBy": "mail test"})

        async def check_in_mail() -> Any:
            return next((m for m in sink.received if m["X-Party-Orders-Event"] == "checkIn"), None)

        mail = await eventually(check_in_mail, what="the check-in mail")
        assert mail["To"] == order["party"]["contactEmail"]
        key = mail["Idempotency-Key"]
        assert key.startswith(f"{order['id']}/") and "checkIn" in key
        assert mail["Message-ID"] == message_id(key, "party-orders@localhost")
        parts = parts_of(mail)
        assert set(parts) == {"plain", "html"}
        (link,) = re.findall(r"http://\S+/checkIn\?token=\S+", parts["plain"])
        assert link.startswith(f"{stack.base_url}/portal/partyOrder/{order['id']}/checkIn")
        assert f'href="{link.replace("&", "&amp;")}"' in parts["html"]
        # Mailed, so not in the outbox; the outbox keeps everything else.
        assert stack.check_in_notices(order["id"]) == []

        async with httpx.AsyncClient() as http:
            page = await http.get(link)
        assert page.status_code == 200, page.text
        assert page.headers["content-type"].startswith("text/html")
        assert f"Report progress on order {order['id']}" in page.text
        assert 'name="percentComplete"' in page.text


async def test_up_demo_keeps_each_mail_and_its_link_opens_the_page(tmp_path: Path) -> None:
    """``party-orders up --demo`` as a user runs it: mails land in ``data/mail/``, up says
    where, and the link in a check-in mail opens the form on up's own API."""
    api_port = free_port()
    data = tmp_path / "data"
    log = tmp_path / "up.log"
    up = start_up_demo(data, log, unique("up-mail"), api_port)
    try:

        async def process_key() -> str | None:
            assert up.poll() is None, log.read_text()
            keys = [
                line.split()[-1]
                for line in log.read_text().splitlines()
                if line.startswith("API key") and "process:" in line
            ]
            return keys[0] if keys else None

        key = await eventually(process_key, timeout=90, what="up's process key")
        assert f"Mail (demo)       each mail to a party is a file in {data / 'mail'}" in (
            log.read_text()
        )
        assert stat.S_IMODE((data / "portal-secret").stat().st_mode) == 0o600
        order = example_order(unique(), datetime.now(UTC))
        base = f"http://127.0.0.1:{api_port}/tmf-api/partyOrderTracking/v1"
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=base, timeout=10, headers=headers) as http:

            async def serving() -> bool:
                try:
                    return (await http.get("/openapi.json")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(serving, timeout=30, what="up's API answering")
            assert (await http.post("/partyOrder", json=order)).status_code == 201
            assert (await http.post(f"/partyOrder/{order['id']}/checkIn")).status_code == 202

            async def mailed_link() -> str | None:
                for path in sorted((data / "mail").glob("*.eml")):
                    text = path.read_text("utf-8")
                    if f"Subject: Progress check-in on order {order['id']}" in text:
                        return re.findall(r"http://[^\s<\"]+/checkIn\?token=[^\s<\"]+", text)[0]
                return None

            link = await eventually(mailed_link, timeout=30, what="the check-in mail file")
            assert link.startswith(f"http://127.0.0.1:{api_port}/portal/partyOrder/{order['id']}/")
            page = await http.get(link)
        assert page.status_code == 200, page.text
        assert f"Report progress on order {order['id']}" in page.text
    finally:
        up.send_signal(signal.SIGINT)
        code = await asyncio.to_thread(up.wait, 60)
    assert code == 0, log.read_text()
