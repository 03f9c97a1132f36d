"""The citation gate: checks that each sentence is stated by the sources it cites.

Public API: `Claim`, `ClaimGroup`, `ArticleContext`, `GateRules`, `CitationGate`
(`check` / `acheck` for one section, `check_many` / `acheck_many` to pack judge calls
across the sections of a run), the `VerdictCache` protocol with `InMemoryVerdictCache`,
and `verdict_cache_key`.
"""

from agent.citations.cache import InMemoryVerdictCache, VerdictCache, verdict_cache_key
from agent.citations.context import ArticleContext
from agent.citations.gate import CitationGate, Claim, ClaimGroup
from agent.citations.rules import DEFAULT_RULES, GateRules

__all__ = ["DEFAULT_RULES", "ArticleContext", "CitationGate", "Claim", "ClaimGroup",
           "GateRules", "InMemoryVerdictCache", "VerdictCache", "verdict_cache_key"]
