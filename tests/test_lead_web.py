"""A lead edit in the web review: its card says it is the lead, approve merges it into the
article's lead (the public page shows it with its [N]), reject leaves the lead as it was."""

from __future__ import annotations

from agent.models import Edit, EvidenceQuote, Source, Sentence, Verdict, VerdictLabel, source_id_for
from tests.test_review import TOPIC, seeded  # noqa: F401 - fixture
from tests.test_web_review import HTML, HX, client, login  # noqa: F401 - fixture

NEW = "Top US cloud and AI providers now commit $700-800 billion to AI capex in 2026."


def lead_proposal(store) -> tuple[int, str]:
    """A lead edit drawing on one article sentence (added for the test, citing a stored source)."""
    from agent.lead import LEAD_ID, lead_sentences

    source = Source(id=source_id_for("https://example.org/capex", NEW), url="https://example.org/capex",
                    title="Capex guidance", kind="news", text=NEW, content_hash="capex")
    store.sources.add_to_topic(TOPIC, [source], status="absorbed")
    current = store.revisions.current(TOPIC)
    article = current.article.model_copy(deep=True)
    drawn = Sentence(text=NEW, citations=[source.id])
    article.sections[0].paragraphs[0].append(drawn)
    article.sources[source.id] = source.model_copy(update={"text": ""})
    base = store.revisions.commit(TOPIC, article, base_revision_id=current.id, actor="editor:test")
    old = lead_sentences(article)
    quote = EvidenceQuote(source_id=source.id, text=NEW, start=0, end=len(NEW))
    edit = Edit(id="lead-1", kind="lead", section_id=LEAD_ID, heading="Lead", old_sentences=old,
                new_paragraphs=[[old[0], drawn, *old[2:]]], drawn_from=[drawn],
                verdicts=[Verdict(label=VerdictLabel.supported, stage="judge", quotes=[quote])],
                rationale="the lead now states the article's new figure")
    pid = store.proposals.create(TOPIC, run_id=None, base_revision_id=base.id, edits_=[edit],
                                 actor="run:test").id
    return pid, old[1].text


def test_the_lead_card_approves_into_the_lead(client, seeded):  # noqa: F811
    pid, replaced = lead_proposal(seeded)
    csrf = login(client, pid)
    page = client.get(f"/proposals/{pid}", headers=HTML).text
    assert "Edit 1 · Lead" in page and "the lead, from the article's own sentences" in page
    card = client.post(f"/proposals/{pid}/approve", data={"csrf": csrf, "edit": "lead-1"}, headers=HX)
    assert card.status_code == 200 and "Approved and merged." in card.text, card.text
    article = seeded.revisions.current(TOPIC).article
    assert NEW in article.summary and replaced not in article.summary
    assert [s.text for s in article.lead if s.citations] == [NEW]
    public = client.get(f"/t/{TOPIC}", headers=HTML).text
    lead = public.split('<p class="lead">', 1)[1].split("</p>", 1)[0]
    assert NEW in lead and 'class="cite"' in lead


def test_the_lead_card_rejects_and_the_lead_stays(client, seeded):  # noqa: F811
    pid, replaced = lead_proposal(seeded)
    csrf = login(client, pid)
    card = client.post(f"/proposals/{pid}/reject", data={"csrf": csrf, "edit": "lead-1"}, headers=HX)
    assert card.status_code == 200, card.text
    article = seeded.revisions.current(TOPIC).article
    assert replaced in article.summary and not article.lead
