"""The review page in a real browser (Debian's chromium through Playwright): log in, approve
one edit, reject another, see the article change; hostile source text stays text."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

from agent.models import Edit, Sentence, Verdict, VerdictLabel
from tests.test_review import COOLING, HOSTILE, TOPIC, seeded, two_edit_proposal  # noqa: F401

CHROMIUM = Path("/usr/bin/chromium")
TOKEN = "browser-editor-token-0123456789abcdef"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.browser


def twenty_edit_proposal(store) -> int:
    """Every section of the seed edited, plus new sections, up to twenty edits."""
    article = store.revisions.current(TOPIC).article
    edits = []
    for n in range(20):
        section = article.sections[n] if n < len(article.sections) else None
        added = [Sentence(text=f"Finding number {n} adds {n * 7} units of evidence.", citations=[]),
                 Sentence(text=f"A second observation {n} follows from it.", citations=[])]
        old = [list(p) for p in section.paragraphs] if section else []
        new = [*old[:-1], [*(old[-1] if old else []), *added]]
        edits.append(Edit(id=f"twenty-{n}", section_id=section.id if section else f"extra-{n}",
                          heading=section.heading if section else f"Extra section {n}",
                          new_section=section is None,
                          old_sentences=section.sentences() if section else [], new_paragraphs=new,
                          verdicts=[Verdict(label=VerdictLabel.uncited, stage="structure",
                                            reason="no citation") for _ in added]))
    base = store.topics.get(TOPIC).current_revision_id
    return store.proposals.create(TOPIC, run_id=None, base_revision_id=base, edits_=edits,
                                  actor="run:bench").id


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def live_server(seeded, monkeypatch):  # noqa: F811
    import uvicorn

    from agent.web.app import create_app

    if not CHROMIUM.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but /usr/bin/chromium is missing (apt-get install -y chromium)")
        pytest.skip("/usr/bin/chromium not installed")
    monkeypatch.setenv("ABSORB_EDITOR_TOKENS", TOKEN)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(seeded), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def page(live_server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        tab = browser.new_context().new_page()  # a context of its own: tests may open more tabs
        tab.set_default_timeout(15_000)
        tab.problems = []
        tab.on("dialog", lambda dialog: (tab.problems.append(f"dialog: {dialog.message}"),
                                         dialog.dismiss()))
        # The first visit answers 401 with the login form, which the console reports.
        tab.on("console", lambda msg: tab.problems.append(msg.text)
               if msg.type == "error" and "status of 401" not in msg.text else None)
        yield tab
        browser.close()


def test_editor_approves_one_edit_rejects_another_and_sees_the_article_change(
        page, live_server, seeded):  # noqa: F811
    pid = two_edit_proposal(seeded)
    page.goto(f"{live_server}/proposals/{pid}")
    page.fill("#token", TOKEN)
    page.click("form.login button")
    page.wait_for_selector("#edit-2")
    assert page.evaluate("typeof htmx") == "object"  # loaded despite the strict CSP
    assert page.locator("#proposal-status").inner_text() == "pending"
    assert page.get_by_text(HOSTILE).count() >= 1  # shown as text
    assert page.locator("img").count() == 0 and page.locator("main script").count() == 0

    page.fill("#edit-1 input[name=comment]", "cooling is well sourced")
    page.click("#edit-1 button.approve")
    page.wait_for_selector("#edit-1 .badge.edit-merged")
    assert "Approved and merged." in page.locator("#edit-1 .card-message").inner_text()
    page.click("#edit-2 button.reject")
    page.wait_for_selector("#edit-2 .badge.edit-rejected")
    assert page.locator("#proposal-status").inner_text() == "partially approved"
    assert "2 of 2 edits decided" in page.locator("#progress").inner_text()

    page.click(f"a[href='/topics/{TOPIC}']")
    page.wait_for_selector("article.page")
    assert COOLING in page.locator("#section-physical-infrastructure-boom").inner_text()
    assert "cooling is well sourced" in page.locator("article .meta").first.inner_text()
    cite = page.locator("#section-physical-infrastructure-boom a.cite").last
    assert cite.get_attribute("title") == "Meta liquid cooling shift · blog"
    cite.click()
    target = page.locator("ul.refs li:target")
    target.locator("a").first.click()
    page.wait_for_selector("article.source")
    assert "Rack density grows." in page.locator(".source-text").inner_text()
    assert page.problems == []  # no alert, no CSP violation, no script error


def test_a_hostile_source_stays_text_in_the_article(page, live_server, seeded):  # noqa: F811
    pid = two_edit_proposal(seeded)
    page.goto(f"{live_server}/login")
    page.fill("#token", TOKEN)
    page.click("form.login button")
    page.goto(f"{live_server}/proposals/{pid}")
    page.click("summary:has-text('Approve all 2 undecided')")
    page.click("#approve-all")
    page.wait_for_selector("#outcome:has-text('Merged edit 1, 2')")
    page.goto(f"{live_server}/topics/{TOPIC}")
    section = page.locator("#section-llms-as-knowledge-bases")
    assert "<img src=x onerror=alert(1)>" in section.inner_text()
    assert "<script>alert(2)</script>" in section.inner_text()
    assert page.locator("img").count() == 0
    assert page.problems == []


def test_twenty_edits_render_in_the_browser(page, live_server, seeded, capsys):  # noqa: F811
    pid = twenty_edit_proposal(seeded)
    page.goto(f"{live_server}/login?next=/proposals/{pid}")
    page.fill("#token", TOKEN)
    page.click("form.login button")
    page.wait_for_selector("#edit-20")
    page.reload(wait_until="load")
    timing = page.evaluate("() => { const n = performance.getEntriesByType('navigation')[0];"
                           " return [n.responseStart - n.requestStart, n.domContentLoadedEventEnd,"
                           " n.loadEventEnd]; }")
    with capsys.disabled():
        print(f"\n20-edit proposal in chromium: server {timing[0]:.0f} ms to first byte, "
              f"DOMContentLoaded {timing[1]:.0f} ms, load {timing[2]:.0f} ms")
    assert page.locator("section.edit").count() == 20
    assert timing[2] < 5000
