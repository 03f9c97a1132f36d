"""Which edits `--review auto` may merge: the gate checks that a citation supports a
sentence, not that the source is true, so a sentence copied from an attacker's own source
passes it. Auto-merge therefore takes an edit only when every source its new sentences
cite is one the topic trusts (a trusted feed brought it, or an editor trusted it); the
rest waits for an editor, with the reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.models import Edit, Proposal, Sentence, is_source_id

if TYPE_CHECKING:
    from agent.store import Store


def added_sentences(edit: Edit) -> list[Sentence]:
    """Sentences the edit writes that the section did not already have, word for word."""
    old = {(s.text, tuple(s.citations)) for s in edit.old_sentences}
    return [s for s in edit.new_sentences() if (s.text, tuple(s.citations)) not in old]


def untrusted_citations(store: Store, topic: str, edit: Edit) -> list[str]:
    """Citations of the edit's added sentences the topic does not trust (unresolved
    markers included), in order of first appearance."""
    cited = list(dict.fromkeys(c for s in added_sentences(edit) for c in s.citations))
    trusted = store.sources.trusted(topic, [c for c in cited if is_source_id(c)])
    return [c for c in cited if c not in trusted]


def auto_merge_split(store: Store, proposal: Proposal) -> tuple[list[str], dict[str, str]]:
    """(ids of edits auto-merge may take, {edit id: why it waits for an editor})."""
    passing: list[str] = []
    waiting: dict[str, str] = {}
    for edit in proposal.edits:
        if not all(v.passed for v in edit.verdicts):
            continue  # held back by the gate: the edit's own verdicts say why
        untrusted = untrusted_citations(store, proposal.topic, edit)
        if untrusted:
            shown = ", ".join(untrusted[:3]) + (", ..." if len(untrusted) > 3 else "")
            waiting[edit.id] = (f"cites sources the topic does not trust ({shown}); an editor "
                                f"decides, or `absorb sources trust {proposal.topic} ID`")
        else:
            passing.append(edit.id)
    return passing, waiting
