"""The citation gate's verdict cache in the store's database, shared by runs and workers."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress

import sqlalchemy as sa

from agent.models import Verdict, utcnow
from agent.store.schema import verdict_cache


# Built once, values bound per call: a statement built per lookup cost more CPU than the
# lookup itself (SQLAlchemy builds and keys each new statement), and a run makes two per
# section it checks.
_GET = sa.select(verdict_cache.c.verdict).where(verdict_cache.c.key == sa.bindparam("key"))
_GET_MANY = sa.select(verdict_cache.c.key, verdict_cache.c.verdict).where(
    verdict_cache.c.key.in_(sa.bindparam("keys", expanding=True)))
_PUT = sa.insert(verdict_cache)
_CHUNK = 500  # bound parameters per lookup, well under SQLite's limit


class StoreVerdictCache:
    """Implements agent.citations.VerdictCache; a verdict written twice keeps the first."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def get(self, key: str) -> Verdict | None:
        with self.engine.connect() as conn:
            row = conn.execute(_GET, {"key": key}).scalar_one_or_none()
        return None if row is None else Verdict.model_validate(row)

    def get_many(self, keys: Sequence[str]) -> dict[str, Verdict]:
        unique = list(dict.fromkeys(keys))
        found: dict[str, Verdict] = {}
        if not unique:
            return found
        with self.engine.connect() as conn:
            for start in range(0, len(unique), _CHUNK):
                for row in conn.execute(_GET_MANY, {"keys": unique[start:start + _CHUNK]}):
                    found[row.key] = Verdict.model_validate(row.verdict)
        return found

    def put(self, key: str, verdict: Verdict) -> None:
        # A concurrent run may have cached the same verdict first: either copy is right.
        with suppress(sa.exc.IntegrityError), self.engine.begin() as conn:
            conn.execute(_PUT, {"key": key, "verdict": verdict.model_dump(mode="json"),
                                "created_at": utcnow()})
