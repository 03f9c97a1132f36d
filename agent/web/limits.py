"""Login attempt limits: at most LIMIT wrong tokens a minute per client address and per token
offered; past that every attempt is refused until a lock ends, and each new lock lasts twice
as long as the last (up to an hour). Every refusal and lock is logged."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field

LIMIT = 10
WINDOW = 60.0
MAX_LOCK = 3600.0
log = logging.getLogger("absorb.web.auth")


@dataclass
class _Record:
    failures: deque = field(default_factory=deque)
    locked_until: float = 0.0
    locks: int = 0
    last_failure: float = 0.0


class LoginLimiter:
    def __init__(self, limit: int = LIMIT, window: float = WINDOW,
                 clock=time.monotonic) -> None:  # noqa: ANN001 - a callable returning seconds
        self.limit, self.window, self.clock = limit, window, clock
        self._records: dict[str, _Record] = {}
        self._lock = threading.Lock()

    @staticmethod
    def keys(client: str, token: str) -> list[str]:
        return [f"client {client}", "token " + hashlib.sha256(token.strip().encode()).hexdigest()[:12]]

    def retry_after(self, keys: list[str]) -> float:
        """Seconds until these keys may try again; 0 when they may now."""
        now = self.clock()
        with self._lock:
            waits = [r.locked_until - now for k in keys if (r := self._records.get(k))]
        return max([0.0, *waits])

    def failed(self, keys: list[str]) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                record = self._records.setdefault(key, _Record())
                if now - record.last_failure > MAX_LOCK:
                    record.locks = 0  # an hour of quiet forgives earlier locks
                record.last_failure = now
                record.failures.append(now)
                while record.failures and now - record.failures[0] > self.window:
                    record.failures.popleft()
                if len(record.failures) >= self.limit:
                    record.locks += 1
                    seconds = min(self.window * 2 ** (record.locks - 1), MAX_LOCK)
                    record.locked_until = now + seconds
                    record.failures.clear()
                    log.warning("login locked for %s for %.0f s after %d wrong tokens",
                                key, seconds, self.limit)
            if len(self._records) > 100_000:  # bounded memory under a spray of addresses
                self._records = {k: r for k, r in self._records.items() if r.locked_until > now}

    def succeeded(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                self._records.pop(key, None)
