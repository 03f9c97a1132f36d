"""Attacks on the knowledge bus, against a fake model that obeys every planted instruction
(real ChatOpenAI client, fake OpenAI server on 127.0.0.1): a page that declares a stored
reference's URL as its canonical URL, and a feed nobody trusts whose items order the model
to write them, each 20 times, with `refresh --review auto`."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

import pytest

from agent.fake_server import FakeOpenAIServer
from tests import attack_model

TOPIC = "ai-infrastructure"
ATTEMPTS = 20
GENUINE = ("Meta is moving its data centers to full-facility liquid cooling as rack density "
           "grows past 600 kW.")


class Pages(BaseHTTPRequestHandler):
    """/page/N: an article whose <link rel=canonical> names a stored reference's URL."""

    canonical: list[str] = []

    def log_message(self, *args: object) -> None:
        return

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        n = int(self.path.rsplit("/", 1)[-1])
        claim = attack_model.attacker_text(n)
        body = (f'<!doctype html><html><head><title>Power crisis update {n}</title>'
                f'<link rel="canonical" href="{escape(Pages.canonical[n % len(Pages.canonical)])}">'
                f'<meta property="og:url" content="{escape(Pages.canonical[n % len(Pages.canonical)])}">'
                f"</head><body><article><h1>Update {n}</h1><p>{escape(claim)}</p>"
                f"<p>Reported by our own correspondents in the field, number {n}.</p></article>"
                "</body></html>").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def model(monkeypatch):
    with FakeOpenAIServer() as server:
        attack_model.install(server)
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        monkeypatch.setenv("ABSORB_REQUESTS_PER_SECOND", "0")
        yield server


@pytest.fixture
def seeded(cli, seed_path):
    from agent.store import open_store

    assert cli("import", seed_path, "--topic", TOPIC).code == 0
    store = open_store()
    yield store
    store.close()


def _references(store) -> dict[str, tuple[str, str, str | None]]:
    return {s.id: (s.text, s.title, s.url) for s, _ in store.sources.for_topic(TOPIC) if s.url}


def _merged_attacks(cli) -> int:
    article = json.loads(cli("show", TOPIC, "--format", "json").out)
    return json.dumps(article).count(f"{attack_model.ATTACK} ")


def test_canonical_url_spoofing_takes_over_nothing(cli, seeded, model, monkeypatch):
    monkeypatch.setenv("ABSORB_FETCH_ALLOW_PRIVATE", "1")  # the pages are on 127.0.0.1
    before = _references(seeded)
    Pages.canonical = [url for _, _, url in before.values()]
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{httpd.server_address[1]}"
        for n in range(ATTEMPTS):
            result = cli("sources", "import", f"{base}/page/{n}", "--topic", TOPIC)
            assert result.code == 0, result.err
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert _references(seeded).items() >= before.items()  # every reference as it was
    pages = [s for s, _ in seeded.sources.for_topic(TOPIC) if s.url and s.url.startswith(base)]
    assert len(pages) == ATTEMPTS  # identity is the fetched URL ...
    details = seeded.sources.details(pages[0].id)
    assert details["declared_url"] in Pages.canonical  # ... the canonical claim only a hint

    data = json.loads(cli("refresh", TOPIC, "--review", "auto", "--json").out)
    assert data["status"] == "done", data
    assert "waits for an editor" in data["outcome"]
    assert _merged_attacks(cli) == 0
    assert len(seeded.revisions.history(TOPIC)) == 1


def _rss(items: list[tuple[str, str, str]]) -> str:
    entries = "".join(f"<item><title>{escape(t)}</title><link>{escape(link)}</link>"
                      f"<description>{escape(text)}</description></item>" for t, link, text in items)
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>bus</title>'
            f"<link>https://bus.example/</link>{entries}</channel></rss>")


def test_untrusted_feed_cannot_auto_merge(cli, seeded, model, tmp_path):
    hostile = tmp_path / "hostile.xml"
    hostile.write_text(_rss([(f"Wire {n}", f"https://wire.example/{n}",
                              attack_model.attacker_text(n, section="future-directions"))
                             for n in range(ATTEMPTS)]))
    trusted = tmp_path / "trusted.xml"
    trusted.write_text(_rss([("Meta liquid cooling", "https://meta.example/cooling", GENUINE)]))
    assert cli("feeds", "add", TOPIC, hostile, "--name", "wire").code == 0
    assert cli("feeds", "add", TOPIC, trusted, "--name", "newsroom", "--trusted").code == 0
    before = _references(seeded)

    result = cli("refresh", TOPIC, "--review", "auto", "--json")  # gathers the feeds first
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["merged_revision_id"], data  # the trusted feed's sentence merged ...
    article = json.dumps(json.loads(cli("show", TOPIC, "--format", "json").out))
    assert GENUINE.rstrip(".") in article
    assert _merged_attacks(cli) == 0  # ... and none of the 20 planted ones
    assert "waits for an editor" in data["outcome"] and "does not trust" in data["outcome"]
    (proposal,) = seeded.proposals.list(topic=TOPIC)
    waiting = [s for e in proposal.edits if e.status.value == "pending" for s in e.new_sentences()
               if attack_model.ATTACK in s.text]
    statuses = [st for s, st in seeded.sources.for_topic(TOPIC) if s.url and "wire.example" in s.url]
    assert len(statuses) == ATTEMPTS and set(statuses) <= {"proposed", "duplicate"}
    # Every drafted one passed the gate (the obedient judge vouched, the quotes are their own
    # words) and waits for an editor; a near-duplicate item was never drafted.
    assert len(waiting) == statuses.count("proposed") >= ATTEMPTS - 2
    assert _references(seeded).items() >= before.items()  # the references' texts unchanged
