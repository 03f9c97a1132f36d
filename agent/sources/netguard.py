"""Where the fetcher may connect: every address a name resolves to is checked (IPv4 hidden
inside IPv6 included), and the connection goes to the address that was checked, under one
deadline for the whole request.

httpx normally resolves the name again when it connects, so a DNS answer that changes
between the check and the connect (rebinding) would move the connection. Here httpcore's
network backend is replaced: it never resolves, it connects to the pinned address, and the
TLS handshake still uses the host name (SNI and certificate check), as does the Host header.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterable
from typing import Any

import httpcore

from agent.sources.errors import BlockedTarget, FetchError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")
NAT64_LOCAL_USE = ipaddress.ip_network("64:ff9b:1::/48")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
# RFC 6052: where a network-specific prefix of each length keeps the IPv4 bytes (byte 8 is
# the reserved "u" octet).
_RFC6052_SLICES = ((slice(6, 8), slice(9, 11)), (slice(7, 8), slice(9, 12)),
                   (slice(9, 13),), (slice(12, 16),))


def embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """Every IPv4 address an IPv6 address carries: mapped, IPv4-compatible, NAT64 (the
    well-known and the local-use prefix, at each RFC 6052 position), 6to4 and Teredo."""
    if address.version == 4:
        return []
    found: list[ipaddress.IPv4Address] = []
    packed = address.packed
    if address.ipv4_mapped:
        found.append(address.ipv4_mapped)
    if address in NAT64_WELL_KNOWN or address in IPV4_COMPATIBLE:
        found.append(ipaddress.IPv4Address(packed[12:16]))
    if address in NAT64_LOCAL_USE:
        for parts in _RFC6052_SLICES:
            found.append(ipaddress.IPv4Address(b"".join(packed[p] for p in parts)))
    if address.sixtofour:
        found.append(address.sixtofour)
    if address.teredo:
        found.extend(address.teredo)
    return found


def unsafe(address: IPAddress) -> IPAddress | None:
    """The address (or the IPv4 inside it) that is private, local, reserved or multicast."""
    for candidate in (address, *embedded_ipv4(address)):
        if not candidate.is_global or candidate.is_multicast:
            return candidate
    return None


def resolve(host: str, port: int) -> list[IPAddress]:
    """The addresses a host name (or literal) stands for, resolved once."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"cannot resolve host '{host}' ({exc})") from None
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))


def check_addresses(host: str, addresses: Iterable[IPAddress]) -> None:
    for address in addresses:
        bad = unsafe(address)
        if bad is not None:
            shown = f"{address} (carrying {bad})" if bad != address else str(address)
            raise BlockedTarget(f"'{host}' is a private or local address ({shown}); "
                                "set ABSORB_FETCH_ALLOW_PRIVATE=1 to allow it")


class Deadline:
    """One end time for a whole request: connect, TLS, headers and body."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.ends = time.monotonic() + seconds

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self.ends

    def cap(self, timeout: float | None) -> float:
        left = self.ends - time.monotonic()
        if left <= 0:
            raise httpcore.ReadTimeout(f"deadline of {self.seconds:g} s passed")
        return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket whose every read and write waits at most until the deadline: a server that
    trickles one header byte at a time cannot hold the request past it."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: Deadline) -> None:
        self._inner, self._deadline = inner, deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._deadline.cap(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._deadline.cap(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname,
                                                     self._deadline.cap(timeout)), self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class PinnedBackend(httpcore.NetworkBackend):
    """Connects only to addresses pinned (after checking) for a host; never resolves."""

    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline
        self.pins: dict[str, list[IPAddress]] = {}
        self.connected: list[tuple[str, str, int]] = []  # (host, address, port), for tests
        self._inner = httpcore.SyncBackend()

    def pin(self, host: str, addresses: list[IPAddress]) -> None:
        self.pins[host.lower()] = addresses

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        addresses = self.pins.get(host.lower().strip("[]"))
        if not addresses:
            raise BlockedTarget(f"'{host}' was not checked before connecting")
        error: Exception | None = None
        for address in addresses:
            try:
                stream = self._inner.connect_tcp(str(address), port, self.deadline.cap(timeout),
                                                 local_address, socket_options)
            except httpcore.ConnectError as exc:
                error = exc
                continue
            self.connected.append((host, str(address), port))
            return _DeadlineStream(stream, self.deadline)
        raise error or httpcore.ConnectError(f"cannot connect to {host}")

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        raise BlockedTarget("unix sockets are never fetched")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
