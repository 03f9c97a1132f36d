"""Editor authentication for the web app: tokens, server-side sessions, CSRF, login limits.

Editors log in with a token from ABSORB_EDITOR_TOKENS (`name:token` entries show the editor
by name; `absorb editors new NAME` makes one). Tokens shorter than MIN_TOKEN_CHARS are
refused at start. A session is a random id the server keeps with the editor it belongs to:
logging out forgets it, and so does removing the editor's token; a restart forgets them all.
The CSRF token is an HMAC of the session (or, on the login form, of a one-use login cookie),
so a cross-site form can never carry it. Login attempts are limited per client address and
per token offered (see agent.web.limits).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass

from fastapi import Request

from agent.web.limits import LoginLimiter

SESSION_COOKIE = "absorb_session"
LOGIN_COOKIE = "absorb_login"
SESSION_SECONDS = 12 * 3600
LOGIN_SECONDS = 3600
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
MIN_TOKEN_CHARS = 32
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")


class TokenError(ValueError):
    """ABSORB_EDITOR_TOKENS holds an entry the server will not start with."""


@dataclass(frozen=True)
class Editor:
    """Who is asking, and how they proved it (a cookie needs CSRF; a bearer token does not)."""

    name: str
    via: str
    session: str | None = None

    @property
    def actor(self) -> str:
        return f"editor:{self.name}"


def editor_name(token: str) -> str:
    return "web-" + hashlib.sha256(token.encode()).hexdigest()[:8]


def parse_tokens(entries: list[str]) -> dict[str, str]:
    """{token: editor name} from `name:token` or bare `token` entries."""
    found: dict[str, str] = {}
    for entry in entries:
        entry = entry.strip()
        if not entry:
            continue
        name, sep, token = entry.partition(":")
        if not sep or not _NAME.match(name):
            name, token = editor_name(entry), entry
        found[token] = name
    return found


def check_tokens(entries: list[str]) -> dict[str, str]:
    """The tokens, or TokenError naming the first that is missing or too short to be safe."""
    tokens = parse_tokens(entries)
    if not tokens:
        raise TokenError("set ABSORB_EDITOR_TOKENS so editors can log in: make an entry with "
                         "`absorb editors new NAME`")
    for token, name in tokens.items():
        if len(token) < MIN_TOKEN_CHARS:
            raise TokenError(f"ABSORB_EDITOR_TOKENS: the token of {name} has {len(token)} characters; "
                             f"tokens need at least {MIN_TOKEN_CHARS}: make one with "
                             f"`absorb editors new {name if _NAME.match(name) else 'NAME'}`")
    return tokens


def new_token() -> str:
    return secrets.token_urlsafe(32)  # 43 characters, 256 bits


@dataclass
class _Session:
    name: str
    token_digest: str
    issued: float


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Auth:
    def __init__(self, tokens: list[str], key: bytes | None = None, *, secure: bool = False,
                 limiter: LoginLimiter | None = None) -> None:
        self.key = key or secrets.token_bytes(32)
        self.secure = secure  # cookies only over TLS (a TLS server, or a TLS proxy in front)
        self.limiter = limiter or LoginLimiter()
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()
        self.set_tokens(tokens)

    def set_tokens(self, entries: list[str]) -> None:
        """Replace the editor tokens; sessions opened with a token no longer listed end."""
        tokens = parse_tokens(entries)
        with self._lock:
            self.tokens = tokens
            kept = {_digest(t) for t in tokens}
            self._sessions = {sid: s for sid, s in self._sessions.items() if s.token_digest in kept}

    def _sign(self, payload: str) -> str:
        return hmac.new(self.key, payload.encode(), hashlib.sha256).hexdigest()

    def _match(self, token: str) -> str | None:
        offered = token.strip().encode()
        # Compare against every token so timing says nothing about which one is near.
        match = [t for t in self.tokens if hmac.compare_digest(offered, t.encode())]
        return match[0] if match and offered else None

    def check_token(self, token: str) -> str | None:
        """The editor's name if the token is one of the configured ones."""
        match = self._match(token)
        return self.tokens[match] if match else None

    def login(self, token: str) -> str | None:
        """A new session id for a valid token, else None."""
        match = self._match(token)
        if match is None:
            return None
        session = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[session] = _Session(self.tokens[match], _digest(match), time.time())
        return session

    def logout(self, session: str | None) -> None:
        with self._lock:
            self._sessions.pop(session or "", None)

    def session_editor(self, cookie: str | None) -> str | None:
        if not cookie:
            return None
        with self._lock:
            found = self._sessions.get(cookie)
            if found is not None and time.time() - found.issued > SESSION_SECONDS:
                del self._sessions[cookie]
                found = None
        return found.name if found else None

    def csrf_token(self, session: str) -> str:
        return self._sign(f"csrf:{session}")

    def check_csrf(self, session: str, offered: str | None) -> bool:
        return bool(offered) and hmac.compare_digest(str(offered), self.csrf_token(session))

    def login_form(self) -> tuple[str, str]:
        """(login cookie value, CSRF token for the login form)."""
        nonce = secrets.token_urlsafe(24)
        return nonce, self._sign(f"login:{nonce}")

    def check_login_csrf(self, request: Request, offered: str | None) -> bool:
        nonce = request.cookies.get(LOGIN_COOKIE)
        return bool(nonce and offered) and hmac.compare_digest(str(offered), self._sign(f"login:{nonce}"))

    def client(self, request: Request) -> str:
        """The client address; behind a proxy, uvicorn has already taken it from the proxy's
        X-Forwarded-For (only proxies in FORWARDED_ALLOW_IPS are believed)."""
        return request.client.host if request.client else "unknown"

    def cookie_flags(self, request: Request) -> dict:
        return {"path": "/", "httponly": True, "samesite": "strict",
                "secure": self.secure or request.url.scheme == "https"}

    def bearer_wait(self, request: Request) -> float:
        """Seconds until a locked-out bearer request may try again (0 when it may now)."""
        header = request.headers.get("authorization", "")
        if header[:7].lower() != "bearer ":
            return 0.0
        return self.limiter.retry_after(self.limiter.keys(self.client(request), header[7:]))

    def editor(self, request: Request) -> Editor | None:
        """The editor behind a request: a bearer header first, else the session cookie."""
        header = request.headers.get("authorization", "")
        if header[:7].lower() == "bearer ":  # scripts: the same limits as the login form
            keys = self.limiter.keys(self.client(request), header[7:])
            if self.limiter.retry_after(keys) > 0:
                return None
            name = self.check_token(header[7:])
            if name is None:
                self.limiter.failed(keys)
            return Editor(name, "bearer") if name else None
        cookie = request.cookies.get(SESSION_COOKIE)
        name = self.session_editor(cookie)
        return Editor(name, "cookie", cookie) if name else None


def safe_next(target: str | None) -> str:
    """Only same-site paths: `//evil.example` and `https://...` would be open redirects."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/proposals"
    return target
