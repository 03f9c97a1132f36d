"""Secrets never leave: the text of every error is scrubbed before it is printed, stored or
checkpointed. A provider or proxy may echo the key it was sent (`Incorrect API key
provided: Bearer sk-...`); stdlib only, so the CLI's error path stays cheap to import."""

from __future__ import annotations

import os
import re
from urllib.parse import unquote, urlsplit

# `Bearer xyz`, `api_key=xyz`, `"token": "xyz"`, and OpenAI-style `sk-...` keys.
_BEARER = re.compile(r"(?i)\b(bearer|basic|(?:api[-_ ]?key|token|secret|password)\"?\s*[:=])"
                     r"(\s*\"?)([A-Za-z0-9._~+/=\-]{8,})")
_SK_KEY = re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}")
_SECRET_VARIABLES = ("OPENAI_API_KEY", "ABSORB_EDITOR_TOKENS")
REDACTED = "[redacted]"


def configured_secrets() -> list[str]:
    """The API key, editor tokens and database password this process was given (longest first)."""
    found: set[str] = set()
    password = urlsplit(os.environ.get("ABSORB_DATABASE_URL", "")).password
    if password and len(password) >= 6:
        found.update({password, unquote(password)})
    for name in _SECRET_VARIABLES:
        for part in re.split(r"[,\s]+", os.environ.get(name, "")):
            secret = part.split(":", 1)[1] if name == "ABSORB_EDITOR_TOKENS" and ":" in part else part
            if len(secret) >= 6:
                found.add(secret)
    return sorted(found, key=len, reverse=True)


def scrub(text: str | None, extra: tuple[str, ...] = ()) -> str | None:
    """The text with the configured key, editor tokens, bearer tokens and sk- keys removed."""
    if not text:
        return text
    for secret in (*extra, *configured_secrets()):
        if secret:
            text = text.replace(secret, REDACTED)
    text = _SK_KEY.sub(REDACTED, text)
    return _BEARER.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
