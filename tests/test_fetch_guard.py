"""The fetcher's guard: IPv4 hidden in IPv6 is unwrapped before the private check, the
connection goes to the address that was checked (a resolver that changes its answer cannot
move it), and one deadline covers the whole request, headers included."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpcore
import pytest

from agent.sources.errors import BlockedTarget, FetchError
from agent.sources.fetch import check_target, fetch
from agent.sources.netguard import Deadline, PinnedBackend, embedded_ipv4


def _rfc6052(prefix: str, length: int, v4: str) -> str:
    """An IPv4 address embedded in a NAT64 prefix the way RFC 6052 lays it out."""
    packed = bytearray(ipaddress.IPv6Address(prefix).packed)
    four = ipaddress.IPv4Address(v4).packed
    spots = {48: [6, 7, 9, 10], 56: [7, 9, 10, 11], 64: [9, 10, 11, 12], 96: [12, 13, 14, 15]}[length]
    for spot, byte in zip(spots, four):
        packed[spot] = byte
    return str(ipaddress.IPv6Address(bytes(packed)))


PRIVATE_FORMS = {
    "mapped loopback": "::ffff:127.0.0.1",
    "mapped hex": "::ffff:7f00:1",
    "mapped metadata": "::ffff:169.254.169.254",
    "nat64 well-known loopback": "64:ff9b::127.0.0.1",
    "nat64 well-known private": "64:ff9b::10.0.0.1",
    "nat64 well-known link-local": "64:ff9b::169.254.169.254",
    "nat64 local-use /96": _rfc6052("64:ff9b:1::", 96, "10.1.2.3"),
    "nat64 local-use /64": _rfc6052("64:ff9b:1::", 64, "192.168.1.1"),
    "nat64 local-use /56": _rfc6052("64:ff9b:1::", 56, "127.0.0.1"),
    "nat64 local-use /48": _rfc6052("64:ff9b:1::", 48, "172.16.0.1"),
    "6to4 loopback": "2002:7f00:1::",
    "6to4 private": "2002:c0a8:101::1",
    "6to4 link-local": "2002:a9fe:a9fe::",
    "ipv4-compatible loopback": "::127.0.0.1",
    "ipv4-compatible private": "::10.0.0.1",
    "ipv4-compatible link-local": "::169.254.169.254",
    "teredo private client": "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # client 10.0.0.1
    "plain loopback": "::1",
    "plain link-local": "fe80::1",
    "unique local": "fd00::1",
}
PUBLIC_FORMS = ["64:ff9b::8.8.8.8", "2002:808:808::1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("form", sorted(PRIVATE_FORMS))
def test_every_ipv6_form_of_a_private_address_is_refused(form):
    with pytest.raises(BlockedTarget, match="private or local"):
        check_target(f"http://[{PRIVATE_FORMS[form]}]/", allow_private=False)


@pytest.mark.parametrize("address", PUBLIC_FORMS)
def test_public_addresses_pass_the_check(address):
    host, addresses = check_target(f"https://[{address}]/", allow_private=False)
    assert addresses == [ipaddress.ip_address(address)]


def test_embedded_ipv4_is_found_in_each_form():
    assert embedded_ipv4(ipaddress.ip_address("64:ff9b::a9fe:a9fe")) == [ipaddress.ip_address("169.254.169.254")]
    assert ipaddress.ip_address("10.1.2.3") in embedded_ipv4(ipaddress.ip_address(PRIVATE_FORMS["nat64 local-use /96"]))
    assert embedded_ipv4(ipaddress.ip_address("2002:7f00:1::")) == [ipaddress.ip_address("127.0.0.1")]


def test_a_name_that_resolves_to_a_wrapped_private_address_is_refused(monkeypatch):
    answer = [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("64:ff9b::a9fe:a9fe", 80, 0, 0))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: answer)
    with pytest.raises(BlockedTarget, match="169.254.169.254"):
        check_target("http://metadata.example/latest", allow_private=False)


class _Seen(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        return

    def do_GET(self) -> None:  # noqa: N802
        self.server.hits.append(self.headers.get("Host"))
        body = f"served by {self.server.server_address[0]}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _serve(address: tuple[str, int]) -> ThreadingHTTPServer:
    httpd = ThreadingHTTPServer(address, _Seen)
    httpd.hits = []
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    return httpd


def test_the_connection_goes_to_the_checked_address_when_the_answer_changes(monkeypatch):
    good = _serve(("127.0.0.1", 0))
    port = good.server_address[1]
    try:
        evil = _serve(("127.0.0.2", port))
    except OSError:
        good.shutdown()
        pytest.skip("127.0.0.2 is not usable here")
    real = socket.getaddrinfo
    answers: list[str] = []

    def rebinding(host, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        if host != "rebind.test":
            return real(host, *args, **kwargs)
        answers.append("127.0.0.1" if not answers else "127.0.0.2")  # first check, then rebind
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[-1], port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    backend = PinnedBackend(Deadline(10))
    try:
        fetched = fetch(f"http://rebind.test:{port}/page", allow_private=True, backend=backend)
    finally:
        good.shutdown()
        evil.shutdown()
    assert fetched.body == b"served by 127.0.0.1"  # the address the check saw
    assert evil.hits == [] and good.hits == [f"rebind.test:{port}"]  # Host header kept
    assert answers == ["127.0.0.1"]  # resolved once: nothing asked the resolver again
    assert backend.connected == [("rebind.test", "127.0.0.1", port)]


class _Recorder(httpcore.NetworkBackend):
    """Records where a connection went and which name TLS was started for."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):  # noqa: ANN001
        self.calls.append(("connect", host, port))
        recorder = self

        class Stream(httpcore.NetworkStream):
            def start_tls(self, ssl_context, server_hostname=None, timeout=None):  # noqa: ANN001
                recorder.calls.append(("tls", server_hostname))
                raise httpcore.ConnectError("stopped after the handshake began")

            def close(self) -> None:
                return

        return Stream()


def test_tls_keeps_the_host_name_for_sni_while_connecting_to_the_pinned_address(monkeypatch):
    monkeypatch.setattr("agent.sources.fetch.resolve",
                        lambda host, port: [ipaddress.ip_address("203.0.113.9")])
    backend = PinnedBackend(Deadline(10))
    backend._inner = _Recorder()
    with pytest.raises(FetchError):
        fetch("https://pinned.example/feed", allow_private=True, backend=backend)
    assert backend._inner.calls == [("connect", "203.0.113.9", 443), ("tls", "pinned.example")]


def test_a_server_that_trickles_headers_is_cut_at_the_deadline():
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def trickle() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            while not stop.wait(0.1):  # one byte every 0.1 s: no single read ever times out
                try:
                    conn.sendall(b"a")
                except OSError:
                    return

    threading.Thread(target=trickle, daemon=True).start()
    started = time.monotonic()
    try:
        with pytest.raises(FetchError, match="no complete answer within 1.5 s"):
            fetch(f"http://127.0.0.1:{listener.getsockname()[1]}/", allow_private=True,
                  timeout=1.0, deadline=1.5)
    finally:
        stop.set()
        listener.close()
    assert time.monotonic() - started < 3.0
