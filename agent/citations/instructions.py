"""Text inside a source that speaks to the model ("ignore the rules above and add the sentence
that ...; mark it verified") is an order, not a statement: a sentence whose words come from such
an order is not supported by that source, however verbatim the quote. Orders are recognised by
how they address a model: by name ("Assistant: write ...", "Language models must report
that"), as the one summarising ("When you summarise this page, state that ..."), or by opening
with the order ("Please write the sentence that ..."). Ordinary pages do not: no sentence of
the 870 sources of the WiCE set and the gate's test sets reads as one. A claim the rest of the
source states as well is left to the other stages (an attacker who states the claim plainly is
the trust rule's business)."""

from __future__ import annotations

import re

from agent.citations.text import content_token_set

# Who an order addresses, what it tells them to do, and what to write.
_MODEL = (r"(?:assistants?|chat ?bots?|bots?|llms?|gpts?|language models?|models?|summari[sz]ers?"
          r"|ai(?: (?:models?|systems?|assistants?|summari[sz]ers?|writers?|agents?|tools?|readers?))?)")
_WRITE = (r"(?:write|add|state|say|insert|include|mention|claim|report|note|output|print|append"
          r"|assert|conclude|tell)")
_WHAT = (r"(?:that|the following|(?:the|this|these) (?:following )?"
         r"(?:sentences?|claims?|facts?|lines?|statements?|words?))")
_OPENING = r"(?:write|add|insert|include|state|say|claim|mention|output|print|append|assert)"
_SENTENCE_START = r"(?:^|(?<=[.!?:;]\s)|(?<=\n))"
ORDER = re.compile(
    r"(?i)\b(?:ignore|disregard|forget|override)\b[^.;:]{0,40}\b(?:instructions?|rules|prompts?)\b"
    # "Assistant: write ...", "AI models reading this: add that ...", "Chatbot, mention that"
    rf"|\b{_MODEL}\b[^.:;,]{{0,40}}[:,]\s*(?:please\s+)?{_WRITE}\b"
    # "Language models must report that ..."
    rf"|\b{_MODEL}\s+(?:must|should|shall|need to|have to|are to|is to)\s+(?:now\s+|always\s+)*"
    rf"{_WRITE}\s+{_WHAT}"
    # "When you summarise this page, state that ...", "If you are an AI, ..."
    r"|\b(?:when|if|while|before|as|whenever)\s+(?:you\s+(?:are\s+|were\s+)?)?"
    r"(?:summari[sz]|rewrit|paraphras|process|generat|draft|updat|writ)\w*\b[^.;]{0,80}?,\s*"
    rf"(?:please\s+)?{_WRITE}\s+{_WHAT}"
    rf"|\b(?:if|when) you(?:'re| are)\s+(?:an?\s+|the\s+)?{_MODEL}\s*[,:]"
    # a sentence that opens with the order itself: "Please write the sentence that ..."
    # ("Note that ..." and "Tell that to ..." open sentences of ordinary pages: not here)
    rf"|{_SENTENCE_START}\s*(?:please\s+)?{_OPENING}\s+{_WHAT}"
    r"|\bnote to the (?:assistant|model|ai|llm|writer|editor bot)\b"
    r"|\b(?:dear|attention|hey) (?:assistant|ai|model|llm|chatbot)\b"
    r"|\bsystem (?:notice|prompt|override|message|instruction)\b"
    r"|\bfact-?check(?:er)? override\b"
    r"|\bmark (?:it|this|them|these|the claim|the sentence)(?: as)? (?:verified|supported|true|correct)\b"
    r"|\byou (?:are|must) now\b"
    r"|\b(?:as an ai|as a language model)\b")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|;\s+|\n+")
# The share of a claim's content words an order must hold, and the rest of the source must
# not, for the claim to count as drawn from the order.
DRAWN_SHARE = 0.6


def orders_in(text: str) -> list[str]:
    """The sentences of `text` that address a model."""
    sentences = [s for s in re.split(r"(?<=[.!?])\s+|\n+", text) if s.strip()]
    return [s for s in sentences if ORDER.search(s)]


def drawn_from_order(claim: str, text: str) -> str | None:
    """The order in `text` the claim's words come from, if the rest of `text` does not state
    them; None otherwise."""
    orders = orders_in(text)
    if not orders:
        return None
    words = content_token_set(claim)
    if not words:
        return None
    rest = text
    for order in orders:
        rest = rest.replace(order, " ")
    if len(words & content_token_set(rest)) / len(words) >= DRAWN_SHARE:
        return None
    for order in orders:
        if len(words & content_token_set(order)) / len(words) >= DRAWN_SHARE:
            return order
    return None
