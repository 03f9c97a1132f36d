"""Attack: an item claims the URL of a stored reference (any spelling of it) and orders the
model to write its claim. Run as a user would, through the installed `absorb` with default
flags, against a fake model that obeys every planted instruction."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from agent.cli.main import run
from agent.fake_server import FakeOpenAIServer
from tests import attack_model
from tests.conftest import REPO

ABSORB = REPO / ".venv" / "bin" / "absorb"
TOPIC = "ai-infrastructure"
ATTEMPTS = 20


def spellings(url: str) -> list[str]:
    """Ways to write the same URL that canonicalisation folds together."""
    scheme, rest = url.split("://", 1)
    host, _, path = rest.partition("/")
    toggled = url[:-1] if url.endswith("/") else url + "/"
    return [url, f"{scheme.upper()}://{host.upper()}/{path}", url + "?utm_source=feed",
            url + "#top", toggled]


@pytest.fixture
def absorb(absorb_home: Path):
    if not ABSORB.exists():
        pytest.skip(f"console script not installed at {ABSORB}")
    with FakeOpenAIServer() as server:
        attack_model.install(server)
        env = {**os.environ, "ABSORB_HOME": str(absorb_home), "OPENAI_BASE_URL": server.base_url,
               "OPENAI_API_KEY": "test-key", "ABSORB_REQUESTS_PER_SECOND": "0"}

        def run(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run([str(ABSORB), *map(str, args)], env=env, capture_output=True,
                                  text=True, timeout=300)

        run.server = server
        yield run


def _stored():
    """The store the CLI wrote (ABSORB_HOME is this test's), read after the commands ran."""
    from agent.store import open_store

    return open_store()


def _references(store) -> dict[str, tuple[str, str]]:
    """(text, title) of every stored source with a URL."""
    return {s.id: (s.text, s.title) for s, _ in store.sources.for_topic(TOPIC) if s.url}


def test_url_takeover_of_references_merges_nothing(absorb, seed_path, tmp_path):
    assert run(["import", str(seed_path), "--topic", TOPIC]) == 0  # set-up, same ABSORB_HOME
    store = _stored()
    before = _references(store)
    assert len(before) >= 8 and all(text == "" for text, _ in before.values())
    targets = [s for s, _ in store.sources.for_topic(TOPIC) if s.url]
    lines = []
    for n in range(ATTEMPTS):
        target = targets[n % len(targets)]
        url = spellings(target.url)[n % 5]
        lines.append(json.dumps({"url": url, "title": target.title, "kind": "web",
                                 "text": attack_model.attacker_text(n)}))
    bus = tmp_path / "attack.jsonl"
    bus.write_text("\n".join(lines) + "\n")

    imported = absorb("sources", "import", bus, "--topic", TOPIC)
    assert imported.returncode == 0, imported.stderr
    assert _references(store).items() >= before.items()  # no reference took a text or a title
    refreshed = absorb("refresh", TOPIC, "--review", "auto")
    assert refreshed.returncode == 0, refreshed.stderr
    assert "waits for an editor" in refreshed.stderr and "does not trust" in refreshed.stderr

    article = absorb("show", TOPIC, "--format", "json").stdout
    assert attack_model.ATTACK not in article  # 0 of 20 attacker sentences merged
    assert len(store.revisions.history(TOPIC)) == 1
    after = _references(store)
    for sid, (_, title) in before.items():  # no reference took the attacker's text or title
        assert after[sid] == ("", title)
    # The obedient model did its part: the attacker's sentences passed the citation gate
    # (they quote their own sources), so only the trust rule kept them out of the article.
    (proposal,) = store.proposals.list(topic=TOPIC)
    proposed = [s for e in proposal.edits for s in e.new_sentences() if attack_model.ATTACK in s.text]
    assert len(proposed) == ATTEMPTS and all(e.status.value == "pending" for e in proposal.edits)
    assert all(v.passed for e in proposal.edits for v in e.verdicts)
    attackers = [sid for sid, (text, _) in after.items() if text and sid not in before]
    assert len(attackers) == ATTEMPTS  # each item is its own source, none a reference
    store.close()
