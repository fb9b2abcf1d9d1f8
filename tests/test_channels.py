"""Notification channels against real parts: files on disk and a local HTTP server.

No mocks: the outbox writes real files (also from several processes at once) and the
webhook channel talks HTTP to a stdlib server on 127.0.0.1 that behaves like a receiver
would: it checks the signature, dedupes by ``Idempotency-Key``, fails when told to.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from temporalio.exceptions import ApplicationError

from activities.channels import (
    ChannelRouter,
    NotificationChannel,
    OutboxChannel,
    WebhookChannel,
    encode_body,
)
from activities.failures import DELIVERY_FAILED, REJECTED
from activities.settings import NotificationSettings
from activities.signing import signed_headers, webhook_secret
from settings import Settings
from tests.conftest import TEST_ALLOW
from workflows.domain.effects import Notification, RecipientKind

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MASTER = "m4st3r-secret-do-not-leak"
SECRET = "whsec_" + base64.b64encode(b"s3cr3t-hmac-key-do-not-leak").decode("ascii")


def verifies(request: Request, secret: str = SECRET) -> bool:
    """What a receiver does: the ``standardwebhooks`` package checks the delivery."""
    try:
        Webhook(secret).verify(request.body, request.headers)
    except WebhookVerificationError:
        return False
    return True


def note(
    key: str = "PO-1/checkIn-1",
    *,
    kind: str = "checkIn",
    recipient_kind: RecipientKind = "party",
    recipient: str = "ACME",
    webhook_url: str | None = None,
    body: dict[str, Any] | None = None,
) -> Notification:
    return Notification(
        idempotency_key=key,
        order_id="PO-1",
        recipient_kind=recipient_kind,
        recipient=recipient,
        kind=kind,
        subject=f"{kind} for PO-1",
        occurred_at=datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
        webhook_url=webhook_url,
        body=body if body is not None else {"text": "How is order PO-1 going? ünïcode"},
    )


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]


# ---------------------------------------------------------------- a real receiver


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook receiver as a real one would be written: verify, dedupe, then accept.

    ``fail_first``: answer the first N requests with ``fail_status`` without accepting.
    ``lose_first``: accept the first N new keys but answer 500, as if the reply was lost.
    """

    secret: str | None = SECRET
    status: int = 200
    fail_first: int = 0
    fail_status: int = 503
    lose_first: int = 0
    delay: float = 0.0
    response_body: bytes = b""
    response_headers: dict[str, str] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    accepted: dict[str, list[bytes]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, request: Request) -> int:
        with self.lock:
            self.requests.append(request)
            if self.fail_first > 0:
                self.fail_first -= 1
                return self.fail_status
            if self.status != 200:
                return self.status
            if self.secret is not None and not verifies(request, self.secret):
                return 401
            key = request.headers["idempotency-key"]
            if key in self.accepted:
                return 200  # a retry of something already accepted: acknowledge, do nothing
            self.accepted[key] = [request.body]
            if self.lose_first > 0:
                self.lose_first -= 1
                return 500
            return 200


@dataclass
class Server:
    receiver: Receiver
    url: str


@pytest.fixture
def server() -> Iterator[Server]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            if receiver.delay:
                time.sleep(receiver.delay)
            status = receiver.handle(Request(self.path, headers, body))
            try:
                self.send_response(status)
                for name, value in receiver.response_headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(receiver.response_body)))
                self.end_headers()
                self.wfile.write(receiver.response_body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the sender gave up waiting (timeout test)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield Server(receiver, f"http://127.0.0.1:{httpd.server_address[1]}/hooks/party")
    finally:
        httpd.shutdown()
        httpd.server_close()


async def deliver_with_retries(
    channel: NotificationChannel, notification: Notification, attempts: int = 10
) -> int:
    """Retry like Temporal would: again on retryable errors, stop on non-retryable ones."""
    for attempt in range(1, attempts + 1):
        try:
            await channel.deliver(notification)
            return attempt
        except ApplicationError as err:
            if err.non_retryable or attempt == attempts:
                raise
            await asyncio.sleep(0.01)
    raise AssertionError("unreachable")


# ---------------------------------------------------------------- outbox


async def test_outbox_appends_one_line_per_notification(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "outbox.jsonl"  # parent folders are created
    outbox = OutboxChannel(path)
    first, second = note("PO-1/a"), note("PO-1/b", kind="escalation")

    await outbox.deliver(first)
    await outbox.deliver(second)

    lines = read_lines(path)
    assert [line["idempotencyKey"] for line in lines] == ["PO-1/a", "PO-1/b"]
    for line, sent in zip(lines, (first, second), strict=True):
        delivered_at = line.pop("deliveredAt")
        assert line == sent.to_json_dict()
        assert delivered_at.endswith("Z")
        parsed = datetime.fromisoformat(delivered_at)
        assert parsed.utcoffset() == timedelta(0)
        assert abs(datetime.now(UTC) - parsed) < timedelta(minutes=1)
    assert lines[0]["body"]["text"].endswith("ünïcode")
    assert path.read_bytes().endswith(b"\n")


async def test_outbox_skips_a_repeated_key(tmp_path: Path) -> None:
    path = tmp_path / "outbox.jsonl"
    outbox = OutboxChannel(path)
    for _ in range(3):
        await outbox.deliver(note("PO-1/a"))
    assert len(read_lines(path)) == 1
    assert outbox.contains("PO-1/a")


async def test_outbox_skips_keys_written_by_another_instance(tmp_path: Path) -> None:
    """Two workers on one machine share the file: neither writes a key the other wrote."""
    path = tmp_path / "outbox.jsonl"
    worker_a, worker_b = OutboxChannel(path), OutboxChannel(path)

    await worker_a.deliver(note("PO-1/a"))
    await worker_b.deliver(note("PO-1/a"))  # b's first use reads the file
    await worker_b.deliver(note("PO-1/b"))
    await worker_a.deliver(note("PO-1/b"))  # a already read the file: catches up under lock
    await worker_a.deliver(note("PO-1/c"))

    assert [line["idempotencyKey"] for line in read_lines(path)] == ["PO-1/a", "PO-1/b", "PO-1/c"]
    # A fresh instance (a restarted worker) loads the keys from the file.
    restarted = OutboxChannel(path)
    await restarted.deliver(note("PO-1/c"))
    assert len(read_lines(path)) == 3


async def test_outbox_survives_concurrent_delivery(tmp_path: Path) -> None:
    path = tmp_path / "outbox.jsonl"
    channels = [OutboxChannel(path) for _ in range(3)]
    keys = [f"PO-1/k{i}" for i in range(40)]
    # Every channel delivers every key, twice, all at once.
    await asyncio.gather(
        *(channel.deliver(note(key)) for key in keys for channel in channels for _ in range(2))
    )
    lines = read_lines(path)  # every line is whole JSON
    assert sorted(line["idempotencyKey"] for line in lines) == sorted(keys)


_CHILD = """
import asyncio, sys, time
from datetime import UTC, datetime
from pathlib import Path
from activities.channels import OutboxChannel
from workflows.domain.effects import Notification

async def main() -> None:
    outbox = OutboxChannel(sys.argv[1])
    # Start together, so the writers really contend for the file.
    Path(sys.argv[4], "ready-" + sys.argv[3]).touch()
    while not Path(sys.argv[4], "go").exists():
        time.sleep(0.001)
    for i in range(int(sys.argv[2])):
        await outbox.deliver(Notification(
            idempotency_key=f"PO-1/k{i}", order_id="PO-1", recipient_kind="party",
            recipient="ACME", kind="checkIn", subject="s",
            occurred_at=datetime.now(UTC), body={"pid": sys.argv[3]}))

asyncio.run(main())
"""


def test_outbox_in_several_processes_writes_each_key_once(tmp_path: Path) -> None:
    path = tmp_path / "outbox.jsonl"
    gate = tmp_path / "gate"
    gate.mkdir()
    count, workers = 80, 6
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(path), str(count), str(n), str(gate)],
            cwd=PROJECT_ROOT,
        )
        for n in range(workers)
    ]
    deadline = time.monotonic() + 60
    while len(list(gate.glob("ready-*"))) < workers:
        assert time.monotonic() < deadline, "worker processes did not start"
        assert all(child.poll() is None for child in children), "a worker process died"
        time.sleep(0.01)
    (gate / "go").touch()
    for child in children:
        assert child.wait(timeout=60) == 0
    lines = read_lines(path)
    assert sorted(line["idempotencyKey"] for line in lines) == sorted(
        f"PO-1/k{i}" for i in range(count)
    )


async def test_outbox_closes_off_a_torn_last_line(tmp_path: Path) -> None:
    """A writer killed mid-append leaves half a line; the next line must not join it."""
    path = tmp_path / "outbox.jsonl"
    path.write_text(json.dumps({"idempotencyKey": "PO-1/old"}) + '\n{"idempotencyKey": "PO-1/to')

    outbox = OutboxChannel(path)
    await outbox.deliver(note("PO-1/old"))  # known from the file: skipped
    await outbox.deliver(note("PO-1/new"))

    raw = path.read_text("utf-8").splitlines()
    assert raw[1] == '{"idempotencyKey": "PO-1/to'
    assert json.loads(raw[2])["idempotencyKey"] == "PO-1/new"
    assert len(raw) == 3


async def test_outbox_write_failure_is_retryable(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    outbox = OutboxChannel(blocker / "outbox.jsonl")
    with pytest.raises(ApplicationError) as info:
        await outbox.deliver(note())
    assert info.value.type == DELIVERY_FAILED
    assert not info.value.non_retryable


# ---------------------------------------------------------------- webhook


async def failed_delivery(url: str, timeout: float = 5.0) -> ApplicationError:
    """What one delivery through a webhook channel to ``url`` raises (it must raise)."""
    channel = WebhookChannel(url, SECRET, timeout, allow=TEST_ALLOW)
    try:
        with pytest.raises(ApplicationError) as info:
            await channel.deliver(note())
    finally:
        await channel.aclose()
    return info.value


async def test_webhook_sends_signed_body_and_headers(server: Server) -> None:
    channel = WebhookChannel(server.url, SECRET, 5.0, allow=TEST_ALLOW)
    notification = note("PO-1/changeRequest-1", kind="changeRequest")
    try:
        await channel.deliver(notification)
    finally:
        await channel.aclose()

    [request] = server.receiver.requests
    assert request.path == "/hooks/party"
    assert request.body == encode_body(notification)
    assert json.loads(request.body) == notification.to_json_dict()
    assert request.headers["content-type"] == "application/json"
    assert request.headers["idempotency-key"] == "PO-1/changeRequest-1"
    assert request.headers["x-party-orders-event"] == "changeRequest"
    assert request.headers["webhook-id"] == "PO-1/changeRequest-1"
    assert request.headers["webhook-signature"].startswith("v1,")
    assert verifies(request)
    assert SECRET not in json.dumps(request.headers)
    # The signature covers the exact bytes, the id and the timestamp, under the exact secret.
    assert not verifies(replace(request, body=request.body.replace(b"PO-1", b"PO-2")))
    assert not verifies(replace(request, body=request.body + b" "))
    assert not verifies(request, "whsec_" + base64.b64encode(b"another receiver").decode())
    for header, value in (
        ("webhook-id", "PO-1/changeRequest-2"),
        ("webhook-timestamp", str(int(request.headers["webhook-timestamp"]) - 1)),
        ("webhook-signature", ""),
    ):
        assert not verifies(replace(request, headers={**request.headers, header: value}))
    assert server.receiver.accepted.keys() == {"PO-1/changeRequest-1"}


async def test_webhook_without_secret_sends_nothing(server: Server) -> None:
    server.receiver.secret = None
    channel = WebhookChannel(server.url, None, 5.0, allow=TEST_ALLOW)
    try:
        with pytest.raises(ApplicationError, match="nothing is sent unsigned") as info:
            await channel.deliver(note())
    finally:
        await channel.aclose()
    assert info.value.non_retryable
    assert server.receiver.requests == []


@pytest.mark.parametrize("status", [500, 502, 503, 408, 429])
async def test_webhook_transient_status_is_retryable(server: Server, status: int) -> None:
    server.receiver.status = status
    error = await failed_delivery(server.url)
    assert error.type == DELIVERY_FAILED
    assert not error.non_retryable
    assert str(status) in str(error)


async def test_webhook_honours_retry_after(server: Server) -> None:
    server.receiver.status = 429
    server.receiver.response_headers = {"Retry-After": "3"}
    error = await failed_delivery(server.url)
    assert error.next_retry_delay == timedelta(seconds=3)


@pytest.mark.parametrize("status", [400, 401, 404, 410, 422, 301])
async def test_webhook_refusal_is_not_retryable(server: Server, status: int) -> None:
    server.receiver.status = status
    error = await failed_delivery(server.url)
    assert error.type == REJECTED
    assert error.non_retryable
    assert len(server.receiver.requests) == 1


async def test_webhook_errors_never_contain_the_secret(server: Server) -> None:
    server.receiver.status = 400
    server.receiver.response_body = f"bad request; your secret is {SECRET}".encode()
    # A URL with a token in it: the token must not reach messages either.
    url = server.url + f"?token={SECRET}"
    channel = WebhookChannel(url, SECRET, 5.0, allow=TEST_ALLOW)
    try:
        with pytest.raises(ApplicationError) as info:
            await channel.deliver(note())
    finally:
        await channel.aclose()
    error = info.value
    assert SECRET not in str(error)
    assert SECRET not in repr(error)
    assert SECRET not in repr(channel)
    assert error.__cause__ is None
    assert "bad request" in str(error)
    # User info in the URL is refused before any call, and not repeated in the refusal.
    with_user = server.url.replace("http://", f"http://user:{SECRET}@")
    refused = await failed_delivery(with_user)
    assert refused.non_retryable and "user info" in str(refused)
    assert SECRET not in str(refused)
    assert len(server.receiver.requests) == 1


async def test_webhook_connection_refused_is_retryable() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    error = await failed_delivery(f"http://127.0.0.1:{port}/hook?token={SECRET}", timeout=2.0)
    assert error.type == DELIVERY_FAILED
    assert not error.non_retryable
    assert SECRET not in str(error)


async def test_webhook_timeout_is_retryable(server: Server) -> None:
    server.receiver.delay = 1.0
    error = await failed_delivery(server.url, timeout=0.2)
    assert error.type == DELIVERY_FAILED
    assert not error.non_retryable
    assert "timed out" in str(error)


async def test_flaky_receiver_accepts_each_key_exactly_once(server: Server) -> None:
    """At-least-once sending + a receiver that dedupes by key = each key handled once.

    The receiver first fails outright (503) three times, then accepts two keys but "loses"
    its replies (500 after accepting), so the sender resends what was already accepted.
    """
    receiver = server.receiver
    receiver.fail_first = 3
    receiver.lose_first = 2
    channel = WebhookChannel(server.url, SECRET, 5.0, allow=TEST_ALLOW)
    keys = [f"PO-1/escalation-{i}" for i in range(5)]
    try:
        attempts = [await deliver_with_retries(channel, note(key)) for key in keys]
    finally:
        await channel.aclose()

    assert attempts[0] == 5  # 3 refusals, 1 lost reply, then the acknowledged resend
    assert attempts[1] == 2  # 1 lost reply, then the acknowledged resend
    assert attempts[2:] == [1, 1, 1]
    assert sorted(receiver.accepted) == sorted(keys)
    assert all(len(bodies) == 1 for bodies in receiver.accepted.values())
    sent_keys = [r.headers["idempotency-key"] for r in receiver.requests]
    assert len(sent_keys) == 10
    assert all(verifies(r) for r in receiver.requests)


# ---------------------------------------------------------------- settings


def test_settings_from_env_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({}).notifications()
    assert settings.outbox_path == tmp_path / ".party-orders" / "outbox.jsonl"
    assert settings.master_secret is None
    assert settings.process_webhook_url is None
    assert settings.contact_webhook_url is None
    assert settings.webhook_timeout_seconds == 10.0
    # Empty values count as unset.
    assert (
        Settings.from_env(
            {"PARTY_ORDERS_WEBHOOK_MASTER_SECRET": "", "PARTY_ORDERS_WEBHOOK_TIMEOUT": ""}
        ).notifications()
        == settings
    )


def test_settings_from_env_values(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "PARTY_ORDERS_OUTBOX": str(tmp_path / "o.jsonl"),
            "PARTY_ORDERS_WEBHOOK_MASTER_SECRET": MASTER,
            "PARTY_ORDERS_PROCESS_WEBHOOK_URL": "https://som.example/hooks/changes",
            "PARTY_ORDERS_CONTACT_WEBHOOK_URL": "http://127.0.0.1:9000/escalations",
            "PARTY_ORDERS_CALLBACK_ALLOW": "127.0.0.1:9000",
            "PARTY_ORDERS_WEBHOOK_TIMEOUT": "2.5",
        }
    ).notifications()
    assert settings.outbox_path == tmp_path / "o.jsonl"
    assert settings.master_secret == MASTER
    assert settings.process_webhook_url == "https://som.example/hooks/changes"
    assert settings.contact_webhook_url == "http://127.0.0.1:9000/escalations"
    assert settings.webhook_timeout_seconds == 2.5
    assert MASTER not in repr(settings)
    assert MASTER not in str(settings)


def test_settings_from_os_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PARTY_ORDERS_OUTBOX", str(tmp_path / "env.jsonl"))
    monkeypatch.setenv("PARTY_ORDERS_WEBHOOK_TIMEOUT", "7")
    settings = Settings.from_env().notifications()
    assert settings.outbox_path == tmp_path / "env.jsonl"
    assert settings.webhook_timeout_seconds == 7.0


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PARTY_ORDERS_WEBHOOK_TIMEOUT", "abc", "PARTY_ORDERS_WEBHOOK_TIMEOUT"),
        ("PARTY_ORDERS_WEBHOOK_TIMEOUT", "0", "positive"),
        ("PARTY_ORDERS_WEBHOOK_TIMEOUT", "-1", "positive"),
        ("PARTY_ORDERS_WEBHOOK_TIMEOUT", "nan", "positive"),
        ("PARTY_ORDERS_WEBHOOK_TIMEOUT", "inf", "positive"),
        ("PARTY_ORDERS_PROCESS_WEBHOOK_URL", "ftp://x.example/", "PARTY_ORDERS_PROCESS"),
        ("PARTY_ORDERS_CONTACT_WEBHOOK_URL", "not a url", "PARTY_ORDERS_CONTACT"),
        ("PARTY_ORDERS_CONTACT_WEBHOOK_URL", "http://h:99999/", "PARTY_ORDERS_CONTACT"),
        ("PARTY_ORDERS_CONTACT_WEBHOOK_URL", "http://10.1.2.3/", "private address"),
        ("PARTY_ORDERS_PROCESS_WEBHOOK_URL", "http://127.1:8080/", "loopback address"),
        ("PARTY_ORDERS_WEBHOOK_MASTER_SECRET", "short", "at least 16"),
        ("PARTY_ORDERS_CALLBACK_ALLOW", "10.0.0.0/99", "PARTY_ORDERS_CALLBACK_ALLOW"),
    ],
)
def test_settings_reject_bad_values(name: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings.from_env({name: value}).notifications()


def test_settings_url_errors_hide_credentials() -> None:
    with pytest.raises(ValueError) as info:
        Settings.from_env(
            {"PARTY_ORDERS_PROCESS_WEBHOOK_URL": f"ftp://u:{SECRET}@h.example/?t={SECRET}"}
        ).notifications()
    assert SECRET not in str(info.value)


# ---------------------------------------------------------------- routing


def test_the_router_routes_by_recipient(tmp_path: Path) -> None:
    plain = ChannelRouter(NotificationSettings(outbox_path=tmp_path / "outbox.jsonl"))
    wired = ChannelRouter(
        NotificationSettings(
            outbox_path=tmp_path / "outbox.jsonl",
            master_secret=MASTER,
            process_webhook_url="http://127.0.0.1:1/process",
            contact_webhook_url="http://127.0.0.1:1/contact",
            webhook_timeout_seconds=3.0,
        )
    )
    party_hook = note(webhook_url="https://acme.example/hook")
    party_plain = note()
    process = note(recipient_kind="originatingProcess", recipient="service-order-handling")
    contact = note(recipient_kind="contact", recipient="order-manager")

    for router in (plain, wired):
        hook = router.channel_for(party_hook)
        assert isinstance(hook, WebhookChannel)
        assert hook.url == "https://acme.example/hook"
        assert isinstance(router.channel_for(party_plain), OutboxChannel)
        assert router.channel_for(party_hook) is hook  # one channel per webhook

    for notification in (process, contact):
        assert isinstance(plain.channel_for(notification), OutboxChannel)
    process_channel = wired.channel_for(process)
    contact_channel = wired.channel_for(contact)
    assert isinstance(process_channel, WebhookChannel)
    assert process_channel.url == "http://127.0.0.1:1/process"
    assert isinstance(contact_channel, WebhookChannel)
    assert contact_channel.url == "http://127.0.0.1:1/contact"
    # One outbox per router, whoever it is for.
    assert plain.channel_for(party_plain) is plain.channel_for(process)
    assert isinstance(plain.channel_for(party_plain), NotificationChannel)


async def test_each_configured_target_signs_with_its_own_secret(tmp_path: Path) -> None:
    receivers = [Receiver(secret=None), Receiver(secret=None)]
    servers = [await _serve(receiver) for receiver in receivers]
    try:
        settings = NotificationSettings(
            outbox_path=tmp_path / "outbox.jsonl",
            master_secret=MASTER,
            callback_allow=TEST_ALLOW,
            process_webhook_url=servers[0][1] + "/process",
            contact_webhook_url=servers[1][1] + "/contact",
        )
        router = ChannelRouter(settings)
        process = note(recipient_kind="originatingProcess", recipient="service-order-handling")
        contact = note(recipient_kind="contact", recipient="order-manager")
        try:
            await router.channel_for(process).deliver(process)
            await router.channel_for(contact).deliver(contact)
        finally:
            await router.aclose()
    finally:
        for httpd, _ in servers:
            httpd.shutdown()
            httpd.server_close()
    [to_process], [to_contact] = receivers[0].requests, receivers[1].requests
    process_secret = webhook_secret(MASTER, settings.process_webhook_url or "")
    contact_secret = webhook_secret(MASTER, settings.contact_webhook_url or "")
    assert process_secret.startswith("whsec_") and process_secret != contact_secret
    assert verifies(to_process, process_secret) and verifies(to_contact, contact_secret)
    # One receiver's secret cannot sign for the other: a forgery is refused.
    forged = signed_headers(process_secret, "PO-1/forged", to_contact.body)
    assert not verifies(
        replace(to_contact, headers={**to_contact.headers, **forged}), contact_secret
    )


async def _serve(receiver: Receiver) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            self.send_response(receiver.handle(Request(self.path, headers, body)))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    ).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


def test_router_prefers_injected_channels(tmp_path: Path) -> None:
    class Recorder:
        async def deliver(self, notification: Notification) -> None:
            pass

    outbox, process = Recorder(), Recorder()
    router = ChannelRouter(
        NotificationSettings(process_webhook_url="http://127.0.0.1:1/p"),
        outbox=outbox,
        process=process,
    )
    assert router.channel_for(note()) is outbox
    assert router.channel_for(note(recipient_kind="originatingProcess")) is process
    assert router.channel_for(note(recipient_kind="contact")) is outbox
