"""Outbound safety: no call the tracker makes can be aimed at an internal address.

Every URL the worker calls on someone's behalf (hub callbacks, party, process and contact
webhooks) is checked twice (the SMTP relay's host is checked before each connection,
``check_host``):

- when it is given (``check_url``: ``POST /hub``, the settings read at start): the URL's
  shape, and its host when the host is an address or a name for this machine;
- when it is called (``guarded_transport``): the host is resolved, and every address it
  resolves to, and then the address actually connected to, must be public. A name that
  resolves to ``127.0.0.1`` (DNS rebinding included) is refused there.

An address is internal when it is loopback, private, link-local, multicast, unspecified,
reserved, shared (CGNAT) or a cloud metadata address. ``PARTY_ORDERS_CALLBACK_ALLOW`` lets
listed ones through: comma-separated ``host``, ``host:port`` (``[v6]:port``) or CIDR entries,
for the operator's own receivers and the local listeners of ``up`` and the tests. The list
is read in the top-level ``settings`` module (``Settings.callback_allow``) and handed to
whoever calls out; without one, no internal address is let through.

Hosts are normalised before they are judged, the way the platform's own parser would read
them: ``127.1``, ``2130706433``, ``0x7f000001``, ``0177.0.0.1`` (``inet_aton``'s legacy forms),
``[::ffff:127.0.0.1]`` (IPv4 inside IPv6) and ``127.0.0.1.`` (a trailing root dot) are all
``127.0.0.1``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

import httpcore
import httpx
import idna

# Named in refusals; read only in the top-level ``settings`` module.
ALLOW_ENV = "PARTY_ORDERS_CALLBACK_ALLOW"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack, ...
        ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    }
)
# IPv6 prefixes that carry an IPv4 address in their last 32 bits: the IPv4 inside is judged.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LOOPBACKS = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
# What inet_aton may read as an address: digits, hex, dots. Anything else is a name.
_LEGACY_IPV4 = re.compile(r"[0-9a-fA-FxX.]+")
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_UNSAFE_CHARACTERS = re.compile(r"[\s\x00-\x1f\x7f]")


class OutboundRefused(ValueError):
    """A URL or an address the tracker will not call; the message names the rule."""


# ---------------------------------------------------------------- addresses


def parse_address(host: str) -> IPAddress | None:
    """``host`` as an IP address, in every numeric form the platform accepts; None for a name.

    ``[..]`` brackets and a trailing root dot are dropped first. IPv4 inside IPv6 (mapped,
    and NAT64) comes out as the IPv4 address, so it is judged as what it reaches.
    """
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if text.endswith("."):
        text = text[:-1]
    if not text:
        return None
    address: IPAddress
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        if not _LEGACY_IPV4.fullmatch(text) or not any(c.isdigit() for c in text):
            return None
        try:
            # The C library's reading: 127.1, 2130706433, 0x7f000001, 0177.0.0.1.
            packed = socket.inet_aton(text)
        except OSError:
            return None
        address = ipaddress.IPv4Address(packed)
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def internal_rule(address: IPAddress) -> str | None:
    """Why ``address`` is internal ("loopback", "private", ...), or None for a public one."""
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_reserved:  # before private: Python counts 240.0.0.0/4 as both
        return "a reserved address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "a non-public address"
    return None


# ---------------------------------------------------------------- the allow list


@dataclass(frozen=True)
class AllowEntry:
    """One entry of ``PARTY_ORDERS_CALLBACK_ALLOW``: a network, or a host with an optional
    port (an address host is compared as an address, a name as a name)."""

    network: IPNetwork | None = None
    host: str | None = None
    port: int | None = None

    def allows(self, host: str, port: int, address: IPAddress | None) -> bool:
        if self.network is not None:
            return (
                address is not None
                and address.version == self.network.version
                and (address in self.network)
            )
        if self.port is not None and self.port != port:
            return False
        entry_address = parse_address(self.host or "")
        if entry_address is not None:
            return address is not None and entry_address == address
        return self.host == normalise_name(host)


@dataclass(frozen=True)
class AllowList:
    entries: tuple[AllowEntry, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> AllowList:
        """The list in ``text``; ValueError naming the entry that does not parse."""
        entries: list[AllowEntry] = []
        for raw in (text or "").split(","):
            item = raw.strip()
            if item:
                entries.append(_parse_entry(item))
        return cls(tuple(entries))

    @classmethod
    def setting(cls, text: str | None) -> AllowList:
        """The list in ``PARTY_ORDERS_CALLBACK_ALLOW``'s ``text``; ValueError naming the
        variable and the entry that does not parse."""
        try:
            return cls.parse(text)
        except ValueError as error:
            raise ValueError(f"{ALLOW_ENV}: {error}") from None

    def also(self, entry: str) -> AllowList:
        """This list and ``entry``: how ``up`` lets the worker reach the local listeners it
        starts itself."""
        try:
            added = _parse_entry(entry.strip())
        except ValueError as error:
            raise ValueError(f"{ALLOW_ENV}: {error}") from None
        return self if added in self.entries else AllowList((*self.entries, added))

    def allows(self, host: str, port: int, address: IPAddress | None) -> bool:
        return any(entry.allows(host, port, address) for entry in self.entries)


def _parse_entry(item: str) -> AllowEntry:
    if "/" in item:
        try:
            return AllowEntry(network=ipaddress.ip_network(item.strip("[]"), strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not a CIDR network") from None
    host, port = item, None
    if item.startswith("["):  # [v6] or [v6]:port
        closing = item.find("]")
        if closing < 0:
            raise ValueError(f"{item!r} has no closing ]")
        host, rest = item[: closing + 1], item[closing + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"{item!r} is not host[:port]")
            port = _port(rest[1:], item)
    elif item.count(":") == 1:
        host, _, port_text = item.partition(":")
        port = _port(port_text, item)
    address = parse_address(host)
    if address is not None:
        return AllowEntry(host=str(address), port=port)
    name = normalise_name(host)
    if not name or not all(_LABEL.fullmatch(label) for label in name.split(".")):
        raise ValueError(f"{item!r} is not a host, host:port or CIDR")
    return AllowEntry(host=name, port=port)


def _port(text: str, item: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"{item!r} has no valid port")
    return int(text)


def normalise_name(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


# ---------------------------------------------------------------- URLs


@dataclass(frozen=True)
class Target:
    """A checked URL's host (ASCII, lower case, no trailing dot) and port."""

    host: str
    port: int
    address: IPAddress | None  # when the host is an address


def check_url(url: str, what: str, allow: AllowList | None = None) -> Target:
    """The URL's host and port if the tracker may call ``url``; else OutboundRefused whose
    message starts with ``what`` and names the rule broken.

    Refused: anything but http and https, CR, LF, spaces or control characters anywhere,
    user info (``user:secret@``), a host that is not clean ASCII or IDNA, and a host that is
    an internal address (in any numeric form) or a name of this machine, unless ``allow``
    lists it (none when no list is given). Names are resolved only when called
    (``guarded_transport``).
    """
    allow = AllowList() if allow is None else allow
    if not isinstance(url, str) or _UNSAFE_CHARACTERS.search(url):
        raise OutboundRefused(f"{what}: must not contain spaces, line breaks or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise OutboundRefused(f"{what}: not a valid URL ({error})") from None
    if parts.scheme not in ("http", "https"):
        raise OutboundRefused(f"{what}: must be an absolute http:// or https:// URL")
    if "@" in parts.netloc:
        raise OutboundRefused(f"{what}: must not carry user info (user:password@)")
    if not parts.hostname:
        raise OutboundRefused(f"{what}: has no host")
    host = _clean_host(parts, what)
    port = port if port is not None else (443 if parts.scheme == "https" else 80)
    address = parse_address(host)
    if address is not None:
        rule = internal_rule(address)
        if rule is not None and not allow.allows(host, port, address):
            shown = host if host.strip("[]") == str(address) else f"{host} ({address})"
            raise OutboundRefused(f"{what}: {shown} is {rule}; {ALLOW_ENV} does not list it")
    elif _is_local_name(host) and not any(
        allow.allows(host, port, loopback) for loopback in _LOOPBACKS
    ):
        raise OutboundRefused(f"{what}: {host} is this machine; {ALLOW_ENV} does not list it")
    return Target(host=host, port=port, address=address)


def _clean_host(parts: SplitResult, what: str) -> str:
    netloc_host = parts.netloc.rpartition("@")[2]
    if netloc_host.startswith("["):
        literal = netloc_host[1 : netloc_host.find("]")]
        if "%" in literal:
            raise OutboundRefused(f"{what}: an IPv6 zone id is not allowed")
        try:
            ipaddress.IPv6Address(literal)
        except ValueError:
            raise OutboundRefused(f"{what}: [{literal}] is not an IPv6 address") from None
        return f"[{literal.lower()}]"
    host = (parts.hostname or "").rstrip(".")
    if not host.isascii():
        try:
            # Strict IDNA 2008: full-width and other look-alike forms are refused, not mapped.
            host = idna.encode(host, uts46=False).decode("ascii")
        except idna.IDNAError:
            raise OutboundRefused(
                f"{what}: the host is not a valid internationalised name"
            ) from None
    host = host.lower()
    labels = host.split(".")
    if parse_address(host) is None and not all(_LABEL.fullmatch(label) for label in labels):
        raise OutboundRefused(f"{what}: {host!r} is not a valid host name")
    return host


def _is_local_name(host: str) -> bool:
    return host in _LOCAL_NAMES or host.endswith(".localhost")


def check_address(host: str, port: int, address: IPAddress, allow: AllowList) -> None:
    """OutboundRefused unless ``address`` (what ``host`` resolved to) is public or allowed."""
    address = parse_address(str(address)) or address
    rule = internal_rule(address)
    if rule is not None and not allow.allows(host, port, address):
        raise OutboundRefused(f"{host} resolves to {address}, {rule}; {ALLOW_ENV} does not list it")


# ---------------------------------------------------------------- calling


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves the host itself, connects only to an address that passes ``check_address``,
    and checks the peer of the connection made once more before anything is sent."""

    def __init__(self, allow: AllowList, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.allow = allow
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await _resolve(host, port)
        for address in addresses:  # every one: a name must not mix public and internal
            check_address(host, port, address, self.allow)
        last: Exception | None = None
        for address in addresses:
            try:
                stream = await self.inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                last = error
                continue
            peer = stream.get_extra_info("server_addr")
            try:
                peer_address = ipaddress.ip_address(peer[0]) if peer else None
                if peer_address is None:
                    raise OutboundRefused(f"{host}: the connected address is unknown")
                check_address(host, port, peer_address, self.allow)
            except (OutboundRefused, ValueError):
                await stream.aclose()
                raise
            return stream
        raise last or httpcore.ConnectError(f"{host} has no address")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise OutboundRefused("unix sockets are not called")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


async def _resolve(host: str, port: int) -> list[IPAddress]:
    literal = parse_address(host)
    if literal is not None:
        return [literal]
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except socket.gaierror as error:
        raise httpcore.ConnectError(f"{host} does not resolve: {error.strerror}") from None
    addresses: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def guarded_transport(allow: AllowList | None = None) -> httpx.AsyncHTTPTransport:
    """An httpx transport that calls only public addresses and those ``allow`` lists."""
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    # httpx has no parameter for it; the pool's backend is where connections are made.
    transport._pool._network_backend = GuardedBackend(AllowList() if allow is None else allow)
    return transport


def guarded_client(
    timeout: float, headers: Mapping[str, str], allow: AllowList | None = None
) -> httpx.AsyncClient:
    """An HTTP client for outbound calls: guarded, no redirects, no proxies from the
    environment (a proxy would hide the address actually called)."""
    return httpx.AsyncClient(
        transport=guarded_transport(allow),
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        trust_env=False,
        headers=dict(headers),
    )


async def check_host(host: str, port: int, what: str, allow: AllowList | None = None) -> None:
    """For a connection made by another library (the SMTP relay): OutboundRefused unless
    every address ``host`` resolves to is public or allowed."""
    allow = AllowList() if allow is None else allow
    try:
        addresses = await _resolve(normalise_name(host), port)
    except httpcore.ConnectError:
        return  # unresolvable: the connection attempt fails and says so
    for address in addresses:
        try:
            check_address(host, port, address, allow)
        except OutboundRefused as refused:
            raise OutboundRefused(f"{what}: {refused}") from None
