"""The README, executed: every `absorb` command in its shell blocks runs, in order, as a user
would type it, through the installed console script against the fake model on 127.0.0.1.

A README command this test cannot run is a README defect. Blocks preceded by
`<!-- readme-test: postgres -->` run against a fresh PostgreSQL database, blocks preceded by
`<!-- readme-test: local -->` need the optional local model and run in `make test-local`.
The `absorb` lines of the systemd unit and the crontab run too, and every command of the
reference block answers `--help`.
"""

from __future__ import annotations

import re
import shlex
import signal
import socket
import subprocess
import time

import httpx
import pytest

from agent.fake_server import FakeOpenAIServer
from tests.cli_world import REPO, Ran, Shell, seed_model, workdir

README = REPO / "README.md"
BLOCK = re.compile(r"(?:<!-- readme-test: (?P<mark>\w+) -->\s*\n)?```(?P<lang>\w*)\n(?P<body>.*?)```",
                   re.S)


def blocks(lang: str, mark: str | None = None) -> list[str]:
    text = README.read_text(encoding="utf-8")
    return [m["body"] for m in BLOCK.finditer(text) if m["lang"] == lang and m["mark"] == mark]


def command_lines(body: str) -> list[str]:
    """The lines of a shell block that do something, without their trailing comments."""
    lines = []
    for raw in body.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        lexer = shlex.shlex(line, posix=True, punctuation_chars=False)
        lexer.whitespace_split, lexer.commenters = True, "#"
        try:
            list(lexer)
        except ValueError as exc:  # an unbalanced quote is a README defect too
            pytest.fail(f"README line does not parse as shell: {line!r}: {exc}")
        lines.append(_strip_comment(line))
    return lines


def _strip_comment(line: str) -> str:
    quote = None
    for i, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _clean(ran: Ran) -> None:
    assert "internal error" not in ran.output, ran
    assert "Traceback" not in ran.output, ran


def _serve(shell: Shell, line: str, env: dict[str, str]) -> Ran:
    """`absorb serve` runs until stopped: check it answers, then stop it as systemd would."""
    port = _free_port()
    line = re.sub(r"--port \d+", f"--port {port}", line)
    process = shell.popen(line, **env)
    try:
        deadline, answer = time.monotonic() + 30, None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/login", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert answer is not None and answer.status_code == 200, (line, process.poll())
        assert "log in" in answer.text.lower() or "token" in answer.text.lower()
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            out, err = process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
    return Ran(line, process.returncode, out, err)


def walk(shell: Shell, bodies: list[str]) -> list[Ran]:
    env: dict[str, str] = {}
    done = []
    for body in bodies:
        for line in command_lines(body):
            if line.startswith("make "):
                continue  # the Quick start's set-up commands: `make test` is this very run
            if line.startswith("export "):
                name = line.split()[1].split("=", 1)[0]
                ran = shell(f'{line} && printf %s "${name}"', **env)
                assert ran.code == 0, ran
                env[name] = ran.out
            elif re.search(r"\babsorb serve\b", line):
                ran = _serve(shell, line, env)
                # uvicorn shuts down gracefully, then re-raises SIGTERM: systemd counts that
                # signal as a clean stop.
                assert ran.code in (0, -signal.SIGTERM), ran
            else:
                ran = shell(line, **env)
                expected = re.search(r"\(exit (\d+)\)", line)
                assert ran.code == (int(expected[1]) if expected else 0), ran
            _clean(ran)
            done.append(ran)
    return done


@pytest.fixture
def world(seed_world):
    return seed_world


def test_the_tour_runs_as_written(world):
    shell, server = world
    tour = blocks("sh")
    assert len(tour) >= 6, "the README lost its tour"
    ran = walk(shell, tour)
    commands = [r.line for r in ran]
    assert any(c.startswith("absorb refresh ai-infrastructure") for c in commands)
    by_line = {r.line: r for r in ran}
    # The tour's refresh made real model calls and filed proposal 1, which the review steps
    # decided; the merged article carries the approved edit's sentence.
    assert server.requests_for("triage") and server.requests_for("draft_section")
    refreshes = [r for r in ran if r.line == "absorb refresh ai-infrastructure"]
    assert "proposal 1 waiting" in refreshes[0].err, refreshes[0]
    # The lead follows the article: after the capex correction merged, a refresh with no new
    # sources files a lead edit, and once approved the page's lead states the new figure.
    assert "proposal 5 waiting" in refreshes[-1].err and "\tLead\t" in refreshes[-1].out, refreshes[-1]
    lead = by_line["absorb show ai-infrastructure --format md"].out.split("\n## ", 1)[0]
    assert "$700-800 billion" in lead and "$650-750B" not in lead, lead
    assert "merged" in by_line["absorb review approve 1 --edit 1"].err
    history = [r for r in ran if r.line == "absorb history ai-infrastructure"][-1]
    assert "review" in history.out or "editor" in history.out, history


def test_the_service_and_cron_lines_run(world):
    shell, _ = world
    assert shell("absorb import agent/demo/seed.md --topic ai-infrastructure").code == 0
    assert shell("absorb sources import agent/demo/seed.md --topic ai-infrastructure").code == 0
    found = []
    for lang, pattern in (("ini", r"ExecStart=\S*/absorb (.+)"),
                          ("cron", r"\S*/absorb ([^>|&;]+)")):
        for body in blocks(lang):
            found += [f"absorb {m.strip()}" for m in re.findall(pattern, body)]
    assert len(found) >= 2, found
    for line in found:
        ran = shell(line)
        # The unit declares SuccessExitStatus=75: a deferred topic is not a failed night.
        assert ran.code in (0, 75), ran
        _clean(ran)


def test_every_command_in_the_reference_answers_help(capsys):
    """In process (the same `run` the console script calls): forty subprocesses would cost
    the suite most of a minute to show that help text exists."""
    from agent.cli.main import run

    (reference,) = [b for b in blocks("text") if b.lstrip().startswith("absorb ")]
    paths = set()
    for line in reference.splitlines():
        for part in _strip_comment(line).split(";"):
            words = part.split()
            if not words or words[0] != "absorb":
                continue
            alternatives = [[]]
            for word in words[1:]:
                if not re.fullmatch(r"[a-z][a-z|-]*", word) or word.startswith("-"):
                    break
                alternatives = [a + [w] for a in alternatives for w in word.split("|")]
            paths.update(" ".join(a) for a in alternatives)
    assert {"import", "refresh", "review", "sources import", "eval citations"} <= paths
    for path in sorted(paths):
        capsys.readouterr()
        code = run([*path.split(), "--help"])
        out = capsys.readouterr().out
        assert code == 0 and "Usage:" in out, (path, code, out)


def test_the_postgres_block_runs_against_postgresql(tmp_path, postgres_url):
    (body,) = blocks("sh", "postgres")
    with FakeOpenAIServer() as server:
        seed_model(server)
        shell = Shell(tmp_path / "home", workdir(tmp_path), server, ABSORB_DATABASE_URL=postgres_url)
        assert shell("absorb import agent/demo/seed.md --topic ai-infrastructure").code == 0
        assert shell("absorb sources import agent/demo/seed.md --topic ai-infrastructure").code == 0
        ran = walk(shell, [body])
    assert any("worker" in r.line for r in ran)
    assert any(r.line.startswith("absorb refresh --all --queue") for r in ran)


@pytest.mark.slow
def test_the_local_block_runs_with_the_local_model(tmp_path):
    pytest.importorskip("llama_cpp")
    shell = Shell(tmp_path / "home", workdir(tmp_path))
    for line in command_lines("\n".join(blocks("sh", "local"))):
        if line.startswith("make "):
            continue
        if "local serve" in line:
            process = shell.popen(line)
            try:
                deadline = time.monotonic() + 300
                while time.monotonic() < deadline and process.poll() is None:
                    chunk = process.stdout.readline()
                    if "OPENAI_BASE_URL" in chunk:
                        break
                else:
                    pytest.fail(f"{line} printed no export line")
            finally:
                process.send_signal(signal.SIGTERM)
                process.communicate(timeout=30)
        else:
            ran = shell(line, timeout=900)
            assert ran.code == 0, ran
            _clean(ran)
