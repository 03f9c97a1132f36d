"""The citation gate: checks that each sentence is stated by the sources it cites.

Public API: `Claim`, `CitationGate` (`check` / `acheck`), the `VerdictCache` protocol with
`InMemoryVerdictCache`, and `verdict_cache_key`.
"""

from agent.citations.cache import InMemoryVerdictCache, VerdictCache, verdict_cache_key
from agent.citations.gate import CitationGate, Claim

__all__ = ["CitationGate", "Claim", "InMemoryVerdictCache", "VerdictCache",
           "verdict_cache_key"]
