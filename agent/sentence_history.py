"""One sentence's history: the revision that first had it, the proposal and edit that added
it, who approved it and when, what it cites and how it was verified (or that it was not)."""

from __future__ import annotations

from dataclasses import dataclass

from agent.models import EditStatus, Revision, Sentence, Verdict
from agent.sentence_diff import check_words, label_of
from agent.store import Store
from agent.store.decisions import UnverifiedMark, sentence_key
from agent.store.rows import key_of


@dataclass
class SentenceHistory:
    sentence: Sentence
    first_revision: Revision
    in_current: bool
    proposal_id: int | None = None
    edit_number: int | None = None
    decided_by: str | None = None
    decided_at: object = None
    verdict: Verdict | None = None
    label: str = ""
    check: str = ""
    mark: UnverifiedMark | None = None


def _find(revision: Revision, key: str) -> Sentence | None:
    for section in revision.article.sections:
        for sentence in section.sentences():
            if sentence_key(sentence) == key:
                return sentence
    return None


def _stored_key(sentence: dict) -> str:
    """agent.store.rows.sentence_key of a sentence as stored (JSON, unparsed)."""
    return key_of(sentence.get("text", ""), sentence.get("citations") or [])


def _has(article: dict, key: str) -> bool:
    """Whether a stored article (its JSON, unparsed) has a section sentence of this key."""
    return any(_stored_key(s) == key for section in article.get("sections") or []
               for paragraph in section.get("paragraphs") or [] for s in paragraph)


def _adds(edit: dict, key: str) -> bool:
    """Whether a stored edit (its JSON, unparsed) adds a sentence of this key: one of its new
    sentences that is not one of its old ones."""
    return (key not in {_stored_key(s) for s in edit.get("old_sentences") or []}
            and any(_stored_key(s) == key for p in edit.get("new_paragraphs") or [] for s in p))


def history_of(store: Store, topic: str, key: str) -> SentenceHistory | None:
    revision = store.revisions.first_matching(topic, lambda article: _has(article, key))
    sentence = _find(revision, key) if revision is not None else None
    if revision is None or sentence is None:
        return None
    current = store.revisions.current(topic)
    found = SentenceHistory(sentence, revision, current is not None and _find(current, key) is not None,
                            mark=store.decisions.unverified(topic).get(key))
    # Only the first proposal whose merged edit adds the sentence is read whole.
    adds = store.proposals.first_with_merged_edit(topic, lambda payload: _adds(payload, key))
    proposal = store.proposals.get(adds) if adds is not None else None
    for number, edit in enumerate(proposal.edits if proposal is not None else [], start=1):
        if edit.status != EditStatus.merged:
            continue
        olds = {sentence_key(s) for s in edit.old_sentences}
        fresh = [s for s in edit.new_sentences() if sentence_key(s) not in olds]
        at = next((i for i, s in enumerate(fresh) if sentence_key(s) == key), None)
        if at is None:
            continue
        found.proposal_id, found.edit_number = proposal.id, number
        found.verdict = edit.verdicts[at] if at < len(edit.verdicts) else None
        found.label, found.check = label_of(found.verdict), check_words(found.verdict)
        decisions = store.decisions.for_proposal(proposal.id).get(edit.id, [])
        merged = [d for d in decisions if d.action == "merged"]
        if merged:
            found.decided_by, found.decided_at = merged[-1].actor, merged[-1].decided_at
        else:
            found.decided_by, found.decided_at = proposal.actor, revision.created_at
        return found
    return found
