"""A folder of hostile, real-world-like RSS/Atom files imports in one command, inert."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from agent.cli.main import run
from agent.sources.feeds import parse_feed
from agent.store import open_store
from agent.store.schema import sources, topic_sources

ACTIVE = re.compile(r"<[A-Za-z/!?]|javascript:|vbscript:|data:text/html|\bon(?:error|load|click|mouseover)\s*=",
                    re.I)

# Pieces of trouble seen in real feeds; each file gets a deterministic mix of them.
TITLES = [
    "Plain title {n}",
    "&lt;script&gt;alert({n})&lt;/script&gt; Escaped script title {n}",
    "<![CDATA[<b>Bold</b> CDATA title {n} <script>alert(1)</script>]]>",
    "Entity &amp;amp; double &amp;lt;b&amp;gt;escaped&amp;lt;/b&amp;gt; {n}",
    "Numeric &#60;img src=x onerror=alert({n})&#62; title",
    "Zero\u200bwidth\u202e and bidi title {n}",
    "Caf\u00e9 na\u00efve r\u00e9sum\u00e9 {n}",
]
BODIES = [
    "<p>Story {n}: GPUs and <a href=\"/relative/{n}\">a relative link</a>.</p>",
    "<![CDATA[<p>CDATA body {n}</p><script>document.cookie</script><iframe src=\"https://evil\"></iframe>]]>",
    "&lt;p onclick=&quot;steal()&quot;&gt;Escaped html body {n}&lt;/p&gt;&lt;script&gt;x()&lt;/script&gt;",
    "<![CDATA[<a href=\"javascript:alert({n})\">click</a> <img src=x onerror=\"alert(1)\"> body {n}]]>",
    "<![CDATA[<div style=\"background:url(javascript:x)\">styled {n}</div><svg onload=alert(1)>svg</svg>]]>",
    "Plain text body {n} with a &lt; b and c &gt; d.",
    "<![CDATA[<object data=\"data:text/html,<script>alert(1)</script>\"></object>object body {n}]]>",
]
LINKS = ["https://example.com/posts/{n}?utm_source=rss&id={n}", "/posts/{n}", "posts/{n}.html",
         "javascript:alert({n})", "HTTPS://Example.COM:443/a/{n}/#frag"]


def _words(rng: random.Random, n: int) -> str:
    """Pseudo-words, so that different entries are different stories to the deduplicator."""
    return " ".join("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9)))
                    for _ in range(n))


def _rss(rng: random.Random, index: int, encoding: str) -> str:
    items = []
    for k in range(rng.randint(2, 6)):
        n = index * 10 + k
        title = rng.choice(TITLES).format(n=n)
        body = rng.choice(BODIES).format(n=n)
        extra = _words(rng, rng.randint(20, 60))
        link = rng.choice(LINKS).format(n=n)
        if body.startswith("<![CDATA["):
            body = body[:-3] + f" {extra}]]>"
        elif body.startswith("<"):
            body = f"<![CDATA[{body} {extra}]]>"
        else:
            body = f"{body} {extra}"
        items.append(f"<item><title>{title}</title><link>{link}</link><description>{body}</description>"
                     f"<author>a{n}@example.com (Writer &lt;b&gt;{n}&lt;/b&gt;)</author>"
                     f"<pubDate>Mon, 0{k + 1} Jun 2025 10:00:00 GMT</pubDate></item>")
    return (f'<?xml version="1.0" encoding="{encoding}"?>\n<rss version="2.0"><channel>'
            f"<title>Feed {index}</title><link>https://example.com/blog/</link>{''.join(items)}"
            "</channel></rss>")


def _atom(rng: random.Random, index: int) -> str:
    entries = []
    for k in range(rng.randint(2, 5)):
        n = index * 10 + k
        content = rng.choice(BODIES).format(n=n).replace("<![CDATA[", "").replace("]]>", "")
        entries.append(
            f'<entry><title type="html">{rng.choice(TITLES).format(n=n).replace("<![CDATA[", "").replace("]]>", "")}'
            f'</title><link href="{rng.choice(LINKS).format(n=n)}"/><id>urn:{n}</id>'
            f"<updated>2025-06-0{k + 1}T10:00:00Z</updated><author><name>Au{n}</name></author>"
            f'<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>xhtml {n} '
            f"{_words(rng, 30)}</p><script>evil()</script></div></content>"
            f"<summary type=\"html\">{_escape(content)}</summary></entry>")
    return ('<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom" '
            f'xml:base="https://atom.example.org/feed/"><title>Atom {index}</title>{"".join(entries)}</feed>')


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def feed_files(count: int, seed: int = 7) -> dict[str, bytes]:
    """Deterministic hostile feeds: declared encodings that lie, ill-formed XML, entities."""
    rng = random.Random(seed)
    files: dict[str, bytes] = {}
    for index in range(count):
        kind = index % 10
        if kind in (0, 1, 2):
            data = _rss(rng, index, "utf-8").encode("utf-8")
        elif kind == 3:  # declares UTF-8, is Latin-1
            data = _rss(rng, index, "utf-8").encode("latin-1", "replace")
        elif kind == 4:  # declares Latin-1, is UTF-8
            data = _rss(rng, index, "iso-8859-1").encode("utf-8")
        elif kind == 5:
            data = _atom(rng, index).encode("utf-8")
        elif kind == 6:  # ill-formed: stray ampersands, an unclosed item, a cut-off end
            text = _rss(rng, index, "utf-8").replace("Feed ", "Feed & Co ", 1)
            data = text.replace("</item>", "", 1)[: -len("</channel></rss>") + 3].encode("utf-8")
        elif kind == 7:  # internal entities and an external one that must not be resolved
            text = _rss(rng, index, "utf-8").replace(
                '<rss version="2.0">',
                '<!DOCTYPE rss [<!ENTITY co "Evil &lt;script&gt;x&lt;/script&gt; Co">'
                '<!ENTITY xxe SYSTEM "file:///etc/passwd">]><rss version="2.0">', 1)
            data = text.replace("<title>Feed", "<title>&co; &xxe; Feed", 1).encode("utf-8")
        elif kind == 8:
            data = _rss(rng, index, "windows-1252").encode("cp1252", "replace")
        else:
            data = _rss(rng, index, "utf-16").encode("utf-16")
        files[f"feeds/{index // 50:02d}/feed-{index:04d}.{'atom' if kind == 5 else 'xml'}"] = data
    files["feeds/broken/empty.xml"] = b""
    files["feeds/broken/not-a-feed.xml"] = b"<?xml version='1.0'?><note><to>x</to></note>"
    files["feeds/broken/laughs.xml"] = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
        + b"".join(b'<!ENTITY %s "%s">' % (bytes([98 + i]), (b"&%s;" % bytes([97 + i])) * 10)
                   for i in range(8))
        + b']><rss version="2.0"><channel><item><title>&i;</title></item></channel></rss>')
    return files


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ABSORB_HOME", str(tmp_path / "home"))
    opened = open_store()
    yield opened
    opened.close()


def _write(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def test_generator_is_deterministic() -> None:
    assert feed_files(30) == feed_files(30)
    assert len(feed_files(300)) == 303


def test_hundreds_of_hostile_feeds_import_inert(store, tmp_path: Path, capsys) -> None:
    _write(tmp_path, feed_files(300))
    code = run(["sources", "import", str(tmp_path / "feeds"), "--topic", "feeds", "--json"])
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert "Traceback" not in captured.err and "internal error" not in captured.err
    assert code == 1  # the two files with nothing usable were skipped, the rest imported
    assert sorted(Path(s["input"]).name for s in report["skipped"]) == ["empty.xml", "not-a-feed.xml"]
    # expat refuses the billion laughs; feedparser's loose parser keeps the entity unexpanded
    assert any(Path(w["input"]).name == "laughs.xml" and "amplification" in w["reason"]
               for w in report["warnings"])
    assert report["inputs"] == 303
    assert report["added"] > 900 and report["duplicates"] < 20
    assert any("broken feed" in w["reason"] for w in report["warnings"])
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(sources)).all()
        reasons = conn.execute(sa.select(topic_sources.c.reason)).scalars().all()
    assert len(rows) == report["added"] + report["duplicates"]
    for row in rows:
        for value in (row.title, row.text, row.author, row.url, row.published_at, row.origin):
            assert not ACTIVE.search(value or ""), (row.id, value)
        assert "root:" not in row.text and "aaaaaaaaaaaaaaaaaaaa" not in row.title
        assert "\u200b" not in row.title and "\u202e" not in row.title
        assert row.url is None or row.url.startswith("https://")
        assert row.url is None or "utm_" not in row.url
    assert all(not ACTIVE.search(r or "") for r in reasons)
    urls = {row.url for row in rows}
    # relative links resolve against the channel's link; tracking parameters are gone
    assert any(re.fullmatch(r"https://example\.com/blog/posts/\d+\.html", u or "") for u in urls)
    assert any(re.fullmatch(r"https://example\.com/posts/(\d+)\?id=\1", u or "") for u in urls)
    assert any(re.fullmatch(r"https://atom\.example\.org/posts/\d+", u or "") for u in urls)
    assert not any("frag" in (u or "") for u in urls)
    again = run(["sources", "import", str(tmp_path / "feeds"), "--topic", "feeds", "--json"])
    second = json.loads(capsys.readouterr().out)
    assert again == 1 and second["added"] == 0 and second["duplicates"] == 0


def test_bozo_feed_keeps_entries_and_says_why() -> None:
    data = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>A & B</title>'
            b"<item><title>First</title><description>one</description></item>"
            b"<item><title>Second</title><description>two")
    items, problem = parse_feed(data)
    assert [i.title for i in items] == ["First", "Second"]
    assert problem and "well-formed" in problem.lower() or "Error" in (problem or "")


def test_feedparser_never_sees_a_string(monkeypatch: pytest.MonkeyPatch) -> None:
    """feedparser fetches URLs and reads paths it is handed as strings: we hand it bytes."""
    import feedparser

    seen = []
    real = feedparser.parse

    def spy(obj, *args, **kwargs):
        seen.append(type(obj).__name__)
        return real(obj, *args, **kwargs)

    monkeypatch.setattr(feedparser, "parse", spy)
    parse_feed(b"<rss version='2.0'><channel><item><title>x</title></item></channel></rss>")
    assert seen == ["BytesIO"]
