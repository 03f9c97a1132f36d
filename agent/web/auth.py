"""Editor authentication for the web app: tokens, signed session cookies, CSRF tokens.

Editors log in with a token from ABSORB_EDITOR_TOKENS. The session cookie holds no secret
of its own: it names the editor (a short hash of the token, never the token) and is signed
with a key made at start-up, so restarting the server or changing the tokens logs everyone
out. The CSRF token is derived from the cookie, so it needs no server-side storage either.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from fastapi import Request

SESSION_COOKIE = "absorb_session"
SESSION_SECONDS = 12 * 3600
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


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


class Auth:
    def __init__(self, tokens: list[str], key: bytes | None = None) -> None:
        self.tokens = [t for t in tokens if t]
        self.key = key or secrets.token_bytes(32)

    def _sign(self, payload: str) -> str:
        return hmac.new(self.key, payload.encode(), hashlib.sha256).hexdigest()

    def check_token(self, token: str) -> str | None:
        """The editor's name if the token is one of the configured ones."""
        offered = token.strip().encode()
        # Compare against every token so timing says nothing about which one is near.
        match = [t for t in self.tokens if hmac.compare_digest(offered, t.encode())]
        return editor_name(match[0]) if match and offered else None

    def issue(self, name: str) -> str:
        payload = f"{name}.{int(time.time())}.{secrets.token_hex(8)}"
        return f"{payload}.{self._sign(payload)}"

    def session_editor(self, cookie: str | None) -> str | None:
        if not cookie or cookie.count(".") != 3:
            return None
        payload, signature = cookie.rsplit(".", 1)
        if not hmac.compare_digest(signature, self._sign(payload)):
            return None
        name, issued, _ = payload.split(".")
        if not issued.isdigit() or time.time() - int(issued) > SESSION_SECONDS:
            return None
        return name

    def csrf_token(self, session: str) -> str:
        return self._sign(f"csrf:{session}")

    def check_csrf(self, session: str, offered: str | None) -> bool:
        return bool(offered) and hmac.compare_digest(offered, self.csrf_token(session))

    def editor(self, request: Request) -> Editor | None:
        """The editor behind a request: a bearer header first, else the session cookie."""
        header = request.headers.get("authorization", "")
        if header[:7].lower() == "bearer ":
            name = self.check_token(header[7:])
            return Editor(name, "bearer") if name else None
        cookie = request.cookies.get(SESSION_COOKIE)
        name = self.session_editor(cookie)
        return Editor(name, "cookie", cookie) if name else None


def safe_next(target: str | None) -> str:
    """Only same-site paths: `//evil.example` and `https://...` would be open redirects."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/proposals"
    return target
