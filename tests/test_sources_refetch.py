"""`absorb sources fetch ID`: a page's textless reference gets its text only from its own URL,
once, recorded in its history; an item claiming that URL never fills it."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agent.cli.main import run
from agent.store import open_store
from tests.conftest import REPO

ABSORB = REPO / ".venv" / "bin" / "absorb"
ARTICLE = (b"<!doctype html><html><head><title>Liquid cooling at Meta</title>"
           b'<link rel="canonical" href="https://elsewhere.example/other-story"></head><body><article>'
           b"<h1>Liquid cooling at Meta</h1><p>Meta is moving its data centers to full-facility "
           b"liquid cooling as rack density grows past 600 kW.</p><p>Rack thermal density is "
           b"scaling from 30 kW to 600 kW within a few hardware generations.</p></article></body></html>")


class Page(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        return

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/old":
            self.send_response(301)
            self.send_header("Location", "/article")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(ARTICLE)))
        self.end_headers()
        self.wfile.write(ARTICLE)


@pytest.fixture
def page_url():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_reference_is_filled_once_by_its_own_fetch(tmp_path, page_url, absorb_home, monkeypatch):
    if not ABSORB.exists():
        pytest.skip(f"console script not installed at {ABSORB}")
    page = tmp_path / "page.md"
    page.write_text(f"# Cooling\n\nNotes on cooling.\n\n## Racks\n\nMeta is moving to liquid cooling. [1]\n\n"
                    f"  1. [1]{page_url}/old · web\n")
    assert run(["import", str(page), "--topic", "cooling"]) == 0
    store = open_store()
    (reference, _), = store.sources.for_topic("cooling")
    assert reference.text == ""
    claim = tmp_path / "claim.jsonl"
    claim.write_text(json.dumps({"url": f"{page_url}/old", "title": "Hijack",
                                 "text": "Meta abandoned liquid cooling entirely."}) + "\n")
    assert run(["sources", "import", str(claim), "--topic", "cooling"]) == 0
    assert store.sources.get(reference.id).text == ""  # the claim did not fill it

    env = {**os.environ, "ABSORB_HOME": str(absorb_home), "ABSORB_FETCH_ALLOW_PRIVATE": "1"}
    fetched = subprocess.run([str(ABSORB), "sources", "fetch", reference.id, "--json"], env=env,
                             capture_output=True, text=True, timeout=120)
    assert fetched.returncode == 0, fetched.stderr
    event = json.loads(fetched.stdout)
    assert event["fetched_url"] == f"{page_url}/article"  # after the redirect
    filled = store.sources.details(reference.id)
    assert "Meta is moving its data centers to full-facility liquid cooling" in filled["text"]
    assert filled["title"] == reference.title  # the reference keeps its own title
    assert filled["declared_url"] == "https://elsewhere.example/other-story"  # a hint only
    assert [(h["action"], h["url"], h["fetched_url"]) for h in filled["history"]] == [
        ("fetched", f"{page_url}/old", f"{page_url}/article")]
    store.close()

    monkeypatch.setenv("ABSORB_FETCH_ALLOW_PRIVATE", "1")
    assert run(["sources", "fetch", reference.id]) == 2  # written once: never again
    store = open_store()
    assert len(store.sources.history(reference.id)) == 1
    store.close()
