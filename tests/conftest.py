"""Shared fixtures: an isolated ABSORB_HOME per test, stores on SQLite and PostgreSQL, the CLI."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
SEED = REPO.parent / "shared" / "seeds" / "absorb.md"
WICE = REPO.parent / "shared" / "data" / "wice-dev.jsonl"
PG_URL = os.environ.get("ABSORB_TEST_DATABASE_URL")


def _ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


@pytest.fixture(autouse=True)
def absorb_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own state and never sees a real key or endpoint."""
    home = tmp_path / "absorb-home"
    monkeypatch.setenv("ABSORB_HOME", str(home))
    for name in ("ABSORB_DATABASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL", "ABSORB_MODEL"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def seed_path() -> Path:
    if not SEED.exists():
        pytest.skip(f"seed page not found at {SEED}")
    return SEED


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    if not PG_URL:
        if _ci():
            pytest.fail("CI=true but ABSORB_TEST_DATABASE_URL is not set")
        pytest.skip("ABSORB_TEST_DATABASE_URL not set")
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"absorb_t_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        if _ci():
            raise
        pytest.skip(f"PostgreSQL not reachable: {exc.orig}")
    url = sa.engine.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, absorb_home: Path,
                 monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test once on SQLite and once on PostgreSQL; ABSORB_DATABASE_URL points at it."""
    if request.param == "sqlite":
        url = f"sqlite:///{absorb_home / 'absorb.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    monkeypatch.setenv("ABSORB_DATABASE_URL", url)
    return url


@pytest.fixture
def store(database_url: str):
    from agent.store import open_store

    opened = open_store(database_url)
    yield opened
    opened.close()


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    """Run `absorb ARGS...` in-process; returns exit code, stdout and stderr."""
    from agent.cli.main import run

    def invoke(*args: str) -> CliResult:
        capsys.readouterr()
        code = run([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return invoke


@pytest.fixture
def seed_world(tmp_path: Path):
    """A user's shell (tests/cli_world.Shell) against the fake model scripted for the seed."""
    from agent.fake_server import FakeOpenAIServer
    from tests.cli_world import Shell, seed_model, workdir

    with FakeOpenAIServer() as server:
        seed_model(server)
        yield Shell(tmp_path / "home", workdir(tmp_path), server), server
