"""Plain text stays as written: only HTML is turned into text (by the HTML extractor or a
feed's HTML body); a text file or JSONL record keeps its angle brackets and its words, and
escaping happens when a page renders it."""

from __future__ import annotations

import json
import re

from fastapi.testclient import TestClient

from agent.cli.main import run
from agent.store import open_store

EVIDENCE = ("If a<b and c>d then std::vector<int> holds them; the attribute onload= and the "
            "scheme javascript: are words here, as is <script>alert(1)</script>.")
RECORD = "Templates like Map<K, V> and the markup <b>bold</b> stay text; so does x >= 3 && y < 2."
TOKEN = "p" * 40


def test_plain_text_is_stored_as_written_and_escaped_when_rendered(tmp_path, capsys):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "note.txt").write_text(f"Comparison notes\n\n{EVIDENCE}\n")
    (inbox / "bus.jsonl").write_text(json.dumps({"title": "Record", "text": RECORD}) + "\n")
    assert run(["sources", "import", str(inbox), "--topic", "t"]) == 0
    store = open_store()
    try:
        stored = sorted(s.text for s, _ in store.sources.for_topic("t"))
        assert stored == sorted([EVIDENCE, RECORD])
        source_id = next(s.id for s, _ in store.sources.for_topic("t") if s.text == EVIDENCE)
        capsys.readouterr()
        assert run(["sources", "show", source_id]) == 0
        assert EVIDENCE in capsys.readouterr().out

        from agent.web.app import create_app

        with TestClient(create_app(store, tokens=[TOKEN]), base_url="http://127.0.0.1") as client:
            page = client.get(f"/topics/t/sources/{source_id}",
                              headers={"authorization": f"Bearer {TOKEN}", "accept": "text/html"})
        assert page.status_code == 200, page.text[:300]
        assert "<script>alert(1)</script>" not in page.text
        assert "a&lt;b and c&gt;d" in page.text and "std::vector&lt;int&gt;" in page.text
    finally:
        store.close()


def test_a_feeds_html_body_is_still_reduced_to_inert_text(tmp_path):
    feed = tmp_path / "feed.xml"
    feed.write_text('<?xml version="1.0"?><rss version="2.0"><channel><title>f</title><item>'
                    "<title>Story</title><description>&lt;p&gt;Chips &amp;amp; power "
                    "&lt;script&gt;steal()&lt;/script&gt;&lt;b onclick=x()&gt;news&lt;/b&gt;&lt;/p&gt;"
                    "</description></item></channel></rss>")
    assert run(["sources", "import", str(feed), "--topic", "t"]) == 0
    store = open_store()
    try:
        (source, _), = store.sources.for_topic("t")
    finally:
        store.close()
    assert "Chips & power" in source.text and "news" in source.text
    assert not re.search(r"<[A-Za-z/]|onclick=|steal\(\)", source.text)
