"""Outbound safety: no URL the tracker calls can be aimed at an internal address.

The table holds every bypass the security review found (issue 23) and the other forms of
the same addresses; each is refused when given, naming the rule. The allow list lets a
listed host:port through, and nothing else. At call time the transport refuses what a
name resolves to, and the address actually connected to, against a real local listener.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpcore
import httpx
import pytest

from activities.outbound import (
    ALLOW_ENV,
    AllowList,
    GuardedBackend,
    OutboundRefused,
    check_url,
    guarded_client,
    parse_address,
)
from settings import CALLBACK_ALLOW_ENV, Settings

NOTHING_ALLOWED = AllowList()

# (the URL as a subscriber would give it, words the refusal must contain)
REFUSED: list[tuple[str, str]] = [
    # The review's bypasses of "not this API": each is 127.0.0.1.
    ("http://127.1:8080/api/v1/namespaces/default/workflows/x/terminate", "loopback"),
    ("http://2130706433:8080/", "loopback"),
    ("http://0x7f000001:8080/", "loopback"),
    ("http://0177.0.0.1:8080/", "loopback"),
    ("http://[::ffff:127.0.0.1]:8080/", "loopback"),
    ("http://127.0.0.1.:8080/", "loopback"),
    # The same, in other forms.
    ("http://127.0.0.1:7243/api/v1/namespaces/default/workflows", "loopback"),
    ("http://0x7f.0.0.1/", "loopback"),
    ("http://0177.1/", "loopback"),
    ("http://[::1]/", "loopback"),
    ("http://[0:0:0:0:0:0:0:1]/", "loopback"),
    ("http://[::ffff:7f00:1]/", "loopback"),
    ("http://[64:ff9b::7f00:1]/", "loopback"),
    ("http://localhost:9464/metrics", "this machine"),
    ("http://LOCALHOST./", "this machine"),
    ("http://api.localhost/", "this machine"),
    # Cloud metadata.
    ("http://169.254.169.254/latest/meta-data/", "metadata"),
    ("http://2852039166/latest/meta-data/", "metadata"),
    ("http://[::ffff:169.254.169.254]/", "metadata"),
    ("http://[fd00:ec2::254]/", "metadata"),
    # Private, link-local, multicast, unspecified, reserved, shared.
    ("http://10.0.0.5/", "private"),
    ("http://172.16.0.1/", "private"),
    ("http://192.168.1.1/", "private"),
    ("http://012.0.0.1/", "private"),
    ("http://[fd12:3456::1]/", "private"),
    ("http://169.254.1.1/", "link-local"),
    ("http://[fe80::1]/", "link-local"),
    ("http://224.0.0.1/", "multicast"),
    ("http://[ff02::1]/", "multicast"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://0/", "unspecified"),
    ("http://[::]/", "unspecified"),
    ("http://240.0.0.1/", "reserved"),
    ("http://100.64.0.1/", "non-public"),
    # The URL itself.
    ("http://hooks.example.com/a\r\nX-Injected: 1", "line breaks"),
    ("http://hooks.example.com/a b", "spaces"),
    ("http://hooks.example.com/\t", "control"),
    ("https://user:secret@hooks.example.com/", "user info"),
    ("https://user@hooks.example.com/", "user info"),
    ("https://\uff48\uff4f\uff4f\uff4bs.example.com/", "internationalised"),  # full-width
    ("https://hooks\u200b.example.com/", "internationalised"),
    ("ftp://hooks.example.com/", "http"),
    ("file:///etc/passwd", "http"),
    ("gopher://hooks.example.com/", "http"),
    ("http:///no-host", "host"),
    ("http://[fe80::1%25eth0]/", "zone"),
    ("http://hooks_example.com/", "host name"),
]


@pytest.mark.parametrize(("url", "words"), REFUSED)
def test_every_bypass_is_refused_naming_the_rule(url: str, words: str) -> None:
    with pytest.raises(OutboundRefused, match=words) as refused:
        check_url(url, "callback", NOTHING_ALLOWED)
    assert str(refused.value).startswith("callback: ")
    assert "secret" not in str(refused.value)  # the user info is not repeated


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/events",
        "http://hooks.example.com:8080/events?token=abc",
        "https://93.184.216.34/events",
        "https://[2606:2800:220:1:248:1893:25c8:1946]/events",
        "https://bücher.example/events",  # IDNA-clean: called as xn--bcher-kva.example
    ],
)
def test_public_urls_pass(url: str) -> None:
    assert check_url(url, "callback", NOTHING_ALLOWED).host


def test_numeric_forms_normalise_to_one_address() -> None:
    loopback = ipaddress.ip_address("127.0.0.1")
    for form in ("127.1", "2130706433", "0x7f000001", "0177.0.0.1", "[::ffff:127.0.0.1]"):
        assert parse_address(form) == loopback, form
    assert parse_address("127.0.0.1.") == loopback
    assert parse_address("hooks.example.com") is None
    assert parse_address("1.2.3.4.example") is None
    assert parse_address("deadbeef") is None  # a name, not a number: inet_aton refuses it


def test_the_allow_list_lets_a_listed_host_port_through_and_nothing_else() -> None:
    allow = AllowList.parse("127.0.0.1:8080, localhost:9000, 10.20.0.0/16, [::1]:7000, hooks")
    # Listed, in any numeric form of the same address.
    for url in (
        "http://127.0.0.1:8080/x",
        "http://127.1:8080/x",
        "http://2130706433:8080/x",
        "http://[::ffff:127.0.0.1]:8080/x",
        "http://localhost:9000/x",
        "http://10.20.3.4/x",
        "http://[::1]:7000/x",
        "http://hooks/x",
    ):
        check_url(url, "callback", allow)
    # Another port of a listed host, or outside the network: still refused.
    for url in (
        "http://127.0.0.1:8081/x",
        "http://localhost:9001/x",
        "http://10.21.0.1/x",
        "http://[::1]:7001/x",
        "http://169.254.169.254/",
    ):
        with pytest.raises(OutboundRefused, match=ALLOW_ENV):
            check_url(url, "callback", allow)
    # The shape of a URL is never allowed away.
    with pytest.raises(OutboundRefused, match="user info"):
        check_url("http://u:p@127.0.0.1:8080/x", "callback", allow)


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "host:notaport", "host:70000", "a b", "[::1"])
def test_a_bad_allow_entry_is_an_error_naming_the_variable(entry: str) -> None:
    with pytest.raises(ValueError, match=ALLOW_ENV):
        Settings({CALLBACK_ALLOW_ENV: entry}).callback_allow()


def test_the_allow_list_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CALLBACK_ALLOW_ENV, "127.0.0.1:5555")
    check_url("http://127.1:5555/", "callback", Settings.from_env().callback_allow())
    monkeypatch.delenv(CALLBACK_ALLOW_ENV)
    with pytest.raises(OutboundRefused):
        check_url("http://127.1:5555/", "callback", Settings.from_env().callback_allow())
    # Without a list, nothing internal is let through, whatever the environment says.
    monkeypatch.setenv(CALLBACK_ALLOW_ENV, "127.0.0.1:5555")
    with pytest.raises(OutboundRefused):
        check_url("http://127.1:5555/", "callback")


def test_up_adds_its_own_listeners_to_the_list_it_was_given() -> None:
    given = Settings({CALLBACK_ALLOW_ENV: "hooks.localhost"})
    widened = given.with_callback_allowed("127.0.0.1:2525")
    check_url("http://127.0.0.1:2525/", "relay", widened.callback_allow())
    check_url("http://hooks.localhost/", "callback", widened.callback_allow())
    assert widened.with_callback_allowed("127.0.0.1:2525") == widened
    with pytest.raises(OutboundRefused):
        check_url("http://127.0.0.1:2525/", "relay", given.callback_allow())
    with pytest.raises(ValueError, match=ALLOW_ENV):
        given.with_callback_allowed("host:notaport")


# ---------------------------------------------------------------- at call time


@pytest.fixture
def listener() -> Iterator[tuple[int, list[str]]]:
    """A real HTTP server on 127.0.0.1: the internal service an attacker would aim at."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            hits.append(self.path)
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    ).start()
    try:
        yield httpd.server_address[1], hits
    finally:
        httpd.shutdown()
        httpd.server_close()


async def test_a_name_resolving_to_loopback_is_refused_when_called(
    listener: tuple[int, list[str]],
) -> None:
    port, hits = listener
    assert "127.0.0.1" in {i[4][0] for i in socket.getaddrinfo("localhost", port)}
    async with guarded_client(5.0, {}, NOTHING_ALLOWED) as client:
        with pytest.raises(OutboundRefused, match=r"resolves to 127\.0\.0\.1, a loopback"):
            await client.post(f"http://localhost:{port}/terminate", content=b"{}")
    assert hits == []  # nothing reached the listener


async def test_the_allow_list_lets_the_listed_listener_be_called(
    listener: tuple[int, list[str]],
) -> None:
    port, hits = listener
    async with guarded_client(5.0, {}, AllowList.parse(f"127.0.0.1:{port}")) as client:
        answer = await client.post(f"http://localhost:{port}/events", content=b"{}")
    assert answer.status_code == 204
    assert hits == ["/events"]
    # Another port of the same host is not listed.
    async with guarded_client(5.0, {}, AllowList.parse(f"127.0.0.1:{port + 1}")) as client:
        with pytest.raises(OutboundRefused):
            await client.post(f"http://localhost:{port}/events", content=b"{}")
    assert hits == ["/events"]


class Misdirected(httpcore.AsyncNetworkBackend):
    """Connects to the local listener whatever address it is asked for: as if the name's
    answer changed between the check and the connection."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self, host: str, port: int, **options: Any
    ) -> httpcore.AsyncNetworkStream:
        return await self.inner.connect_tcp("127.0.0.1", self.port, **options)


async def test_the_address_actually_connected_to_is_checked_before_sending(
    listener: tuple[int, list[str]],
) -> None:
    port, hits = listener
    transport = httpx.AsyncHTTPTransport()
    transport._pool._network_backend = GuardedBackend(NOTHING_ALLOWED, Misdirected(port))
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(OutboundRefused, match=r"127\.0\.0\.1, a loopback"):
            await client.post("http://93.184.216.34/events", content=b"{}")
    assert hits == []


async def test_redirects_are_not_followed() -> None:
    # A guarded client never follows a 3xx to wherever it points (an internal address).
    async with guarded_client(5.0, {}, NOTHING_ALLOWED) as client:
        assert client.follow_redirects is False
        assert client._trust_env is False  # no proxy from the environment hides the peer
