"""The local model's plumbing without llama.cpp: assembly, model choice, ports, readiness, CLI."""

from __future__ import annotations

import hashlib
import socket
import sys
import textwrap
import time
import types
from pathlib import Path

import pytest

from agent import local
from agent.local import (LocalModelError, LocalServer, LocalSettings, assemble_model,
                         free_port, local_model_settings, resolve_model, server_command)
from agent.settings import get_settings


def _chunks(folder: Path, parts: list[bytes]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, data in enumerate(parts):
        path = folder / f"model.gguf.part{number:02d}"
        path.write_bytes(data)
        paths.append(path)
    return paths


def test_assemble_concatenates_chunks_and_checks_the_hash(tmp_path):
    parts = [b"GGUF" + b"a" * 1000, b"b" * 3000, b"c" * 7]
    chunks = _chunks(tmp_path / "pkg", parts)
    target = tmp_path / "home" / "models" / "model.gguf"
    expected = hashlib.sha256(b"".join(parts)).hexdigest()
    assert assemble_model(chunks, target, expected) == target
    assert target.read_bytes() == b"".join(parts)
    assert not target.with_name("model.gguf.partial").exists()


def test_assemble_reuses_a_finished_model_without_reading_the_chunks_again(tmp_path):
    parts = [b"x" * 10, b"y" * 10]
    chunks = _chunks(tmp_path / "pkg", parts)
    target = tmp_path / "model.gguf"
    expected = hashlib.sha256(b"".join(parts)).hexdigest()
    assemble_model(chunks, target, expected)
    chunks[0].write_bytes(b"z" * 10)  # same size: a second assembly would change the file
    assert assemble_model(chunks, target, expected).read_bytes() == b"x" * 10 + b"y" * 10


def test_assemble_refuses_damaged_chunks_and_leaves_nothing_behind(tmp_path):
    chunks = _chunks(tmp_path / "pkg", [b"a" * 10, b"b" * 10])
    target = tmp_path / "model.gguf"
    with pytest.raises(LocalModelError, match="expected 00ff"):
        assemble_model(chunks, target, "00ff")
    assert list(tmp_path.glob("model.gguf*")) == []


def test_assemble_names_missing_chunks(tmp_path):
    chunks = _chunks(tmp_path / "pkg", [b"a"])
    with pytest.raises(LocalModelError, match="part01"):
        assemble_model([*chunks, tmp_path / "pkg" / "model.gguf.part01"], tmp_path / "m.gguf", "")


def test_bundled_model_is_assembled_into_absorb_home(tmp_path, monkeypatch, absorb_home):
    parts = [b"GGUF-one", b"-two"]
    chunks = _chunks(tmp_path / "pkg", parts)
    package = types.ModuleType("fake_bundled_gguf")
    package.MODEL_NAME = "tiny.gguf"
    package.EXPECTED_SHA256 = hashlib.sha256(b"".join(parts)).hexdigest()
    package.chunk_paths = lambda: chunks
    monkeypatch.setitem(sys.modules, "fake_bundled_gguf", package)
    monkeypatch.setattr(local, "BUNDLED_PACKAGE", "fake_bundled_gguf")
    path = resolve_model(get_settings().home, LocalSettings())
    assert path == absorb_home / "models" / "tiny.gguf"
    assert path.read_bytes() == b"GGUF-one-two"


def test_missing_bundled_package_says_how_to_install_it(monkeypatch, absorb_home):
    monkeypatch.setattr(local, "BUNDLED_PACKAGE", "absorb_no_such_model_package")
    with pytest.raises(LocalModelError, match=r"absorb_no_such_model_package.*\[local\]"):
        resolve_model(absorb_home, LocalSettings())


def test_absorb_local_model_names_any_gguf_file(tmp_path, monkeypatch, absorb_home):
    model = tmp_path / "bigger.gguf"
    model.write_bytes(b"GGUF")
    monkeypatch.setenv("ABSORB_LOCAL_MODEL", str(model))
    assert resolve_model(absorb_home, LocalSettings()) == model
    monkeypatch.setenv("ABSORB_LOCAL_MODEL", str(tmp_path / "absent.gguf"))
    with pytest.raises(LocalModelError, match="no such model file: .*absent.gguf"):
        resolve_model(absorb_home, LocalSettings())


def test_free_port_is_on_loopback_and_bindable():
    port = free_port()
    assert 1024 <= port <= 65535
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as again:
        again.bind(("127.0.0.1", port))


def test_server_command_binds_loopback_with_the_configured_context(tmp_path):
    settings = LocalSettings(n_ctx=4096, threads=3)
    command = server_command(tmp_path / "m.gguf", 8123, settings, alias="m",
                             chat_format="absorb-gemma", python="/py")
    assert command[:3] == ["/py", "-m", "agent.local_llama"]
    flags = dict(zip(command[3::2], command[4::2], strict=True))
    assert flags == {"--model": str(tmp_path / "m.gguf"), "--model_alias": "m",
                     "--host": "127.0.0.1", "--port": "8123", "--n_ctx": "4096",
                     "--n_threads": "3", "--n_threads_batch": "3",
                     "--chat_format": "absorb-gemma"}


def test_any_gguf_keeps_its_own_template_unless_a_chat_format_is_set(tmp_path, monkeypatch):
    command = server_command(tmp_path / "m.gguf", 8123, LocalSettings(), alias="m")
    assert "--chat_format" not in command
    monkeypatch.setenv("ABSORB_LOCAL_CHAT_FORMAT", "chatml")
    command = server_command(tmp_path / "m.gguf", 8123, LocalSettings(), alias="m")
    assert command[-2:] == ["--chat_format", "chatml"]


def test_local_settings_point_chat_openai_at_the_server_with_function_calling(tmp_path):
    server = LocalServer(["true"], 8124, tmp_path / "log", model_name="tiny")
    settings = local_model_settings(get_settings(openai_api_key=None), server,
                                    LocalSettings(max_output_tokens=256))
    assert settings.openai_base_url == "http://127.0.0.1:8124/v1"
    assert (settings.structured_method, settings.model_for("judge")) == ("function_calling", "tiny")
    assert (settings.max_output_tokens, settings.concurrency) == (256, 1)
    assert get_settings().structured_method == "json_schema"  # nothing global changed


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def test_readiness_times_out_and_stops_a_server_that_never_answers(tmp_path):
    server = LocalServer(_python("import time; print('loading', flush=True); time.sleep(60)"),
                         free_port(), tmp_path / "server.log", model_name="m",
                         startup_timeout=0.6, poll_interval=0.05, probe=lambda url: False)
    with pytest.raises(LocalModelError, match=r"did not answer within 0.6s.*loading"):
        server.start()
    assert server.process.poll() is not None


def test_a_server_that_dies_at_start_reports_its_own_error(tmp_path):
    server = LocalServer(_python("import sys; print('error loading model: bad magic'); "
                                 "sys.exit(4)"), free_port(), tmp_path / "server.log",
                         model_name="m", startup_timeout=10, poll_interval=0.05,
                         probe=lambda url: False)
    with pytest.raises(LocalModelError, match="status 4.*bad magic"):
        server.start()


def test_context_manager_waits_for_models_endpoint_then_stops_the_process(tmp_path):
    port = free_port()
    script = f"""
        import http.server, time
        time.sleep(0.3)  # like llama.cpp, the port opens only once the model is loaded
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                ok = self.path == "/v1/models"
                self.send_response(200 if ok else 404)
                self.end_headers()
                self.wfile.write(b'{{"data": []}}')
            def log_message(self, *args):
                pass
        http.server.HTTPServer(("127.0.0.1", {port}), Handler).serve_forever()
    """
    server = LocalServer(_python(script), port, tmp_path / "server.log", model_name="m",
                         startup_timeout=20, poll_interval=0.05)
    with server as running:
        assert running.process.poll() is None
        assert running.base_url == f"http://127.0.0.1:{port}/v1"
    assert server.process.poll() is not None


def test_local_server_without_llama_cpp_explains_the_extra(monkeypatch):
    monkeypatch.setattr(local, "llama_cpp_available", lambda: False)
    with pytest.raises(LocalModelError, match=r"llama-cpp-python is not installed.*\[local\]"):
        local.local_server(get_settings())


def test_cli_local_model_prints_the_path_or_one_line_error(cli, tmp_path, monkeypatch):
    model = tmp_path / "any.gguf"
    model.write_bytes(b"GGUF")
    result = cli("local", "model", "--model", model)
    assert (result.code, result.out) == (0, f"{model}\n")
    missing = cli("local", "model", "--model", tmp_path / "nope.gguf")
    assert missing.code == 3
    assert missing.err.strip().startswith("error (local_model):")
    assert "no such model file" in missing.err and "Traceback" not in missing.err


def test_sigterm_to_absorb_still_stops_the_server(tmp_path):
    """The server has a session of its own; absorb ending on SIGTERM must not orphan it."""
    import os
    import signal
    import subprocess

    pid_file = tmp_path / "server.pid"
    script = f"""
        import os, sys, time
        from pathlib import Path
        from agent.local import LocalServer
        child = [sys.executable, "-c", "import time; time.sleep(60)"]
        server = LocalServer(child, 1, Path({str(tmp_path / 'log')!r}), model_name="m",
                             probe=lambda url: True)
        with server:
            Path({str(pid_file)!r}).write_text(str(server.process.pid))
            time.sleep(60)
    """
    absorb = subprocess.Popen(_python(script), cwd=Path(__file__).resolve().parents[1])
    try:
        for _ in range(200):
            if pid_file.exists() and pid_file.read_text():
                break
            time.sleep(0.05)
        server_pid = int(pid_file.read_text())
        absorb.send_signal(signal.SIGTERM)
        assert absorb.wait(20) == 128 + signal.SIGTERM
        with pytest.raises(ProcessLookupError):
            for _ in range(100):
                os.kill(server_pid, 0)  # raises once the server is gone (and reaped)
                time.sleep(0.05)
    finally:
        absorb.kill()


def test_local_settings_fit_a_tiny_model(monkeypatch):
    from types import SimpleNamespace

    from agent.local import LocalSettings, local_model_settings
    from agent.settings import get_settings

    server = SimpleNamespace(base_url="http://127.0.0.1:1/v1", model_name="tiny")
    tuned = local_model_settings(get_settings(), server, LocalSettings())
    assert (tuned.triage_mode, tuned.draft_mode, tuned.max_revisions) == ("lexical", "extract", 0)
    assert tuned.structured_method == "function_calling" and tuned.concurrency == 1
    # one slow call costs its section: no retry against a server still busy with it
    assert tuned.section_timeouts and tuned.max_retries == 0 and tuned.timeout == 120
    assert not get_settings().section_timeouts  # an endpoint's timeout still fails the run
    monkeypatch.setenv("ABSORB_LOCAL_TRIAGE_MODE", "llm")
    monkeypatch.setenv("ABSORB_LOCAL_DRAFT_MODE", "section")
    bigger = local_model_settings(get_settings(), server, LocalSettings())
    assert (bigger.triage_mode, bigger.draft_mode) == ("llm", "section")


def test_the_server_leaves_a_core_free_by_default():
    from agent.local import LocalSettings, default_threads, server_command

    assert [default_threads(n) for n in (1, 2, 8)] == [1, 1, 7]
    command = server_command(Path("m.gguf"), 1234, LocalSettings(), alias="tiny")
    assert command[command.index("--n_threads") + 1] == str(default_threads())
