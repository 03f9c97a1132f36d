"""The store on SQLAlchemy 2: `open_store()` opens the database named by settings (SQLite under
ABSORB_HOME unless ABSORB_DATABASE_URL is set) and applies pending migrations on first use."""

from __future__ import annotations

import sqlalchemy as sa

from agent.store.articles import RevisionRepo, TopicRepo
from agent.store.db import make_engine, migrate
from agent.store.decisions import DecisionRepo
from agent.store.errors import StoreUnavailable
from agent.store.feeds import FeedRepo
from agent.store.sources import SourceRepo
from agent.store.proposals import ProposalRepo
from agent.store.runs import RunRepo

class Store:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.topics = TopicRepo(engine)
        self.revisions = RevisionRepo(engine)
        self.sources = SourceRepo(engine)
        self.feeds = FeedRepo(engine)
        self.proposals = ProposalRepo(engine)
        self.runs = RunRepo(engine)
        self.decisions = DecisionRepo(engine)

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()


def default_database_url() -> str:
    from agent.settings import get_settings

    return get_settings().database_url


def open_store(url: str | None = None, *, run_migrations: bool = True) -> Store:
    engine = make_engine(url or default_database_url())
    try:
        if run_migrations:
            migrate(engine)
        else:
            engine.connect().close()
    except sa.exc.DBAPIError as exc:
        engine.dispose()
        raise StoreUnavailable(engine.url, exc) from None
    return Store(engine)
