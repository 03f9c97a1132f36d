"""The review web app holds against a network attacker: login attempts are limited (per
client address and per token, with backoff), sessions end on logout and when their token is
removed, the login form has its own CSRF token, weak tokens and plain HTTP off loopback
refuse to start."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from agent.cli.main import run
from agent.web.limits import LoginLimiter
from tests.conftest import REPO

ABSORB = REPO / ".venv" / "bin" / "absorb"
TOKEN = "k" * 20 + "-editor-token-of-forty-chars"
HTML = {"accept": "text/html"}


@pytest.fixture
def app():
    from agent.store import open_store
    from agent.web.app import create_app

    store = open_store()
    yield create_app(store, tokens=[f"ann:{TOKEN}"])
    store.close()


def _csrf(client: TestClient, path: str = "/login") -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', client.get(path, headers=HTML).text).group(1)


def _login(client: TestClient, token: str = TOKEN):
    return client.post("/login", data={"token": token, "next": "/topics", "csrf": _csrf(client)},
                       follow_redirects=False)


def test_the_eleventh_wrong_login_in_a_minute_is_refused(app, caplog):
    with TestClient(app, base_url="http://127.0.0.1", client=("198.51.100.7", 4000)) as client:
        codes = [_login(client, f"wrong-guess-number-{n:02d}-padding-padding").status_code
                 for n in range(10)]
        assert codes == [401] * 10
        eleventh = _login(client)  # even the right token: this address is locked out
        assert eleventh.status_code == 429 and int(eleventh.headers["retry-after"]) >= 59
        assert "Too many wrong tokens" in eleventh.text
        assert "absorb_session" not in eleventh.headers.get("set-cookie", "")
        bearer = client.get("/topics", headers={"authorization": f"Bearer {TOKEN}"})
        assert bearer.status_code == 429  # scripts are held to the same limit, and told to wait
        assert int(bearer.headers["retry-after"]) > 0 and "too many wrong tokens" in bearer.text
    with TestClient(app, base_url="http://127.0.0.1", client=("198.51.100.8", 4000)) as other:
        assert _login(other).status_code == 303  # another address is not punished
    assert any("login locked for client 198.51.100.7" in r.getMessage() for r in caplog.records)
    assert sum("wrong editor token" in r.getMessage() for r in caplog.records) == 10


def test_one_token_guessed_from_many_addresses_is_locked_too():
    limiter = LoginLimiter()
    for n in range(10):
        limiter.failed(limiter.keys(f"203.0.113.{n}", "the-same-guess"))
    assert limiter.retry_after(limiter.keys("203.0.113.99", "the-same-guess")) > 0
    assert limiter.retry_after(limiter.keys("203.0.113.99", "another-guess")) == 0


def test_locks_back_off():
    now = [1000.0]
    limiter = LoginLimiter(clock=lambda: now[0])
    keys = limiter.keys("192.0.2.1", "x")
    waits = []
    for _ in range(3):
        for _ in range(10):
            limiter.failed(keys)
        waits.append(round(limiter.retry_after(keys)))
        now[0] += waits[-1] + 1
    assert waits == [60, 120, 240]


def test_logout_ends_the_session_on_the_server(app):
    with TestClient(app, base_url="http://127.0.0.1") as client:
        assert _login(client).status_code == 303
        cookie = client.cookies["absorb_session"]
        page = client.get("/topics", headers=HTML)
        assert page.status_code == 200 and "ann" in page.text  # shown by name
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)
        assert client.post("/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    with TestClient(app, base_url="http://127.0.0.1", cookies={"absorb_session": cookie}) as replay:
        assert replay.get("/topics", headers=HTML).status_code == 401  # the old cookie is dead


def test_removing_a_token_ends_its_sessions(app):
    with TestClient(app, base_url="http://127.0.0.1") as client:
        assert _login(client).status_code == 303
        assert client.get("/topics", headers=HTML).status_code == 200
        app.state.auth.set_tokens(["bob:" + "b" * 40])
        assert client.get("/topics", headers=HTML).status_code == 401


def test_the_login_form_needs_its_own_csrf_token(app):
    with TestClient(app, base_url="http://127.0.0.1") as client:
        cross_site = client.post("/login", data={"token": TOKEN}, follow_redirects=False)
        assert cross_site.status_code == 403 and "absorb_session" not in cross_site.headers.get("set-cookie", "")
        stolen = _csrf(client)
        client.cookies.clear()  # a form token without the login cookie it belongs to
        assert client.post("/login", data={"token": TOKEN, "csrf": stolen},
                           follow_redirects=False).status_code == 403


def test_behind_a_proxy_cookies_are_secure(app):
    app.state.auth.secure = True
    with TestClient(app, base_url="http://127.0.0.1") as client:
        cookie = _login(client).headers["set-cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie


def _absorb(home: Path, tokens: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ABSORB_HOME": str(home), "ABSORB_EDITOR_TOKENS": tokens}
    return subprocess.run([str(ABSORB), *args], env=env, capture_output=True, text=True, timeout=120)


def test_a_short_token_or_plain_http_off_loopback_refuses_to_start(absorb_home):
    if not ABSORB.exists():
        pytest.skip(f"console script not installed at {ABSORB}")
    short = _absorb(absorb_home, "ann:secret", "serve", "--port", "8765")
    assert short.returncode == 2 and short.stderr.count("\n") == 1, short.stderr
    assert "at least 32" in short.stderr and "absorb editors new ann" in short.stderr
    made = _absorb(absorb_home, "", "editors", "new", "ann")
    token = made.stdout.strip()
    assert made.returncode == 0 and len(token) >= 32 and "ann:TOKEN" in made.stderr
    exposed = _absorb(absorb_home, f"ann:{token}", "serve", "--host", "0.0.0.0", "--port", "8765")
    assert exposed.returncode == 2 and "refusing to serve on 0.0.0.0 over plain HTTP" in exposed.stderr
    assert "absorb review on" not in exposed.stderr


def test_behind_proxy_passes_the_host_check(capsys, monkeypatch):
    monkeypatch.setenv("ABSORB_EDITOR_TOKENS", f"ann:{TOKEN}")
    with socket.socket() as busy:  # a taken port stops the server right after the checks
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        assert run(["serve", "--host", "0.0.0.0", "--port", port]) == 2
        assert "plain HTTP" in capsys.readouterr().err
        assert run(["serve", "--host", "0.0.0.0", "--port", port, "--behind-proxy"]) == 2
        err = capsys.readouterr().err
    assert "cannot listen on 0.0.0.0" in err and "plain HTTP" not in err
