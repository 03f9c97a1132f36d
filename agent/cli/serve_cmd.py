"""`absorb serve`: the review web app, on loopback unless TLS protects the session cookie."""

from __future__ import annotations

from pathlib import Path

import typer

from agent.cli.common import err, fail

LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    import ipaddress  # the modules of serving load only for `serve`

    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_port_free(host: str, port: int) -> None:
    """One line before anything is printed, instead of uvicorn's log and exit."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host.strip("[]"), port))
        except OSError as exc:
            fail(f"cannot listen on {host}:{port} ({exc.strerror or exc}); pick another --port")


def serve(host: str = typer.Option("127.0.0.1", help="Interface to listen on (loopback by default; "
                                   "any other needs --certfile/--keyfile or --behind-proxy)."),
          port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
          certfile: Path | None = typer.Option(None, help="TLS certificate (PEM) to serve HTTPS."),
          keyfile: Path | None = typer.Option(None, help="TLS private key (PEM) for --certfile."),
          behind_proxy: bool = typer.Option(False, "--behind-proxy", help="A TLS proxy fronts the "
                                            "app: cookies are Secure, X-Forwarded-Proto/-For are "
                                            "believed from the proxies in FORWARDED_ALLOW_IPS.")) -> None:
    """The review web app: topics, articles with evidence, proposals to approve or reject."""
    from agent.settings import get_settings
    from agent.web.auth import TokenError, check_tokens

    try:
        check_tokens(get_settings().editor_tokens)
    except TokenError as exc:
        fail(str(exc))
    if (certfile is None) != (keyfile is None):
        fail("--certfile and --keyfile go together")
    for given in (certfile, keyfile):
        if given is not None and not given.is_file():
            fail(f"no such file: {given}")
    tls = certfile is not None
    if not is_loopback(host) and not (tls or behind_proxy):
        fail(f"refusing to serve on {host} over plain HTTP: editors' tokens and session cookies "
             "would cross the network in clear; pass --certfile and --keyfile, or --behind-proxy "
             "when a TLS proxy fronts the app")
    _check_port_free(host, port)

    import logging
    import signal

    import uvicorn

    from agent.web.app import create_app

    def stopped(_signum: int, _frame: object) -> None:
        raise SystemExit(0)

    # A service manager stops the app with SIGTERM; uvicorn shuts down gracefully, then raises
    # the signal again: ending with status 0 here makes that stop a clean exit.
    signal.signal(signal.SIGTERM, stopped)
    # Refused logins and lockouts, with the time and the client address, on stderr.
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logging.getLogger("absorb.web.auth").addHandler(handler)
    app = create_app()
    app.state.auth.secure = tls or behind_proxy
    shown = f"[{host}]" if ":" in host else host
    err.print(f"absorb review on {'https' if tls or behind_proxy else 'http'}://{shown}:{port}/topics")
    uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=behind_proxy,
                ssl_certfile=str(certfile) if tls else None, ssl_keyfile=str(keyfile) if tls else None)
