"""The tunable thresholds of the deterministic stages and the lexical-support rule.

Defaults come from tuning on WiCE dev (`absorb eval citations FILE --folds 5`, see
agent/citations/tuning.py): the rules chosen on all of it, which are also the ones chosen
on four of the five stratified folds; the held-out folds are what the report quotes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GateRules:
    """wrong source is *sure* when fewer than `wrong_source_global` of the claim's content
    words occur anywhere in the cited text, or fewer than `wrong_source_local` in its best
    two adjacent sentences.

    The lexical-support rule (used only without a judge, for claims no stage is sure of):
    a claim passes when at least `support` of its content words are in the best two
    adjacent sentences of a cited source, and it has no name only partly in the cited text
    (if `block_partial_names`), no unexplained clause-initial name (if
    `block_weak_names`), and no spelled-out number the text lacks (if `block_number_hints`).
    """

    wrong_source_global: float = 0.2
    wrong_source_local: float = 0.0
    support: float = 0.15
    block_partial_names: bool = False
    block_weak_names: bool = True
    block_number_hints: bool = False

    def wrong_source(self, global_share: float, local_share: float, counted: bool) -> bool:
        return counted and (global_share < self.wrong_source_global
                            or local_share < self.wrong_source_local)

    def lexical_support(self, local_share: float, partial_names: list[str],
                        weak_names: list[str], number_hints: list[str]) -> str | None:
        if local_share < self.support:
            return (f"only {local_share:.0%} of its words are in its best passage "
                    f"(the lexical rule asks {self.support:.0%})")
        if self.block_partial_names and partial_names:
            return "names only partly in the cited text: " + ", ".join(partial_names)
        if self.block_weak_names and weak_names:
            return "names not in the cited text: " + ", ".join(weak_names)
        if self.block_number_hints and number_hints:
            return "numbers not in the cited text: " + ", ".join(number_hints)
        return None


DEFAULT_RULES = GateRules()
