"""Edits against an article, in memory: whether an edit still applies, why not, and the
article with edits applied. No store here (agent.merge decides and commits), so readers such
as `absorb review list` judge staleness without loading SQLAlchemy."""

from __future__ import annotations

from agent.models import Article, Edit, Section, Source, is_source_id


def edit_applies(article: Article, edit: Edit) -> bool:
    """True while the edit's section is as it was at the base (or, if new, still absent); a
    lead edit, while the lead is as it was and the article states what it draws on."""
    if edit.kind == "lead":
        from agent.lead import still_applies

        return still_applies(article, edit)
    section = article.section(edit.section_id)
    if edit.new_section:
        return section is None
    return section is not None and section.sentences() == edit.old_sentences


def refusal(edit: Edit, topic: str) -> str:
    """Why an approved edit no longer applies, and the commands that redraft it."""
    if edit.kind == "lead":
        return ("the lead, or an article sentence it draws on, changed since the proposal was "
                f"drafted; the next `absorb refresh {topic}` proposes the lead again")
    return (f"section '{edit.heading}' changed since the proposal was drafted; redraft it "
            f"(`absorb rewrite {topic} {edit.section_id}` or `absorb propose {topic} --section "
            f"{edit.section_id} --file FILE.md`)")


def apply_edits(article: Article, edits_: list[Edit], sources: dict[str, Source]) -> Article:
    """A new article with the edits' sections replaced or appended; others untouched."""
    updated = article.model_copy(deep=True)
    for edit in edits_:
        if edit.kind == "lead":
            from agent.lead import with_lead

            updated = with_lead(updated, [s for p in edit.new_paragraphs for s in p])
            continue
        new_section = Section(id=edit.section_id, heading=edit.heading,
                              paragraphs=[list(p) for p in edit.new_paragraphs if p])
        if edit.new_section:
            if new_section.paragraphs:  # a new section whose every sentence was held back adds nothing
                updated.sections.append(new_section)
        else:
            index = next(i for i, s in enumerate(updated.sections) if s.id == edit.section_id)
            updated.sections[index] = new_section
        for sentence in edit.new_sentences():
            for key in sentence.citations:
                if is_source_id(key) and key not in updated.sources and key in sources:
                    # Revisions list sources without their text: the text lives in the store once.
                    updated.sources[key] = sources[key].model_copy(update={"text": ""})
    return updated
