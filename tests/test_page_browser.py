"""The public topic page in a real browser (Debian's chromium through Playwright), served by the
installed `absorb serve`: the seed renders with its lead, references and bus; [N] jumps to its
reference and the reference links back; no login, and no review action reachable from it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.cli_world import Shell, workdir

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TOPIC = "ai-infrastructure"
SEED = "agent/demo/seed.md"
TOKEN = "page-editor-token-0123456789abcdef0123"

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def served(tmp_path: Path):
    if not CHROMIUM.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but /usr/bin/chromium is missing (apt-get install -y chromium)")
        pytest.skip("/usr/bin/chromium not installed")
    shell = Shell(tmp_path / "home", workdir(tmp_path), ABSORB_EDITOR_TOKENS=f"alice:{TOKEN}")
    for line in (f"absorb import {SEED} --topic {TOPIC}", f"absorb sources import {SEED} --topic {TOPIC}"):
        ran = shell(line)
        assert ran.code == 0, ran
    port = _free_port()
    process = shell.popen(f"absorb serve --port {port}")
    try:
        deadline = time.monotonic() + 30
        while True:
            assert time.monotonic() < deadline and process.poll() is None, "absorb serve did not start"
            try:
                httpx.get(f"http://127.0.0.1:{port}/login", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def test_public_page_renders_the_seed_and_citations_jump_both_ways(served):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        tab = browser.new_context().new_page()  # a fresh context: no session cookie
        tab.set_default_timeout(15_000)
        problems: list[str] = []
        tab.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
        response = tab.goto(f"{served}/t/{TOPIC}")
        assert response.status == 200 and tab.url.endswith(f"/t/{TOPIC}")  # no login wall
        assert tab.locator("h1").inner_text() == "AI Infrastructure"
        assert "hyperscalers are pursuing $650-750B" in tab.locator(".lead").inner_text()
        assert tab.locator("#h-llms-as-knowledge-bases").inner_text() == "LLMs as Knowledge Bases"
        assert tab.locator(".references li").count() == 16
        assert "Showing 24 of 24." in tab.locator(".bus .shown").inner_text()
        assert tab.locator(".bus li").first.locator(".status").inner_text() == "new"
        # the Karpathy sentence's [7]: to reference 7, and back to the very same marker
        cite = tab.locator("#sec-llms-as-knowledge-bases a.cite").first
        assert cite.inner_text() == "[7]"
        cite.click()
        assert tab.url.endswith("#ref-7")
        assert "Anthropic Claude Max Plan" in tab.locator("#ref-7:target").inner_text()
        back = tab.locator("#ref-7 a.back").first
        target = back.get_attribute("href")
        back.click()
        assert tab.url.endswith(target)
        assert tab.locator(f"{target}:target").inner_text() == "[7]"
        # read-only: no form, button or link into the review side
        assert tab.locator("form, button, input, script").count() == 0
        hrefs = tab.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
        assert not [h for h in hrefs if h.startswith("/") and not h.startswith("/t/")], hrefs
        assert not problems, problems  # the strict CSP let everything load
        browser.close()
