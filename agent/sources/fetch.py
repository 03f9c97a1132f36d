"""Reading untrusted bytes with caps: files, gzip, and http(s) URLs (no internal targets)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from agent.sources.errors import FetchError, TooLarge, Undecodable
from agent.sources.netguard import (Deadline, IPAddress, PinnedBackend, check_addresses,
                                    resolve)

MAX_BYTES = 20 * 1024 * 1024
TIMEOUT = 20.0
# A server that drips one byte every few seconds never trips the read timeout.
DEADLINE = 60.0
MAX_REDIRECTS = 5
USER_AGENT = "absorb/0.1 (knowledge bus; +https://github.com/absorb)"
_REDIRECTS = {301, 302, 303, 307, 308}


def _mib(limit: int) -> str:
    return f"{limit / (1024 * 1024):g} MiB"


class Inflater:
    """zlib/gzip decompression that refuses to produce more than `limit` bytes (gzip bombs)."""

    def __init__(self, limit: int, wbits: int = 47) -> None:
        self.limit, self.wbits, self.size = limit, wbits, 0
        self._engine = zlib.decompressobj(wbits)

    def feed(self, data: bytes) -> bytes:
        out = bytearray()
        while data:
            try:
                chunk = self._engine.decompress(data, self.limit + 1 - self.size)
            except zlib.error as exc:
                raise Undecodable(f"corrupt compressed data ({exc})") from None
            self.size += len(chunk)
            out += chunk
            if self.size > self.limit:
                raise TooLarge(f"decompresses to more than {_mib(self.limit)}")
            data = self._engine.unconsumed_tail
            if self._engine.eof:  # concatenated gzip members are legal
                data = self._engine.unused_data
                self._engine = zlib.decompressobj(self.wbits)
            elif not chunk and data:
                break
        return bytes(out)


def gunzip(data: bytes, limit: int = MAX_BYTES) -> bytes:
    return Inflater(limit).feed(data)


def read_file(path: Path, limit: int = MAX_BYTES) -> bytes:
    """A file's bytes, gzip undone, refusing anything over the cap before reading it."""
    try:
        size = path.stat().st_size
        if size > limit:
            raise TooLarge(f"file is {size / 1e6:.1f} MB; the limit is {_mib(limit)}")
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise FetchError(f"cannot read file ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise TooLarge(f"file grew past {_mib(limit)} while reading")
    if data[:2] == b"\x1f\x8b":
        data = gunzip(data, limit)
    return data


def check_target(url: str, allow_private: bool) -> tuple[str, list[IPAddress]]:
    """Refuse URLs that reach this machine or its network: the bus must not become an SSRF.

    Returns the host as httpx will name it to the connection and the addresses it resolved
    to, every one checked (IPv4 inside IPv6 included); the connection is pinned to them.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError(f"only http(s) URLs can be fetched, not '{url[:80]}'")
    try:
        host = httpx.URL(url).raw_host.decode("ascii")
    except (httpx.InvalidURL, UnicodeError) as exc:
        raise FetchError(f"not a URL that can be fetched: '{url[:80]}' ({exc})") from None
    addresses = resolve(host, parts.port or (443 if parts.scheme == "https" else 80))
    if not allow_private:
        check_addresses(host, addresses)
    return host, addresses


class _PinnedTransport(httpx.HTTPTransport):
    """httpx's own transport over a connection pool whose network backend is pinned."""

    def __init__(self, backend: PinnedBackend) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.ConnectionPool(ssl_context=httpx.create_ssl_context(trust_env=False),
                                             network_backend=backend)


@dataclass
class Fetched:
    url: str
    status: int
    body: bytes = b""
    content_type: str = ""
    etag: str | None = None
    last_modified: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def _read_body(response: httpx.Response, limit: int, deadline: Deadline) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"response is {int(declared) / 1e6:.1f} MB; the limit is {_mib(limit)}")
    encoding = response.headers.get("content-encoding", "identity").lower().strip()
    inflater = {"gzip": Inflater(limit, 31), "x-gzip": Inflater(limit, 31),
                "deflate": Inflater(limit, 15)}.get(encoding)
    if inflater is None and encoding not in ("identity", ""):
        raise FetchError(f"unsupported content encoding '{encoding}'")
    body = bytearray()
    for raw in response.iter_raw():
        if deadline.passed:
            raise FetchError(f"download took longer than {deadline.seconds:g} s")
        body += inflater.feed(raw) if inflater else raw
        if len(body) > limit:
            raise TooLarge(f"response is larger than {_mib(limit)}")
    return bytes(body)


def fetch(url: str, *, etag: str | None = None, last_modified: str | None = None,
          allow_private: bool | None = None, timeout: float = TIMEOUT, limit: int = MAX_BYTES,
          max_redirects: int = MAX_REDIRECTS, deadline: float = DEADLINE,
          backend: PinnedBackend | None = None) -> Fetched:
    """GET a URL with a conditional request, following at most `max_redirects` redirects,
    each hop checked against private targets and connected to the address it checked; the
    whole request, headers included, ends by `deadline` seconds; 304 is `not_modified`."""
    if allow_private is None:
        from agent.settings import get_settings

        allow_private = get_settings().fetch_allow_private
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate",
               "Accept": "application/rss+xml, application/atom+xml, application/xml, "
                         "text/html;q=0.9, */*;q=0.5"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    ends = Deadline(deadline)
    backend = backend or PinnedBackend(ends)
    backend.deadline = ends
    # trust_env=False: a proxy from the environment would make the target check meaningless.
    with httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False, trust_env=False,
                      headers=headers, transport=_PinnedTransport(backend)) as client:
        for _hop in range(max_redirects + 1):
            backend.pin(*check_target(url, allow_private))
            try:
                with client.stream("GET", url) as response:
                    if response.status_code in _REDIRECTS and response.headers.get("location"):
                        url = urljoin(url, response.headers["location"])
                        continue
                    if response.status_code == 304:
                        return Fetched(url=url, status=304, etag=etag, last_modified=last_modified)
                    if response.status_code >= 400:
                        raise FetchError(f"HTTP {response.status_code} from {url[:120]}")
                    body = _read_body(response, limit, ends)
                    return Fetched(url=url, status=response.status_code, body=body,
                                   content_type=response.headers.get("content-type", ""),
                                   etag=response.headers.get("etag"),
                                   last_modified=response.headers.get("last-modified"))
            except httpx.TimeoutException:
                if ends.passed:
                    raise FetchError(f"no complete answer within {deadline:g} s from {url[:120]}") from None
                raise FetchError(f"timed out after {timeout:g} s fetching {url[:120]}") from None
            except httpx.HTTPError as exc:
                raise FetchError(f"cannot fetch {url[:120]}: {type(exc).__name__}: {exc}") from None
    raise FetchError(f"more than {max_redirects} redirects (last to {url[:120]})")
