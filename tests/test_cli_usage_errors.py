"""Bad invocations and bad settings, as a user types them into the installed `absorb`: each
ends in one line on stderr and a non-zero exit, never an `internal error`, and stores nothing."""

from __future__ import annotations

import hashlib
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.cli_world import Shell, workdir

TOPIC = "ai-infrastructure"

# (command line, expected exit status, a phrase the one line must contain)
BAD = [
    ("absorb nope", 2, "No such command 'nope'"),
    ("absorb show", 2, "Missing argument 'TOPIC'"),
    (f"absorb show {TOPIC} --nope", 2, "No such option: --nope"),
    ("absorb review show abc", 2, "Invalid value for 'ID'"),
    (f"absorb show {TOPIC} --rev", 2, "requires an argument"),
    (f"absorb show {TOPIC} --rev 0", 2, "revision numbers start at 1"),
    (f"absorb show {TOPIC} --rev 99", 2, "has no revision 99"),
    (f"absorb show {TOPIC} --format xml", 2, "--format must be md"),
    ("absorb show nope", 2, "unknown topic 'nope'"),
    ("absorb runs --topic nope", 2, "unknown topic 'nope'"),
    ("absorb review list --topic nope", 2, "unknown topic 'nope'"),
    (f"absorb refresh {TOPIC} --concurrency 3", 2, "--concurrency goes with --all"),
    (f"absorb refresh {TOPIC} --budget-tokens 5000", 2, "--budget-tokens goes with --all"),
    ("absorb refresh --all --concurrency 0", 2, "--concurrency must be at least 1"),
    (f"absorb refresh {TOPIC} --review sometimes", 2, "--review must be manual or auto"),
    ("absorb import missing.md --topic x", 2, "no such file: missing.md"),
    ("absorb import agent/demo/seed.md --topic 'Bad Slug'", 2, "topic slug must be"),
    ("absorb review approve 999", 2, "no proposal 999"),
    (f"absorb sources retry {TOPIC} 9999", 2, f"topic '{TOPIC}' has no source '9999'"),
    # An id beyond what the store holds was an internal error (SQLite's OverflowError).
    ("absorb review show 99999999999999999999999", 2, "Invalid value for 'ID'"),
    ("absorb review approve 99999999999999999999999", 2, "Invalid value for 'ID'"),
    ("absorb review undo 99999999999999999999999 --edit 1", 2, "Invalid value for 'ID'"),
    (f"absorb show {TOPIC} --rev 99999999999999999999999", 2, "Invalid value for '--rev'"),
    (f"absorb revert {TOPIC} --to 99999999999999999999999", 2, "Invalid value for '--to'"),
    ("absorb usage --run 99999999999999999999999", 2, "Invalid value for '--run'"),
    (f"absorb rewrite {TOPIC} 'No Such Section'", 2, "no section 'No Such Section'"),
    (f"absorb revert {TOPIC} --to 99", 2, "has no revision 99"),
    (f"ABSORB_TIMEOUT=abc absorb refresh {TOPIC}", 2, "ABSORB_TIMEOUT=abc is not valid"),
    (f"ABSORB_CONCURRENCY=0 absorb refresh {TOPIC}", 2, "ABSORB_CONCURRENCY=0 is not valid"),
    (f"ABSORB_MAX_RETRIES=-1 absorb refresh {TOPIC}", 2, "ABSORB_MAX_RETRIES=-1 is not valid"),
    (f"ABSORB_PRICES=notjson absorb refresh {TOPIC}", 2, "ABSORB_PRICES=notjson is not valid JSON"),
    (f"ABSORB_STRUCTURED_METHOD=foo absorb refresh {TOPIC}", 2, "ABSORB_STRUCTURED_METHOD=foo"),
    ("ABSORB_BATCH_BUDGET_TOKENS=abc absorb refresh --all", 2, "ABSORB_BATCH_BUDGET_TOKENS=abc"),
    ("ABSORB_DATABASE_URL=garbage absorb topics", 2, "ABSORB_DATABASE_URL=garbage is not valid"),
    ("ABSORB_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:1/test absorb topics", 2,
     "cannot open the database"),
    ("ABSORB_HOME=agent/demo/seed.md absorb topics", 2, "is not a folder"),
    ("absorb serve --port 99999", 2, "65535"),
]

GROUPS = ["sources", "feeds", "eval", "local"]


@pytest.fixture
def shell(tmp_path: Path) -> Shell:
    shell = Shell(tmp_path / "home", workdir(tmp_path), ABSORB_EDITOR_TOKENS="x" * 40)
    assert shell(f"absorb import agent/demo/seed.md --topic {TOPIC}").code == 0
    return shell


def _one_error_line(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip()]


def test_bad_invocations_and_settings_are_one_line_each(shell):
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda case: shell(case[0]), BAD))
    for (line, code, phrase), ran in zip(BAD, results, strict=True):
        assert ran.code == code, ran
        lines = _one_error_line(ran.err)
        assert len(lines) == 1, ran
        assert lines[0].startswith("error"), ran
        assert phrase in lines[0], ran
        for word in ("internal error", "Traceback", "please report"):
            assert word not in ran.output, ran
    # nothing of the store was touched by any of them
    assert shell("absorb history ai-infrastructure").out.count("\n") == 1


@pytest.mark.parametrize("group", GROUPS)
def test_a_group_without_subcommand_prints_help_not_an_error(shell, group):
    ran = shell(f"absorb {group}")
    assert ran.code == 2, ran
    assert "NoArgsIsHelpError" not in ran.output and "internal error" not in ran.output
    assert "Usage:" in ran.output, ran


def test_version_and_help(shell):
    version = shell("absorb --version")
    assert version.code == 0 and version.out.startswith("absorb 0."), version
    helped = shell("absorb --help")
    assert helped.code == 0 and "Exit status" in helped.out
    assert "<bool>" not in shell("absorb refresh --help").out
    assert "absorb[local]" in shell("absorb local --help").out


def test_a_corrupt_database_is_reported_and_left_as_it_was(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    junk = b"this is not a database " * 100
    (home / "absorb.db").write_bytes(junk)
    ran = Shell(home, workdir(tmp_path))("absorb topics")
    assert ran.code == 2 and "not a SQLite database" in ran.err, ran
    assert len(_one_error_line(ran.err)) == 1
    assert hashlib.sha256((home / "absorb.db").read_bytes()).digest() == hashlib.sha256(junk).digest()


def test_serve_on_a_busy_port_says_so_before_claiming_to_serve(shell):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        ran = shell(f"absorb serve --port {port}", timeout=60)
    assert ran.code == 2, ran
    assert "in use" in ran.err and "http://" not in ran.err, ran
    assert len(_one_error_line(ran.err)) == 1, ran


def test_a_topic_with_sources_but_no_article(shell):
    new = shell("absorb sources import agent/demo/feed.xml --topic fresh-topic")
    assert new.code == 0, new
    topics = shell("absorb topics")
    assert "fresh-topic" in topics.out and "rev None" not in topics.out
    assert "no article yet" in topics.out
    # a model is configured (nothing may call it: there is no article to update)
    night = shell("absorb refresh --all --json", OPENAI_BASE_URL="http://127.0.0.1:9/v1",
                  OPENAI_API_KEY="sk-unused")
    assert night.code == 0, night  # not a failure: there is nothing to refresh yet
    assert "no article yet" in night.output, night


def test_reimport_over_editors_changes_needs_force_and_revert_restores(shell):
    shell(f"absorb revert {TOPIC} --to 1")  # the same text: refused, nothing written
    assert shell(f"absorb history {TOPIC}").out.count("\n") == 1
    # an editor's change: a proposal merged over revision 1
    (shell.cwd / "overview.md").write_text("AI infrastructure is a layer every application "
                                           "calls [2].\n")
    proposed = shell(f"absorb propose {TOPIC} --section Overview --file overview.md")
    assert proposed.code == 0, proposed
    approved = shell("absorb review approve 1 --include-unverified")
    assert approved.code == 0, approved
    again = shell(f"absorb import agent/demo/seed.md --topic {TOPIC}")
    assert again.code == 2 and "--force" in again.err and "2 by editor" in again.err, again
    assert shell(f"absorb history {TOPIC}").out.count("\n") == 2
    forced = shell(f"absorb import agent/demo/seed.md --topic {TOPIC} --force")
    assert forced.code == 0, forced
    reverted = shell(f"absorb revert {TOPIC} --to 2")
    assert reverted.code == 0 and "revision 4 restores the text of revision 2" in reverted.err
    two = shell(f"absorb show {TOPIC} --rev 2").out
    assert shell(f"absorb show {TOPIC}").out == two


def test_every_command_names_its_arguments_the_same_way():
    from agent.cli.main import _command

    seen = []

    def walk(node, path):  # noqa: ANN001
        for param in node.params:
            if param.param_type_name == "argument":
                seen.append((path, param.metavar, getattr(param, "help", "")))
        for name, child in getattr(node, "commands", {}).items():
            walk(child, f"{path} {name}")

    walk(_command(), "absorb")
    topics = [(p, m, h) for p, m, h in seen if m == "TOPIC"]
    assert len(topics) >= 12
    assert all(h for _, _, h in topics), topics
    assert all(m and m.isupper() for _, m, _ in seen), seen


def test_an_unreachable_model_server_is_named_without_its_credentials(shell):
    with socket.socket() as probe:  # a port nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert shell(f"absorb sources import agent/demo/seed.md --topic {TOPIC}").code == 0
    ran = shell(f"absorb refresh {TOPIC}", OPENAI_BASE_URL=f"http://bob:s3cret@127.0.0.1:{port}/v1?key=k9x",
                OPENAI_API_KEY="sk-test-unused", ABSORB_RETRY_INITIAL_DELAY="0")
    assert ran.code == 3, ran
    last = _one_error_line(ran.err)[-1]
    assert "[connection]" in last and f"answering at http://127.0.0.1:{port}/v1?" in last, ran
    assert "check OPENAI_BASE_URL" in last, ran
    for secret in ("s3cret", "bob", "k9x"):
        assert secret not in ran.output, ran


def test_a_read_only_store_is_named_read_only_not_corrupt(tmp_path):
    """Found by running the night on a read-only mount: every command said the database was
    not one absorb can open (corrupt?) and to move it aside, a healthy store's worst advice."""
    import subprocess

    home = tmp_path / "home"
    shell = Shell(home, workdir(tmp_path))
    assert shell("absorb import agent/demo/seed.md --topic t1").code == 0
    before = hashlib.sha256((home / "absorb.db").read_bytes()).digest()
    readonly = tmp_path / "ro"
    readonly.mkdir()
    if subprocess.run(["mount", "--bind", str(home), str(readonly)], capture_output=True).returncode:
        pytest.skip("no permission to mount (the test needs a read-only bind mount)")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(readonly)], check=True)
        ran = Shell(readonly, shell.cwd)("absorb topics")
    finally:
        subprocess.run(["umount", str(readonly)], check=False)
    assert ran.code == 2, ran
    (line,) = _one_error_line(ran.err)
    assert "read-only" in line and "corrupt" not in line and "move it aside" not in line, line
    assert hashlib.sha256((home / "absorb.db").read_bytes()).digest() == before
