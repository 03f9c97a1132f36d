"""The lead follows the article (issue 19): after a merged refresh changes a figure the lead
states, the next `absorb refresh` proposes a lead edit whose sentences passed the gate; a lead
model that misbehaves (draws on an id it was not offered, copies its instructions, invents a
figure) gets those sentences held back. Journeys run the installed `absorb` against the fake
model on 127.0.0.1; the rules are checked in process."""

from __future__ import annotations

import json
import shutil

import pytest

from agent.markdown import parse_page
from tests.cli_world import ok as _ok
from tests.scripted import sources_of, user_text

TOPIC = "ai-infrastructure"
OLD_FIGURE = "$650-750B"
NEW_FIGURE = "$700-800 billion"


def _merge_capex_refresh(shell):
    """Import the seed, refresh with the capex correction and merge it: revision 2 states the
    new figure where revision 1 stated the one the lead states."""
    _ok(shell(f"absorb import agent/demo/seed.md --topic {TOPIC}"))
    _ok(shell(f"absorb sources import agent/demo/capex.jsonl --topic {TOPIC}"))
    _ok(shell(f"absorb refresh {TOPIC}"))
    _ok(shell("absorb review approve 1"))
    article = json.loads(_ok(shell(f"absorb show {TOPIC} --json")).out)
    body = " ".join(s["text"] for sec in article["sections"] for p in sec["paragraphs"] for s in p)
    assert NEW_FIGURE in body and OLD_FIGURE in article["summary"]


@pytest.fixture(scope="module")
def merged(tmp_path_factory):
    """One fake server for the module and a home where the capex refresh is merged."""
    from agent.fake_server import FakeOpenAIServer
    from tests.cli_world import Shell, seed_model, workdir

    root = tmp_path_factory.mktemp("lead")
    with FakeOpenAIServer() as server:
        seed_model(server)
        clone = workdir(root)
        _merge_capex_refresh(Shell(root / "home", clone, server))
        assert not server.requests_for("lead")  # revision 1 -> 2 had nothing to follow yet
        yield root, clone, server


@pytest.fixture
def world(merged, tmp_path):
    """A copy of the merged home: each test starts from revision 2, the lead not yet followed."""
    from tests.cli_world import Shell

    root, clone, server = merged
    shutil.copytree(root / "home", tmp_path / "home")
    return Shell(tmp_path / "home", clone, server), server


def _lead_calls(server) -> int:
    return len(server.requests_for("lead"))


def _lead_edit(shell, proposal: int) -> dict:
    view = json.loads(_ok(shell(f"absorb review show {proposal} --json")).out)
    (edit,) = [e for e in view["edits"] if e["kind"] == "lead"]
    return edit


def test_next_refresh_proposes_a_lead_edit_that_passed_the_gate(world):
    shell, server = world
    calls = _lead_calls(server)
    ran = _ok(shell(f"absorb refresh {TOPIC}"))  # default flags
    assert "proposal 2 waiting" in ran.err and _lead_calls(server) == calls + 1
    edit = _lead_edit(shell, 2)
    assert edit["heading"] == "Lead" and edit["held_back"] == []
    (new,) = edit["sentences"]
    assert NEW_FIGURE in new["text"] and new["label"] == "supported" and new["quotes"]
    assert new["citations"] and all(c.startswith("src_") for c in new["citations"])
    assert any(OLD_FIGURE in r for r in edit["removed"])
    # reviewed like any edit; merged by compare-and-swap into a new revision
    _ok(shell("absorb review approve 2 --edit 1"))
    page = _ok(shell(f"absorb show {TOPIC} --format md")).out
    lead = page.split("\n\n")[1]
    assert NEW_FIGURE in lead and OLD_FIGURE not in lead and "[17]" in lead
    assert "Global data center construction trends toward $7T by 2030" in lead  # still stated
    # the cited lead round-trips through export and import, citations and all
    again = parse_page(page).article
    assert [s.citations for s in again.lead if s.citations] == [new["citations"]]
    html = _ok(shell(f"absorb show {TOPIC} --format html")).out
    assert 'class="lead"' in html and 'href="#ref-17"' in html.split('class="lead"', 1)[1].split("</p>")[0]
    # the lead now follows revision 3: the next refresh proposes nothing and asks nothing
    ran = _ok(shell(f"absorb refresh {TOPIC}"))
    assert "proposal" not in ran.err and _lead_calls(server) == calls + 1


def test_a_store_from_before_lead_keys_follows_its_lead_too(world, tmp_path):
    """A store written before migration 0005 (no lead keys): the first command migrates it,
    and `absorb refresh` finds the stale lead as before."""
    import sqlalchemy as sa

    from agent.store.db import make_engine
    from tests.test_lead_history import before_lead_keys

    shell, server = world
    url = f"sqlite:///{tmp_path / 'home' / 'absorb.db'}"
    before_lead_keys(url)
    engine = make_engine(url)
    calls = _lead_calls(server)
    ran = _ok(shell(f"absorb refresh {TOPIC}"))  # default flags
    assert "proposal 2 waiting" in ran.err and _lead_calls(server) == calls + 1
    assert _lead_edit(shell, 2)["sentences"][0]["label"] == "supported"
    with engine.connect() as conn:
        keys = conn.execute(sa.text("SELECT number, lead_sha FROM revisions ORDER BY number")).all()
    engine.dispose()
    assert [n for n, _ in keys] == [1, 2] and all(k and len(k) == 64 for _, k in keys)


def unruly_lead(request: dict) -> dict:
    """A lead model that misbehaves three ways and gets one sentence right."""
    text = user_text(request)
    offered = sources_of(request)
    changed = next(sid for sid, _, body in offered if NEW_FIGURE in body)
    body = next(body for sid, _, body in offered if sid == changed)
    instructions = request["messages"][0]["content"].splitlines()[2]
    assert "Article sentences you may draw on" in text
    return {"sentences": [
        {"text": body, "draws_on": ["a99"]},                     # an id not offered
        {"text": instructions, "draws_on": [changed]},           # copies its instructions
        {"text": body.replace("$700-800 billion", "$900 billion"), "draws_on": [changed]},  # invents
        {"text": f"{body} [src_0123456789abcdef]", "draws_on": [changed]},  # cites what it does not draw on
        {"text": body, "draws_on": [changed]},                   # right
    ], "rationale": "as instructed"}


def test_the_gate_holds_back_what_a_misbehaving_lead_model_writes(world):
    shell, server = world
    server.script_task("lead", unruly_lead)
    _ok(shell(f"absorb refresh {TOPIC}"))
    edit = _lead_edit(shell, 2)
    assert [s["label"] for s in edit["sentences"]] == ["supported"]
    assert NEW_FIGURE in edit["sentences"][0]["text"]
    reasons = " | ".join(s["reason"] for s in edit["held_back"])
    assert len(edit["held_back"]) == 4, reasons
    assert "a99, not one of the article's sentences offered" in reasons
    assert "states $900 billion" in reasons
    assert "not built from the article" in reasons  # the copied instructions
    assert "src_0123456789abcdef, which none of the sentences it draws on cites" in reasons
    shown = _ok(shell("absorb review show 2")).out
    assert "$900 billion" in shown  # held back, and shown to the editor as such
    # rejected: not proposed (nor asked) again until the sections change again
    calls = _lead_calls(server)
    _ok(shell('absorb review reject 2 --edit 1 --comment "keep the old lead for now"'))
    ran = _ok(shell(f"absorb refresh {TOPIC}"))
    assert "waiting" not in ran.err and _lead_calls(server) == calls
    assert OLD_FIGURE in json.loads(_ok(shell(f"absorb show {TOPIC} --json")).out)["summary"]


def test_a_lead_call_that_fails_leaves_the_lead_and_the_sections_go_on(world):
    from agent.fake_server import Fault

    shell, server = world
    server.script_task("lead", Fault.refusal(), Fault.refusal())
    ran = _ok(shell(f"absorb refresh {TOPIC}"))
    assert "the lead was not updated (refusal)" in ran.err and "waiting" not in ran.err, ran
    assert OLD_FIGURE in json.loads(_ok(shell(f"absorb show {TOPIC} --json")).out)["summary"]


# -- the rules, in process -------------------------------------------------------------------

def _revision(number: int, article):
    from agent.models import Revision

    return Revision(id=number, topic="t", number=number, parent_id=number - 1 or None,
                    article=article, actor="test", sha256=article.content_sha256(),
                    created_at="2026-12-01T00:00:00Z")


def _article(lead: str, sentences: list[tuple[str, list[str]]]):
    from agent.models import Article, Section, Sentence

    return Article(title="T", summary=lead, sections=[Section(id="s", heading="S", paragraphs=[
        [Sentence(text=t, citations=c) for t, c in sentences]])])


LEAD = "Hyperscalers commit $650-750B to AI capex in 2026. Half of the projects are late."
BEFORE = [("Hyperscalers commit $650-750 billion to AI capex in 2026.", ["src_a"]),
          ("Liquid cooling is now the default in new halls.", ["src_b"])]


@pytest.mark.parametrize("after, stale", [
    ([BEFORE[0], ("Racks above 100 kW need liquid cooling.", ["src_c"])], False),  # no lead figure
    ([("Hyperscalers commit $700-800 billion to AI capex in 2026.", ["src_d"]), BEFORE[1]], True),
    ([*BEFORE, ("Hyperscalers now commit $700-800 billion to AI capex.", ["src_d"])], True),
    (BEFORE, False),  # nothing changed
])
def test_when_the_lead_is_stale(after, stale):
    from agent.lead import staleness

    history = [_revision(1, _article(LEAD, BEFORE)), _revision(2, _article(LEAD, after))]
    found = staleness(history)
    assert bool(found and found.stale) is stale, found


def test_the_lead_basis_is_the_revision_that_last_wrote_it():
    from agent.lead import staleness, with_lead
    from agent.models import Sentence

    changed = [("Hyperscalers commit $700-800 billion to AI capex in 2026.", ["src_d"]), BEFORE[1]]
    rewritten = with_lead(_article("", changed), [Sentence(text=changed[0][0], citations=["src_d"])])
    history = [_revision(1, _article(LEAD, BEFORE)), _revision(2, _article(LEAD, changed)),
               _revision(3, rewritten)]
    assert staleness(history) is None


def test_resolve_gives_citations_of_what_it_draws_on_and_keeps_old_figures_only_if_stated():
    from agent.lead import LeadAnswer, lead_sentences, offered_sentences, resolve

    article = _article(LEAD, [("Hyperscalers commit $700-800 billion to AI capex in 2026.", ["src_d"]),
                              ("Half of the projects are late, operators say.", ["src_e"])])
    old = lead_sentences(article)
    offered = offered_sentences(article, old, [])
    ids = {o.sentence.text[:12]: o.id for o in offered}
    answer = LeadAnswer(sentences=[
        {"text": old[0].text, "draws_on": []},            # kept, but $650-750B is stated nowhere now
        {"text": old[1].text, "draws_on": []},            # kept: no figure
        {"text": "Hyperscalers commit $700-800 billion to AI capex.", "draws_on": [ids["Hyperscalers"]]},
    ])
    drafted = resolve(answer, offered, old, article)
    assert [s.text for s in drafted.kept_old] == [old[1].text]
    assert drafted.sentences[-1].citations == ["src_d"]
    assert "no longer states $650-750B" in drafted.held[0].verdict.reason


def test_extract_mode_inserts_the_chosen_article_sentences_verbatim():
    from agent.lead import LeadChoice, offered_sentences, resolve_choice

    article = _article(LEAD, BEFORE)
    offered = offered_sentences(article, [], [article.sections[0].sentences()[0]])
    drafted = resolve_choice(LeadChoice(ids=[offered[0].id, "a42"]), offered)
    assert [(s.text, s.citations) for s in drafted.sentences] == [(BEFORE[0][0], ["src_a"])]
    assert "a42 is not one of the ids offered" in drafted.held[0].verdict.reason


def test_a_lead_edit_is_refused_once_the_lead_or_what_it_draws_on_changed():
    from agent.lead import LEAD_ID, still_applies, with_lead
    from agent.apply import apply_edits
    from agent.models import Edit, Sentence

    article = _article(LEAD, BEFORE)
    drawn = article.sections[0].sentences()[0]
    new = Sentence(text=drawn.text, citations=drawn.citations)
    edit = Edit(id="e", kind="lead", section_id=LEAD_ID, heading="Lead",
                old_sentences=[Sentence(text="Hyperscalers commit $650-750B to AI capex in 2026."),
                               Sentence(text="Half of the projects are late.")],
                new_paragraphs=[[new]], drawn_from=[drawn])
    assert still_applies(article, edit)
    merged = apply_edits(article, [edit], {})
    assert merged.lead == [new] and merged.summary == new.text and merged.sections == article.sections
    assert not still_applies(merged, edit)  # the lead moved on
    other = with_lead(_article(LEAD, [BEFORE[1]]), [])
    assert not still_applies(other.model_copy(update={"summary": LEAD}), edit)  # drawn sentence gone


def test_extract_mode_picks_article_sentences_and_checks_them_in_code(world):
    """ABSORB_DRAFT_MODE=extract (the bundled local model's mode): the lead call offers ids
    only, code copies the chosen sentences in, and no judge is asked about them."""
    shell, server = world
    judged = len(server.requests_for("judge"))
    ran = _ok(shell(f"absorb refresh {TOPIC}", ABSORB_DRAFT_MODE="extract"))
    assert "proposal 2 waiting" in ran.err, ran
    (request,) = server.requests_for("lead_extract")[-1:]
    schema = json.dumps(request.get("response_format") or request.get("tools"))
    assert '"enum"' in schema  # the ids offered, and only those
    edit = _lead_edit(shell, 2)
    (new,) = edit["sentences"]
    assert NEW_FIGURE in new["text"] and new["label"] == "supported" and new["stage"] == "verbatim"
    assert len(server.requests_for("judge")) == judged
