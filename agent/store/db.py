"""Engine creation and migrations: SQLite under ABSORB_HOME by default, PostgreSQL by URL."""

from __future__ import annotations

import fcntl
import hashlib
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from agent.store.heads import MIGRATIONS, scanned_heads

if TYPE_CHECKING:
    from alembic.config import Config

def make_engine(url: str) -> sa.Engine:
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record):  # noqa: ANN001 - DBAPI objects
            # SQLAlchemy emits BEGIN itself (below), so pysqlite must not.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            # WAL lets readers go on while one writer commits; busy_timeout makes a second
            # writer wait instead of failing with "database is locked".
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        def _begin_immediate(dbapi_connection):  # noqa: ANN001 - a DBAPI connection
            # A deferred transaction that reads, then writes after another connection
            # committed, fails at once with "database is locked" (WAL snapshot): busy_timeout
            # never applies. Taking the write lock at BEGIN makes writers queue instead.
            dbapi_connection.execute("BEGIN IMMEDIATE")

        # The dialect's own BEGIN hook rather than a "begin" event: any connection event on
        # the engine makes every statement dispatch SQLAlchemy's execution events, which
        # cost more than the statement itself (a topic get: ~200 -> ~150 us; a batch
        # topic runs ~45 transactions and ~105 statements).
        engine.dialect.do_begin = _begin_immediate

        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revisions() -> set[str]:
    """Every head of the migration tree: branches made in parallel are all applied."""
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory.from_config(_alembic_config()).get_heads())


def current_revisions(engine: sa.Engine) -> set[str]:
    """The versions the store records (empty for a new store)."""
    with engine.connect() as conn:
        try:
            rows = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars()
            return set(rows)
        except sa.exc.DBAPIError:
            return set()


@contextmanager
def _migration_lock(engine: sa.Engine, conn: sa.Connection):
    """Two processes opening a new store at once must not both create the tables."""
    if engine.dialect.name == "postgresql":
        key = int(hashlib.sha256(b"absorb-migrations").hexdigest()[:15], 16)
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
        yield
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def migrate(engine: sa.Engine) -> bool:
    """Bring the schema to head; returns True when a migration ran."""
    if current_revisions(engine) == scanned_heads():
        return False
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    heads = head_revisions()
    with engine.begin() as conn, _migration_lock(engine, conn):
        if set(MigrationContext.configure(conn).get_current_heads()) == heads:
            return False
        config = _alembic_config()
        config.attributes["connection"] = conn
        command.upgrade(config, "heads")
    return True
