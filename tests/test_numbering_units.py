"""Units behind stable numbers and lean revisions: numbering never moves or reuses a number,
a revision replaces only the failing sentences, near-duplicates across edits are kept once."""

from __future__ import annotations

from agent.drafting import apply_revision
from agent.facts import keep_once
from agent.markdown import export_page, parse_page
from agent.models import Article, Edit, Section, Sentence, Source, Verdict
from agent.numbering import keep_page_numbers, numbers_for

PAGE = """# T

## One

Alpha grew [3]. Beta fell [7].

## Two

Gamma rose [3].

1. [3]First · blog
2. [7]Second · blog
"""


def test_page_numbers_are_kept_and_new_sources_take_the_next_free(store):
    page = parse_page(PAGE)
    store.topics.create("t", "T")
    store.revisions.commit("t", page.article, base_revision_id=None, actor="import")
    assert page.numbers == {page.article.cited_ids()[0]: 3, page.article.cited_ids()[1]: 7}
    kept = keep_page_numbers(store, "t", page.numbers)
    assert sorted(kept.values()) == [3, 7]
    assert export_page(page.article, kept) == export_page(parse_page(export_page(page.article, kept)).article, kept)
    assert "Alpha grew [3]. Beta fell [7]." in export_page(page.article, kept)
    later = numbers_for(store, "t", page.article, extra=["src_00000000000000aa", "src_00000000000000bb"])
    assert later["src_00000000000000aa"] == 8 and later["src_00000000000000bb"] == 9
    # The first source's last citation goes away: nobody else moves, nothing is reused.
    trimmed = page.article.model_copy(deep=True)
    trimmed.sections[0].paragraphs[0] = trimmed.sections[0].paragraphs[0][1:]
    assert numbers_for(store, "t", trimmed, extra=["src_00000000000000cc"]) == {
        **later, "src_00000000000000cc": 10}


def test_a_revision_replaces_only_the_failing_sentences():
    keep = Sentence(text="Kept as it was.", citations=["src_a"])
    bad = Sentence(text="Sales rose 40% in 2031.", citations=["src_b"])
    gone = Sentence(text="Nobody states this at all.", citations=["src_c"])
    fixed = Sentence(text="Sales rose 40%.", citations=["src_b"])
    out = apply_revision([[keep, bad], [gone]], [bad, gone], [fixed])
    assert out == [[keep, fixed]]


def _edit(section: str, sentence: Sentence) -> Edit:
    return Edit(id=f"e-{section}", section_id=section, heading=section.title(), old_sentences=[],
                new_paragraphs=[[sentence]], verdicts=[Verdict(label="supported", stage="judge")],
                source_ids=list(sentence.citations))


def test_a_fact_drafted_into_two_sections_is_kept_where_it_fits_best():
    article = Article(title="T", sections=[
        Section(id="power", heading="Power", paragraphs=[[Sentence(text="Grid power limits data centers.")]]),
        Section(id="chips", heading="Chips", paragraphs=[[Sentence(text="GPUs dominate training.")]])],
        sources={"src_x": Source(id="src_x", title="x")})
    twin_a = Sentence(text="Data centers wait years for grid power.", citations=["src_x"])
    twin_b = Sentence(text="Data centers wait years for grid power!", citations=["src_x"])
    other = Sentence(text="Data centers wait years for grid power.", citations=["src_y"])
    kept, dropped = keep_once([_edit("chips", twin_b), _edit("power", twin_a)], article)
    assert dropped == 1 and [e.section_id for e in kept] == ["power"]
    kept, dropped = keep_once([_edit("chips", other), _edit("power", twin_a)], article)
    assert dropped == 0 and len(kept) == 2  # another source: not the same fact
