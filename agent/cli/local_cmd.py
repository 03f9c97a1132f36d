"""`absorb local serve|model`: run the bundled (or any GGUF) model behind an OpenAI-compatible URL."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from agent.cli.common import echo, err

local_app = typer.Typer(help="A local model through llama.cpp's OpenAI-compatible server "
                        "(needs the optional extra absorb[local]).", no_args_is_help=True)


def _local_settings(model: Path | None, n_ctx: int | None):  # noqa: ANN202 - LocalSettings
    from agent.local import LocalSettings

    overrides: dict = {}
    if model is not None:
        overrides["model"] = model
    if n_ctx is not None:
        overrides["n_ctx"] = n_ctx
    return LocalSettings(**overrides)


@local_app.command("serve")
def serve(
    model: Path = typer.Option(None, help="A .gguf file (default: ABSORB_LOCAL_MODEL, else the "
                               "bundled 270M model)."),
    port: int = typer.Option(0, help="Port on 127.0.0.1 (default: a free one)."),
    n_ctx: int = typer.Option(None, "--n-ctx", help="Context window in tokens "
                              "(default: ABSORB_LOCAL_N_CTX or 8192)."),
) -> None:
    """Serve the model on 127.0.0.1 until Ctrl-C; prints the settings that point absorb at it."""
    from agent.local import local_server
    from agent.settings import get_settings

    local = _local_settings(model, n_ctx)
    server = local_server(get_settings(), local, port=port or None)
    err.print(f"starting llama.cpp on 127.0.0.1:{server.port} (log: {server.log_path})")
    with server:
        # Exactly what a shell needs, on stdout, so `eval "$(absorb local serve)"` style use works.
        echo(f"export OPENAI_BASE_URL={server.base_url}")
        echo(f"export ABSORB_MODEL={server.model_name}")
        echo("export ABSORB_STRUCTURED_METHOD=function_calling")
        echo(f"export ABSORB_MAX_OUTPUT_TOKENS={local.max_output_tokens}")
        echo(f"export ABSORB_TIMEOUT={local.timeout:g}")
        echo("export ABSORB_CONCURRENCY=1")
        # What the demo uses on this server: a slow call costs its section, not the run.
        echo("export ABSORB_SECTION_TIMEOUTS=true")
        echo("export ABSORB_MAX_RETRIES=0")
        echo(f"export ABSORB_TRIAGE_MODE={local.triage_mode}")
        echo(f"export ABSORB_DRAFT_MODE={local.draft_mode}")
        echo(f"export ABSORB_MAX_REVISIONS={local.max_revisions}")
        err.print(f"serving {server.model_name} at {server.base_url}; in another shell, set the "
                  "lines above and run absorb as usual. Ctrl-C stops the server.")
        try:
            while server.process is not None and server.process.poll() is None:
                time.sleep(0.5)
        except KeyboardInterrupt:
            err.print("stopping the local model server")
            return
    err.print(f"the local model server stopped (status {server.process.returncode}): "
              f"{server.log_tail()}")
    raise typer.Exit(3)


@local_app.command("model")
def model_path(
    model: Path = typer.Option(None, help="A .gguf file to check instead of the bundled model."),
) -> None:
    """Print the path of the GGUF file `local serve` would use (assembling it on first use)."""
    from agent.local import resolve_model
    from agent.settings import get_settings

    echo(str(resolve_model(get_settings().home, _local_settings(model, None))))
