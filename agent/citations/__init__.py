"""The citation gate: checks that each sentence is stated by the sources it cites.

Public API: `Claim`, `ClaimGroup`, `ArticleContext`, `GateRules`, `CitationGate`
(`check` / `acheck` for one section, `check_many` / `acheck_many` to pack judge calls
across the sections of a run), the `VerdictCache` protocol with `InMemoryVerdictCache`,
and `verdict_cache_key`.

The names load on first use: the gate brings the LLM layer (langchain) with it, and the
deterministic helpers (`agent.citations.entities`, `.text`, `.numbers`) must stay cheap to
import for commands that call no model.
"""

from importlib import import_module

_HOMES = {"InMemoryVerdictCache": "cache", "VerdictCache": "cache", "verdict_cache_key": "cache",
          "ArticleContext": "context", "CitationGate": "gate", "Claim": "gate",
          "ClaimGroup": "gate", "DEFAULT_RULES": "rules", "GateRules": "rules"}

__all__ = sorted(_HOMES)


def __getattr__(name: str):  # noqa: ANN202 - PEP 562 lazy attribute
    if name not in _HOMES:
        raise AttributeError(f"module 'agent.citations' has no attribute {name!r}")
    value = getattr(import_module(f"agent.citations.{_HOMES[name]}"), name)
    globals()[name] = value
    return value
