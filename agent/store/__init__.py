"""The store: topics, article revisions, sources, proposals, runs.

`open_store()` (agent.store.core, on SQLAlchemy 2) opens the database named by settings and
applies pending migrations; `agent.store.lite.open_reader()` serves the read-only commands
from SQLite without loading SQLAlchemy (about 0.2 s of their start-up). The package itself
imports neither: `Store` and `open_store` are loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent.store.errors import ConflictError, NotFound, StoreError, StoreUnavailable, UnknownTopic

if TYPE_CHECKING:
    from agent.store.core import Store, default_database_url, open_store

__all__ = ["Store", "open_store", "default_database_url", "ConflictError", "NotFound",
           "StoreError", "StoreUnavailable", "UnknownTopic"]

_CORE = ("Store", "open_store", "default_database_url")


def __getattr__(name: str) -> Any:  # PEP 562: `from agent.store import Store` loads the core
    if name in _CORE:
        from agent.store import core

        return getattr(core, name)
    raise AttributeError(f"module 'agent.store' has no attribute {name!r}")
