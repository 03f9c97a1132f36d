"""Reference numbers belong to the topic: the seed keeps its own [N] through import and export,
a new source shows the same [N] in `review show --json` and in the merged article, and a
merge elsewhere never changes a byte of an untouched section (installed `absorb`, fake model)."""

from __future__ import annotations

import re

import pytest

from agent.fake_server import FakeOpenAIServer
from tests import nights_model
from tests.nights_model import Absorb

TOPIC = "ai-infrastructure"


def sections(page: str) -> dict[str, str]:
    """`## Heading` -> the section's Markdown, as `show --format md` prints it."""
    parts = re.split(r"^## ", page, flags=re.M)[1:]
    return {p.split("\n", 1)[0]: p for p in parts if not p.startswith("References")}


def references(page: str) -> dict[str, int]:
    """Reference title -> number, from the page's reference list."""
    listed = page.split("## References", 1)[1]
    return {m[2].split(" · ")[0]: int(m[1]) for m in re.finditer(r"^\d+\. \[(\d+)\](.*)$", listed, re.M)}


@pytest.fixture
def absorb(tmp_path, seed_path):
    with FakeOpenAIServer() as fake:
        nights_model.script(fake, omit_every=0)
        run = Absorb(tmp_path / "home", fake)
        run("import", seed_path, "--topic", TOPIC)
        yield run


def test_the_seed_keeps_its_numbers_through_import_and_export(absorb, tmp_path):
    page = absorb("show", TOPIC, "--format", "md").stdout
    overview = sections(page)["Overview"]
    assert "[5][6][8][10][13]" in overview  # the seed's own numbers, not [1]..[5]
    assert "[web:3][web:4][web:5]" in overview  # unresolved markers kept as they were
    exported = tmp_path / "exported.md"
    exported.write_text(page)
    absorb("import", exported, "--topic", "copy")
    assert absorb("show", "copy", "--format", "md").stdout == page


def test_numbers_agree_everywhere_and_untouched_sections_never_change(absorb, seed_path, tmp_path):
    absorb("sources", "import", seed_path, "--topic", TOPIC)
    before = absorb("show", TOPIC, "--format", "md").stdout
    numbers = references(before)
    absorb("refresh", TOPIC)
    proposal = absorb.json("review", "list", "--json")[0]
    shown = absorb.json("review", "show", proposal["id"], "--json")
    edited = {e["heading"] for e in shown["edits"]}
    fresh = {r["title"]: r["number"] for e in shown["edits"] for r in e["sources"]}
    absorb("review", "approve", proposal["id"])
    merged = absorb("show", TOPIC, "--format", "md").stdout
    after = references(merged)
    for title, number in numbers.items():  # nobody moved
        assert after[title] == number
    new = {title: number for title, number in fresh.items() if title not in numbers}
    assert new
    for title, number in fresh.items():  # the number review showed is the merged article's
        assert after[title] == number
    assert min(new.values()) > max(numbers.values())  # new sources take the next free numbers
    for heading, text in sections(before).items():
        if heading not in edited:
            assert sections(merged)[heading] == text, heading

    # A rewrite of one section, merged: every other section byte-identical.
    absorb("rewrite", TOPIC, "training-and-compute-efficiency")
    rewrite = next(p for p in absorb.json("review", "list", "--json") if p["status"] == "pending")
    absorb("review", "approve", rewrite["id"])
    rewritten = absorb("show", TOPIC, "--format", "md").stdout
    assert sections(rewritten)["Training and Compute Efficiency"] != \
        sections(merged)["Training and Compute Efficiency"]
    for heading, text in sections(merged).items():
        if heading != "Training and Compute Efficiency":
            assert sections(rewritten)[heading] == text, heading

    # An editor's own proposal for one section, citing by the numbers the page shows.
    own = tmp_path / "future.md"
    own.write_text("## Future Directions\n\nAI infrastructure is becoming a utility layer [2].\n")
    absorb("propose", TOPIC, "--section", "future-directions", "--file", own)
    mine = next(p for p in absorb.json("review", "list", "--json") if p["status"] == "pending")
    absorb("review", "approve", mine["id"], "--include-unverified")
    final = absorb("show", TOPIC, "--format", "md").stdout
    assert "utility layer [2]." in sections(final)["Future Directions"]
    for heading, text in sections(rewritten).items():
        if heading != "Future Directions":
            assert sections(final)[heading] == text, heading
    assert references(final) == references(rewritten)
