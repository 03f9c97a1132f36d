"""URLs: a real page on 127.0.0.1, conditional GET, size and redirect caps, private targets."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import respx

from agent.cli.main import run
from agent.sources.errors import BlockedTarget, FetchError, TooLarge
from agent.sources.fetch import check_target, fetch
from agent.sources.pull import pull_topic
from agent.store import open_store

ARTICLE = b"""<!doctype html><html><head><title>Decoupled training | Example News</title>
<meta name="author" content="Ada Lovelace"><meta property="article:published_time" content="2026-04-20">
<script>window.evil = function () { document.location = 'https://evil.example'; }</script></head>
<body><nav><ul><li><a href="/">Home</a></li><li><a href="/world">World news menu</a></li>
<li><a href="/subscribe">Subscribe today menu</a></li></ul></nav>
<article><h1>Decoupled training</h1>
<p>Decoupled DiLoCo trains one model across four regions without stopping when chips fail.</p>
<script>steal(document.cookie)</script>
<p>Each region keeps its own learners and only exchanges compressed updates every few hundred steps.</p>
<p>When a region drops out, the others continue and the region rejoins after it recovers on its own.</p>
</article><footer>Footer navigation, cookie settings, privacy policy</footer></body></html>"""
FEED = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>http://x/</link>'
        b"<item><title>Chips story</title><link>/chips</link><description>Chips, memory and "
        b"bandwidth news for the week.</description></item></channel></rss>")
BOMB = gzip.compress(b"\0" * (30 * 1024 * 1024))


class Handler(BaseHTTPRequestHandler):
    hits: list[str] = []

    def log_message(self, *args: object) -> None:  # keep test output quiet
        return

    def _send(self, status: int, body: bytes, **headers: str) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        Handler.hits.append(f"{self.path} {self.headers.get('If-None-Match', '')}")
        if self.path == "/article":
            self._send(200, ARTICLE, Content_Type="text/html; charset=utf-8")
        elif self.path == "/feed.xml":
            if self.headers.get("If-None-Match") == '"v1"':
                self._send(304, b"")
            else:
                self._send(200, FEED, Content_Type="application/rss+xml", ETag='"v1"')
        elif self.path == "/bomb":
            self._send(200, BOMB, Content_Type="text/html", Content_Encoding="gzip")
        elif self.path == "/loop":
            self._send(302, b"", Location="/loop")
        else:
            self._send(404, b"not here")


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    Handler.hits = []
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ABSORB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ABSORB_FETCH_ALLOW_PRIVATE", "1")
    opened = open_store()
    opened.topics.create("t", "T")
    yield opened
    opened.close()


def test_page_on_loopback_is_extracted_without_navigation_or_script(store, server, capsys) -> None:
    code = run(["sources", "import", f"{server}/article", "--topic", "t", "--json"])
    assert code == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["added"] == 1
    [(source, status)] = store.sources.for_topic("t")
    assert status == "new"
    assert "four regions without stopping" in source.text
    assert "rejoins after it recovers" in source.text
    for absent in ("Subscribe today", "World news menu", "steal(", "document.cookie", "evil", "Footer"):
        assert absent not in source.text
    assert source.title == "Decoupled training"
    assert source.author == "Ada Lovelace"
    assert source.published_at == "2026-04-20"
    assert source.url == f"{server}/article"


def test_private_targets_are_refused_unless_allowed(monkeypatch: pytest.MonkeyPatch, server) -> None:
    for url in ("http://127.0.0.1/x", "http://10.1.2.3/", "http://169.254.169.254/latest/meta-data",
                "http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://localhost/"):
        with pytest.raises(BlockedTarget):
            check_target(url, allow_private=False)
    with pytest.raises(FetchError, match="only http"):
        check_target("file:///etc/passwd", allow_private=False)
    monkeypatch.delenv("ABSORB_FETCH_ALLOW_PRIVATE", raising=False)
    with pytest.raises(BlockedTarget, match="ABSORB_FETCH_ALLOW_PRIVATE"):
        fetch(f"{server}/article")
    assert Handler.hits == []  # refused before any request was made


def test_gzip_bomb_and_redirect_loop_are_skipped(store, server, capsys) -> None:
    assert run(["sources", "import", f"{server}/bomb", "--topic", "t"]) == 1
    assert "decompresses to more than 20 MiB" in capsys.readouterr().err
    assert run(["sources", "import", f"{server}/loop", "--topic", "t"]) == 1
    assert "more than 5 redirects" in capsys.readouterr().err
    assert store.sources.for_topic("t") == []


def test_pull_uses_conditional_get(store, server) -> None:
    store.feeds.add("t", "local", f"{server}/feed.xml")
    first = pull_topic(store, "t")
    assert len(first.added) == 1 and first.ok
    [(source, _)] = store.sources.for_topic("t")
    assert source.url == f"{server}/chips"  # relative to the document it came from
    second = pull_topic(store, "t")
    assert second.feeds[0].not_modified and second.added == []
    assert Handler.hits == ["/feed.xml ", '/feed.xml "v1"']
    assert store.feeds.get("t", "local").etag == '"v1"'


@pytest.fixture
def fake_dns(monkeypatch):
    """respx answers before any connection; names only have to resolve to be pinned."""
    import ipaddress

    monkeypatch.setattr("agent.sources.fetch.resolve",
                        lambda host, port: [ipaddress.ip_address("93.184.216.34")])


@respx.mock
def test_timeout_is_reported_and_other_feeds_still_count(store, tmp_path: Path, fake_dns) -> None:
    respx.get("https://slow.example/feed").mock(side_effect=httpx.ReadTimeout("slow"))
    respx.get("https://ok.example/feed").mock(return_value=httpx.Response(
        200, content=FEED, headers={"Content-Type": "application/rss+xml"}))
    store.feeds.add("t", "slow", "https://slow.example/feed")
    store.feeds.add("t", "ok", "https://ok.example/feed")
    report = pull_topic(store, "t")
    assert [f.name for f in report.failed] == ["slow"]
    assert "timed out" in report.failed[0].error
    assert len(report.added) == 1
    assert store.feeds.get("t", "slow").last_error.startswith("timed out")


@respx.mock
def test_redirect_cap_and_size_cap_with_respx(fake_dns) -> None:
    for hop in range(8):
        respx.get(f"https://r.example/{hop}").mock(return_value=httpx.Response(
            301, headers={"Location": f"/{hop + 1}"}))
    respx.get("https://r.example/8").mock(return_value=httpx.Response(200, content=b"ok"))
    assert fetch("https://r.example/4", allow_private=True).body == b"ok"
    with pytest.raises(FetchError, match="more than 5 redirects"):
        fetch("https://r.example/0", allow_private=True)
    respx.get("https://big.example/").mock(return_value=httpx.Response(200, content=b"x" * 2048))
    with pytest.raises(TooLarge):
        fetch("https://big.example/", allow_private=True, limit=1024)
    respx.get("https://err.example/").mock(return_value=httpx.Response(503))
    with pytest.raises(FetchError, match="HTTP 503"):
        fetch("https://err.example/", allow_private=True)
